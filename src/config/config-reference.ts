import { getMetadataStorage } from 'class-validator';
import { CONFIG_FILE, type KeySpec } from './config-keys';
import { parseEnvironment } from './env.schema';
import {
  ApiKeyConfig,
  GatewayConfigFile,
  GatewaySettings,
  LitellmParams,
  ModelInfo,
  ModelListEntry,
  TrustedHeadersSettings,
} from './gateway-config.schema';

/**
 * The configuration reference (docs/configuration.md), generated from what the boot validates
 * against: the variables parseEnvironment returns, the keys config-keys.ts accepts and the
 * class-validator rules of gateway-config.schema.ts. Only the prose lives here; a variable or
 * key without it, or prose for one that no longer exists, stops the generator (and the test
 * that compares the committed file), so the reference cannot drift from the boot.
 */
export interface ReferenceDocs {
  /** Every environment variable: what it does. `shownDefault` when the parsed default is not what a reader should see. */
  readonly env: Readonly<
    Record<string, { readonly meaning: string; readonly shownDefault?: string }>
  >;
  /** Every config file key by path (`model_list[].litellm_params.api_base`): what it does. */
  readonly file: Readonly<Record<string, string>>;
}

type ValidationMetadata = ReturnType<
  ReturnType<typeof getMetadataStorage>['getTargetValidationMetadatas']
>[number];

/** Read before the rest of the environment (the migration job needs only these), by database-config.ts. */
const EARLY_ENV: Readonly<Record<string, string>> = { DATA_DIR: './.data' };

/** The schema class that validates each mapping of the file, by path. */
const SCHEMA_CLASSES: Readonly<Record<string, new () => object>> = {
  '': GatewayConfigFile,
  'model_list[]': ModelListEntry,
  'model_list[].litellm_params': LitellmParams,
  'model_list[].model_info': ModelInfo,
  gateway: GatewaySettings,
  'gateway.api_keys[]': ApiKeyConfig,
  'gateway.trusted_headers': TrustedHeadersSettings,
};

export const REFERENCE_DOCS: ReferenceDocs = {
  env: {
    NODE_ENV: {
      meaning:
        '`production`: `CONFIG_PATH` is required, the demo config is refused (the container image sets it)',
    },
    PORT: { meaning: 'HTTP port' },
    DATABASE_URL: {
      meaning: 'PostgreSQL server; unset = embedded PostgreSQL (PGlite) in `DATA_DIR`',
    },
    REDIS_URL: {
      meaning:
        'Redis for the file-record cache; unset = in-process memory cache (embedded database only, otherwise no cache)',
    },
    CONFIG_PATH: {
      meaning:
        'the gateway config file (below); unset = the demo config with simulated deployments, refused when `NODE_ENV=production`',
    },
    ID_SIGNING_SECRET: {
      meaning:
        'HMAC key of the unified ids. Required with `DATABASE_URL` (all replicas share it); on the embedded default it is generated once into `DATA_DIR`',
    },
    LOG_LEVEL: {
      meaning: 'least severe level logged; `info` = `log`, `trace` = `verbose`, `fatal` = `error`',
    },
    LOG_FORMAT: {
      meaning: 'unset = pretty (colourless) when stdout is a terminal, JSON lines otherwise',
    },
    UPSTREAM_TIMEOUT_MS: {
      meaning: 'idle bound on every upstream call (headers, and the gap between body chunks)',
    },
    CACHE_TTL_MS: { meaning: 'how long a file record stays cached' },
    SWEEP_INTERVAL_MS: { meaning: 'how often the sweeper runs' },
    REFRESH_INTERVAL_MS: {
      meaning: 'how often running batches and fine-tuning jobs are refreshed from their provider',
    },
    SWEEP_STALE_AFTER_MS: {
      meaning: 'a pending upload whose heartbeat is older belongs to a dead process and is swept',
    },
    DRAIN_TIMEOUT_MS: {
      meaning: 'on SIGTERM, how long in-flight requests may finish before the process exits',
    },
    DEPLOYMENT_COOLDOWN_MS: { meaning: 'how long a deployment that failed is skipped' },
    KEEP_ALIVE_TIMEOUT_MS: {
      meaning:
        'how long an idle client connection stays open for its next request; keep it above the idle timeout of the load balancer in front (AWS ALB: 60 s), or it sees connections closed under it and answers 502',
    },
    REQUEST_TIMEOUT_MS: {
      meaning:
        'how long a client has to send a whole request, body included (Node’s default, 5 min, would cut a 512 MiB upload slower than 1.8 MB/s); past it: 408 and the upload’s copies removed. 0 = no limit',
    },
    DATA_DIR: {
      meaning: 'embedded database, its generated id-signing secret and the demo upstreams’ files',
    },
  },
  file: {
    model_list: "the deployments, in LiteLLM's format; several entries may share a `model_name`",
    'model_list[].model_name': 'the public model name callers send as `model`',
    'model_list[].litellm_params': 'how to reach the deployment',
    'model_list[].litellm_params.model':
      '`openai/<upstream model>` (any OpenAI-compatible endpoint) or `azure/<Azure deployment>`',
    'model_list[].litellm_params.api_base':
      'the endpoint; default `https://api.openai.com/v1` for `openai/`, required for `azure/`',
    'model_list[].litellm_params.api_key':
      'the provider key; `os.environ/NAME` reads it from the environment',
    'model_list[].litellm_params.api_version': 'Azure API version; required for `azure/`',
    'model_list[].litellm_params.weight':
      "share of the model's traffic among its deployments (LiteLLM's weight); default 1",
    'model_list[].model_info': "LiteLLM's free-form metadata; these keys are read",
    'model_list[].model_info.id':
      'stable deployment id (names where copies live, so it must not change); default derived from provider, upstream model and `api_base`',
    'model_list[].model_info.base_model':
      'Azure: the model fine-tuning jobs train; default the upstream model',
    'model_list[].model_info.fine_tuned_deployments':
      'Azure: `fine_tuned_model` → the Azure deployment an operator deployed it as',
    gateway: 'settings for callers',
    'gateway.api_keys': 'who may call, by bearer key',
    'gateway.api_keys[].key': 'the key itself (`os.environ/NAME`); required unless `key_sha256`',
    'gateway.api_keys[].key_sha256': 'hex SHA-256 of the key, for files that are checked in',
    'gateway.api_keys[].user_id': 'the caller, owner of what they create',
    'gateway.api_keys[].team_id': "the caller's team: members may use each other's objects",
    'gateway.api_keys[].role': '`admin` may use every object; default `user`',
    'gateway.trusted_headers':
      'identity set by an API gateway in front (`x-user-id`, `x-team-id`, `x-user-role`), trusted only with the secret header',
    'gateway.trusted_headers.secret_header': 'the header carrying the shared secret',
    'gateway.trusted_headers.secret': 'the shared secret (`os.environ/NAME`)',
    'gateway.default_target_models':
      'models an upload is copied to when it names none (`target_model_names`, or `model`)',
    'gateway.max_upload_bytes': 'largest file upload; default 536870912 (512 MiB)',
    'gateway.max_json_body_bytes': 'largest JSON request body; default 33554432 (32 MiB)',
    'gateway.metrics_token': 'the bearer token `/metrics` asks for; unset = open',
    'gateway.cors_origins':
      'browser origins allowed to call the API (CORS), e.g. `[https://app.example.com]`; `*` = any; unset = no CORS headers',
  },
};

