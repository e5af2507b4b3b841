import { createHash, randomBytes } from 'node:crypto';
import type { Agent } from 'undici';
import type { Deployment } from '../../../config/deployment';
import { startSimulator, type SimulatedUpstream } from '../../../simulator/simulator';
import { ProviderError } from '../../provider-client';
import { createUpstreamPool } from '../http-provider.adapter';
import { openAiDeployment, uploadOf } from '../upload-request.fixture';
import { OpenAIAdapter } from './openai.adapter';

const API_KEY = 'sk-openai-sim-key-0123456789';

describe(OpenAIAdapter.name, () => {
  let sim: SimulatedUpstream;
  let pool: Agent;
  let adapter: OpenAIAdapter;
  let deployment: Deployment;

  beforeAll(async () => {
    sim = await startSimulator({ dialect: 'openai', apiKey: API_KEY });
    pool = createUpstreamPool(10_000);
    adapter = new OpenAIAdapter({ timeoutMs: 10_000, dispatcher: pool });
    deployment = openAiDeployment(sim.apiBase, API_KEY);
  });

  afterEach(() => {
    sim.reset();
  });

  afterAll(async () => {
    await sim.close();
    await pool.close();
  });

  it('should upload to {api_base}/files with a Bearer token and no api-key header', async () => {
    const content = randomBytes(4096);

    const file = await adapter.uploadFile(deployment, uploadOf(content));

    expect(sim.apiBase).toMatch(/\/v1$/);
    const [call] = sim.calls;
    expect(sim.calls).toHaveLength(1);
    expect(call.route).toBe('files.create');
    expect(call.method).toBe('POST');
    expect(call.path).toBe('/v1/files');
    expect(call.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(call.headers['api-key']).toBeUndefined();
    expect(call.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(sim.files.get(file.id)?.sha256).toBe(createHash('sha256').update(content).digest('hex'));
  });

  it('should send no expiry when the caller gave none, so the copy never expires', async () => {
    const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('keep')));

    expect(file.expiresAt).toBeNull();
    expect(sim.files.get(file.id)?.expiresAt).toBeNull();
  });

  it("should pass the caller's expiry through as expires_after", async () => {
    const file = await adapter.uploadFile(
      deployment,
      uploadOf(Buffer.from('short-lived'), { expiresAfterSeconds: 7200 }),
    );

    const stored = sim.files.get(file.id);
    expect(stored?.expiresAt).toBe((stored?.createdAt ?? 0) + 7200);
    expect(file.expiresAt).toBe(stored?.expiresAt);
  });

  it('should list with limit, ascending order and the cursor in the query string', async () => {
    await adapter.listFiles(deployment, null);
    await adapter.listFiles(deployment, 'file-cursor');

    expect(sim.calls.map((c) => c.path)).toEqual([
      '/v1/files?limit=10000&order=asc',
      '/v1/files?limit=10000&order=asc&after=file-cursor',
    ]);
    expect(sim.calls.every((c) => c.headers.authorization === `Bearer ${API_KEY}`)).toBe(true);
  });

  it('should address content and delete by the escaped file id', async () => {
    const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('x')));
    const content = await adapter.fileContent(deployment, file.id);
    content.body.resume();
    await adapter.deleteFile(deployment, 'file-a/b');

    expect(sim.calls.slice(1).map((c) => [c.method, c.path])).toEqual([
      ['GET', `/v1/files/${file.id}/content`],
      ['DELETE', '/v1/files/file-a%2Fb'],
    ]);
  });

  it("should keep OpenAI's `code`, `type` and `param` apart, null when absent", async () => {
    const wrongKey = { ...deployment, apiKey: 'sk-not-the-key' };
    const unauthorized = await adapter.listFiles(wrongKey, null).catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(ProviderError);
    expect(unauthorized).toMatchObject({
      status: 401,
      code: 'invalid_api_key',
      type: 'invalid_request_error',
      param: null,
    });
    expect((unauthorized as ProviderError).message).toMatch(/^Incorrect API key provided/);

    sim.addFault({ route: 'files.list', status: 502 });
    const badGateway = await adapter.listFiles(deployment, null).catch((e: unknown) => e);
    expect(badGateway).toMatchObject({
      status: 502,
      code: null,
      type: 'server_error',
      retryable: true,
    });
  });
});
