import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, {
  AuthenticationError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  toFile,
} from 'openai';
import type { FileObject } from 'openai/resources/files';
import {
  callsTo,
  createTestApp,
  DEFAULT_DEPLOYMENTS,
  filesHeld,
  type TestApp,
  type UserName,
} from '../utils/create-test-app';
import { copyRows, fileRows } from '../utils/factories';
import { jsonlContent, sha256 } from '../utils/http';

const ALL_DEPLOYMENT_IDS = DEFAULT_DEPLOYMENTS.map((d) => d.id);

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('Files API through the official openai SDK (e2e)', () => {
  let t: TestApp;
  let dir: string;
  const clients = new Map<UserName, OpenAI>();
  let listRequests = 0;

  /** A client for `user`, with no SDK retries unless asked. */
  function client(user: UserName = 'alice'): OpenAI {
    let existing = clients.get(user);
    if (!existing) {
      existing = new OpenAI({
        baseURL: `${t.baseUrl}/v1`,
        apiKey: t.keys[user],
        maxRetries: 0,
        fetch: (input, init) => {
          const url = new URL(input instanceof Request ? input.url : input.toString());
          if ((init?.method ?? 'GET') === 'GET' && url.pathname === '/v1/files') listRequests++;
          return fetch(input, init);
        },
      });
      clients.set(user, existing);
    }
    return existing;
  }

  beforeAll(async () => {
    t = await createTestApp();
    dir = await mkdtemp(join(tmpdir(), 'mfg-sdk-'));
  });
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await t.reset();
    listRequests = 0;
  });

  function expectCopies(data: Buffer, filename: string, ids = ALL_DEPLOYMENT_IDS): void {
    for (const id of ids) {
      const files = [...t.sims[id].files.values()];
      expect({ id, count: files.length }).toEqual({ id, count: 1 });
      expect(files[0].sha256).toBe(sha256(data));
      expect(files[0].filename.endsWith(`__${filename}`)).toBe(true);
    }
  }

  function expectFileObject(file: FileObject, data: Buffer, filename: string): void {
    expect(file.id).toMatch(/^file-/);
    expect(file.object).toBe('file');
    expect(file.bytes).toBe(data.length);
    expect(file.filename).toBe(filename);
    expect(file.purpose).toBe('user_data');
    expect(typeof file.created_at).toBe('number');
    for (const providerId of t.deployments.flatMap((d) => [...t.sims[d.id].files.keys()])) {
      expect(file.id).not.toBe(providerId);
    }
  }

  it('should upload a streamed file (fs.createReadStream) to every deployment of both models', async () => {
    const data = jsonlContent(300 * 1024);
    const path = join(dir, 'streamed.jsonl');
    await writeFile(path, data);

    const file = await client().files.create({
      file: createReadStream(path),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o-mini, gpt-4o',
    });

    expectFileObject(file, data, 'streamed.jsonl');
    expectCopies(data, 'streamed.jsonl');
    const copies = await copyRows(t.dataSource);
    expect(copies).toHaveLength(4);
    // The SDK sends a stream as a chunked body of its own making; the record has every byte.
    expect(Number((await fileRows(t.dataSource))[0].bytes)).toBe(data.length);
  });

  it('should upload a buffer given with toFile()', async () => {
    const data = jsonlContent(2_000);

    const file = await client().files.create({
      file: await toFile(data, 'buffered.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o-mini, gpt-4o',
    });

    expectFileObject(file, data, 'buffered.jsonl');
    expectCopies(data, 'buffered.jsonl');
  });

  it('should accept target_model_names as an array (repeated target_model_names[] fields)', async () => {
    const data = jsonlContent(1_000);

    const file = await client().files.create({
      file: await toFile(data, 'array.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: ['gpt-4o-mini', 'gpt-4o'],
    });

    expectFileObject(file, data, 'array.jsonl');
    expectCopies(data, 'array.jsonl');
  });

  it('should honour expires_after sent by the SDK', async () => {
    const file = await client().files.create({
      file: await toFile(jsonlContent(500), 'expiring.jsonl'),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 86_400 },
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o',
    });

    expect(file.expires_at).toBe(file.created_at + 86_400);
    expect((await client().files.retrieve(file.id)).expires_at).toBe(file.created_at + 86_400);
  });

  it('should keep a non-ASCII filename intact', async () => {
    const data = jsonlContent(300);

    const file = await client().files.create({
      file: await toFile(data, 'données-élève.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o',
    });

    expect(file.filename).toBe('données-élève.jsonl');
    expect((await client().files.retrieve(file.id)).filename).toBe('données-élève.jsonl');
    expectCopies(data, 'données-élève.jsonl', ['4o-azure', '4o-openai']);
  });

  it('should retrieve, download and delete by the unified id', async () => {
    const data = jsonlContent(5_000);
    const created = await client().files.create({
      file: await toFile(data, 'roundtrip.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o-mini, gpt-4o',
    });

    const retrieved = await client().files.retrieve(created.id);
    expect(retrieved).toEqual(created);

    const content = await client().files.content(created.id);
    expect(content.status).toBe(200);
    expect(Buffer.from(await content.arrayBuffer()).equals(data)).toBe(true);

    const deleted = await client().files.delete(created.id);
    expect(deleted).toEqual({ id: created.id, object: 'file', deleted: true });
    expect(filesHeld(t.sims)).toBe(0);

    const gone = await rejection(client().files.retrieve(created.id));
    expect(gone).toBeInstanceOf(NotFoundError);
  });

  it('should auto-paginate the list over several pages, newest first and with order asc', async () => {
    const uploaded: string[] = [];
    for (let i = 0; i < 5; i++) {
      const file = await client().files.create({
        file: await toFile(jsonlContent(200, `page-${i}`), `page-${i}.jsonl`),
        purpose: 'user_data',
        // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
        target_model_names: 'gpt-4o-mini',
      });
      uploaded.push(file.id);
    }
    // Somebody else's file must not show up.
    await client('bob').files.create({
      file: await toFile(jsonlContent(200), 'bob.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o-mini',
    });
    const listCallsUpstream = callsTo(t.sims, 'files.list');

    const desc: string[] = [];
    for await (const file of client().files.list({ limit: 2 })) desc.push(file.id);
    expect(desc).toEqual([...uploaded].reverse());
    expect(new Set(desc).size).toBe(5);
    expect(listRequests).toBe(3);

    listRequests = 0;
    const asc: string[] = [];
    for await (const file of client().files.list({ limit: 2, order: 'asc' })) asc.push(file.id);
    expect(asc).toEqual(uploaded);
    expect(listRequests).toBe(3);

    const firstPage = await client().files.list({ limit: 2 });
    expect(firstPage.data.map((f) => f.id)).toEqual([uploaded[4], uploaded[3]]);
    expect(firstPage.hasNextPage()).toBe(true);

    expect(callsTo(t.sims, 'files.list')).toBe(listCallsUpstream);
  });

  it("should raise PermissionDeniedError with the envelope fields for another user's file", async () => {
    const file = await client('alice').files.create({
      file: await toFile(jsonlContent(300), 'private.jsonl'),
      purpose: 'user_data',
      // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
      target_model_names: 'gpt-4o',
    });

    const bob = client('bob');
    for (const call of [
      () => bob.files.retrieve(file.id),
      () => bob.files.content(file.id),
      () => bob.files.delete(file.id),
    ]) {
      const error = await rejection(call());
      if (!(error instanceof PermissionDeniedError)) throw error;
      expect(error.status).toBe(403);
      expect(error.type).toBe('permission_error');
      expect(error.code).toBe('permission_denied');
      expect(error.param).toBeNull();
      expect(error.message).toContain(`User bob does not have access to the file ${file.id}`);
      expect(error.requestID).toMatch(/\S+/);
    }
    expect(filesHeld(t.sims)).toBe(2);
  });

  it('should raise NotFoundError for a forged id, with a request id', async () => {
    const error = await rejection(client().files.retrieve(`file-${'A'.repeat(60)}`));

    if (!(error instanceof NotFoundError)) throw error;
    expect(error.status).toBe(404);
    expect(error.type).toBe('invalid_request_error');
    expect(error.requestID).toMatch(/\S+/);
    expect(callsTo(t.sims, 'files.retrieve') + callsTo(t.sims, 'files.content')).toBe(0);
  });

  it('should raise AuthenticationError for a wrong key', async () => {
    const stranger = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: 'sk-nope', maxRetries: 0 });

    const error = await rejection(stranger.files.list());

    expect(error).toBeInstanceOf(AuthenticationError);
  });

  it('should not be retried by the SDK when an upload failed upstream', async () => {
    // Default retries: a buffered upload answered with a retryable status would be sent again.
    const retrying = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.keys.alice });
    t.sims['4o-openai'].addFault({ route: 'files.create', status: 503, latencyMs: 200 });

    const error = await rejection(
      retrying.files.create({
        file: await toFile(jsonlContent(300), 'fails.jsonl'),
        purpose: 'user_data',
        // @ts-expect-error target_model_names is a gateway extension the SDK does not declare
        target_model_names: 'gpt-4o',
      }),
    );

    if (!(error instanceof InternalServerError)) throw error;
    expect(error.status).toBe(502);
    expect(error.message).toContain('4o-openai');
    // One gateway attempt (which itself tries the deployment twice), not three.
    expect(t.sims['4o-openai'].calls.filter((c) => c.route === 'files.create')).toHaveLength(2);
    expect(filesHeld(t.sims)).toBe(0);
  });
});
