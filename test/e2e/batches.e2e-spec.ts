// Batches on managed files through the openai SDK and supertest, against PostgreSQL, Redis and
// simulated deployments whose batch engines run the lines for real.
import { readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import request from 'supertest';
import { IdCodecService } from '../../src/id-codec/id-codec.service';
import { createTestApp, filesHeld, type TestApp } from '../utils/create-test-app';
import { del, expectEnvelope, get, listAs, uploadOk, uploadRequest } from '../utils/files-client';
import { waitFor } from '../utils/http';
import { expectAllValid, okSchemaPointer, validatorFor } from '../utils/openai-spec';

/** OpenAI's declared answers of the batch operations. */
const BATCH_SCHEMAS = {
  create: validatorFor(okSchemaPointer('/batches', 'post')),
  list: validatorFor(okSchemaPointer('/batches', 'get')),
  retrieve: validatorFor(okSchemaPointer('/batches/{batch_id}', 'get')),
  cancel: validatorFor(okSchemaPointer('/batches/{batch_id}/cancel', 'post')),
};

function batchLines(n: number, model = 'model-a'): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        custom_id: `req-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content: `hello ${i}` }] },
      }),
    );
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

describe('Batches', () => {
  let t: TestApp;
  let alice: OpenAI;

  beforeAll(async () => {
    t = await createTestApp({
      deployments: [
        { id: 'a-openai', modelName: 'model-a', dialect: 'openai' },
        { id: 'b-openai', modelName: 'model-b', dialect: 'openai' },
      ],
    });
    alice = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.keys.alice, maxRetries: 0 });
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  async function uploadBatchFile(lines = 3, targets = 'model-a'): Promise<string> {
    const file = await alice.files.create({
      file: await toFile(batchLines(lines), 'input.jsonl'),
      purpose: 'batch',
      // @ts-expect-error gateway extension
      target_model_names: targets,
    });
    return file.id;
  }

  async function completed(id: string): Promise<OpenAI.Batches.Batch> {
    let batch = await alice.batches.retrieve(id);
    await waitFor(async () => {
      batch = await alice.batches.retrieve(id);
      return batch.status === 'completed';
    }, 'the batch to complete');
    return batch;
  }

  it('should run the full lifecycle through the SDK with unified ids only', async () => {
    const inputId = await uploadBatchFile(3);
    const created = await alice.batches.create({
      input_file_id: inputId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { run: 'e2e' },
    });
    expect(created.id).toMatch(/^batch_/);
    expect(created.input_file_id).toBe(inputId);
    expect(created.metadata).toEqual({ run: 'e2e' });
    const creates = [...t.sims['a-openai'].calls]
      .filter((c) => c.route === 'batches.create')
      .map((c) => c.path);
    expect(creates).toHaveLength(1);

    const done = await completed(created.id);
    expect(done.output_file_id).toMatch(/^file-/);
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const outputId = done.output_file_id ?? '';
    const content = await (await alice.files.content(outputId)).text();
    const results = content
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string });
    expect(results.map((r) => r.custom_id).sort()).toEqual(['req-0', 'req-1', 'req-2']);
    const listed = await listAs(t, 'alice');
    const output = listed.data.find((f) => f.id === outputId);
    expect(output?.purpose).toBe('batch_output');

    const list = await alice.batches.list();
    expect(list.data.map((b) => b.id)).toEqual([created.id]);
    // A terminal batch is answered from the store: no provider call.
    const before = t.sims['a-openai'].calls.filter((c) => c.route === 'batches.retrieve').length;
    expect((await alice.batches.retrieve(created.id)).status).toBe('completed');
    expect(t.sims['a-openai'].calls.filter((c) => c.route === 'batches.retrieve').length).toBe(
      before,
    );

    const raw = (path: string): Promise<unknown> => get(t, path).then((res) => res.body as unknown);
    expectAllValid([
      ['POST /v1/batches', BATCH_SCHEMAS.create, created],
      ['GET /v1/batches/{id}', BATCH_SCHEMAS.retrieve, await raw(`/v1/batches/${created.id}`)],
      ['GET /v1/batches', BATCH_SCHEMAS.list, await raw('/v1/batches')],
    ]);

    expect((await alice.files.delete(outputId)).deleted).toBe(true);
    expect((await alice.files.delete(inputId)).deleted).toBe(true);
    // A deleted output file is not brought back by the next retrieve.
    await alice.batches.retrieve(created.id);
    expect((await listAs(t, 'alice')).data).toEqual([]);
  });

  it("should refuse another user's batch and output file, hide it from their list, and 404 unknown ids", async () => {
    const inputId = await uploadBatchFile(2);
    const created = await alice.batches.create({
      input_file_id: inputId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await completed(created.id);
    const outputId = done.output_file_id ?? '';
    const bob = (method: 'get' | 'post' | 'delete', path: string): request.Test =>
      request(t.http)[method](path).set('authorization', t.bearer('bob'));
    expectEnvelope(await bob('get', `/v1/batches/${created.id}`), 403);
    expectEnvelope(await bob('post', `/v1/batches/${created.id}/cancel`), 403);
    expectEnvelope(await bob('get', `/v1/files/${outputId}`), 403);
    expectEnvelope(await bob('get', `/v1/files/${outputId}/content`), 403);
    expectEnvelope(await bob('delete', `/v1/files/${outputId}`), 403);
    const bobs = await bob('get', '/v1/batches');
    expect(bobs.status).toBe(200);
    expect((bobs.body as { data: unknown[] }).data).toEqual([]);
    // The teammate may.
    expect((await get(t, `/v1/batches/${created.id}`, 'carol')).status).toBe(200);
    expectEnvelope(await get(t, '/v1/batches/batch_abc'), 404);
    const forged = `${created.id.slice(0, -2)}${created.id.endsWith('A') ? 'BB' : 'AA'}`;
    expectEnvelope(await get(t, `/v1/batches/${forged}`), 404);
  });

  it('should register the output file once under twenty concurrent retrieves', async () => {
    const inputId = await uploadBatchFile(2);
    const created = await alice.batches.create({
      input_file_id: inputId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    // Let the provider finish without anyone asking the gateway.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => get(t, `/v1/batches/${created.id}`)),
    );
    for (const res of answers) expect(res.status).toBe(200);
    const outputIds = new Set(
      answers.map((r) => (r.body as { output_file_id: string }).output_file_id),
    );
    expect(outputIds.size).toBe(1);
    const rows = await t.dataSource.query<Array<{ n: number }>>(
      "SELECT count(*)::int AS n FROM managed_files WHERE purpose = 'batch_output'",
    );
    expect(rows[0].n).toBe(1);
  });

  it('should cancel a running batch and refuse to delete its input file meanwhile (409 naming it)', async () => {
    const inputId = await uploadBatchFile(2);
    const created = await alice.batches.create({
      input_file_id: inputId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const refused = await del(t, `/v1/files/${inputId}`);
    expect(expectEnvelope(refused, 409).message).toContain(created.id);
    const cancelled = await alice.batches.cancel(created.id);
    expect(cancelled.status).toBe('cancelling');
    expectAllValid([['POST /v1/batches/{id}/cancel', BATCH_SCHEMAS.cancel, cancelled]]);
    await waitFor(
      async () => (await alice.batches.retrieve(created.id)).status === 'cancelled',
      'the batch to be cancelled',
    );
    expect((await del(t, `/v1/files/${inputId}`)).status).toBe(200);
  });

  it('should run on a deployment of the named model only, and refuse a model the file is not on or that does not exist', async () => {
    const inputId = await uploadBatchFile(1, 'model-a,model-b');
    const onB = await alice.batches.create({
      input_file_id: inputId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      // @ts-expect-error gateway extension
      model: 'model-b',
    });
    expect(onB.id).toMatch(/^batch_/);
    expect(t.sims['b-openai'].calls.filter((c) => c.route === 'batches.create')).toHaveLength(1);
    expect(t.sims['a-openai'].calls.filter((c) => c.route === 'batches.create')).toHaveLength(0);
    const createOn = (fileId: string, model: string): request.Test =>
      request(t.http).post('/v1/batches').set('authorization', t.bearer('alice')).send({
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        model,
      });
    const onlyA = await uploadBatchFile(1, 'model-a');
    expect(expectEnvelope(await createOn(onlyA, 'model-b'), 400).code).toBe('file_not_on_model');
    // An unknown model is refused as a chat call refuses it, before any upstream call.
    const error = expectEnvelope(await createOn(inputId, 'model-z'), 404);
    expect(error.code).toBe('model_not_found');
    expect(error.message).toContain('model-a, model-b');
    expect(t.sims['b-openai'].calls.filter((c) => c.route === 'batches.create')).toHaveLength(1);
  });
});

describe('Batch input files: rewritten for each deployment as they stream', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      deployments: [
        { id: 'a-openai', modelName: 'model-a', dialect: 'openai' },
        { id: 'a-azure', modelName: 'model-a', dialect: 'azure' },
      ],
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  /** What each deployment holds, parsed line by line. */
  function upstreamLines(): Record<string, Array<Record<string, unknown>>> {
    return Object.fromEntries(
      Object.entries(t.sims).map(([id, sim]) => {
        const files = [...sim.files.values()].filter((f) => f.filename.endsWith('input.jsonl'));
        expect(files).toHaveLength(1);
        const text = readFileSync(files[0].contentPath ?? '', 'utf8');
        expect(text.charCodeAt(0)).not.toBe(0xfeff);
        return [
          id,
          text
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        ];
      }),
    );
  }

  it("should give every line each deployment's own model (Azure: its deployment) and managed file ids", async () => {
    const attachment = await uploadOk(t, { targets: 'model-a', filename: 'doc.pdf' });
    const [row] = await t.dataSource.query<Array<{ id: string }>>(
      'SELECT id FROM managed_files WHERE public_id = $1',
      [attachment.id],
    );
    const copies = await t.dataSource.query<
      Array<{ deployment_id: string; provider_file_id: string }>
    >('SELECT deployment_id, provider_file_id FROM managed_file_copies WHERE file_id = $1', [
      row.id,
    ]);
    const lines = [0, 1, 2].map((i) =>
      JSON.stringify({
        custom_id: `r${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'model-a',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'file', file: { file_id: attachment.id } },
                { type: 'text', text: `q${i}` },
              ],
            },
          ],
        },
      }),
    );
    // A byte-order mark, as Windows editors write it: Azure rejects it, so it must not reach it.
    const data = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(`${lines.join('\n')}\n`),
    ]);
    const file = await uploadOk(t, {
      purpose: 'batch',
      targets: 'model-a',
      data,
      filename: 'input.jsonl',
    });
    expect(file.bytes).toBe(data.length);
    const held = upstreamLines();
    for (const [deployment, parsed] of Object.entries(held)) {
      const own = copies.find((c) => c.deployment_id === deployment)?.provider_file_id;
      expect(own).toBeDefined();
      expect(parsed.map((l) => l.custom_id)).toEqual(['r0', 'r1', 'r2']);
      for (const line of parsed) {
        const body = line.body as { model: string; messages: Array<{ content: unknown[] }> };
        expect(body.model).toBe('model-a-upstream');
        expect(body.messages[0].content[0]).toEqual({ type: 'file', file: { file_id: own } });
        expect(body.messages[0].content[1]).toEqual({
          type: 'text',
          text: expect.stringMatching(/^q\d$/),
        });
      }
    }
  });

  it('should refuse a malformed line 7 with a 400 naming it, leaving no copy anywhere', async () => {
    const good = batchLines(10).toString().split('\n');
    good[6] = '{"custom_id": "r6", "method": "POST", "url": "/v1/chat/completions", "body": {';
    const res = await uploadRequest(t, {
      purpose: 'batch',
      targets: 'model-a',
      data: Buffer.from(good.join('\n')),
      filename: 'input.jsonl',
    });
    const error = expectEnvelope(res, 400);
    expect(error.message).toMatch(/^Line 7: /);
    expect(error.param).toBe('file');
    expect(filesHeld(t.sims)).toBe(0);
    expect(await t.dataSource.query('SELECT id FROM managed_files')).toEqual([]);
  });

  it('should refuse a line whose model is not one of the target models, and a managed file the caller may not use', async () => {
    const other = await uploadOk(t, { targets: 'model-a', user: 'bob' });
    const wrongModel = await uploadRequest(t, {
      purpose: 'batch',
      targets: 'model-a',
      data: batchLines(2, 'gpt-4o'),
    });
    expect(expectEnvelope(wrongModel, 400).message).toMatch(/^Line 1: .*target_model_names/);
    const line = JSON.stringify({
      custom_id: 'x',
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'model-a',
        messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: other.id } }] }],
      },
    });
    const foreign = await uploadRequest(t, {
      purpose: 'batch',
      targets: 'model-a',
      data: Buffer.from(`${line}\n`),
    });
    expect(expectEnvelope(foreign, 400).message).toMatch(/^Line 1: /);
    expect(filesHeld(t.sims)).toBe(2);
  });
});