export interface ReferenceSources {
  readonly docs: ReferenceDocs;
  readonly fileKeys: KeySpec;
  readonly schemaClasses: Readonly<Record<string, new () => object>>;
}

export const REFERENCE_SOURCES: ReferenceSources = {
  docs: REFERENCE_DOCS,
  fileKeys: CONFIG_FILE,
  schemaClasses: SCHEMA_CLASSES,
};

/** Renders docs/configuration.md. Throws naming every variable or key whose prose is missing or stale. */
export function renderConfigReference(sources: ReferenceSources = REFERENCE_SOURCES): string {
  const problems: string[] = [];
  const env = envRows(sources.docs, problems);
  const file = fileRows(sources, problems);
  if (problems.length > 0) {
    throw new Error(
      `The configuration reference is out of step with src/config:\n  - ${problems.join('\n  - ')}`,
    );
  }
  return [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` from src/config (env.schema.ts, config-keys.ts,',
    'gateway-config.schema.ts: what the boot validates); edit the prose in',
    'src/config/config-reference.ts. `npm test` fails when this file is stale. -->',
    '',
    'Everything is validated at boot, and every problem is reported at once, one line per',
    'variable or key. An empty variable counts as unset.',
    '',
    '## Environment variables',
    '',
    table(['variable', 'default', 'accepted', 'meaning'], env),
    '',
    'Tracing is configured by the OpenTelemetry SDK’s own `OTEL_*` variables (see the README,',
    '“Traces”); they are not validated here.',
    '',
    '## Config file (`CONFIG_PATH`, YAML)',
    '',
    'Any string value may be `os.environ/NAME`: the variable’s value is used, and the boot stops',
    'naming it when it is unset. `[]` marks the entries of a list.',
    '',
    table(['key', 'required', 'value', 'meaning'], file.rows),
    '',
    '### LiteLLM keys accepted and ignored',
    '',
    'So that a LiteLLM config loads unchanged, these are accepted and logged once each at boot',
    'as ignored; any other key stops the boot (with a suggestion when one is close).',
    '',
    table(['where', 'keys'], file.ignored),
    '',
  ].join('\n');
}

type Row = readonly string[];

function envRows(docs: ReferenceDocs, problems: string[]): Row[] {
  // Every variable parses to a string, a number or null (unset).
  const defaults: Record<string, string | number | null> = {
    ...parseEnvironment({}, []),
    ...EARLY_ENV,
  };
  const names = Object.keys(defaults);
  for (const name of names) {
    if (!Object.hasOwn(docs.env, name))
      problems.push(`env ${name}: no meaning in REFERENCE_DOCS.env`);
  }
  for (const name of Object.keys(docs.env)) {
    if (!names.includes(name))
      problems.push(`env ${name}: documented, but the boot does not read it`);
  }
  return names.map((name) => {
    const value = defaults[name];
    const shown = docs.env[name]?.shownDefault ?? (value === null ? null : String(value));
    return [
      code(name),
      shown === null ? '–' : code(shown),
      Object.hasOwn(EARLY_ENV, name) ? 'a directory' : acceptedValues(name),
      docs.env[name]?.meaning ?? '',
    ];
  });
}

/** What parseEnvironment says about a value nobody would accept: the rule, in its own words. */
function acceptedValues(name: string): string {
  const problems: string[] = [];
  parseEnvironment({ [name]: '\u0001' }, problems);
  const rule = problems[0];
  if (!rule) return 'any';
  return rule
    .replace(`env ${name}: `, '')
    .replace(/ \(got "[^"]*"\)$/, '')
    .replace(/^must be /, '');
}

function fileRows(sources: ReferenceSources, problems: string[]): { rows: Row[]; ignored: Row[] } {
  const rows: Row[] = [];
  const ignored: Row[] = [];
  const documented = new Set<string>();
  const walk = (spec: KeySpec, path: string) => {
    const schema = sources.schemaClasses[path];
    const rules = schema ? rulesByProperty(schema) : new Map<string, ValidationMetadata[]>();
    if (!schema) problems.push(`${path || '<root>'}: no schema class in SCHEMA_CLASSES`);
    for (const [property] of rules) {
      if (!Object.hasOwn(spec.ours, property)) {
        problems.push(
          `${join(path, property)}: validated by ${schema?.name} but not accepted by config-keys.ts`,
        );
      }
    }
    const litellm = [...(spec.litellm ?? []), ...(spec.litellmPrefixes ?? []).map((p) => `${p}*`)];
    if (litellm.length > 0)
      ignored.push([path ? code(path) : 'top level', litellm.map(code).join(', ')]);
    for (const [key, child] of Object.entries(spec.ours)) {
      const keyPath = join(path, key);
      const keyRules = rules.get(key) ?? [];
      if (schema && keyRules.length === 0) {
        problems.push(`${keyPath}: accepted by config-keys.ts but not validated by ${schema.name}`);
      }
      const meaning = sources.docs.file[keyPath];
      documented.add(keyPath);
      if (meaning === undefined) problems.push(`${keyPath}: no meaning in REFERENCE_DOCS.file`);
      const list = keyRules.some((r) => r.name === 'isArray');
      rows.push([
        code(keyPath),
        presence(keyRules),
        describe(keyRules, child !== null),
        meaning ?? '',
      ]);
      if (child) walk(child, list ? `${keyPath}[]` : keyPath);
    }
  };
  walk(sources.fileKeys, '');
  for (const path of Object.keys(sources.docs.file)) {
    if (!documented.has(path))
      problems.push(`${path}: documented, but config-keys.ts does not accept it`);
  }
  return { rows, ignored };
}

function rulesByProperty(schema: new () => object): Map<string, ValidationMetadata[]> {
  const byProperty = new Map<string, ValidationMetadata[]>();
  for (const rule of getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false)) {
    byProperty.set(rule.propertyName, [...(byProperty.get(rule.propertyName) ?? []), rule]);
  }
  return byProperty;
}

function presence(rules: readonly ValidationMetadata[]): string {
  if (rules.some((r) => r.type === 'isDefined')) return 'required';
  if (rules.some((r) => r.name === 'isOptional')) return 'optional';
  return 'see meaning';
}

/** The value's type and limits, in words, from its class-validator rules. */
function describe(rules: readonly ValidationMetadata[], nested: boolean): string {
  const has = (name: string) => rules.find((r) => r.name === name);
  const first = (name: string) => String((has(name)?.constraints as unknown[] | undefined)?.[0]);
  const parts: string[] = [];
  if (has('isArray')) {
    const items = nested
      ? 'mappings'
      : has('isString')?.each || has('matches')?.each
        ? 'strings'
        : 'values';
    parts.push(`${has('arrayNotEmpty') ? 'non-empty ' : ''}list of ${items}`);
  } else if (nested || has('isObject')) {
    parts.push(has('isStringRecord') ? 'mapping of strings' : 'mapping');
  } else if (has('isIn')) {
    parts.push(
      `one of ${(has('isIn')?.constraints[0] as unknown[]).map((v) => code(String(v))).join(', ')}`,
    );
  } else if (has('isInt')) {
    parts.push('integer');
  } else if (has('isNumber')) {
    parts.push('number');
  } else if (has('isString') || has('matches')) {
    parts.push(has('isNotEmpty') ? 'non-empty string' : 'string');
  }
  if (has('min')) parts.push(`≥ ${first('min')}`);
  if (has('isPositive')) parts.push('> 0');
  if (has('minLength')) parts.push(`at least ${first('minLength')} characters`);
  if (has('matches')) parts.push(`matching \`${String(has('matches')?.constraints[0])}\``);
  return parts.join(', ');
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function code(text: string): string {
  return `\`${text}\``;
}

function table(header: Row, rows: readonly Row[]): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}
