import { createHash, randomBytes } from 'node:crypto';
import type { Agent } from 'undici';
import type { Deployment } from '../../../config/deployment';
import { startSimulator, type SimulatedUpstream } from '../../../simulator/simulator';
import { ProviderError } from '../../provider-client';
import { createUpstreamPool } from '../http-provider.adapter';
import { uploadOf } from '../upload-request.fixture';
import { AZURE_MAX_EXPIRY_SECONDS, AZURE_MIN_EXPIRY_SECONDS, AzureAdapter } from './azure.adapter';

const API_KEY = '0123456789abcdef0123456789abcdef';
const API_VERSION = '2025-04-01-preview';

describe(AzureAdapter.name, () => {
  let sim: SimulatedUpstream;
  let pool: Agent;
  let adapter: AzureAdapter;
  let deployment: Deployment;

  beforeAll(async () => {
    // The simulator refuses any other api-version and any upload without expires_after.*.
    sim = await startSimulator({ dialect: 'azure', apiKey: API_KEY, apiVersion: API_VERSION });
    pool = createUpstreamPool(10_000);
    adapter = new AzureAdapter({ timeoutMs: 10_000, dispatcher: pool });
    deployment = {
      id: 'azure-eastus',
      modelName: 'gpt-test',
      provider: 'azure',
      upstreamModel: 'gpt-4o-mini-eastus',
      apiBase: sim.apiBase,
      apiKey: API_KEY,
      apiVersion: API_VERSION,
      weight: 1,
    };
  });

  afterEach(() => {
    sim.reset();
  });

  afterAll(async () => {
    await sim.close();
    await pool.close();
  });

  it('should upload to {endpoint}/openai/files?api-version= with an api-key header', async () => {
    const content = randomBytes(4096);

    const file = await adapter.uploadFile(deployment, uploadOf(content));

    const [call] = sim.calls;
    expect(sim.calls).toHaveLength(1);
    expect(call.route).toBe('files.create');
    expect(call.method).toBe('POST');
    expect(call.path).toBe(`/openai/files?api-version=${API_VERSION}`);
    expect(call.headers['api-key']).toBe(API_KEY);
    expect(call.headers.authorization).toBeUndefined();
    expect(sim.files.get(file.id)?.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    // Azure answers 201 with a file still 'pending'; that is a success all the same.
    expect(file.id).toMatch(/^file-[0-9a-f]{32}$/);
  });

  it.each([
    ['none given', null, AZURE_MAX_EXPIRY_SECONDS],
    ['below the window', 3600, AZURE_MIN_EXPIRY_SECONDS],
    ['inside the window', 1_500_000, 1_500_000],
    ['above the window', 10_000_000, AZURE_MAX_EXPIRY_SECONDS],
  ])(
    'should send an expiry Azure accepts when the caller gave %s',
    async (_case, expiresAfterSeconds, expected) => {
      const file = await adapter.uploadFile(
        deployment,
        uploadOf(Buffer.from('expiring'), { expiresAfterSeconds }),
      );

      const stored = sim.files.get(file.id);
      expect(stored).toBeDefined();
      expect(stored?.expiresAt).toBe((stored?.createdAt ?? 0) + expected);
      expect(file.expiresAt).toBe(stored?.expiresAt);
    },
  );

  it.each([
    ['user_data', 'assistants'],
    ['vision', 'assistants'],
    ['evals', 'assistants'],
    ['batch', 'batch'],
    ['fine-tune', 'fine-tune'],
  ])('should send purpose %s as %s, which the dated Azure API accepts', async (purpose, sent) => {
    const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('p'), { purpose }));
    expect(sim.files.get(file.id)?.purpose).toBe(sent);
  });

  it('should keep Azure window bounds at 14 and 30 days', () => {
    expect(AZURE_MIN_EXPIRY_SECONDS).toBe(14 * 24 * 3600);
    expect(AZURE_MAX_EXPIRY_SECONDS).toBe(30 * 24 * 3600);
  });

  it('should put api-version on every call, after the list query', async () => {
    const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('x')));
    await adapter.listFiles(deployment, null);
    await adapter.listFiles(deployment, file.id);
    const content = await adapter.fileContent(deployment, file.id);
    content.body.resume();
    await adapter.deleteFile(deployment, file.id);

    const v = `api-version=${API_VERSION}`;
    expect(sim.calls.map((c) => [c.method, c.path])).toEqual([
      ['POST', `/openai/files?${v}`],
      ['GET', `/openai/files?limit=10000&order=asc&${v}`],
      ['GET', `/openai/files?limit=10000&order=asc&after=${file.id}&${v}`],
      ['GET', `/openai/files/${file.id}/content?${v}`],
      ['DELETE', `/openai/files/${file.id}?${v}`],
    ]);
    expect(sim.calls.every((c) => c.headers['api-key'] === API_KEY)).toBe(true);
    expect(sim.files.has(file.id)).toBe(false);
  });

  it("should read Azure's {error:{code,message}} body", async () => {
    const wrongKey = { ...deployment, apiKey: 'not-the-key' };
    const unauthorized = await adapter.listFiles(wrongKey, null).catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(ProviderError);
    expect(unauthorized).toMatchObject({ status: 401, code: 'unauthorized', retryable: false });
    expect((unauthorized as ProviderError).message).toMatch(/^Access denied/);

    const wrongVersion = { ...deployment, apiVersion: '2023-01-01' };
    const refused = await adapter.listFiles(wrongVersion, null).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400, code: 'invalidPayload', retryable: false });
    expect((refused as ProviderError).message).toContain("Unsupported api-version '2023-01-01'");
  });
});
