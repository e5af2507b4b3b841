import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import type { ApiKeyEntry, AppConfig, TrustedHeadersConfig } from './app-config';
import { checkConfigKeys, isMapping } from './config-keys';
import { sha256 } from '../common/auth/digest';
import { ConfigError } from './config-error';
import { databaseConfigFromEnv } from './database-config';
import { PROVIDERS, type Deployment, type ProviderName } from './deployment';
import { parseEnvironment } from './env.schema';
import {
  GatewayConfigFile,
  type GatewaySettings,
  type ModelListEntry,
} from './gateway-config.schema';

/** The config used when CONFIG_PATH is not set: simulated deployments and demo keys. */
export const DEMO_CONFIG_PATH = join(__dirname, 'demo.yaml');

const ENV_REF = 'os.environ/';
const DEFAULT_OPENAI_BASE = 'https://api.openai.com/v1';
const DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
const DEFAULT_MAX_JSON_BODY_BYTES = 32 * 1024 * 1024;

const DEMO_IN_PRODUCTION =
  'env CONFIG_PATH: required when NODE_ENV=production (the demo config with simulated ' +
  'deployments and published keys is for local use only); mount a config file and set ' +
  'CONFIG_PATH=/path/to/gateway.yaml, see config/example.yaml';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Whether the shipped demo config applies: CONFIG_PATH unset, outside production. main.ts asks
 * before loading, because the demo's simulated upstreams must be running when it is loaded;
 * in production the answer is no, and loadAppConfig then reports the missing CONFIG_PATH.
 */
export function usesDemoConfig(env: Env): boolean {
  return !env.CONFIG_PATH && env.NODE_ENV !== 'production';
}

/**
 * Reads and validates the environment and the YAML config. Pure apart from reading the file:
 * every problem is collected and reported together, each with the key that is wrong; what is
 * accepted but worth a word (LiteLLM keys the gateway ignores) is returned in `warnings`.
 */
