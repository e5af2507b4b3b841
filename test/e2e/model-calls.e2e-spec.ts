// Chat completions and the Responses API on managed files, through supertest and the openai SDK,
// against PostgreSQL, Redis and simulated deployments that echo the file ids and model they got.
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import request from 'supertest';
import { IdCodec } from '../../src/id-codec/id-codec';
import { callsTo, createTestApp, type TestApp } from '../utils/create-test-app';
import { copyRows } from '../utils/factories';
import { expectEnvelope, uploadOk } from '../utils/files-client';
import { jsonlContent } from '../utils/http';
import { expectAllValid, okSchemaPointer, validatorFor } from '../utils/openai-spec';

const CHAT_SCHEMA = validatorFor(okSchemaPointer('/chat/completions', 'post'));

interface Echo {
  sim: string;
  model: string;
  file_ids: string[];
}

interface ChatBody {
  model: string;
  choices: Array<{ message: { content: string } }>;
}

function echoOf(body: unknown): Echo {
  return JSON.parse((body as ChatBody).choices[0].message.content) as Echo;
}

function chat(t: TestApp, user: 'alice' | 'bob' | 'carol' | 'admin', body: unknown): request.Test {
  return request(t.http)
    .post('/v1/chat/completions')
    .set('authorization', t.bearer(user))
    .send(body as object);
}

function fileMessage(...fileIds: string[]): unknown {
  return [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'summarise' },
        ...fileIds.map((file_id) => ({ type: 'file', file: { file_id } })),
      ],
    },
  ];
}

/** Provider file id of a managed file on each deployment. */
async function providerIds(t: TestApp, fileId: string): Promise<Record<string, string>> {
  const [row] = await t.dataSource.query<Array<{ id: string }>>(
    `SELECT id FROM managed_files WHERE status = 'ready' ORDER BY created_at DESC LIMIT 1`,
  );
  expect(row).toBeDefined();
  const copies = await copyRows(t.dataSource, row.id);
  void fileId;
  return Object.fromEntries(copies.map((c) => [c.deployment_id, c.provider_file_id ?? '']));
}

