// Fine-tuning on managed files through the openai SDK and supertest, against PostgreSQL, Redis and
// simulated deployments (one OpenAI-dialect, one Azure-dialect) whose jobs advance on a clock.
import OpenAI, { toFile } from 'openai';
import request from 'supertest';
import type { CallRecord } from '../../src/simulator/types';
import { createTestApp, type TestApp, type UserName } from '../utils/create-test-app';
import { expectEnvelope, get, listAs } from '../utils/files-client';
import { waitFor } from '../utils/http';
import { expectAllValid, okSchemaPointer, validatorFor } from '../utils/openai-spec';

/** OpenAI's declared answers of the fine-tuning operations. */
const SCHEMAS = {
  create: validatorFor(okSchemaPointer('/fine_tuning/jobs', 'post')),
  list: validatorFor(okSchemaPointer('/fine_tuning/jobs', 'get')),
  retrieve: validatorFor(okSchemaPointer('/fine_tuning/jobs/{fine_tuning_job_id}', 'get')),
  events: validatorFor(okSchemaPointer('/fine_tuning/jobs/{fine_tuning_job_id}/events', 'get')),
  checkpoints: validatorFor(
    okSchemaPointer('/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints', 'get'),
  ),
};

const DEPLOYMENTS = [
  { id: 'ft-openai', modelName: 'tune-me', dialect: 'openai' },
  { id: 'ft-azure', modelName: 'tune-az', dialect: 'azure' },
  { id: 'other-openai', modelName: 'other', dialect: 'openai' },
] as const;

const TRAINING = Buffer.from(
  `${[1, 2, 3]
    .map((i) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: `question ${i}` },
          { role: 'assistant', content: `answer ${i}` },
        ],
      }),
    )
    .join('\n')}\n`,
);

function client(t: TestApp, user: UserName): OpenAI {
  return new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.keys[user], maxRetries: 0 });
}

async function uploadTraining(
  sdk: OpenAI,
  targets: string,
  name = 'train.jsonl',
): Promise<OpenAI.Files.FileObject> {
  return sdk.files.create({
    file: await toFile(TRAINING, name),
    purpose: 'fine-tune',
    // @ts-expect-error gateway extension
    target_model_names: targets,
  });
}

function callsOf(t: TestApp, deploymentId: string, route: CallRecord['route']): CallRecord[] {
  return t.sims[deploymentId].calls.filter((c) => c.route === route);
}

/** The provider file id of a managed file's copy on a deployment (from the store). */
async function copyId(t: TestApp, unifiedFileId: string, deploymentId: string): Promise<string> {
  const listed = await t.dataSource.query<Array<{ provider_file_id: string }>>(
    `SELECT c.provider_file_id FROM managed_file_copies c JOIN managed_files f ON f.id = c.file_id
      WHERE f.public_id = $1 AND c.deployment_id = $2`,
    [unifiedFileId, deploymentId],
  );
  return listed[0].provider_file_id;
}

async function succeeded(sdk: OpenAI, id: string): Promise<OpenAI.FineTuning.Jobs.FineTuningJob> {
  let job = await sdk.fineTuning.jobs.retrieve(id);
  await waitFor(async () => {
    job = await sdk.fineTuning.jobs.retrieve(id);
    return job.status === 'succeeded';
  }, 'the job to succeed');
  return job;
}