export function loadAppConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const vars = parseEnvironment(env, problems);

  const configPath = vars.CONFIG_PATH ? resolve(vars.CONFIG_PATH) : null;
  const demoRefused = configPath === null && vars.NODE_ENV === 'production';
  if (demoRefused) problems.push(DEMO_IN_PRODUCTION);
  const file = demoRefused ? undefined : readConfigFile(configPath ?? DEMO_CONFIG_PATH, problems);

  let warnings: readonly string[] = [];
  let suggestedPaths: ReadonlySet<string> = new Set();
  let parsed: ParsedConfig | undefined;
  if (file !== undefined) {
    if (isMapping(file)) {
      const keys = checkConfigKeys(file);
      problems.push(...keys.problems);
      warnings = keys.warnings;
      suggestedPaths = keys.suggestedPaths;
      // A mapping resolves to a mapping: only string leaves are replaced.
      const resolved = resolveEnvRefs(file, env, '', problems) as Readonly<Record<string, unknown>>;
      parsed = validateConfigFile(resolved, problems);
    } else {
      problems.push('config: the file must be a YAML mapping with a model_list');
    }
  }

  const entries = parsed?.entries ?? [];
  const deployments = buildDeployments(entries, problems);
  const gateway = parsed?.gateway ?? {};
  const usable = (key: keyof GatewaySettings): boolean => parsed?.usable(key) ?? false;

  const apiKeys = usable('api_keys')
    ? (gateway.api_keys ?? []).map((k): ApiKeyEntry => ({
        keySha256: k.key_sha256 ? Buffer.from(k.key_sha256, 'hex') : sha256(k.key ?? ''),
        userId: k.user_id,
        teamId: k.team_id ?? null,
        role: k.role ?? 'user',
      }))
    : [];
  checkDuplicateKeys(apiKeys, problems);
  const trustedHeaders: TrustedHeadersConfig | null =
    usable('trusted_headers') && gateway.trusted_headers
      ? {
          secretHeader: gateway.trusted_headers.secret_header.toLowerCase(),
          secret: gateway.trusted_headers.secret,
        }
      : null;
  if (usable('api_keys') && usable('trusted_headers') && apiKeys.length === 0 && !trustedHeaders) {
    problems.push(
      'gateway.api_keys: no api_keys and no trusted_headers: nobody could call the gateway',
    );
  }
  if (usable('default_target_models')) {
    // Names from every entry, valid or not: one broken entry must not make its model "unknown".
    const modelNames = new Set(
      entries.map(({ entry }) => (isMapping(entry) ? entry.model_name : undefined)),
    );
    (gateway.default_target_models ?? []).forEach((name, i) => {
      if (!modelNames.has(name)) {
        problems.push(`gateway.default_target_models[${i}]: unknown model "${name}"`);
      }
    });
  }

  const database = databaseConfigFromEnv(env);
  if (vars.DATABASE_URL && !vars.ID_SIGNING_SECRET) {
    // Replicas sharing a database must share the secret, or one replica's ids fail on another.
    problems.push(
      'env ID_SIGNING_SECRET: required when DATABASE_URL is set (all replicas must share it)',
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(withoutEchoes(problems, suggestedPaths));
  }
  return {
    port: vars.PORT,
    logLevel: vars.LOG_LEVEL,
    logFormat: vars.LOG_FORMAT,
    dataDir: database.dataDir,
    database,
    redisUrl: vars.REDIS_URL,
    idSigningSecret: vars.ID_SIGNING_SECRET,
    configPath,
    usesDemoConfig: configPath === null,
    deployments,
    apiKeys,
    trustedHeaders,
    defaultTargetModels: gateway.default_target_models ?? [],
    maxUploadBytes: gateway.max_upload_bytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    maxJsonBodyBytes: gateway.max_json_body_bytes ?? DEFAULT_MAX_JSON_BODY_BYTES,
    metricsToken: gateway.metrics_token ?? null,
    corsOrigins: gateway.cors_origins ?? [],
    upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS,
    cacheTtlMs: vars.CACHE_TTL_MS,
    sweepIntervalMs: vars.SWEEP_INTERVAL_MS,
    refreshIntervalMs: vars.REFRESH_INTERVAL_MS,
    sweepStaleAfterMs: vars.SWEEP_STALE_AFTER_MS,
    drainTimeoutMs: vars.DRAIN_TIMEOUT_MS,
    deploymentCooldownMs: vars.DEPLOYMENT_COOLDOWN_MS,
    keepAliveTimeoutMs: vars.KEEP_ALIVE_TIMEOUT_MS,
    requestTimeoutMs: vars.REQUEST_TIMEOUT_MS,
    warnings,
  };
}

function readConfigFile(path: string, problems: string[]): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`env CONFIG_PATH: cannot read ${path}: ${(error as Error).message}`);
    return undefined;
  }
  try {
    return parseYaml(text) as unknown;
  } catch (error) {
    problems.push(`${path}: not valid YAML: ${(error as Error).message}`);
    return undefined;
  }
}

const UNSET = ' is not set';

/** Replaces `os.environ/NAME` strings anywhere in the tree, as LiteLLM does. */
function resolveEnvRefs(node: unknown, env: Env, path: string, problems: string[]): unknown {
  if (typeof node === 'string' && node.startsWith(ENV_REF)) {
    const name = node.slice(ENV_REF.length);
    const value = env[name];
    if (value === undefined || value === '') {
      problems.push(`${path || '<root>'}: environment variable ${name}${UNSET}`);
    }
    return value;
  }
  if (Array.isArray(node)) {
    return node.map((item, i) => resolveEnvRefs(item, env, `${path}[${i}]`, problems));
  }
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [
        key,
        resolveEnvRefs(value, env, path ? `${path}.${key}` : key, problems),
      ]),
    );
  }
  return node;
}

