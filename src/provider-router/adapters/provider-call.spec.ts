// Model calls (ProviderClient.call) for both dialects, over real loopback HTTP against the
// project's simulated upstream: where each operation goes, JSON and streamed replies, aborts
// and error mapping. File operations are covered by http-provider.adapter.spec.ts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { Agent } from 'undici';
import type { Deployment } from '../../config/deployment';
import { startSimulator, type Dialect, type SimulatedUpstream } from '../../simulator/simulator';
import {
  type ProviderError,
  type ProviderCall,
  type ProviderClient,
  type ProviderReply,
} from '../provider-client';
import { AzureAdapter } from './azure/azure.adapter';
import { createUpstreamPool } from './http-provider.adapter';
import { OpenAIAdapter } from './openai/openai.adapter';
import { failsWithProviderError, until, uploadOf } from './upload-request.fixture';

const API_KEY = 'sk-sim-model-calls-0123456789SECRET';
const API_VERSION = '2025-04-01-preview';
const AZURE_DEPLOYMENT = 'gpt4o-eastus';
const CHUNK_DELAY_MS = 250;

type Json = Record<string, unknown>;

function deploymentOf(sim: SimulatedUpstream): Deployment {
  return {
    id: `${sim.dialect}-models`,
    modelName: 'gpt-test',
    provider: sim.dialect,
    upstreamModel: sim.dialect === 'azure' ? AZURE_DEPLOYMENT : 'gpt-4o-mini',
    apiBase: sim.apiBase,
    apiKey: API_KEY,
    apiVersion: sim.dialect === 'azure' ? API_VERSION : null,
    weight: 1,
  };
}

function jsonOf(reply: ProviderReply): Json {
  if (reply.kind !== 'json')
    throw new Error(`expected a JSON reply, got a ${reply.contentType} stream`);
  return reply.body as Json;
}

function streamOf(reply: ProviderReply): Extract<ProviderReply, { kind: 'stream' }> {
  if (reply.kind !== 'stream') throw new Error('expected a streamed reply, got JSON');
  return reply;
}

/** The assistant text of a chat completion or a response: the simulator's JSON echo. */
function echoOf(body: Json): Json {
  const choices = body.choices as Array<{ message: { content: string } }> | undefined;
  if (choices) return JSON.parse(choices[0].message.content) as Json;
  const output = body.output as Array<{ content: Array<{ text: string }> }>;
  return JSON.parse(output[0].content[0].text) as Json;
}

/** Every chunk of a stream with the time it arrived. */
async function readTimed(body: Readable): Promise<Array<{ at: number; text: string }>> {
  const chunks: Array<{ at: number; text: string }> = [];
  for await (const chunk of body) {
    chunks.push({ at: Date.now(), text: (chunk as Buffer).toString('utf8') });
  }
  return chunks;
}

/** The `data:` payloads of an SSE body, in order. */
function sseData(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice('data: '.length));
}

/** A call that must fail with a ProviderError that never shows the api key. */
const providerErrorOf = (call: Promise<unknown>): Promise<ProviderError> =>
  failsWithProviderError(call, API_KEY);