describe('FineTuning', () => {
  let t: TestApp;
  let alice: OpenAI;

  beforeAll(async () => {
    t = await createTestApp({ deployments: DEPLOYMENTS });
    alice = client(t, 'alice');
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  it('should run create → retrieve → events → checkpoints → succeeded with unified ids only', async () => {
    const training = await uploadTraining(alice, 'tune-me');
    const validation = await uploadTraining(alice, 'tune-me', 'valid.jsonl');
    const created = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
      validation_file: validation.id,
      suffix: 'e2e',
      seed: 7,
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3 } } },
      metadata: { team: 'search' },
    });
    expect(created.id).toMatch(/^ftjob-/);
    expect(created.training_file).toBe(training.id);
    expect(created.validation_file).toBe(validation.id);
    expect(created.metadata).toEqual({ team: 'search' });

    // The provider got its own ids and its base model; every other field as sent.
    const [sent] = callsOf(t, 'ft-openai', 'fine_tuning.create');
    expect(sent.body).toEqual({
      model: 'tune-me-upstream',
      training_file: await copyId(t, training.id, 'ft-openai'),
      validation_file: await copyId(t, validation.id, 'ft-openai'),
      suffix: 'e2e',
      seed: 7,
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3 } } },
      metadata: { team: 'search' },
    });
    const [{ provider_object_id: providerJobId }] = await t.dataSource.query<
      Array<{ provider_object_id: string }>
    >('SELECT provider_object_id FROM managed_objects');
    expect(providerJobId).toMatch(/^ftjob-/);
    expect(providerJobId).not.toBe(created.id);

    const done = await succeeded(alice, created.id);
    expect(done.fine_tuned_model).toMatch(/^ft:tune-me-upstream:sim:e2e:/);
    expect(done.result_files).toHaveLength(1);
    const resultId = done.result_files[0];
    expect(resultId).toMatch(/^file-/);
    expect(await (await alice.files.content(resultId)).text()).toContain('train_loss');
    const listed = await listAs(t, 'alice');
    expect(listed.data.find((f) => f.id === resultId)?.purpose).toBe('fine-tune-results');

    const events = await alice.fineTuning.jobs.listEvents(created.id, { limit: 50 });
    const messages = events.data.map((e) => e.message);
    expect(messages).toContain('The job has successfully completed');
    expect(new Set(events.data.map((e) => e.level))).toEqual(new Set(['info', 'warn']));
    // The provider's job id never shows.
    expect(JSON.stringify(events.data)).not.toContain(providerJobId);
    const page = await alice.fineTuning.jobs.listEvents(created.id, {
      limit: 2,
      after: events.data[1].id,
    });
    expect(page.data.map((e) => e.id)).toEqual(events.data.slice(2, 4).map((e) => e.id));

    const checkpoints = await alice.fineTuning.jobs.checkpoints.list(created.id);
    expect(checkpoints.data.map((c) => c.step_number)).toEqual([3, 2, 1]);
    expect(checkpoints.data.every((c) => c.fine_tuning_job_id === created.id)).toBe(true);
    expect(JSON.stringify([done, checkpoints.data])).not.toContain(providerJobId);

    // Terminal: answered from the store.
    const before = callsOf(t, 'ft-openai', 'fine_tuning.retrieve').length;
    expect((await alice.fineTuning.jobs.retrieve(created.id)).status).toBe('succeeded');
    expect(callsOf(t, 'ft-openai', 'fine_tuning.retrieve')).toHaveLength(before);

    const raw = async (path: string): Promise<unknown> => (await get(t, path)).body as unknown;
    expectAllValid([
      ['POST /v1/fine_tuning/jobs', SCHEMAS.create, created],
      [
        'GET /v1/fine_tuning/jobs/{id}',
        SCHEMAS.retrieve,
        await raw(`/v1/fine_tuning/jobs/${created.id}`),
      ],
      ['GET /v1/fine_tuning/jobs', SCHEMAS.list, await raw('/v1/fine_tuning/jobs')],
      ['GET …/events', SCHEMAS.events, await raw(`/v1/fine_tuning/jobs/${created.id}/events`)],
      [
        'GET …/checkpoints',
        SCHEMAS.checkpoints,
        await raw(`/v1/fine_tuning/jobs/${created.id}/checkpoints`),
      ],
    ]);
  });

  it('should cancel a job, and pause and resume one on its provider', async () => {
    const training = await uploadTraining(alice, 'tune-me');
    const first = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
    });
    const paused = await alice.fineTuning.jobs.pause(first.id);
    expect(paused.status).toBe('paused');
    expect(callsOf(t, 'ft-openai', 'fine_tuning.pause')).toHaveLength(1);
    const resumed = await alice.fineTuning.jobs.resume(first.id);
    expect(resumed.status).not.toBe('paused');
    expect(callsOf(t, 'ft-openai', 'fine_tuning.resume')).toHaveLength(1);

    const second = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
    });
    const cancelled = await alice.fineTuning.jobs.cancel(second.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.id).toBe(second.id);
    expect((await alice.fineTuning.jobs.retrieve(second.id)).status).toBe('cancelled');
  });

  it("should refuse another user's job on every route, hide it from their list, and filter by metadata", async () => {
    const training = await uploadTraining(alice, 'tune-me');
    const tagged = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
      metadata: { stage: 'prod' },
    });
    const plain = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
      metadata: { stage: 'dev' },
    });
    const bob = (method: 'get' | 'post', path: string): request.Test =>
      request(t.http)[method](path).set('authorization', t.bearer('bob'));
    const base = `/v1/fine_tuning/jobs/${tagged.id}`;
    for (const [method, path] of [
      ['get', base],
      ['post', `${base}/cancel`],
      ['get', `${base}/events`],
      ['get', `${base}/checkpoints`],
      ['post', `${base}/pause`],
      ['post', `${base}/resume`],
    ] as const) {
      const refused = expectEnvelope(await bob(method, path), 403);
      expect(refused.code).toBe('permission_denied');
      expect(refused.message).toContain(tagged.id);
    }
    expect(callsOf(t, 'ft-openai', 'fine_tuning.pause')).toHaveLength(0);
    expect((await client(t, 'bob').fineTuning.jobs.list()).data).toEqual([]);

    const all = await alice.fineTuning.jobs.list();
    expect(all.data.map((j) => j.id)).toEqual([plain.id, tagged.id]);
    const prod = await alice.fineTuning.jobs.list({ metadata: { stage: 'prod' } });
    expect(prod.data.map((j) => j.id)).toEqual([tagged.id]);
    // A teammate sees the team's jobs.
    expect((await client(t, 'carol').fineTuning.jobs.list()).data).toHaveLength(2);
    const firstPage = await alice.fineTuning.jobs.list({ limit: 1 });
    expect(firstPage.data.map((j) => j.id)).toEqual([plain.id]);
    expect(firstPage.has_more).toBe(true);

    // Bob may not train on Alice's file.
    const notHers = expectEnvelope(
      await bob('post', '/v1/fine_tuning/jobs').send({
        model: 'tune-me',
        training_file: training.id,
      }),
      403,
    );
    expect(notHers.message).toContain(`file ${training.id}`);
    expect(callsOf(t, 'ft-openai', 'fine_tuning.create')).toHaveLength(2);

    // Unknown and forged ids are not found, and reach no provider.
    const retrieves = callsOf(t, 'ft-openai', 'fine_tuning.retrieve').length;
    expectEnvelope(await get(t, '/v1/fine_tuning/jobs/ftjob-abc123'), 404);
    const forged = `${tagged.id.slice(0, -2)}${tagged.id.endsWith('AA') ? 'BB' : 'AA'}`;
    expectEnvelope(await get(t, `/v1/fine_tuning/jobs/${forged}`), 404);
    expect(callsOf(t, 'ft-openai', 'fine_tuning.retrieve')).toHaveLength(retrieves);
  });

  it('should refuse a file no deployment of the model holds, a wrong purpose, and deleting a file in use', async () => {
    const elsewhere = await uploadTraining(alice, 'other');
    const refused = await request(t.http)
      .post('/v1/fine_tuning/jobs')
      .set('authorization', t.bearer('alice'))
      .send({ model: 'tune-me', training_file: elsewhere.id });
    const error = expectEnvelope(refused, 400);
    expect(error.code).toBe('file_not_on_model');
    expect(error.param).toBe('training_file');
    expect(error.message).toContain(elsewhere.id);
    expect(error.message).toContain("'tune-me'");

    const userData = await alice.files.create({
      file: await toFile(TRAINING, 'notes.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error gateway extension
      target_model_names: 'tune-me',
    });
    const wrongPurpose = await request(t.http)
      .post('/v1/fine_tuning/jobs')
      .set('authorization', t.bearer('alice'))
      .send({ model: 'tune-me', training_file: userData.id });
    expect(expectEnvelope(wrongPurpose, 400).code).toBe('invalid_file_purpose');
    expect(callsOf(t, 'ft-openai', 'fine_tuning.create')).toHaveLength(0);

    const training = await uploadTraining(alice, 'tune-me');
    const job = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
    });
    const inUse = await request(t.http)
      .delete(`/v1/files/${training.id}`)
      .set('authorization', t.bearer('alice'));
    const conflict = expectEnvelope(inUse, 409);
    expect(conflict.code).toBe('file_in_use');
    expect(conflict.message).toContain(job.id);
  });

  it("should answer an Azure deployment's job in OpenAI's statuses and field names", async () => {
    const training = await uploadTraining(alice, 'tune-az');
    const created = await request(t.http)
      .post('/v1/fine_tuning/jobs')
      .set('authorization', t.bearer('alice'))
      .send({ model: 'tune-az', training_file: training.id });
    // Azure answered 201 with status `created` and `organisation_id`.
    expect(created.status).toBe(200);
    const body = created.body as Record<string, unknown>;
    expect(body.status).toBe('validating_files');
    expect(body.organization_id).toEqual(expect.any(String));
    expect(body).not.toHaveProperty('organisation_id');
    expect(body.training_file).toBe(training.id);
    const id = String(body.id);
    const events = await alice.fineTuning.jobs.listEvents(id, { limit: 50 });
    expect(events.data.map((e) => e.level)).toContain('warn');
    expect(events.data.map((e) => e.level)).not.toContain('warning');
    const done = await succeeded(alice, id);
    expect(done.fine_tuned_model).toMatch(/^tune-az-upstream\.ft-[0-9a-f]{32}$/);
    expectAllValid([['GET /v1/fine_tuning/jobs/{id} (azure)', SCHEMAS.retrieve, done]]);
  });
});