/**
 * Each mistake is reported once. A key whose environment variable is unset: its emptiness is
 * not news. A misspelt key: the key it was meant to be is of course missing or empty.
 */
function withoutEchoes(problems: readonly string[], suggestedPaths: ReadonlySet<string>): string[] {
  const unset = new Set(problems.filter((p) => p.includes(UNSET)).map(pathOf));
  const echoesTypo = (path: string): boolean =>
    [...suggestedPaths].some(
      (s) => path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`),
    );
  return problems.filter((p) => {
    const path = pathOf(p);
    return p.includes(UNSET) || (!unset.has(path) && !echoesTypo(path));
  });
}

function pathOf(problem: string): string {
  return problem.slice(0, problem.indexOf(': '));
}

interface CheckedEntry {
  readonly entry: ModelListEntry;
  /** Passed the schema; an entry that did not is still checked for a duplicate id. */
  readonly valid: boolean;
}

interface ParsedConfig {
  readonly entries: readonly CheckedEntry[];
  readonly gateway: GatewaySettings;
  /** False for a gateway key that failed the schema: the checks built on it would be noise. */
  readonly usable: (key: keyof GatewaySettings) => boolean;
}

/**
 * Validates the file entry by entry rather than as a whole, so that one broken deployment does
 * not hide the problems of the others (a duplicate id, an unknown provider, ...).
 */
function validateConfigFile(
  raw: Readonly<Record<string, unknown>>,
  problems: string[],
): ParsedConfig {
  const file = plainToInstance(GatewayConfigFile, raw);
  const errors = validateSync(file);
  problems.push(...flattenValidationErrors(errors));

  const listError = errors.find((e) => e.property === 'model_list');
  const badEntries = new Set((listError?.children ?? []).map((c) => Number(c.property)));
  const entries = Array.isArray(file.model_list)
    ? file.model_list.map((entry, i) => ({
        entry,
        valid: !listError?.constraints && !badEntries.has(i),
      }))
    : [];

  const gatewayError = errors.find((e) => e.property === 'gateway');
  const gateway: GatewaySettings = isMapping(file.gateway) ? file.gateway : {};
  const badKeys = new Set((gatewayError?.children ?? []).map((c) => c.property));
  const usable = (key: keyof GatewaySettings): boolean =>
    !gatewayError?.constraints && !badKeys.has(key);
  return { entries, gateway, usable };
}

function buildDeployments(entries: readonly CheckedEntry[], problems: string[]): Deployment[] {
  const seen = new Map<string, number>();
  const deployments: Deployment[] = [];
  entries.forEach(({ entry, valid }, i) => {
    const where = `model_list[${i}]`;
    const explicitId = isMapping(entry) ? explicitIdOf(entry) : undefined;
    const deployment = valid ? toDeployment(entry, where, problems) : undefined;
    const id = explicitId ?? deployment?.id;
    if (id === undefined) return;
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push(
        `${where}.model_info.id: duplicate deployment id "${id}" (also model_list[${first}])`,
      );
      return;
    }
    seen.set(id, i);
    if (deployment) deployments.push(deployment);
  });
  return deployments;
}

/** `model_info.id` when it is usable, whether or not the rest of the entry is. */
function explicitIdOf(entry: ModelListEntry): string | undefined {
  const info: unknown = entry.model_info;
  const id = isMapping(info) ? info.id : undefined;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** A schema-valid entry as a Deployment; undefined (with the problem) when it names no provider we speak. */
function toDeployment(
  entry: ModelListEntry,
  where: string,
  problems: string[],
): Deployment | undefined {
  const params = entry.litellm_params;
  const slash = params.model.indexOf('/');
  const provider = params.model.slice(0, slash);
  const upstreamModel = params.model.slice(slash + 1);
  if (!isProvider(provider)) {
    problems.push(
      `${where}.litellm_params.model: unknown provider "${provider}" (supported: ${PROVIDERS.join(', ')})`,
    );
    return undefined;
  }
  const apiBase = (params.api_base ?? (provider === 'openai' ? DEFAULT_OPENAI_BASE : '')).replace(
    /\/+$/,
    '',
  );
  if (!/^https?:\/\//.test(apiBase)) {
    problems.push(`${where}.litellm_params.api_base: must be an http(s) URL`);
  }
  if (provider === 'azure' && !params.api_version) {
    problems.push(`${where}.litellm_params.api_version: required for azure deployments`);
  }
  if (!params.api_key) {
    problems.push(`${where}.litellm_params.api_key: required`);
  }
  return {
    id:
      entry.model_info?.id ??
      deriveDeploymentId(entry.model_name, provider, upstreamModel, apiBase),
    modelName: entry.model_name,
    provider,
    upstreamModel,
    apiBase,
    apiKey: params.api_key ?? '',
    apiVersion: params.api_version ?? null,
    weight: params.weight ?? 1,
    ...(entry.model_info?.base_model
      ? { baseModel: entry.model_info.base_model.replace(/^[^/]+\//, '') }
      : {}),
    ...(entry.model_info?.fine_tuned_deployments
      ? { fineTunedDeployments: { ...entry.model_info.fine_tuned_deployments } }
      : {}),
  };
}

/**
 * A deployment id must outlive key rotation and api-version upgrades, because every stored
 * file copy is keyed by it; so it is derived only from what identifies the endpoint.
 */
export function deriveDeploymentId(
  modelName: string,
  provider: ProviderName,
  upstreamModel: string,
  apiBase: string,
): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([modelName, provider, upstreamModel, apiBase.toLowerCase()]))
    .digest('hex');
  return `dep-${digest.slice(0, 16)}`;
}

function checkDuplicateKeys(keys: readonly ApiKeyEntry[], problems: string[]): void {
  const seen = new Map<string, number>();
  keys.forEach((k, i) => {
    const hex = k.keySha256.toString('hex');
    const first = seen.get(hex);
    if (first !== undefined) {
      problems.push(`gateway.api_keys[${i}]: same key as gateway.api_keys[${first}]`);
    }
    seen.set(hex, i);
  });
}

function isProvider(value: string): value is ProviderName {
  return (PROVIDERS as readonly string[]).includes(value);
}

/**
 * One problem per key: a missing key is just missing; otherwise the top decorator's, which is
 * the last constraint reported (decorators run bottom-up) and by convention in
 * gateway-config.schema.ts the type check, whose failure makes the checks below it meaningless.
 * Nested validation is reported after the others whatever its place, so it counts only when
 * nothing else failed.
 */
function flattenValidationErrors(errors: readonly ValidationError[]): string[] {
  const out: string[] = [];
  const walk = (error: ValidationError, path: string): void => {
    const here = /^\d+$/.test(error.property)
      ? `${path}[${error.property}]`
      : path
        ? `${path}.${error.property}`
        : error.property;
    const constraints = Object.entries(error.constraints ?? {});
    const [name, message] = constraints.find(([n]) => n === 'isDefined') ??
      constraints.filter(([n]) => n !== 'nestedValidation').at(-1) ??
      constraints.at(-1) ?? ['', ''];
    if (name !== '') out.push(`${here}: ${wording(name, message, error.property)}`);
    for (const child of error.children ?? []) {
      walk(child, here);
    }
  };
  errors.forEach((e) => walk(e, ''));
  return out;
}

/** In YAML's words, and without repeating the key the path already names. */
function wording(constraint: string, message: string, property: string): string {
  if (constraint === 'nestedValidation' || constraint === 'isObject') return 'must be a mapping';
  if (constraint === 'isArray') return 'must be a list';
  if (constraint === 'isInt') return 'must be an integer';
  return message.startsWith(`${property} `) ? message.slice(property.length + 1) : message;
}
