// Batches on managed files through the openai SDK and supertest, against PostgreSQL, Redis and
// simulated deployments whose batch engines run the lines for real.
import OpenAI, { toFile } from 'openai';
import request from 'supertest';
import { createTestApp, type TestApp } from '../utils/create-test-app';
import { expectEnvelope, get, del, listAs } from '../utils/files-client';
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

  it('should run on a deployment of the named model only, and refuse a model the file is not on', async () => {
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
    const onlyA = await uploadBatchFile(1, 'model-a');
    const refused = await request(t.http)
      .post('/v1/batches')
      .set('authorization', t.bearer('alice'))
      .send({
        input_file_id: onlyA,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        model: 'model-b',
      });
    expect(expectEnvelope(refused, 400).code).toBe('file_not_on_model');
  });
});
