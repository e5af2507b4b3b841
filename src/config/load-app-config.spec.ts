import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config-error';
import { deriveDeploymentId, loadAppConfig, usesDemoConfig } from './load-app-config';

/** Folders the config files were written in, removed when the file's tests are done. */
const written: string[] = [];
afterAll(() => {
  for (const dir of written) rmSync(dir, { recursive: true, force: true });
});

function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mfg-config-'));
  written.push(dir);
  const path = join(dir, 'config.yaml');
  writeFileSync(path, yaml);
  return path;
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const VALID = `
model_list:
  - model_name: gpt-4o-mini
    litellm_params: { model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9/v1", api_key: os.environ/OPENAI_KEY }
  - model_name: gpt-4o-mini
    litellm_params: { model: azure/mini-prod, api_base: "https://res.openai.azure.com", api_key: k2, api_version: 2024-10-21 }
    model_info: { id: azure-mini }
    rpm: 100
gateway:
  api_keys:
    - { key: os.environ/ALICE_KEY, user_id: alice, team_id: research }
    - { key_sha256: ${'a'.repeat(64)}, user_id: ops, role: admin }
  default_target_models: [gpt-4o-mini]
  max_upload_bytes: 1048576
`;

describe(loadAppConfig.name, () => {
  it('should load a LiteLLM model_list unchanged and resolve os.environ references', () => {
    const config = loadAppConfig({
      CONFIG_PATH: writeConfig(VALID),
      OPENAI_KEY: 'sk-up',
      ALICE_KEY: 'sk-alice',
    });
    expect(config.deployments).toHaveLength(2);
    expect(config.deployments[0]).toMatchObject({
      modelName: 'gpt-4o-mini',
      provider: 'openai',
      upstreamModel: 'gpt-4o-mini',
      apiBase: 'http://127.0.0.1:9/v1',
      apiKey: 'sk-up',
    });
    expect(config.deployments[1]).toMatchObject({
      id: 'azure-mini',
      provider: 'azure',
      apiVersion: '2024-10-21',
    });
    expect(config.apiKeys.map((k) => k.userId)).toEqual(['alice', 'ops']);
    expect(config.apiKeys[1].role).toBe('admin');
    expect(config.maxUploadBytes).toBe(1048576);
    expect(config.defaultTargetModels).toEqual(['gpt-4o-mini']);
    expect(config.port).toBe(4000);
    expect(config.database.kind).toBe('embedded');
  });

  it('should keep a derived deployment id stable when only the api key or api version changes', () => {
    const a = loadAppConfig({ CONFIG_PATH: writeConfig(VALID), OPENAI_KEY: 'old', ALICE_KEY: 'x' });
    const b = loadAppConfig({
      CONFIG_PATH: writeConfig(VALID.replace('2024-10-21', '2025-04-01-preview')),
      OPENAI_KEY: 'rotated',
      ALICE_KEY: 'x',
    });
    expect(b.deployments[0].id).toBe(a.deployments[0].id);
    expect(a.deployments[0].id).toBe(
      deriveDeploymentId('gpt-4o-mini', 'openai', 'gpt-4o-mini', 'http://127.0.0.1:9/v1'),
    );
    expect(deriveDeploymentId('gpt-4o-mini', 'openai', 'gpt-4o-mini', 'http://other/v1')).not.toBe(
      a.deployments[0].id,
    );
  });

  it('should report an unknown provider, a missing env variable and a duplicate deployment id together', () => {
    const yaml = `
model_list:
  - model_name: a
    litellm_params: { model: vertex/gemini, api_key: k }
  - model_name: b
    litellm_params: { model: openai/x, api_key: os.environ/MISSING_KEY }
    model_info: { id: same }
  - model_name: c
    litellm_params: { model: openai/y, api_key: k }
    model_info: { id: same }
gateway:
  api_keys: [{ key: k, user_id: u }]
`;
    const problems = problemsOf(() => loadAppConfig({ CONFIG_PATH: writeConfig(yaml) }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/model_list\[0\]\.litellm_params\.model: unknown provider "vertex"/),
        expect.stringMatching(
          /model_list\[1\]\.litellm_params\.api_key: environment variable MISSING_KEY is not set/,
        ),
        expect.stringMatching(/model_list\[2\]\.model_info\.id: duplicate deployment id "same"/),
      ]),
    );
  });

  it('should report each unset environment variable once, not also as an empty key', () => {
    const problems = problemsOf(() =>
      loadAppConfig({ CONFIG_PATH: writeConfig(VALID), ID_SIGNING_SECRET: 's'.repeat(32) }),
    );
    expect(problems).toEqual([
      'model_list[0].litellm_params.api_key: environment variable OPENAI_KEY is not set',
      'gateway.api_keys[0].key: environment variable ALICE_KEY is not set',
    ]);
  });

  it('should name the env key that is wrong', () => {
    const problems = problemsOf(() =>
      loadAppConfig({
        CONFIG_PATH: writeConfig(VALID),
        OPENAI_KEY: 'k',
        ALICE_KEY: 'k',
        PORT: 'abc',
        REDIS_URL: 'http://x',
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^env PORT: /),
        expect.stringMatching(/^env REDIS_URL: /),
      ]),
    );
  });

  it('should require azure api_version, known default targets, a signing secret with DATABASE_URL, and some way to authenticate', () => {
    const yaml = `
model_list:
  - model_name: m
    litellm_params: { model: azure/dep, api_base: "https://r.openai.azure.com", api_key: k }
gateway:
  default_target_models: [nope]
`;
    const problems = problemsOf(() =>
      loadAppConfig({ CONFIG_PATH: writeConfig(yaml), DATABASE_URL: 'postgres://u@h/db' }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/model_list\[0\]\.litellm_params\.api_version: required/),
        expect.stringMatching(/gateway\.default_target_models\[0\]: unknown model "nope"/),
        expect.stringMatching(/env ID_SIGNING_SECRET: required when DATABASE_URL is set/),
        expect.stringMatching(/gateway\.api_keys: no api_keys and no trusted_headers/),
      ]),
    );
  });

  it('should refuse a file that is not a mapping and a missing file', () => {
    expect(
      problemsOf(() => loadAppConfig({ CONFIG_PATH: writeConfig('- just\n- a list\n') })),
    ).toEqual([expect.stringMatching(/must be a YAML mapping/)]);
    expect(problemsOf(() => loadAppConfig({ CONFIG_PATH: '/nonexistent/config.yaml' }))).toEqual([
      expect.stringMatching(/env CONFIG_PATH: cannot read/),
    ]);
  });

  it('should load config/example.yaml as documented, with no warnings', () => {
    const config = loadAppConfig({
      CONFIG_PATH: join(__dirname, '../../config/example.yaml'),
      OPENAI_API_KEY: 'k',
      AZURE_OPENAI_API_KEY: 'k',
      VLLM_API_KEY: 'k',
      ALICE_KEY: 'k',
      GATEWAY_SECRET: 's',
    });
    expect(config.warnings).toEqual([]);
    expect(config.deployments.map((d) => [d.id, d.weight])).toEqual([
      ['openai-main', 2],
      ['azure-sweden', 1],
      [expect.stringMatching(/^dep-/), 1],
    ]);
    expect(config.maxJsonBodyBytes).toBe(33554432);
  });

  it('should load the shipped demo config when CONFIG_PATH is unset', () => {
    const config = loadAppConfig({
      DEMO_SIM_OPENAI_EAST: 'http://127.0.0.1:1/v1',
      DEMO_SIM_OPENAI_WEST: 'http://127.0.0.1:2/v1',
      DEMO_SIM_AZURE_SWEDEN: 'http://127.0.0.1:3',
    });
    expect(config.usesDemoConfig).toBe(true);
    expect(config.deployments.map((d) => d.id)).toEqual([
      'demo-openai-east',
      'demo-openai-west',
      'demo-azure-sweden',
    ]);
  });

  it('should stop the boot on an unknown key, naming its path and the key it was likely meant to be', () => {
    const yaml = `
model_lst:
  - model_name: m
    litellm_params: { model: openai/x, api_bse: "http://10.0.0.1/v1", api_key: k }
gateway:
  api_keys: [{ key: k, user_id: u, rol: admin }]
  default_target_model: [m]
  max_upload_byte: 1024
  colour: blue
include: [more-models.yaml]
`;
    expect(problemsOf(() => loadAppConfig({ CONFIG_PATH: writeConfig(yaml) }))).toEqual([
      'model_lst: unknown key (did you mean model_list?)',
      'gateway.api_keys[0].rol: unknown key (did you mean role?)',
      'gateway.default_target_model: unknown key (did you mean default_target_models?)',
      'gateway.max_upload_byte: unknown key (did you mean max_upload_bytes?)',
      'gateway.colour: unknown key',
      'include: not supported: this gateway reads one file; move the included model_list here',
    ]);

    const inEntry = VALID.replace('api_base: "http://127.0.0.1:9/v1"', 'api_bse: "http://x/v1"');
    expect(
      problemsOf(() =>
        loadAppConfig({ CONFIG_PATH: writeConfig(inEntry), OPENAI_KEY: 'k', ALICE_KEY: 'k' }),
      ),
    ).toEqual(['model_list[0].litellm_params.api_bse: unknown key (did you mean api_base?)']);
  });

  it('should boot a LiteLLM config with keys the gateway does not use, warning once per key', () => {
    const yaml = `
model_list:
  - model_name: m
    litellm_params:
      model: openai/x
      api_key: k
      rpm: 60
      timeout: 30
      aws_region_name: eu-west-1
      input_cost_per_token: 0.000001
    model_info: { id: one, mode: chat, base_model: gpt-4o, anything: goes }
    tpm: 1000
  - model_name: m
    litellm_params: { model: openai/y, api_key: k, rpm: 60 }
  - model_name: m
    litellm_params: { model: openai/z, api_key: k, rpm: 60 }
gateway:
  api_keys: [{ key: k, user_id: u }]
litellm_settings: { drop_params: true }
router_settings: { routing_strategy: simple-shuffle }
general_settings: { master_key: sk-1234 }
`;
    const config = loadAppConfig({ CONFIG_PATH: writeConfig(yaml) });
    expect(config.deployments).toHaveLength(3);
    expect(config.warnings).toEqual([
      'model_list[0].litellm_params.rpm: LiteLLM setting, not used by this gateway (ignored; also set in 2 more entries)',
      'model_list[0].litellm_params.timeout: LiteLLM setting, not used by this gateway (ignored)',
      'model_list[0].litellm_params.aws_region_name: LiteLLM setting, not used by this gateway (ignored)',
      'model_list[0].litellm_params.input_cost_per_token: LiteLLM setting, not used by this gateway (ignored)',
      'model_list[0].tpm: LiteLLM setting, not used by this gateway (ignored)',
      'litellm_settings: LiteLLM setting, not used by this gateway (ignored)',
      'router_settings: LiteLLM setting, not used by this gateway (ignored)',
      'general_settings: LiteLLM setting, not used by this gateway (ignored)',
    ]);
  });

  it('should return no warnings for a config that uses only gateway keys', () => {
    const yaml = `
model_list:
  - model_name: m
    litellm_params: { model: openai/x, api_key: k }
gateway:
  api_keys: [{ key: k, user_id: u }]
`;
    expect(loadAppConfig({ CONFIG_PATH: writeConfig(yaml) }).warnings).toEqual([]);
  });

  it('should report a duplicate deployment id even when another entry is invalid', () => {
    const yaml = `
model_list:
  - model_name: a
    litellm_params: { model: openai/x, api_key: k, api_base: 5 }
    model_info: { id: same }
  - model_name: b
    litellm_params: { model: openai/y, api_key: k }
    model_info: { id: same }
  - litellm_params: { model: openai/z, api_key: k }
  - model_name: d
    litellm_params: { model: openai/w, api_key: k }
    model_info: { id: same }
gateway:
  api_keys: [{ key: k, user_id: u }]
  default_target_models: [a]
`;
    expect(problemsOf(() => loadAppConfig({ CONFIG_PATH: writeConfig(yaml) }))).toEqual([
      'model_list[0].litellm_params.api_base: must be a string',
      'model_list[2].model_name: required',
      'model_list[1].model_info.id: duplicate deployment id "same" (also model_list[0])',
      'model_list[3].model_info.id: duplicate deployment id "same" (also model_list[0])',
    ]);
  });

  it('should report one message per env variable: the first rule it breaks, saying what is accepted', () => {
    const problems = problemsOf(() =>
      loadAppConfig({
        CONFIG_PATH: writeConfig(VALID),
        OPENAI_KEY: 'k',
        ALICE_KEY: 'k',
        PORT: 'abc',
        LOG_LEVEL: 'loud',
        UPSTREAM_TIMEOUT_MS: '5',
        ID_SIGNING_SECRET: 'short',
      }),
    );
    expect(problems).toEqual([
      'env PORT: must be an integer between 0 and 65535 (got "abc")',
      'env ID_SIGNING_SECRET: must be at least 32 characters',
      'env LOG_LEVEL: must be one of fatal, error, warn, info, log, debug, verbose, trace (got "loud")',
      'env UPSTREAM_TIMEOUT_MS: must be an integer of at least 100 (got "5")',
    ]);
  });

  it('should treat an empty variable as unset', () => {
    const config = loadAppConfig({
      CONFIG_PATH: writeConfig(VALID),
      OPENAI_KEY: 'k',
      ALICE_KEY: 'k',
      PORT: '',
      LOG_LEVEL: '',
      DATA_DIR: '',
      REDIS_URL: '',
    });
    expect(config).toMatchObject({ port: 4000, logLevel: 'log', redisUrl: null });
    expect(config.dataDir).toBe(join(process.cwd(), '.data'));
  });

  it('should accept the usual names info, trace and fatal for LOG_LEVEL', () => {
    const levelOf = (LOG_LEVEL: string): string =>
      loadAppConfig({ CONFIG_PATH: writeConfig(VALID), OPENAI_KEY: 'k', ALICE_KEY: 'k', LOG_LEVEL })
        .logLevel;
    expect(['info', 'trace', 'fatal', 'warn', 'debug'].map(levelOf)).toEqual([
      'log',
      'verbose',
      'error',
      'warn',
      'debug',
    ]);
  });

  it('should refuse the demo config under NODE_ENV=production and say how to pass a config', () => {
    const env = { NODE_ENV: 'production', DEMO_SIM_OPENAI_EAST: 'http://127.0.0.1:1/v1' };
    expect(usesDemoConfig(env)).toBe(false);
    expect(problemsOf(() => loadAppConfig(env))).toEqual([
      'env CONFIG_PATH: required when NODE_ENV=production (the demo config with simulated deployments and published keys is for local use only); mount a config file and set CONFIG_PATH=/path/to/gateway.yaml, see config/example.yaml',
    ]);
    expect(usesDemoConfig({})).toBe(true);
    expect(usesDemoConfig({ NODE_ENV: 'development' })).toBe(true);
    expect(usesDemoConfig({ NODE_ENV: 'production', CONFIG_PATH: '/etc/gateway.yaml' })).toBe(
      false,
    );
    const configured = loadAppConfig({
      NODE_ENV: 'production',
      CONFIG_PATH: writeConfig(VALID),
      OPENAI_KEY: 'k',
      ALICE_KEY: 'k',
    });
    expect(configured.usesDemoConfig).toBe(false);
  });

  it('should read the sweeper, drain and cooldown timings from the environment, with defaults', () => {
    const env = { CONFIG_PATH: writeConfig(VALID), OPENAI_KEY: 'k', ALICE_KEY: 'k' };
    expect(loadAppConfig(env)).toMatchObject({
      sweepIntervalMs: 60_000,
      refreshIntervalMs: 30_000,
      sweepStaleAfterMs: 120_000,
      drainTimeoutMs: 30_000,
      deploymentCooldownMs: 30_000,
    });
    expect(
      loadAppConfig({
        ...env,
        SWEEP_INTERVAL_MS: '5000',
        SWEEP_STALE_AFTER_MS: '90000',
        DRAIN_TIMEOUT_MS: '0',
        DEPLOYMENT_COOLDOWN_MS: '1500',
      }),
    ).toMatchObject({
      sweepIntervalMs: 5000,
      sweepStaleAfterMs: 90_000,
      drainTimeoutMs: 0,
      deploymentCooldownMs: 1500,
    });
    expect(
      problemsOf(() =>
        loadAppConfig({
          ...env,
          SWEEP_INTERVAL_MS: '999',
          SWEEP_STALE_AFTER_MS: '2m',
          DRAIN_TIMEOUT_MS: '-1',
          DEPLOYMENT_COOLDOWN_MS: '1.5',
        }),
      ),
    ).toEqual([
      'env SWEEP_INTERVAL_MS: must be an integer of at least 1000 (got "999")',
      'env SWEEP_STALE_AFTER_MS: must be an integer of at least 1000 (got "2m")',
      'env DRAIN_TIMEOUT_MS: must be an integer of at least 0 (got "-1")',
      'env DEPLOYMENT_COOLDOWN_MS: must be an integer of at least 0 (got "1.5")',
    ]);
  });

  it('should read the client connection timeouts from the environment, with defaults above a load balancer idle timeout', () => {
    const env = { CONFIG_PATH: writeConfig(VALID), OPENAI_KEY: 'k', ALICE_KEY: 'k' };
    expect(loadAppConfig(env)).toMatchObject({
      keepAliveTimeoutMs: 65_000,
      requestTimeoutMs: 3_600_000,
    });
    expect(
      loadAppConfig({ ...env, KEEP_ALIVE_TIMEOUT_MS: '350000', REQUEST_TIMEOUT_MS: '0' }),
    ).toMatchObject({ keepAliveTimeoutMs: 350_000, requestTimeoutMs: 0 });
    expect(
      problemsOf(() =>
        loadAppConfig({ ...env, KEEP_ALIVE_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '1h' }),
      ),
    ).toEqual([
      'env KEEP_ALIVE_TIMEOUT_MS: must be an integer of at least 1000 (got "500")',
      'env REQUEST_TIMEOUT_MS: must be an integer of at least 0 (got "1h")',
    ]);
  });

  it('should read deployment weights and max_json_body_bytes, with defaults', () => {
    const env = { OPENAI_KEY: 'k', ALICE_KEY: 'k' };
    const defaults = loadAppConfig({ ...env, CONFIG_PATH: writeConfig(VALID) });
    expect(defaults.deployments.map((d) => d.weight)).toEqual([1, 1]);
    expect(defaults.maxJsonBodyBytes).toBe(32 * 1024 * 1024);

    const weighted = VALID.replace('api_key: k2,', 'api_key: k2, weight: 2.5,').replace(
      'max_upload_bytes: 1048576',
      'max_upload_bytes: 1048576\n  max_json_body_bytes: 65536',
    );
    const config = loadAppConfig({ ...env, CONFIG_PATH: writeConfig(weighted) });
    expect(config.deployments.map((d) => d.weight)).toEqual([1, 2.5]);
    expect(config.maxJsonBodyBytes).toBe(65536);

    const wrong = VALID.replace('api_key: k2,', 'api_key: k2, weight: 0,').replace(
      'max_upload_bytes: 1048576',
      'max_upload_bytes: 1048576\n  max_json_body_bytes: 1000',
    );
    expect(problemsOf(() => loadAppConfig({ ...env, CONFIG_PATH: writeConfig(wrong) }))).toEqual([
      'model_list[1].litellm_params.weight: must be a positive number',
      'gateway.max_json_body_bytes: must not be less than 1024',
    ]);
  });

  it("should read an Azure deployment's fine-tuning base model and fine-tuned deployments, and refuse a malformed map", () => {
    const env = { OPENAI_KEY: 'k', ALICE_KEY: 'k' };
    const tuned = VALID.replace(
      'model_info: { id: azure-mini }',
      'model_info: { id: azure-mini, base_model: azure/gpt-4o-mini-2024-07-18, fine_tuned_deployments: { "gpt-4o-mini-2024-07-18.ft-abc": mini-tuned } }',
    );
    const config = loadAppConfig({ ...env, CONFIG_PATH: writeConfig(tuned) });
    const azure = config.deployments[1];
    expect(azure.baseModel).toBe('gpt-4o-mini-2024-07-18');
    expect(azure.fineTunedDeployments).toEqual({ 'gpt-4o-mini-2024-07-18.ft-abc': 'mini-tuned' });
    expect(config.deployments[0].baseModel).toBeUndefined();

    const wrong = VALID.replace(
      'model_info: { id: azure-mini }',
      'model_info: { id: azure-mini, fine_tuned_deployments: { "x.ft-1": 3 } }',
    );
    expect(problemsOf(() => loadAppConfig({ ...env, CONFIG_PATH: writeConfig(wrong) }))).toEqual([
      'model_list[1].model_info.fine_tuned_deployments: must map fine-tuned model names to deployment names (strings)',
    ]);
  });

  it('should read cors_origins (off by default) and refuse an entry that is not an origin', () => {
    const env = { OPENAI_KEY: 'k', ALICE_KEY: 'k' };
    expect(loadAppConfig({ ...env, CONFIG_PATH: writeConfig(VALID) }).corsOrigins).toEqual([]);
    const allowed = VALID.replace(
      'max_upload_bytes: 1048576',
      'max_upload_bytes: 1048576\n  cors_origins: ["https://app.example.com", "http://localhost:5173"]',
    );
    expect(loadAppConfig({ ...env, CONFIG_PATH: writeConfig(allowed) }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    const wrong = VALID.replace(
      'max_upload_bytes: 1048576',
      'max_upload_bytes: 1048576\n  cors_origins: ["https://app.example.com/path"]',
    );
    expect(problemsOf(() => loadAppConfig({ ...env, CONFIG_PATH: writeConfig(wrong) }))).toEqual([
      'gateway.cors_origins: each cors_origins entry must be an origin (https://app.example.com[:port], no path) or *',
    ]);
  });
});