describe('Batches refreshed in the background (job engine)', () => {
  const INTERVAL_MS = 1_000;
  let t: TestApp;
  let alice: OpenAI;

  beforeAll(async () => {
    t = await createTestApp({
      deployments: [
        { id: 'a-openai', modelName: 'model-a', dialect: 'openai' },
        { id: 'b-openai', modelName: 'model-b', dialect: 'openai' },
      ],
      refreshIntervalMs: INTERVAL_MS,
    });
    alice = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.keys.alice, maxRetries: 0 });
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  async function startBatch(model: 'model-a' | 'model-b'): Promise<string> {
    const file = await alice.files.create({
      file: await toFile(batchLines(2, model), 'input.jsonl'),
      purpose: 'batch',
      // @ts-expect-error gateway extension
      target_model_names: model,
    });
    const batch = await alice.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    return batch.id;
  }

  async function statusOf(batchId: string): Promise<string> {
    const uid = t.app.get(IdCodecService).decode(batchId, 'batch')?.uid;
    const [row] = await t.dataSource.query<Array<{ status: string }>>(
      'SELECT status FROM managed_objects WHERE id = $1',
      [uid],
    );
    return row.status;
  }

  function retrievesOf(deploymentId: string): number[] {
    return t.sims[deploymentId].calls
      .filter((c) => c.route === 'batches.retrieve')
      .map((c) => c.at);
  }

  it('should register the output file of a batch nobody polls, once, with two replicas refreshing', async () => {
    const replica = await createTestApp({ replicaOf: t, refreshIntervalMs: INTERVAL_MS });
    try {
      const ids = await Promise.all([
        startBatch('model-a'),
        startBatch('model-a'),
        startBatch('model-a'),
      ]);
      await waitFor(
        async () => (await Promise.all(ids.map(statusOf))).every((s) => s === 'completed'),
        'the batches to complete without anyone polling',
        20_000,
      );
      const outputs = await t.dataSource.query<Array<{ owner_user_id: string }>>(
        "SELECT owner_user_id FROM managed_files WHERE purpose = 'batch_output'",
      );
      expect(outputs.map((o) => o.owner_user_id)).toEqual(['alice', 'alice', 'alice']);
      // One refresh per batch per cycle across both replicas: no two calls for one batch
      // closer than a cycle apart.
      const byBatch = new Map<string, number[]>();
      for (const call of t.sims['a-openai'].calls.filter((c) => c.route === 'batches.retrieve')) {
        const list = byBatch.get(call.path) ?? [];
        list.push(call.at);
        byBatch.set(call.path, list);
      }
      expect(byBatch.size).toBe(3);
      for (const times of byBatch.values()) {
        for (let i = 1; i < times.length; i++) {
          expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(INTERVAL_MS / 2);
        }
      }
      // The owner sees the results; nobody else does.
      const listed = await listAs(t, 'alice');
      expect(listed.data.filter((f) => f.purpose === 'batch_output')).toHaveLength(3);
      expect((await listAs(t, 'bob')).data).toEqual([]);
    } finally {
      await replica.close();
    }
  });

  it('should keep retrying a batch whose provider fails while the others complete', async () => {
    const failing = await startBatch('model-b');
    t.sims['b-openai'].addFault({ route: 'batches.retrieve', status: 500 });
    const healthy = await startBatch('model-a');
    await waitFor(
      async () => (await statusOf(healthy)) === 'completed',
      'the healthy batch',
      20_000,
    );
    await waitFor(
      () => retrievesOf('b-openai').length >= 2,
      'the failing batch to be retried',
      20_000,
    );
    expect(await statusOf(failing)).not.toBe('completed');
    t.sims['b-openai'].clearFaults();
    await waitFor(
      async () => (await statusOf(failing)) === 'completed',
      'the failing batch once its provider recovers',
      30_000,
    );
  });
});
