import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config-error';
import { deriveDeploymentId, loadAppConfig } from './load-app-config';

function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mfg-config-'));
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
});
