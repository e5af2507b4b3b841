import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import type { ApiKeyEntry, AppConfig, TrustedHeadersConfig } from './app-config';
import { ConfigError } from './config-error';
import { databaseConfigFromEnv } from './database-config';
import { PROVIDERS, type Deployment, type ProviderName } from './deployment';
import { EnvironmentVariables } from './env.schema';
import { GatewayConfigFile, type ModelListEntry } from './gateway-config.schema';

/** The config used when CONFIG_PATH is not set: simulated deployments and demo keys. */
export const DEMO_CONFIG_PATH = join(__dirname, 'demo.yaml');

const ENV_REF = 'os.environ/';
const DEFAULT_OPENAI_BASE = 'https://api.openai.com/v1';
const DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates the environment and the YAML config. Pure apart from reading the file:
 * every problem is collected and reported together, each with the key that is wrong.
 */
export function loadAppConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const vars = plainToInstance(
    EnvironmentVariables,
    { ...env },
    { excludeExtraneousValues: false },
  );
  problems.push(...flattenValidationErrors(validateSync(vars), 'env '));

  const configPath = vars.CONFIG_PATH ? resolve(vars.CONFIG_PATH) : null;
  const file = readConfigFile(configPath ?? DEMO_CONFIG_PATH, problems);
  const resolved = file === undefined ? undefined : resolveEnvRefs(file, env, '', problems);
  const parsed = resolved === undefined ? undefined : validateConfigFile(resolved, problems);

  const deployments = parsed ? buildDeployments(parsed.model_list, problems) : [];
  const gateway = parsed?.gateway ?? {};
  const apiKeys = (gateway.api_keys ?? []).map((k): ApiKeyEntry => ({
    keySha256: k.key_sha256 ? Buffer.from(k.key_sha256, 'hex') : sha256(k.key ?? ''),
    userId: k.user_id,
    teamId: k.team_id ?? null,
    role: k.role ?? 'user',
  }));
  checkDuplicateKeys(apiKeys, problems);
  const trustedHeaders: TrustedHeadersConfig | null = gateway.trusted_headers
    ? {
        secretHeader: gateway.trusted_headers.secret_header.toLowerCase(),
        secret: gateway.trusted_headers.secret,
      }
    : null;
  if (parsed && apiKeys.length === 0 && !trustedHeaders) {
    problems.push(
      'gateway.api_keys: no api_keys and no trusted_headers: nobody could call the gateway',
    );
  }
  const modelNames = new Set(deployments.map((d) => d.modelName));
  (gateway.default_target_models ?? []).forEach((name, i) => {
    if (!modelNames.has(name)) {
      problems.push(`gateway.default_target_models[${i}]: unknown model "${name}"`);
    }
  });

  const database = databaseConfigFromEnv(env);
  if (vars.DATABASE_URL && !vars.ID_SIGNING_SECRET) {
    // Replicas sharing a database must share the secret, or one replica's ids fail on another.
    problems.push(
      'env ID_SIGNING_SECRET: required when DATABASE_URL is set (all replicas must share it)',
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(withoutEchoes(problems));
  }
  return {
    port: vars.PORT ?? 4000,
    logLevel: vars.LOG_LEVEL ?? 'log',
    dataDir: database.dataDir,
    database,
    redisUrl: vars.REDIS_URL ?? null,
    idSigningSecret: vars.ID_SIGNING_SECRET ?? null,
    configPath,
    usesDemoConfig: configPath === null,
    deployments,
    apiKeys,
    trustedHeaders,
    defaultTargetModels: gateway.default_target_models ?? [],
    maxUploadBytes: gateway.max_upload_bytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS ?? 600_000,
    cacheTtlMs: vars.CACHE_TTL_MS ?? 300_000,
  };
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
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

/** A key whose environment variable is unset is reported once: its emptiness is not news. */
function withoutEchoes(problems: readonly string[]): string[] {
  const unset = new Set(problems.filter((p) => p.includes(UNSET)).map(pathOf));
  return problems.filter((p) => p.includes(UNSET) || !unset.has(pathOf(p)));
}

function pathOf(problem: string): string {
  return problem.slice(0, problem.indexOf(': '));
}

function validateConfigFile(raw: unknown, problems: string[]): GatewayConfigFile | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push('config: the file must be a YAML mapping with a model_list');
    return undefined;
  }
  const file = plainToInstance(GatewayConfigFile, raw);
  const errors = flattenValidationErrors(validateSync(file), '');
  problems.push(...errors);
  return errors.length === 0 ? file : undefined;
}

function buildDeployments(entries: readonly ModelListEntry[], problems: string[]): Deployment[] {
  const seen = new Map<string, number>();
  const deployments: Deployment[] = [];
  entries.forEach((entry, i) => {
    const where = `model_list[${i}]`;
    const params = entry.litellm_params;
    const slash = params.model.indexOf('/');
    const provider = params.model.slice(0, slash);
    const upstreamModel = params.model.slice(slash + 1);
    if (!isProvider(provider)) {
      problems.push(
        `${where}.litellm_params.model: unknown provider "${provider}" (supported: ${PROVIDERS.join(', ')})`,
      );
      return;
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
    const id =
      entry.model_info?.id ??
      deriveDeploymentId(entry.model_name, provider, upstreamModel, apiBase);
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push(
        `${where}.model_info.id: duplicate deployment id "${id}" (also model_list[${first}])`,
      );
      return;
    }
    seen.set(id, i);
    deployments.push({
      id,
      modelName: entry.model_name,
      provider,
      upstreamModel,
      apiBase,
      apiKey: params.api_key ?? '',
      apiVersion: params.api_version ?? null,
    });
  });
  return deployments;
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

function flattenValidationErrors(errors: readonly ValidationError[], prefix: string): string[] {
  const out: string[] = [];
  const walk = (error: ValidationError, path: string): void => {
    const here = /^\d+$/.test(error.property)
      ? `${path}[${error.property}]`
      : path && !path.endsWith(' ')
        ? `${path}.${error.property}`
        : `${path}${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) {
      out.push(`${here}: ${message}`);
    }
    for (const child of error.children ?? []) {
      walk(child, here);
    }
  };
  errors.forEach((e) => walk(e, prefix));
  return out;
}