describe.each<Dialect>(['openai', 'azure'])('ProviderClient.call (%s dialect)', (dialect) => {
  let sim: SimulatedUpstream;
  let pool: Agent;
  let shortPool: Agent;
  let adapter: ProviderClient;
  let impatient: ProviderClient;
  let deployment: Deployment;
  let fileId: string;

  /** What the caller sets as the body's model: Azure names the deployment. */
  const model = dialect === 'azure' ? AZURE_DEPLOYMENT : 'gpt-4o-mini';
  const v = `api-version=${API_VERSION}`;
  /** The path (and query) the simulator must see for an operation path in OpenAI spelling. */
  const pathOf = (path: string, query = ''): string =>
    dialect === 'openai'
      ? `/v1${path}${query ? `?${query}` : ''}`
      : `/openai${path}?${query ? `${query}&` : ''}${v}`;

  const chat = (extra: Json = {}): ProviderCall => ({
    operation: 'chat.completions',
    body: {
      // Azure routes chat by the deployment in the path; the body need not name a model.
      ...(dialect === 'openai' ? { model } : {}),
      messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: fileId } }] }],
      ...extra,
    },
  });
  const createResponse = (extra: Json = {}): ProviderCall => ({
    operation: 'responses.create',
    body: {
      model,
      input: [
        { role: 'user', content: [{ type: 'input_file', file_id: fileId }] },
        { role: 'user', content: 'and summarize it' },
      ],
      ...extra,
    },
  });

  beforeAll(async () => {
    sim = await startSimulator({ dialect, apiKey: API_KEY, apiVersion: API_VERSION });
    pool = createUpstreamPool(10_000);
    shortPool = createUpstreamPool(300);
    const build = (options: { timeoutMs: number; dispatcher: Agent }): ProviderClient =>
      dialect === 'openai' ? new OpenAIAdapter(options) : new AzureAdapter(options);
    adapter = build({ timeoutMs: 10_000, dispatcher: pool });
    impatient = build({ timeoutMs: 1_200, dispatcher: shortPool });
    deployment = deploymentOf(sim);
  });

  beforeEach(async () => {
    sim.reset();
    fileId = (await adapter.uploadFile(deployment, uploadOf(Buffer.from('%PDF-1.7')))).id;
  });

  afterAll(async () => {
    await sim.close();
    await Promise.all([pool.close(), shortPool.close()]);
  });

  const lastCall = () => sim.calls[sim.calls.length - 1];

  /** The dialect's auth header carries the key, and only that one. */
  const expectAuth = (headers: Record<string, string>): void => {
    if (dialect === 'openai') {
      expect(headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(headers['api-key']).toBeUndefined();
    } else {
      expect(headers['api-key']).toBe(API_KEY);
      expect(headers.authorization).toBeUndefined();
    }
  };

  describe('operations', () => {
    it('should send chat.completions to the dialect URL and return the echo as JSON', async () => {
      const reply = await adapter.call(deployment, chat());

      const call = lastCall();
      expect(call.route).toBe('chat.completions');
      expect(call.method).toBe('POST');
      expect(call.path).toBe(
        dialect === 'openai'
          ? '/v1/chat/completions'
          : `/openai/deployments/${AZURE_DEPLOYMENT}/chat/completions?${v}`,
      );
      expectAuth(call.headers);
      expect(call.headers['content-type']).toBe('application/json');
      expect(reply.kind).toBe('json');
      expect(reply.status).toBe(200);
      const body = jsonOf(reply);
      expect(body.object).toBe('chat.completion');
      expect(echoOf(body)).toEqual({ sim: sim.name, model, file_ids: [fileId] });
      expect(reply.headers.requestId).toEqual(expect.any(String));
      expect(reply.headers.retryAfter).toBeNull();
    });

    it('should send responses.create to /responses and return the stored response', async () => {
      const reply = await adapter.call(deployment, createResponse());

      expect(lastCall()).toMatchObject({ route: 'responses', method: 'POST' });
      expect(lastCall().path).toBe(pathOf('/responses'));
      expectAuth(lastCall().headers);
      const body = jsonOf(reply);
      expect(body).toMatchObject({ object: 'response', status: 'completed', model });
      expect(body.id).toMatch(/^resp_/);
      expect(echoOf(body)).toEqual({ sim: sim.name, model, file_ids: [fileId] });
    });

    it('should retrieve a response by id, passing the query through', async () => {
      const created = jsonOf(await adapter.call(deployment, createResponse()));
      const id = String(created.id);

      const query = new URLSearchParams([['include[]', 'message.output_text.logprobs']]);
      const reply = await adapter.call(deployment, { operation: 'responses.retrieve', id, query });

      expect(lastCall()).toMatchObject({ route: 'responses.retrieve', method: 'GET' });
      expect(lastCall().path).toBe(pathOf(`/responses/${id}`, query.toString()));
      expectAuth(lastCall().headers);
      expect(jsonOf(reply)).toMatchObject({ id, object: 'response', status: 'completed' });
    });

    it('should page input items with the query passed through', async () => {
      const id = String(jsonOf(await adapter.call(deployment, createResponse())).id);

      const query = new URLSearchParams({ limit: '1', order: 'asc' });
      const first = jsonOf(
        await adapter.call(deployment, { operation: 'responses.input_items', id, query }),
      );

      expect(lastCall()).toMatchObject({ route: 'responses.input_items', method: 'GET' });
      expect(lastCall().path).toBe(pathOf(`/responses/${id}/input_items`, 'limit=1&order=asc'));
      expectAuth(lastCall().headers);
      expect(first).toMatchObject({ object: 'list', has_more: true });
      const items = first.data as Json[];
      expect(items).toHaveLength(1);
      expect(items[0].content).toEqual([{ type: 'input_file', file_id: fileId }]);

      const rest = jsonOf(
        await adapter.call(deployment, {
          operation: 'responses.input_items',
          id,
          query: new URLSearchParams({ order: 'asc', after: String(first.last_id) }),
        }),
      );
      expect(rest).toMatchObject({ has_more: false });
      expect((rest.data as Json[]).map((item) => item.content)).toEqual([
        [{ type: 'input_text', text: 'and summarize it' }],
      ]);
    });

    it('should cancel a background response with a bodiless POST', async () => {
      const created = jsonOf(await adapter.call(deployment, createResponse({ background: true })));
      expect(created.status).toBe('queued');
      const id = String(created.id);

      const reply = await adapter.call(deployment, { operation: 'responses.cancel', id });

      expect(lastCall()).toMatchObject({ route: 'responses.cancel', method: 'POST' });
      expect(lastCall().path).toBe(pathOf(`/responses/${id}/cancel`));
      expect(lastCall().headers['content-type']).toBeUndefined();
      expectAuth(lastCall().headers);
      expect(jsonOf(reply)).toMatchObject({ id, status: 'cancelled' });
    });

    it('should delete a response, after which retrieving it is a 404', async () => {
      const id = String(jsonOf(await adapter.call(deployment, createResponse())).id);

      const reply = await adapter.call(deployment, { operation: 'responses.delete', id });

      expect(lastCall()).toMatchObject({ route: 'responses.delete', method: 'DELETE' });
      expect(lastCall().path).toBe(pathOf(`/responses/${id}`));
      expectAuth(lastCall().headers);
      expect(jsonOf(reply)).toEqual({ id, object: 'response', deleted: true });
      const gone = await providerErrorOf(
        adapter.call(deployment, { operation: 'responses.retrieve', id }),
      );
      expect(gone.status).toBe(404);
      expect(gone.notFound).toBe(true);
      expect(gone.retryable).toBe(false);
    });

    it('should escape ids placed in the path', async () => {
      const error = await providerErrorOf(
        adapter.call(deployment, { operation: 'responses.retrieve', id: 'resp_a/b?c' }),
      );
      expect(error.status).toBe(404);
      expect(lastCall().path).toBe(pathOf('/responses/resp_a%2Fb%3Fc'));
    });
  });

  describe('streamed replies', () => {
    it('should hand chat SSE over chunk by chunk, the first before the last is sent', async () => {
      sim.addFault({ route: 'chat.completions', chunkDelayMs: CHUNK_DELAY_MS });

      const reply = streamOf(await adapter.call(deployment, chat({ stream: true })));

      expect(reply.status).toBe(200);
      expect(reply.contentType).toBe('text/event-stream');
      const chunks = await readTimed(reply.body);
      // Four events (three chunks and [DONE]) sent CHUNK_DELAY_MS apart: buffering would have
      // delivered them together at the end.
      expect(chunks.length).toBeGreaterThanOrEqual(4);
      const first = chunks[0];
      const last = chunks[chunks.length - 1];
      expect(sseData(first.text)).toHaveLength(1);
      expect(last.at - first.at).toBeGreaterThanOrEqual(3 * CHUNK_DELAY_MS * 0.8);

      const data = sseData(chunks.map((c) => c.text).join(''));
      expect(data.at(-1)).toBe('[DONE]');
      const events = data.slice(0, -1).map((d) => JSON.parse(d) as Json);
      expect(events.every((e) => e.object === 'chat.completion.chunk')).toBe(true);
      const delta = (events[1].choices as Array<{ delta: { content: string } }>)[0].delta;
      expect(JSON.parse(delta.content)).toEqual({ sim: sim.name, model, file_ids: [fileId] });
    });

    it('should stream Responses events with their names', async () => {
      const reply = streamOf(await adapter.call(deployment, createResponse({ stream: true })));

      const text = (await readTimed(reply.body)).map((c) => c.text).join('');
      const names = text
        .split('\n')
        .filter((line) => line.startsWith('event: '))
        .map((line) => line.slice('event: '.length));
      expect(names[0]).toBe('response.created');
      expect(names.at(-1)).toBe('response.completed');
      expect(names).toContain('response.output_text.delta');
      const completed = JSON.parse(sseData(text).at(-1) ?? '{}') as { response: Json };
      expect(echoOf(completed.response)).toEqual({ sim: sim.name, model, file_ids: [fileId] });
    });
  });

  describe('aborts', () => {
    it('should abort a call still waiting for headers and close the upstream request', async () => {
      sim.addFault({ route: 'chat.completions', latencyMs: 3_000 });
      const abort = new AbortController();
      const pending = providerErrorOf(adapter.call(deployment, chat(), abort.signal));
      await until(() => sim.calls.some((c) => c.route === 'chat.completions'));
      const started = Date.now();

      abort.abort(new Error('client went away'));
      const error = await pending;

      expect(Date.now() - started).toBeLessThan(1_000);
      expect(error.status).toBeNull();
      expect(error.code).toBe('aborted');
      expect(error.aborted).toBe(true);
      expect(error.deploymentId).toBe(deployment.id);
      expect(error.message).not.toContain('client went away');
      await until(() => lastCall().closedEarly);
    });

    it('should close the upstream request when the caller aborts mid-stream', async () => {
      sim.addFault({ route: 'chat.completions', chunkDelayMs: 1_000 });
      const abort = new AbortController();
      const reply = streamOf(await adapter.call(deployment, chat({ stream: true }), abort.signal));
      const iterator: AsyncIterator<Buffer> = reply.body[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      expect(String(first.value)).toContain('chat.completion.chunk');
      expect(lastCall().closedEarly).toBe(false);

      abort.abort(new Error('client went away'));

      await expect(iterator.next()).rejects.toThrow();
      await until(() => lastCall().closedEarly);
    });
  });

  describe('errors', () => {
    it('should map a 429 to a retryable ProviderError carrying retry-after', async () => {
      sim.addFault({ route: 'chat.completions', status: 429, retryAfterSeconds: 7 });

      const error = await providerErrorOf(adapter.call(deployment, chat()));

      expect(error.status).toBe(429);
      expect(error.retryAfter).toBe('7');
      expect(error.retryable).toBe(true);
      expect(error.code).toBe(dialect === 'openai' ? null : 'tooManyRequests');
      expect(error.type).toBe(dialect === 'openai' ? 'requests' : null);
      expect(error.message).toBe('Simulated fault: HTTP 429.');
      expect(error.deploymentId).toBe(deployment.id);
      expect(error.requestId).toEqual(expect.any(String));
    });

    it("should map a 400 to a non-retryable ProviderError with the upstream's words", async () => {
      const error = await providerErrorOf(
        adapter.call(deployment, { operation: 'chat.completions', body: { model } }),
      );

      expect(error.status).toBe(400);
      expect(error.retryable).toBe(false);
      expect(error.retryAfter).toBeNull();
      expect(error.message).toBe("Missing required parameter: 'messages'.");
      // Azure's dated error body has a code and no type or param.
      expect({ code: error.code, type: error.type, param: error.param }).toEqual(
        dialect === 'openai'
          ? { code: null, type: 'invalid_request_error', param: 'messages' }
          : { code: 'invalidPayload', type: null, param: null },
      );
    });

    it('should answer a 404 for a file this deployment does not hold', async () => {
      const error = await providerErrorOf(
        adapter.call(deployment, {
          operation: 'chat.completions',
          body: {
            model,
            messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-x' } }] }],
          },
        }),
      );
      expect(error.status).toBe(404);
      expect(error.message).toBe('No such File object: file-x');
    });

    it('should map a 500 to a retryable ProviderError', async () => {
      sim.addFault({ route: 'responses', status: 500 });
      const error = await providerErrorOf(adapter.call(deployment, createResponse()));
      expect(error.status).toBe(500);
      expect(error.retryable).toBe(true);
    });

    it('should give status null when the upstream drops the connection', async () => {
      sim.addFault({ route: 'chat.completions', dropConnection: 'before-response' });
      const error = await providerErrorOf(adapter.call(deployment, chat()));
      expect(error.status).toBeNull();
      expect(error.code).toBe('connection_error');
      expect(error.timedOut).toBe(false);
      expect(error.retryable).toBe(true);
      expect(error.deploymentId).toBe(deployment.id);
    });

    it('should report timedOut when no headers arrive within the idle timeout', async () => {
      sim.addFault({ route: 'chat.completions', latencyMs: 3_000 });
      const started = Date.now();
      const error = await providerErrorOf(impatient.call(deployment, chat()));
      expect(error.status).toBeNull();
      expect(error.timedOut).toBe(true);
      expect(error.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('should redact the api key when the upstream echoes it', async () => {
      const error = await providerErrorOf(
        adapter.call(deployment, { operation: 'responses.retrieve', id: `resp_${API_KEY}` }),
      );
      expect(error.status).toBe(404);
      expect(error.message).toBe('No such Response object: resp_***');
    });
  });
});

describe('ProviderClient.call: JSON replies as sent', () => {
  // OpenAI's own JSON answers are indented; what the gateway relays unchanged must be the
  // upstream's bytes, not a re-serialised copy.
  const PRETTY = '{\n  "id": "chatcmpl-1",\n  "object": "chat.completion",\n  "choices": []\n}\n';
  const AZURE_JOB = JSON.stringify({ id: 'ftjob-1', status: 'pending', organisation_id: 'org-1' });
  let server: Server;
  let base: string;
  let pool: Agent;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(req.url?.includes('fine_tuning') ? AZURE_JOB : PRETTY);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pool = createUpstreamPool(5_000);
  });

  afterAll(async () => {
    await pool.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const on = (provider: Dialect): Deployment => ({
    id: `${provider}-raw`,
    modelName: 'gpt-test',
    provider,
    upstreamModel: 'gpt-4o-mini',
    apiBase: provider === 'azure' ? base : `${base}/v1`,
    apiKey: API_KEY,
    apiVersion: provider === 'azure' ? API_VERSION : null,
    weight: 1,
  });

  it('should hand over the bytes of a reply it did not change, parsed beside them', async () => {
    const adapter = new OpenAIAdapter({ timeoutMs: 5_000, dispatcher: pool });
    const reply = await adapter.call(on('openai'), {
      operation: 'chat.completions',
      body: { model: 'gpt-4o-mini', messages: [] },
    });
    if (reply.kind !== 'json') throw new Error('expected JSON');
    expect(reply.text).toBe(PRETTY);
    expect(reply.body).toEqual({ id: 'chatcmpl-1', object: 'chat.completion', choices: [] });
  });

  it("should give the normalised object's JSON when the dialect changed the answer", async () => {
    const adapter = new AzureAdapter({ timeoutMs: 5_000, dispatcher: pool });
    const reply = await adapter.call(on('azure'), {
      operation: 'fine_tuning.jobs.retrieve',
      id: 'ftjob-1',
    });
    if (reply.kind !== 'json') throw new Error('expected JSON');
    expect(reply.body).toMatchObject({ status: 'queued', organization_id: 'org-1' });
    expect(JSON.parse(reply.text)).toEqual(reply.body);
  });
});
