import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request, setGlobalDispatcher } from 'undici';

// Each call on a fresh connection: several tests here drop or cut connections on purpose, and a
// pooled socket the simulator has just closed would fail the next test with "other side closed"
// (seen about once in ten runs). Keep-alive itself is exercised by the gateway's e2e tests.
setGlobalDispatcher(new Agent({ pipelining: 0, keepAliveTimeout: 1, keepAliveMaxTimeout: 1 }));
import { startSimulator, type SimulatedUpstream, type SimulatorOptions } from './simulator';

type Part =
  | { name: string; value: string }
  | { name: string; filename: string; content: Buffer; type?: string };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
  text: string;
}

function multipart(parts: readonly Part[], boundary = `----sim${randomBytes(8).toString('hex')}`) {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('filename' in part) {
      chunks.push(
        Buffer.from(
          `Content-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
            `Content-Type: ${part.type ?? 'application/octet-stream'}\r\n\r\n`,
        ),
      );
      chunks.push(part.content, Buffer.from('\r\n'));
    } else {
      chunks.push(
        Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Splits a buffer into a stream of small pieces; undici sends it chunked (no content-length). */
function chunked(buffer: Buffer, size = 1000): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += size) pieces.push(buffer.subarray(i, i + size));
  return Readable.from(pieces);
}

async function call(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  options: { headers?: Record<string, string>; body?: string | Buffer | Readable } = {},
): Promise<Reply> {
  const res = await request(url, { method, headers: options.headers, body: options.body });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Content downloads are not JSON; tests read `text` for those.
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return call('POST', url, {
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function waitFor(
  read: () => Promise<Reply>,
  done: (reply: Reply) => boolean,
  timeoutMs = 5000,
): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await read();
    if (done(reply) || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe(startSimulator.name, () => {
  const started: SimulatedUpstream[] = [];
  const start = async (options: SimulatorOptions): Promise<SimulatedUpstream> => {
    const sim = await startSimulator(options);
    started.push(sim);
    return sim;
  };

  afterEach(async () => {
    await Promise.all(started.splice(0).map((sim) => sim.close()));
  });

  describe('openai dialect', () => {
    let sim: SimulatedUpstream;
    const auth = { authorization: 'Bearer sk-test' };

    beforeEach(async () => {
      sim = await start({ dialect: 'openai', apiKey: 'sk-test', statusStepMs: 20, name: 'oa' });
    });

    const upload = async (
      filename: string,
      content: Buffer,
      purpose = 'user_data',
      extra: Part[] = [],
    ): Promise<Reply> => {
      const form = multipart([
        { name: 'file', filename, content, type: 'application/jsonl' },
        { name: 'purpose', value: purpose },
        ...extra,
      ]);
      return call('POST', `${sim.apiBase}/files`, {
        headers: { ...auth, 'content-type': form.contentType },
        body: form.body,
      });
    };

    it('should report an apiBase ending in /v1 on the ephemeral port', () => {
      expect(sim.port).toBeGreaterThan(0);
      expect(sim.apiBase).toBe(`http://127.0.0.1:${String(sim.port)}/v1`);
    });

    it('should store a Content-Length upload with the exact filename, size and sha256', async () => {
      const content = Buffer.from('{"a":1}\n{"a":2}\n');
      const filename = 'mfg~up_01HZ/ü name.jsonl';
      const reply = await upload(filename, content);

      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({
        object: 'file',
        bytes: content.length,
        filename,
        purpose: 'user_data',
        status: 'processed',
      });
      expect(reply.json.id).toMatch(/^file-[A-Za-z0-9]{24}$/);
      expect(reply.headers['x-request-id']).toMatch(/^req_/);
      const stored = sim.files.get(String(reply.json.id));
      expect(stored?.sha256).toBe(createHash('sha256').update(content).digest('hex'));
      expect(stored?.filename).toBe(filename);
    });

    it('should store a chunked upload with any boundary', async () => {
      const content = randomBytes(300_000);
      const form = multipart(
        [
          { name: 'purpose', value: 'batch' },
          { name: 'file', filename: 'big.bin', content },
          { name: 'expires_after[anchor]', value: 'created_at' },
          { name: 'expires_after[seconds]', value: '86400' },
        ],
        'openai-abc123',
      );
      const reply = await call('POST', `${sim.apiBase}/files`, {
        headers: { ...auth, 'content-type': form.contentType },
        body: chunked(form.body),
      });

      expect(reply.status).toBe(200);
      expect(reply.json.bytes).toBe(content.length);
      expect(reply.json.expires_at).toBe(Number(reply.json.created_at) + 86400);
      expect(sim.calls.at(-1)?.headers['transfer-encoding']).toBe('chunked');
      const download = await request(`${sim.apiBase}/files/${String(reply.json.id)}/content`, {
        headers: auth,
      });
      expect(Buffer.from(await download.body.arrayBuffer()).equals(content)).toBe(true);
    });

    it('should retrieve, download and delete a file', async () => {
      const created = await upload('a.jsonl', Buffer.from('hello'));
      const id = String(created.json.id);

      const retrieved = await call('GET', `${sim.apiBase}/files/${id}`, { headers: auth });
      expect(retrieved.json).toMatchObject({ id, filename: 'a.jsonl', bytes: 5 });
      const content = await call('GET', `${sim.apiBase}/files/${id}/content`, { headers: auth });
      expect(content.text).toBe('hello');
      expect(content.headers['content-type']).toBe('application/octet-stream');
      const deleted = await call('DELETE', `${sim.apiBase}/files/${id}`, { headers: auth });
      expect(deleted.json).toEqual({ id, object: 'file', deleted: true });
      const gone = await call('GET', `${sim.apiBase}/files/${id}`, { headers: auth });
      expect(gone.status).toBe(404);
      expect(gone.json).toEqual({
        error: {
          message: `No such File object: ${id}`,
          type: 'invalid_request_error',
          param: 'id',
          code: null,
        },
      });
    });

    it('should list files newest first with cursor pagination and a purpose filter', async () => {
      const ids: string[] = [];
      for (const name of ['one', 'two', 'three']) {
        ids.push(String((await upload(`${name}.jsonl`, Buffer.from(name))).json.id));
      }
      await upload('other.jsonl', Buffer.from('x'), 'fine-tune');

      const first = await call('GET', `${sim.apiBase}/files?purpose=user_data&limit=2`, {
        headers: auth,
      });
      expect(first.json).toMatchObject({
        object: 'list',
        first_id: ids[2],
        last_id: ids[1],
        has_more: true,
      });
      const second = await call(
        'GET',
        `${sim.apiBase}/files?purpose=user_data&limit=2&after=${ids[1]}`,
        { headers: auth },
      );
      expect((second.json.data as { id: string }[]).map((f) => f.id)).toEqual([ids[0]]);
      expect(second.json.has_more).toBe(false);
      const asc = await call('GET', `${sim.apiBase}/files?order=asc`, { headers: auth });
      expect((asc.json.data as { filename: string }[]).map((f) => f.filename)).toEqual([
        'one.jsonl',
        'two.jsonl',
        'three.jsonl',
        'other.jsonl',
      ]);
      const bad = await call('GET', `${sim.apiBase}/files?limit=0`, { headers: auth });
      expect(bad.status).toBe(400);
    });

    it('should answer 400 when file or purpose is missing or the body is not multipart', async () => {
      const noPurpose = multipart([{ name: 'file', filename: 'a.txt', content: Buffer.from('a') }]);
      const noFile = multipart([{ name: 'purpose', value: 'batch' }]);
      for (const form of [noPurpose, noFile]) {
        const reply = await call('POST', `${sim.apiBase}/files`, {
          headers: { ...auth, 'content-type': form.contentType },
          body: form.body,
        });
        expect(reply.status).toBe(400);
        expect(reply.json.error).toMatchObject({ type: 'invalid_request_error' });
      }
      const json = await postJson(`${sim.apiBase}/files`, { purpose: 'batch' }, auth);
      expect(json.status).toBe(400);
      expect(sim.files.size).toBe(0);
    });

    it('should answer 401 in the OpenAI shape without a valid bearer key', async () => {
      const reply = await call('GET', `${sim.apiBase}/files`, {
        headers: { authorization: 'Bearer wrong' },
      });
      expect(reply.status).toBe(401);
      expect(reply.json.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'invalid_api_key',
      });
    });

    it('should answer 404 in the OpenAI shape for an unknown route', async () => {
      const reply = await call('GET', `${sim.apiBase}/models`, { headers: auth });
      expect(reply.status).toBe(404);
      expect(reply.json.error).toHaveProperty('type');
    });

    it('should fail only the 2nd call with a nth:2 status fault', async () => {
      sim.addFault({ route: 'files.list', nth: 2, status: 500 });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        statuses.push((await call('GET', `${sim.apiBase}/files`, { headers: auth })).status);
      }
      expect(statuses).toEqual([200, 500, 200]);
      sim.clearFaults();
      sim.addFault({ route: '*', status: 503, times: 1 });
      const next = await call('GET', `${sim.apiBase}/files`, { headers: auth });
      expect(next.status).toBe(503);
      expect(next.json.error).toMatchObject({ type: 'server_error' });
      expect((await call('GET', `${sim.apiBase}/files`, { headers: auth })).status).toBe(200);
    });

    it('should delay a call by a latency fault', async () => {
      sim.addFault({ route: 'files.list', latencyMs: 150 });
      const began = Date.now();
      const reply = await call('GET', `${sim.apiBase}/files`, { headers: auth });
      expect(reply.status).toBe(200);
      expect(Date.now() - began).toBeGreaterThanOrEqual(140);
    });

    it('should drop the connection mid-body so the uploader sees a socket error', async () => {
      sim.addFault({ route: 'files.create', dropConnection: 'mid-body' });
      const form = multipart([
        { name: 'purpose', value: 'batch' },
        { name: 'file', filename: 'big.bin', content: randomBytes(2 * 1024 * 1024) },
      ]);

      await expect(
        request(`${sim.apiBase}/files`, {
          method: 'POST',
          headers: { ...auth, 'content-type': form.contentType },
          body: form.body,
        }),
      ).rejects.toThrow();
      expect(sim.files.size).toBe(0);
      // The simulator keeps serving afterwards.
      expect((await call('GET', `${sim.apiBase}/files`, { headers: auth })).status).toBe(200);
    });

    it('should drop the connection before responding and part-way through a download', async () => {
      const id = String((await upload('c.bin', randomBytes(200_000))).json.id);
      sim.addFault({ route: 'files.retrieve', dropConnection: 'before-response', times: 1 });
      await expect(request(`${sim.apiBase}/files/${id}`, { headers: auth })).rejects.toThrow();

      sim.addFault({ route: 'files.content', dropConnection: 'mid-body', times: 1 });
      const download = async (): Promise<number> => {
        const res = await request(`${sim.apiBase}/files/${id}/content`, { headers: auth });
        return (await res.body.arrayBuffer()).byteLength;
      };
      await expect(download()).rejects.toThrow();
      expect(await download()).toBe(200_000);
    });

    it('should echo the file ids of chat file parts', async () => {
      const id = String((await upload('doc.pdf', Buffer.from('%PDF'))).json.id);
      const reply = await postJson(
        `${sim.apiBase}/chat/completions`,
        {
          model: 'gpt-4o-mini',
          messages: [
            { role: 'system', content: 'be brief' },
            {
              role: 'user',
              content: [
                { type: 'text', text: 'summarize' },
                { type: 'file', file: { file_id: id } },
              ],
            },
          ],
        },
        auth,
      );
      expect(reply.status).toBe(200);
      expect(reply.json.object).toBe('chat.completion');
      const choice = (reply.json.choices as { message: { content: string } }[])[0];
      expect(JSON.parse(choice.message.content)).toEqual({
        sim: 'oa',
        model: 'gpt-4o-mini',
        file_ids: [id],
      });

      const missing = await postJson(
        `${sim.apiBase}/chat/completions`,
        {
          model: 'm',
          messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-nope' } }] }],
        },
        auth,
      );
      expect(missing.status).toBe(404);
    });

    it('should echo input_file and code_interpreter file ids from a responses call', async () => {
      const a = String((await upload('a.pdf', Buffer.from('a'))).json.id);
      const b = String((await upload('b.csv', Buffer.from('b'))).json.id);
      const reply = await postJson(
        `${sim.apiBase}/responses`,
        {
          model: 'gpt-4.1',
          input: [{ role: 'user', content: [{ type: 'input_file', file_id: a }] }],
          tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [b] } }],
        },
        auth,
      );
      expect(reply.status).toBe(200);
      expect(reply.json.object).toBe('response');
      const output = reply.json.output as { content: { type: string; text: string }[] }[];
      expect(output[0].content[0].type).toBe('output_text');
      expect(JSON.parse(output[0].content[0].text)).toMatchObject({ file_ids: [a, b] });
    });

    it('should keep responses for retrieve, input_items and delete, unless store is false', async () => {
      const created = await postJson(
        `${sim.apiBase}/responses`,
        { model: 'gpt-4.1', input: 'hello', metadata: { k: 'v' } },
        auth,
      );
      const id = String(created.json.id);
      const retrieved = await call('GET', `${sim.apiBase}/responses/${id}`, { headers: auth });
      expect(retrieved.json).toMatchObject({ id, status: 'completed', metadata: { k: 'v' } });
      const items = await call('GET', `${sim.apiBase}/responses/${id}/input_items`, {
        headers: auth,
      });
      expect(items.json).toMatchObject({ object: 'list', has_more: false });
      expect(items.json.data).toEqual([
        expect.objectContaining({
          type: 'message',
          content: [{ type: 'input_text', text: 'hello' }],
        }),
      ]);
      const deleted = await call('DELETE', `${sim.apiBase}/responses/${id}`, { headers: auth });
      expect(deleted.json).toEqual({ id, object: 'response', deleted: true });
      const gone = await call('GET', `${sim.apiBase}/responses/${id}`, { headers: auth });
      expect(gone.status).toBe(404);

      const unstored = await postJson(
        `${sim.apiBase}/responses`,
        { model: 'gpt-4.1', input: 'x', store: false },
        auth,
      );
      const missing = await call('GET', `${sim.apiBase}/responses/${String(unstored.json.id)}`, {
        headers: auth,
      });
      expect(missing.status).toBe(404);
    });

    it('should refuse a previous_response_id this provider does not hold', async () => {
      const first = await postJson(`${sim.apiBase}/responses`, { model: 'm', input: 'a' }, auth);
      const next = await postJson(
        `${sim.apiBase}/responses`,
        { model: 'm', input: 'b', previous_response_id: first.json.id },
        auth,
      );
      expect(next.json.previous_response_id).toBe(first.json.id);

      const elsewhere = await postJson(
        `${sim.apiBase}/responses`,
        { model: 'm', input: 'b', previous_response_id: 'resp_other' },
        auth,
      );
      expect(elsewhere.status).toBe(400);
      expect(elsewhere.json.error).toEqual({
        message: "Previous response with id 'resp_other' not found.",
        type: 'invalid_request_error',
        param: 'previous_response_id',
        code: 'previous_response_not_found',
      });
    });

    it('should queue a background response until a status step passed, and cancel only those', async () => {
      const queued = await postJson(
        `${sim.apiBase}/responses`,
        { model: 'm', input: 'a', background: true },
        auth,
      );
      expect(queued.json).toMatchObject({ status: 'queued', background: true, output: [] });
      const done = await waitFor(
        () => call('GET', `${sim.apiBase}/responses/${String(queued.json.id)}`, { headers: auth }),
        (reply) => reply.json.status === 'completed',
      );
      expect(done.json.status).toBe('completed');
      const late = await call('POST', `${sim.apiBase}/responses/${String(queued.json.id)}/cancel`, {
        headers: auth,
      });
      expect(late.status).toBe(400);

      const foreground = await postJson(
        `${sim.apiBase}/responses`,
        { model: 'm', input: 'a' },
        auth,
      );
      const refused = await call(
        'POST',
        `${sim.apiBase}/responses/${String(foreground.json.id)}/cancel`,
        { headers: auth },
      );
      expect(refused.status).toBe(400);
      expect(String((refused.json.error as { message: string }).message)).toContain('background');
    });

    it('should send retry-after with a faulted 429 and space stream events by chunkDelayMs', async () => {
      sim.addFault({ route: 'chat.completions', status: 429, retryAfterSeconds: 3, times: 1 });
      const limited = await postJson(
        `${sim.apiBase}/chat/completions`,
        { model: 'm', messages: [] },
        auth,
      );
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('3');

      sim.addFault({ route: 'chat.completions', chunkDelayMs: 100 });
      const started = Date.now();
      const streamed = await postJson(
        `${sim.apiBase}/chat/completions`,
        { model: 'm', messages: [], stream: true },
        auth,
      );
      expect(streamed.headers['content-type']).toBe('text/event-stream');
      expect(streamed.text.endsWith('data: [DONE]\n\n')).toBe(true);
      // Four events, three gaps.
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      expect(sim.calls.every((c) => !c.closedEarly)).toBe(true);
    });

    it('should complete a batch with one output line per valid input line', async () => {
      const doc = String((await upload('doc.pdf', Buffer.from('%PDF'))).json.id);
      const line = (customId: string, fileId: string): string =>
        JSON.stringify({
          custom_id: customId,
          method: 'POST',
          url: '/v1/chat/completions',
          body: {
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: fileId } }] }],
          },
        });
      const jsonl = [line('r-1', doc), 'not json', line('r-2', doc), line('r-3', 'file-gone')].join(
        '\n',
      );
      const input = String((await upload('in.jsonl', Buffer.from(jsonl), 'batch')).json.id);

      const created = await postJson(
        `${sim.apiBase}/batches`,
        { input_file_id: input, endpoint: '/v1/chat/completions', completion_window: '24h' },
        auth,
      );
      expect(created.status).toBe(200);
      expect(created.json).toMatchObject({ object: 'batch', status: 'validating' });
      expect(created.json.id).toMatch(/^batch_/);
      const done = await waitFor(
        () => call('GET', `${sim.apiBase}/batches/${String(created.json.id)}`, { headers: auth }),
        (reply) => reply.json.status === 'completed',
      );
      expect(done.json).toMatchObject({
        status: 'completed',
        request_counts: { total: 4, completed: 2, failed: 2 },
        model: 'gpt-4o-mini',
      });
      expect(done.json.in_progress_at).toEqual(expect.any(Number));
      expect(done.json.completed_at).toEqual(expect.any(Number));

      const output = await call(
        'GET',
        `${sim.apiBase}/files/${String(done.json.output_file_id)}/content`,
        { headers: auth },
      );
      const lines = output.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.custom_id)).toEqual(['r-1', 'r-2']);
      const response = lines[0].response as {
        status_code: number;
        body: { choices: { message: { content: string } }[] };
      };
      expect(response.status_code).toBe(200);
      expect(JSON.parse(response.body.choices[0].message.content)).toMatchObject({
        file_ids: [doc],
      });
      expect(lines[0].id).toMatch(/^batch_req_/);

      const errors = await call(
        'GET',
        `${sim.apiBase}/files/${String(done.json.error_file_id)}/content`,
        { headers: auth },
      );
      const errorLines = errors.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(errorLines.map((l) => l.custom_id)).toEqual([null, 'r-3']);
      expect(errorLines[1].response).toMatchObject({ status_code: 404 });
      const outputs = await call('GET', `${sim.apiBase}/files?purpose=batch_output`, {
        headers: auth,
      });
      expect((outputs.json.data as unknown[]).length).toBe(2);
    });

    it('should cancel a batch through cancelling to cancelled', async () => {
      const input = String((await upload('in.jsonl', Buffer.from('{}'), 'batch')).json.id);
      const created = await postJson(
        `${sim.apiBase}/batches`,
        { input_file_id: input, endpoint: '/v1/chat/completions', completion_window: '24h' },
        auth,
      );
      const id = String(created.json.id);
      const cancelling = await call('POST', `${sim.apiBase}/batches/${id}/cancel`, {
        headers: auth,
      });
      expect(cancelling.json.status).toBe('cancelling');
      const cancelled = await waitFor(
        () => call('GET', `${sim.apiBase}/batches/${id}`, { headers: auth }),
        (reply) => reply.json.status === 'cancelled',
      );
      expect(cancelled.json.status).toBe('cancelled');
      expect(cancelled.json.output_file_id).toBeNull();
      const list = await call('GET', `${sim.apiBase}/batches?limit=1`, { headers: auth });
      expect(list.json).toMatchObject({ object: 'list', first_id: id, has_more: false });
      const missing = await postJson(
        `${sim.apiBase}/batches`,
        { input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' },
        auth,
      );
      expect(missing.status).toBe(404);
    });

    it('should run a fine-tuning job to succeeded and cancel another', async () => {
      const training = String(
        (await upload('train.jsonl', Buffer.from('{"messages":[]}\n'), 'fine-tune')).json.id,
      );
      const created = await postJson(
        `${sim.apiBase}/fine_tuning/jobs`,
        { model: 'gpt-4o-mini', training_file: training, suffix: 'demo' },
        auth,
      );
      expect(created.status).toBe(200);
      expect(created.json).toMatchObject({
        object: 'fine_tuning.job',
        status: 'validating_files',
        fine_tuned_model: null,
        training_file: training,
        validation_file: null,
        result_files: [],
      });
      const id = String(created.json.id);
      expect(id).toMatch(/^ftjob-/);
      const done = await waitFor(
        () => call('GET', `${sim.apiBase}/fine_tuning/jobs/${id}`, { headers: auth }),
        (reply) => reply.json.status === 'succeeded',
      );
      expect(done.json.fine_tuned_model).toBe(`ft:gpt-4o-mini:sim:demo:${id.slice(6, 14)}`);
      expect(done.json.trained_tokens).toEqual(expect.any(Number));
      const [resultFile] = done.json.result_files as string[];
      expect(sim.files.get(resultFile)?.purpose).toBe('fine-tune-results');

      const other = await postJson(
        `${sim.apiBase}/fine_tuning/jobs`,
        { model: 'gpt-4o-mini', training_file: training },
        auth,
      );
      const cancelled = await call(
        'POST',
        `${sim.apiBase}/fine_tuning/jobs/${String(other.json.id)}/cancel`,
        { headers: auth },
      );
      expect(cancelled.json.status).toBe('cancelled');
      const list = await call('GET', `${sim.apiBase}/fine_tuning/jobs`, { headers: auth });
      expect((list.json.data as unknown[]).length).toBe(2);
      expect(list.json.has_more).toBe(false);
    });

    const createJob = async (body: Record<string, unknown> = {}): Promise<string> => {
      const training = String(
        (await upload('train.jsonl', Buffer.from('{"messages":[]}\n'), 'fine-tune')).json.id,
      );
      const created = await postJson(
        `${sim.apiBase}/fine_tuning/jobs`,
        { model: 'gpt-4o-mini', training_file: training, ...body },
        auth,
      );
      return String(created.json.id);
    };
    const getJob = (id: string, tail = ''): Promise<Reply> =>
      call('GET', `${sim.apiBase}/fine_tuning/jobs/${id}${tail}`, { headers: auth });
    const jobAction = (id: string, action: 'pause' | 'resume'): Promise<Reply> =>
      call('POST', `${sim.apiBase}/fine_tuning/jobs/${id}/${action}`, { headers: auth });
    const untilSucceeded = (id: string): Promise<Reply> =>
      waitFor(
        () => getJob(id),
        (reply) => reply.json.status === 'succeeded',
      );

    it('should pause and resume a fine-tuning job, its clock standing still while paused', async () => {
      // Steps long enough that the job is surely still validating when the pause arrives.
      sim = await start({ dialect: 'openai', apiKey: 'sk-test', statusStepMs: 250, name: 'oa' });
      const id = await createJob();
      const paused = await jobAction(id, 'pause');
      expect(paused.status).toBe(200);
      expect(paused.json).toMatchObject({
        object: 'fine_tuning.job',
        id,
        status: 'paused',
        estimated_finish: null,
      });
      // More than two steps: a clock still running would have reached 'running' by now.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect((await getJob(id)).json.status).toBe('paused');
      const resumed = await jobAction(id, 'resume');
      expect(resumed.status).toBe(200);
      expect(resumed.json.status).toBe('validating_files');
      expect(resumed.json.estimated_finish).toEqual(expect.any(Number));

      const running = await waitFor(
        () => getJob(id),
        (reply) => reply.json.status === 'running',
      );
      expect(running.json.status).toBe('running');
      const refused = await jobAction(id, 'resume');
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({
        message: "Cannot resume a job with status 'running'.",
      });
      expect((await jobAction(id, 'pause')).json.status).toBe('paused');
      expect((await jobAction(id, 'resume')).json.status).toBe('running');

      const done = await untilSucceeded(id);
      expect(done.json.status).toBe('succeeded');
      const late = await jobAction(id, 'pause');
      expect(late.status).toBe(400);
      expect(late.json.error).toMatchObject({
        message: "Cannot pause a job with status 'succeeded'.",
      });
      const messages = ((await getJob(id, '/events?limit=100')).json.data as { message: string }[])
        .map((event) => event.message)
        .reverse();
      // Oldest first: the first pause came while validating, the second while running.
      expect(messages.indexOf('The job has been paused')).toBeLessThan(
        messages.indexOf('Files validated, moving job to queued state'),
      );
      expect(messages.filter((m) => m === 'The job has been paused')).toHaveLength(2);
      expect(messages.filter((m) => m === 'The job has been resumed')).toHaveLength(2);
      expect(messages.lastIndexOf('The job has been resumed')).toBeGreaterThan(
        messages.indexOf('Fine-tuning job started'),
      );
      expect(sim.calls.map((c) => c.route).filter((r) => r.startsWith('fine_tuning.p'))).toEqual([
        'fine_tuning.pause',
        'fine_tuning.pause',
        'fine_tuning.pause',
      ]);
      expect(sim.calls.filter((c) => c.route === 'fine_tuning.resume')).toHaveLength(3);
    });

    it('should list fine-tuning events newest first with their levels and page them by after', async () => {
      const id = await createJob();
      await untilSucceeded(id);
      const all = await getJob(id, '/events');
      expect(all.status).toBe(200);
      expect(all.json).toMatchObject({ object: 'list', has_more: false });
      const data = all.json.data as Record<string, unknown>[];
      expect(data.map((event) => event.message)).toEqual([
        'The job has successfully completed',
        'New fine-tuned model created',
        'Step 3/3: training loss=0.3333',
        'Step 2/3: training loss=0.5000',
        'Step 1/3: training loss=1.0000',
        'Fine-tuning job started',
        'Files validated, moving job to queued state',
        'Training file has fewer than 10 examples; results may be poor',
        expect.stringMatching(/^Validating training file: file-/),
        `Created fine-tuning job: ${id}`,
      ]);
      expect(data.map((event) => event.level)).toEqual([
        ...Array<string>(7).fill('info'),
        'warn',
        'info',
        'info',
      ]);
      for (const event of data) {
        expect(event).toEqual({
          object: 'fine_tuning.job.event',
          id: expect.stringMatching(/^ftevent-[A-Za-z0-9]{24}$/),
          created_at: expect.any(Number),
          level: expect.any(String),
          message: expect.any(String),
          type: 'message',
          data: {},
        });
      }
      const times = data.map((event) => Number(event.created_at));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      expect(new Set(data.map((event) => event.id)).size).toBe(data.length);

      const first = await getJob(id, '/events?limit=4');
      expect(first.json.has_more).toBe(true);
      const firstPage = first.json.data as { id: string }[];
      const rest = await getJob(id, `/events?after=${firstPage.at(-1)?.id ?? ''}`);
      expect(rest.json.has_more).toBe(false);
      const restPage = rest.json.data as { id: string }[];
      // Ids are derived, not drawn: reading again gives the same ones, so the cursor holds.
      expect([...firstPage, ...restPage].map((event) => event.id)).toEqual(
        data.map((event) => event.id),
      );
    });

    it('should list no checkpoints before success and three, one per epoch, after', async () => {
      const id = await createJob({ suffix: 'ck' });
      const early = await getJob(id, '/checkpoints');
      expect(early.status).toBe(200);
      expect(early.json).toEqual({ object: 'list', data: [], has_more: false });
      const done = await untilSucceeded(id);
      const model = `ft:gpt-4o-mini:sim:ck:${id.slice(6, 14)}`;
      expect(done.json.fine_tuned_model).toBe(model);

      const all = await getJob(id, '/checkpoints');
      expect(all.json.has_more).toBe(false);
      const data = all.json.data as Record<string, unknown>[];
      expect(data.map((checkpoint) => checkpoint.step_number)).toEqual([3, 2, 1]);
      expect(data[0]).toEqual({
        object: 'fine_tuning.job.checkpoint',
        id: expect.stringMatching(/^ftckpt-[A-Za-z0-9]{24}$/),
        created_at: expect.any(Number),
        fine_tuned_model_checkpoint: `${model}:ckpt-step-3`,
        fine_tuning_job_id: id,
        metrics: {
          step: 3,
          train_loss: 0.3333,
          train_mean_token_accuracy: 0.8,
          valid_loss: expect.any(Number),
          valid_mean_token_accuracy: expect.any(Number),
          full_valid_loss: expect.any(Number),
          full_valid_mean_token_accuracy: expect.any(Number),
        },
        step_number: 3,
      });

      const first = await getJob(id, '/checkpoints?limit=2');
      expect(first.json.has_more).toBe(true);
      const firstPage = first.json.data as { id: string }[];
      expect(firstPage.map((checkpoint) => checkpoint.id)).toEqual(
        data.slice(0, 2).map((checkpoint) => checkpoint.id),
      );
      const rest = await getJob(id, `/checkpoints?after=${firstPage.at(-1)?.id ?? ''}`);
      expect(rest.json).toMatchObject({ has_more: false, data: [data[2]] });
    });

    it('should fault and record the pause, resume, events and checkpoints routes', async () => {
      const id = await createJob();
      const routes = [
        'fine_tuning.pause',
        'fine_tuning.resume',
        'fine_tuning.events',
        'fine_tuning.checkpoints',
      ] as const;
      for (const route of routes) sim.addFault({ route, status: 503, times: 1 });
      expect((await jobAction(id, 'pause')).status).toBe(503);
      expect((await jobAction(id, 'resume')).status).toBe(503);
      expect((await getJob(id, '/events')).status).toBe(503);
      expect((await getJob(id, '/checkpoints')).status).toBe(503);
      expect((await getJob(id, '/checkpoints')).status).toBe(200);
      expect(sim.calls.slice(-5).map((c) => c.route)).toEqual([...routes, routes[3]]);
    });

    it('should be driven through the /__sim control API without recording those calls', async () => {
      const control = `http://127.0.0.1:${String(sim.port)}/__sim`;
      const added = await postJson(`${control}/faults`, { route: 'files.list', status: 429 });
      expect(added.status).toBe(201);
      expect((await call('GET', `${sim.apiBase}/files`, { headers: auth })).status).toBe(429);
      await call('DELETE', `${control}/faults`);
      expect((await call('GET', `${sim.apiBase}/files`, { headers: auth })).status).toBe(200);
      await upload('kept.txt', Buffer.from('k'));

      const state = await call('GET', `${control}/state`);
      expect((state.json.files as { filename: string }[]).map((f) => f.filename)).toEqual([
        'kept.txt',
      ]);
      expect((state.json.calls as { route: string }[]).map((c) => c.route)).toEqual([
        'files.list',
        'files.list',
        'files.create',
      ]);
      const stats = await call('GET', `${control}/stats`);
      expect(typeof (stats.json.memory as { rss: unknown }).rss).toBe('number');
      const invalid = await postJson(`${control}/faults`, { route: 'nope' });
      expect(invalid.status).toBe(400);

      await call('POST', `${control}/reset`);
      expect(sim.files.size).toBe(0);
      expect(sim.calls).toHaveLength(0);
    });
  });

  describe('azure dialect', () => {
    let sim: SimulatedUpstream;
    const key = { 'api-key': 'az-key' };
    const version = 'api-version=2024-10-21';

    beforeEach(async () => {
      sim = await start({ dialect: 'azure', apiKey: 'az-key', statusStepMs: 20 });
    });

    const form = (fields: Part[]) =>
      multipart([
        { name: 'file', filename: 'in.jsonl', content: Buffer.from('{"x":1}\n') },
        { name: 'purpose', value: 'batch' },
        ...fields,
      ]);
    const dotExpiry: Part[] = [
      { name: 'expires_after.anchor', value: 'created_at' },
      { name: 'expires_after.seconds', value: '1209600' },
    ];
    const uploadForm = (body: ReturnType<typeof multipart>, query = version) =>
      call('POST', `${sim.apiBase}/openai/files?${query}`, {
        headers: { ...key, 'content-type': body.contentType },
        body: body.body,
      });

    it('should use the resource endpoint as apiBase', () => {
      expect(sim.apiBase).toBe(`http://127.0.0.1:${String(sim.port)}`);
      expect(sim.name).toBe(`azure-sim-${String(sim.port)}`);
    });

    it('should answer an upload with 201, a pending status and a 32-hex id', async () => {
      const reply = await uploadForm(form(dotExpiry));
      expect(reply.status).toBe(201);
      expect(reply.json).toMatchObject({ object: 'file', status: 'pending', filename: 'in.jsonl' });
      expect(reply.json.id).toMatch(/^file-[0-9a-f]{32}$/);
      expect(reply.json.expires_at).toBe(Number(reply.json.created_at) + 1_209_600);
      expect(reply.headers['apim-request-id']).toEqual(expect.any(String));
      expect(reply.headers.location).toContain(`/openai/files/${String(reply.json.id)}`);

      const id = String(reply.json.id);
      const listed = await call('GET', `${sim.apiBase}/openai/files?${version}`, { headers: key });
      expect(listed.json).toMatchObject({ object: 'list', first_id: id, has_more: false });
      const content = await call('GET', `${sim.apiBase}/openai/files/${id}/content?${version}`, {
        headers: key,
      });
      expect(content.text).toBe('{"x":1}\n');
      const deleted = await call('DELETE', `${sim.apiBase}/openai/files/${id}?${version}`, {
        headers: key,
      });
      expect(deleted.json).toEqual({ id, object: 'file', deleted: true });
    });

    it('should accept a chunked upload with bracket expiry fields', async () => {
      const body = form([
        { name: 'expires_after[anchor]', value: 'created_at' },
        { name: 'expires_after[seconds]', value: '2592000' },
      ]);
      const reply = await call('POST', `${sim.apiBase}/openai/files?${version}`, {
        headers: { ...key, 'content-type': body.contentType },
        body: chunked(body.body, 7),
      });
      expect(reply.status).toBe(201);
    });

    it('should require an expiry of 14 to 30 days', async () => {
      const missing = await uploadForm(form([]));
      expect(missing.status).toBe(400);
      expect(Object.keys(missing.json.error as object).sort()).toEqual(['code', 'message']);
      expect(missing.json.error).toMatchObject({ code: 'invalidPayload' });
      expect(missing.text).toContain('expires_after');
      const short = await uploadForm(
        form([
          { name: 'expires_after.anchor', value: 'created_at' },
          { name: 'expires_after.seconds', value: '86400' },
        ]),
      );
      expect(short.status).toBe(400);
      expect(sim.files.size).toBe(0);
    });

    it('should require api-version and the api-key header', async () => {
      const noVersion = await call('GET', `${sim.apiBase}/openai/files`, { headers: key });
      expect(noVersion.status).toBe(400);
      const bearer = await call('GET', `${sim.apiBase}/openai/files?${version}`, {
        headers: { authorization: 'Bearer az-key' },
      });
      expect(bearer.status).toBe(401);
      expect(Object.keys(bearer.json.error as object).sort()).toEqual(['code', 'message']);
      expect(bearer.json.error).toMatchObject({ code: 'unauthorized' });
    });

    it('should answer errors in the Azure shape without type or param', async () => {
      const reply = await call('GET', `${sim.apiBase}/openai/files/file-nope?${version}`, {
        headers: key,
      });
      expect(reply.status).toBe(404);
      expect(reply.json).toEqual({
        error: { code: 'notFound', message: 'No such File object: file-nope' },
      });
      sim.addFault({ route: 'files.list', nth: 1, status: 500 });
      const fault = await call('GET', `${sim.apiBase}/openai/files?${version}`, { headers: key });
      expect(Object.keys(fault.json.error as object).sort()).toEqual(['code', 'message']);
      expect(fault.json.error).toMatchObject({ code: 'internalServerError' });
    });

    it('should echo chat file ids on the deployment route', async () => {
      const id = String((await uploadForm(form(dotExpiry))).json.id);
      const reply = await postJson(
        `${sim.apiBase}/openai/deployments/gpt4o-dep/chat/completions?${version}`,
        { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: id } }] }] },
        key,
      );
      expect(reply.status).toBe(200);
      const choice = (reply.json.choices as { message: { content: string } }[])[0];
      expect(JSON.parse(choice.message.content)).toEqual({
        sim: sim.name,
        model: 'gpt4o-dep',
        file_ids: [id],
      });
    });

    it('should complete a batch and answer fine-tuning creation with 201', async () => {
      const body = multipart([
        {
          name: 'file',
          filename: 'b.jsonl',
          content: Buffer.from(
            `${JSON.stringify({ custom_id: 'only', method: 'POST', url: '/v1/chat/completions', body: { model: 'dep', messages: [] } })}\n`,
          ),
        },
        { name: 'purpose', value: 'batch' },
        ...dotExpiry,
      ]);
      const input = String((await uploadForm(body)).json.id);
      const created = await postJson(
        `${sim.apiBase}/openai/batches?${version}`,
        { input_file_id: input, endpoint: '/chat/completions', completion_window: '24h' },
        key,
      );
      const done = await waitFor(
        () =>
          call('GET', `${sim.apiBase}/openai/batches/${String(created.json.id)}?${version}`, {
            headers: key,
          }),
        (reply) => reply.json.status === 'completed',
      );
      expect(done.json.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
      expect(done.json.output_file_id).toMatch(/^file-[0-9a-f]{32}$/);

      const job = await postJson(
        `${sim.apiBase}/openai/fine_tuning/jobs?${version}`,
        { model: 'gpt-4o-mini', training_file: input },
        key,
      );
      expect(job.status).toBe(201);
    });

    it('should show Azure job statuses, organisation_id, the warning level and model name', async () => {
      // Steps long enough to see 'pending' between polls.
      sim = await start({ dialect: 'azure', apiKey: 'az-key', statusStepMs: 100 });
      const training = String(
        (
          await uploadForm(
            multipart([
              { name: 'file', filename: 't.jsonl', content: Buffer.from('{"messages":[]}\n') },
              { name: 'purpose', value: 'fine-tune' },
              ...dotExpiry,
            ]),
          )
        ).json.id,
      );
      const jobs = `${sim.apiBase}/openai/fine_tuning/jobs`;
      const created = await postJson(
        `${jobs}?${version}`,
        { model: 'gpt-4o-mini', training_file: training },
        key,
      );
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ status: 'created', organisation_id: 'org-sim' });
      expect(created.json).not.toHaveProperty('organization_id');
      const id = String(created.json.id);
      const read = (tail = ''): Promise<Reply> =>
        call('GET', `${jobs}/${id}${tail}?${version}`, { headers: key });
      const act = (action: 'pause' | 'resume'): Promise<Reply> =>
        call('POST', `${jobs}/${id}/${action}?${version}`, { headers: key });
      expect((await act('pause')).json.status).toBe('paused');
      expect((await act('resume')).json.status).toBe('created');

      const pending = await waitFor(read, (reply) => reply.json.status !== 'created');
      expect(pending.json.status).toBe('pending');
      const done = await waitFor(read, (reply) => reply.json.status === 'succeeded');
      const model = String(done.json.fine_tuned_model);
      expect(model).toMatch(/^gpt-4o-mini\.ft-[0-9a-f]{32}$/);
      expect((await read()).json.fine_tuned_model).toBe(model);

      const levels = ((await read('/events')).json.data as { level: string }[]).map(
        (event) => event.level,
      );
      expect(levels).toContain('warning');
      expect(levels).not.toContain('warn');
      const checkpoints = (await read('/checkpoints')).json.data as Record<string, unknown>[];
      expect(checkpoints.map((c) => c.fine_tuned_model_checkpoint)).toEqual([
        `${model}:ckpt-step-3`,
        `${model}:ckpt-step-2`,
        `${model}:ckpt-step-1`,
      ]);
      const refused = await act('resume');
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({
        message: "Cannot resume a job with status 'succeeded'.",
      });
    });

    it('should reject an api-version other than the configured one', async () => {
      const strict = await start({ dialect: 'azure', apiVersion: '2024-10-21' });
      const wrong = await call('GET', `${strict.apiBase}/openai/files?api-version=2023-05-15`);
      expect(wrong.status).toBe(400);
      const right = await call('GET', `${strict.apiBase}/openai/files?api-version=2024-10-21`);
      expect(right.status).toBe(200);
    });
  });

  describe('options', () => {
    it('should keep files across a restart with persistDir (the demo)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mfg-sim-persist-'));
      try {
        const first = await startSimulator({ dialect: 'openai', persistDir: dir });
        const form = multipart([
          { name: 'purpose', value: 'batch' },
          { name: 'file', filename: 'kept.jsonl', content: Buffer.from('{"a":1}') },
        ]);
        const created = await call('POST', `${first.apiBase}/files`, {
          headers: { 'content-type': form.contentType },
          body: form.body,
        });
        await first.close();

        const second = await start({ dialect: 'openai', persistDir: dir });
        const id = String(created.json.id);
        expect((await call('GET', `${second.apiBase}/files/${id}`)).json).toMatchObject({
          id,
          filename: 'kept.jsonl',
        });
        expect((await call('GET', `${second.apiBase}/files/${id}/content`)).text).toBe('{"a":1}');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('should slow a 4 MB upload to roughly the bandwidth cap', async () => {
      const bytesPerSec = 8_000_000;
      const sim = await start({ dialect: 'openai', bandwidthBytesPerSec: bytesPerSec });
      const form = multipart([
        { name: 'purpose', value: 'batch' },
        { name: 'file', filename: 'big.bin', content: randomBytes(4 * 1024 * 1024) },
      ]);
      const began = performance.now();
      const reply = await call('POST', `${sim.apiBase}/files`, {
        headers: { 'content-type': form.contentType },
        body: form.body,
      });
      const elapsedMs = performance.now() - began;

      expect(reply.status).toBe(200);
      const expectedMs = (form.body.length / bytesPerSec) * 1000;
      expect(elapsedMs).toBeGreaterThanOrEqual(0.7 * expectedMs);
      expect(elapsedMs).toBeLessThan(4 * expectedMs);
    });

    it('should hash but not keep content with discardContent', async () => {
      const sim = await start({ dialect: 'openai', discardContent: true });
      const content = randomBytes(100_000);
      const form = multipart([
        { name: 'file', filename: 'x.bin', content },
        { name: 'purpose', value: 'user_data' },
      ]);
      const reply = await call('POST', `${sim.apiBase}/files`, {
        headers: { 'content-type': form.contentType },
        body: chunked(form.body, 4096),
      });
      const stored = sim.files.get(String(reply.json.id));
      expect(stored?.bytes).toBe(content.length);
      expect(stored?.sha256).toBe(createHash('sha256').update(content).digest('hex'));
      expect(stored?.contentPath).toBeNull();
      const download = await call('GET', `${sim.apiBase}/files/${String(reply.json.id)}/content`);
      expect(download.status).toBe(404);
      expect((download.json.error as { message: string }).message).toContain(
        'content not retained',
      );
    });

    it('should remove its temp directory on close', async () => {
      const sim = await startSimulator({ dialect: 'openai' });
      const form = multipart([
        { name: 'file', filename: 'x.txt', content: Buffer.from('x') },
        { name: 'purpose', value: 'user_data' },
      ]);
      const reply = await call('POST', `${sim.apiBase}/files`, {
        headers: { 'content-type': form.contentType },
        body: form.body,
      });
      const path = sim.files.get(String(reply.json.id))?.contentPath ?? '';
      expect(existsSync(path)).toBe(true);
      await sim.close();
      expect(existsSync(path)).toBe(false);
    });

    it('should refuse invalid options', async () => {
      await expect(startSimulator({ dialect: 'openai', bandwidthBytesPerSec: 0 })).rejects.toThrow(
        RangeError,
      );
    });
  });
});