describe('Model calls with managed files', () => {
  let t: TestApp;
  let sdk: OpenAI;

  beforeAll(async () => {
    // gpt-4o-mini: one OpenAI-dialect and one Azure-dialect deployment; gpt-4o: one more.
    t = await createTestApp({
      deployments: [
        { id: 'a-openai', modelName: 'model-a', dialect: 'openai' },
        { id: 'a-azure', modelName: 'model-a', dialect: 'azure' },
        { id: 'b-openai', modelName: 'model-b', dialect: 'openai' },
      ],
    });
    sdk = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.keys.alice, maxRetries: 0 });
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  it("should reach one of model A's deployments carrying exactly that deployment's provider id, spread over both", async () => {
    const file = await uploadOk(t, { targets: 'model-a,model-b' });
    const ids = await providerIds(t, file.id);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await chat(t, 'alice', { model: 'model-a', messages: fileMessage(file.id) });
      expect(res.status).toBe(200);
      const echo = echoOf(res.body);
      expect(['a-openai', 'a-azure']).toContain(echo.sim);
      expect(echo.file_ids).toEqual([ids[echo.sim]]);
      expect(echo.model).toBe('model-a-upstream');
      seen.add(echo.sim);
    }
    expect([...seen].sort()).toEqual(['a-azure', 'a-openai']);
  });

  it('should send all 20 calls to the healthy deployment when the other fails', async () => {
    const file = await uploadOk(t, { targets: 'model-a' });
    t.sims['a-azure'].addFault({ route: 'chat.completions', status: 500 });
    for (let i = 0; i < 20; i++) {
      const res = await chat(t, 'alice', { model: 'model-a', messages: fileMessage(file.id) });
      expect(res.status).toBe(200);
      expect(echoOf(res.body).sim).toBe('a-openai');
    }
  });

  it('should refuse a file uploaded only for model A in a call to model B, naming file and models', async () => {
    const file = await uploadOk(t, { targets: 'model-a' });
    const res = await chat(t, 'alice', { model: 'model-b', messages: fileMessage(file.id) });
    const error = expectEnvelope(res, 400);
    expect(error.message).toContain(file.id);
    expect(error.message).toContain('model-b');
    expect(error.message).toContain('model-a');
    expect(error.param).toBe('messages[0].content[1].file.file_id');
    expect(callsTo(t.sims, 'chat.completions')).toBe(0);
  });

  it('should rewrite two managed files and pass an inline file_data part through byte-identical', async () => {
    const one = await uploadOk(t, { targets: 'model-a', data: jsonlContent(100, 'one') });
    const oneIds = await providerIds(t, one.id);
    const two = await uploadOk(t, { targets: 'model-a', data: jsonlContent(100, 'two') });
    const twoIds = await providerIds(t, two.id);
    const inline = `data:application/pdf;base64,${randomBytes(3000).toString('base64')}`;
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'file', file: { file_id: one.id } },
          { type: 'file', file: { filename: 'inline.pdf', file_data: inline } },
          { type: 'file', file: { file_id: two.id } },
        ],
      },
    ];
    const res = await chat(t, 'alice', { model: 'model-a', messages, temperature: 0.2 });
    expect(res.status).toBe(200);
    const echo = echoOf(res.body);
    expect(echo.file_ids).toEqual([oneIds[echo.sim], twoIds[echo.sim]]);
    const received = t.sims[echo.sim].calls.find((c) => c.route === 'chat.completions');
    const body = received?.body as { messages: typeof messages; temperature: number };
    expect(body.messages[0].content[1]).toEqual(messages[0].content[1]);
    expect(body.temperature).toBe(0.2);
  });

  it("should answer 403 for another user's file and 404 for forged or raw provider ids, with no upstream call", async () => {
    const file = await uploadOk(t, { targets: 'model-a' });
    const ids = await providerIds(t, file.id);
    const denied = await chat(t, 'bob', { model: 'model-a', messages: fileMessage(file.id) });
    expect(expectEnvelope(denied, 403).message).toContain(file.id);
    const forged = `file-${randomBytes(40).toString('base64url')}`;
    expect(
      expectEnvelope(
        await chat(t, 'alice', { model: 'model-a', messages: fileMessage(forged) }),
        404,
      ).param,
    ).toBe('messages[0].content[1].file.file_id');
    const tampered = file.id.slice(0, -2) + (file.id.endsWith('A') ? 'BB' : 'AA');
    expectEnvelope(
      await chat(t, 'alice', { model: 'model-a', messages: fileMessage(tampered) }),
      404,
    );
    const raw = await chat(t, 'alice', {
      model: 'model-a',
      messages: fileMessage(ids['a-openai']),
    });
    expectEnvelope(raw, 404);
    expect(callsTo(t.sims, 'chat.completions')).toBe(0);
  });

  it('should let a teammate use the file and answer 404 model_not_found listing models for an unknown model', async () => {
    const file = await uploadOk(t, { targets: 'model-a' });
    expect(
      (await chat(t, 'carol', { model: 'model-a', messages: fileMessage(file.id) })).status,
    ).toBe(200);
    const unknown = await chat(t, 'alice', {
      model: 'nope',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const error = expectEnvelope(unknown, 404);
    expect(error.code).toBe('model_not_found');
    expect(error.message).toContain('model-a');
  });

  it('should keep an upstream 4xx and a 429 with its retry-after, and never quote a provider file id', async () => {
    const file = await uploadOk(t, { targets: 'model-b' });
    t.sims['b-openai'].addFault({
      route: 'chat.completions',
      status: 429,
      retryAfterSeconds: 7,
      times: 2,
    });
    const limited = await chat(t, 'alice', { model: 'model-b', messages: fileMessage(file.id) });
    expect(expectEnvelope(limited, 429)).toBeDefined();
    expect(limited.headers['retry-after']).toBe('7');
    const ids = await providerIds(t, file.id);
    expect(JSON.stringify(limited.body)).not.toContain(ids['b-openai']);
  });

  it('should answer 502 naming the deployment when every eligible deployment fails or drops the connection', async () => {
    const file = await uploadOk(t, { targets: 'model-a' });
    const ids = await providerIds(t, file.id);
    for (const id of ['a-openai', 'a-azure']) {
      t.sims[id].addFault({ route: 'chat.completions', status: 503, times: 1 });
    }
    const failed = await chat(t, 'alice', { model: 'model-a', messages: fileMessage(file.id) });
    const error = expectEnvelope(failed, 502);
    expect(error.message).toMatch(/deployment 'a-(openai|azure)'/);
    for (const providerId of Object.values(ids)) expect(error.message).not.toContain(providerId);
    t.sims['b-openai'].addFault({ route: 'chat.completions', dropConnection: 'before-response' });
    const dropped = await chat(t, 'alice', {
      model: 'model-b',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(expectEnvelope(dropped, 502).code).toBe('upstream_error');
  });

  it('should serve a call without file parts and list the models through the SDK', async () => {
    const completion = await sdk.chat.completions.create({
      model: 'model-b',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(completion.object).toBe('chat.completion');
    expectAllValid([['POST /v1/chat/completions', CHAT_SCHEMA, completion]]);
    const models = [];
    for await (const m of sdk.models.list()) models.push(m.id);
    expect(models.sort()).toEqual(['model-a', 'model-b']);
    expect((await sdk.models.retrieve('model-a')).id).toBe('model-a');
  });

  it('should stream through the SDK: the first chunk arrives before the simulator has finished', async () => {
    const file = await uploadOk(t, { targets: 'model-b' });
    t.sims['b-openai'].addFault({ route: 'chat.completions', chunkDelayMs: 300 });
    const started = Date.now();
    const stream = await sdk.chat.completions.create({
      model: 'model-b',
      stream: true,
      stream_options: { include_usage: true },
      messages: fileMessage(file.id) as OpenAI.Chat.ChatCompletionMessageParam[],
    });
    let first = 0;
    let chunks = 0;
    let usage = false;
    for await (const chunk of stream) {
      if (chunks === 0) first = Date.now() - started;
      chunks++;
      if (chunk.usage) usage = true;
    }
    const total = Date.now() - started;
    expect(chunks).toBeGreaterThan(2);
    expect(usage).toBe(true);
    expect(first).toBeLessThan(total - 300);
  });

  it('should abort the upstream request when the client aborts a stream', async () => {
    t.sims['b-openai'].addFault({ route: 'chat.completions', chunkDelayMs: 400 });
    const abort = new AbortController();
    const stream = await sdk.chat.completions.create(
      { model: 'model-b', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { signal: abort.signal },
    );
    let chunks = 0;
    // The SDK ends the iteration quietly on its own abort.
    for await (const chunk of stream) {
      void chunk;
      chunks++;
      abort.abort();
    }
    expect(chunks).toBe(1);
    const sim = t.sims['b-openai'];
    const deadline = Date.now() + 5_000;
    while (!sim.calls.some((c) => c.route === 'chat.completions' && c.closedEarly)) {
      if (Date.now() > deadline) throw new Error('the upstream request was not closed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  describe('Responses', () => {
    it('should rewrite input_file, seal the response id, and continue on the same deployment', async () => {
      const file = await uploadOk(t, { targets: 'model-a' });
      const ids = await providerIds(t, file.id);
      const first = await sdk.responses.create({
        model: 'model-a',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'read this' },
              { type: 'input_file', file_id: file.id },
            ],
          },
        ],
      });
      expect(first.id).toMatch(/^resp_/);
      const home = Object.entries(t.sims).find(([, sim]) =>
        sim.calls.some((c) => c.route === 'responses'),
      )?.[0];
      expect(home).toBeDefined();
      const received = JSON.stringify(
        t.sims[home ?? ''].calls.find((c) => c.route === 'responses')?.body,
      );
      expect(received).toContain(ids[home ?? '']);
      expect(received).not.toContain(file.id);

      // Nothing in the id says where it lives or what the provider calls it.
      const decoded = Buffer.from(first.id.slice(5), 'base64url').toString('latin1');
      expect(decoded).not.toContain(home);
      const providerResponseIds = t.sims[home ?? ''].responseIds;
      expect(providerResponseIds).toHaveLength(1);
      expect(first.id).not.toContain(providerResponseIds[0]);
      expect(decoded).not.toContain(providerResponseIds[0]);

      for (let i = 0; i < 5; i++) {
        const next = await sdk.responses.create({
          model: 'model-a',
          previous_response_id: first.id,
          input: 'and then?',
        });
        expect(next.previous_response_id).toBe(first.id);
        expect(t.sims[home ?? ''].responseIds).toHaveLength(i + 2);
      }
      const again = await sdk.responses.retrieve(first.id);
      expect(again.id).toBe(first.id);
      const items = await sdk.responses.inputItems.list(first.id);
      expect(items.data.length).toBeGreaterThan(0);
    });

    it("should refuse B's retrieve, delete, input_items and continuation of A's response", async () => {
      const mine = await sdk.responses.create({ model: 'model-b', input: 'hello' });
      const bob = (method: 'get' | 'delete', path: string): request.Test =>
        request(t.http)[method](path).set('authorization', t.bearer('bob'));
      expectEnvelope(await bob('get', `/v1/responses/${mine.id}`), 403);
      expectEnvelope(await bob('delete', `/v1/responses/${mine.id}`), 403);
      expectEnvelope(await bob('get', `/v1/responses/${mine.id}/input_items`), 403);
      const cont = await request(t.http)
        .post('/v1/responses')
        .set('authorization', t.bearer('bob'))
        .send({ model: 'model-b', previous_response_id: mine.id, input: 'x' });
      expectEnvelope(cont, 403);
      const forged = new IdCodec('x'.repeat(40)).encode({
        kind: 'response',
        uid: '0f8e5a3c-6b1d-4c2e-9a7f-1234567890ab',
        deploymentId: 'b-openai',
        providerId: 'resp_x',
        ownerUserId: 'bob',
      });
      expectEnvelope(await bob('get', `/v1/responses/${forged}`), 404);
      // The owner can delete it.
      const deleted = await request(t.http)
        .delete(`/v1/responses/${mine.id}`)
        .set('authorization', t.bearer('alice'));
      expect(deleted.status).toBe(200);
      expect((deleted.body as { id: string }).id).toBe(mine.id);
    });

    it('should stream a response with the sealed id in its events', async () => {
      const stream = await sdk.responses.create({ model: 'model-b', input: 'hi', stream: true });
      const ids = new Set<string>();
      for await (const event of stream) {
        if ('response' in event) ids.add(event.response.id);
      }
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      expect(id).toMatch(/^resp_/);
      expect((await sdk.responses.retrieve(id)).id).toBe(id);
    });
  });
});