describe('Fine-tuned models, routable for their owners', () => {
  const INTERVAL_MS = 1_000;
  let t: TestApp;
  let alice: OpenAI;

  beforeAll(async () => {
    t = await createTestApp({ deployments: DEPLOYMENTS, refreshIntervalMs: INTERVAL_MS });
    alice = client(t, 'alice');
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  /** Waits, without retrieving the job, until the background refresh made its model known. */
  async function modelOf(jobId: string, user: UserName = 'alice'): Promise<string> {
    let name: string | undefined;
    await waitFor(
      async () => {
        const models = await client(t, user).models.list();
        name = models.data
          .map((m) => m.id)
          .find((m) => !['tune-me', 'tune-az', 'other'].includes(m));
        return name !== undefined;
      },
      `the model of ${jobId} to be registered without polling`,
      20_000,
    );
    return name ?? '';
  }

  it("should make a succeeded job's model callable by its owner and team, and unknown to others", async () => {
    const training = await uploadTraining(alice, 'tune-me');
    const job = await alice.fineTuning.jobs.create({
      model: 'tune-me',
      training_file: training.id,
    });
    const model = await modelOf(job.id);
    expect(model).toMatch(/^ft:tune-me-upstream:sim:/);
    expect(callsOf(t, 'ft-openai', 'fine_tuning.retrieve').length).toBeGreaterThan(0);

    const answer = await alice.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(answer.choices[0].message.content).toEqual(expect.any(String));
    const [chat] = callsOf(t, 'ft-openai', 'chat.completions');
    expect((chat.body as { model: string }).model).toBe(model);
    expect(callsOf(t, 'other-openai', 'chat.completions')).toHaveLength(0);

    expect((await client(t, 'carol').models.list()).data.map((m) => m.id)).toContain(model);
    expect((await client(t, 'carol').models.retrieve(model)).id).toBe(model);
    const bobModels = (await client(t, 'bob').models.list()).data.map((m) => m.id);
    expect(bobModels).toEqual(['tune-me', 'tune-az', 'other']);
    const refused = await request(t.http)
      .post('/v1/chat/completions')
      .set('authorization', t.bearer('bob'))
      .send({ model, messages: [{ role: 'user', content: 'hi' }] });
    expect(expectEnvelope(refused, 404).code).toBe('model_not_found');
    expectEnvelope(await get(t, `/v1/models/${encodeURIComponent(model)}`, 'bob'), 404);
  });

  it('should route an Azure fine-tuned model once it is mapped to a deployment in the config', async () => {
    const training = await uploadTraining(alice, 'tune-az');
    const job = await alice.fineTuning.jobs.create({
      model: 'tune-az',
      training_file: training.id,
    });
    const model = await modelOf(job.id);
    const call = { model, messages: [{ role: 'user', content: 'hi' }] };
    const unmapped = await request(t.http)
      .post('/v1/chat/completions')
      .set('authorization', t.bearer('alice'))
      .send(call);
    const error = expectEnvelope(unmapped, 400);
    expect(error.code).toBe('model_not_deployed');
    expect(error.message).toContain('model_info.fine_tuned_deployments');
    expect(callsOf(t, 'ft-azure', 'chat.completions')).toHaveLength(0);

    const mapped = await createTestApp({
      replicaOf: t,
      modelInfo: { 'ft-azure': { fine_tuned_deployments: { [model]: 'my-tuned-deployment' } } },
    });
    try {
      const answer = await request(mapped.http)
        .post('/v1/chat/completions')
        .set('authorization', mapped.bearer('alice'))
        .send(call);
      expect(answer.status).toBe(200);
      const [chat] = callsOf(t, 'ft-azure', 'chat.completions');
      expect(chat.path).toMatch(/^\/openai\/deployments\/my-tuned-deployment\/chat\/completions\?/);
    } finally {
      await mapped.close();
    }
  });
});
