import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { FileSweeperService } from '../../src/files/file-sweeper.service';
import {
  allCalls,
  callsTo,
  createTestApp,
  DEFAULT_DEPLOYMENTS,
  filesHeld,
  type TestApp,
} from '../utils/create-test-app';
import {
  copyRows,
  fileRows,
  seedFile,
  type FileListBody,
  type FileObjectBody,
} from '../utils/factories';
import {
  binaryBody,
  BOTH_MODELS,
  del,
  expectEnvelope,
  get,
  listAs,
  uploadOk,
  uploadRequest,
} from '../utils/files-client';
import {
  batchJsonl,
  becomes,
  binaryContent,
  jsonlContent,
  multipart,
  openRequest,
  parseJson,
  rawRequest,
  type RawResponse,
  sha256,
  uploadToSimulator,
  waitFor,
} from '../utils/http';
import { FILES_CREATE } from '../utils/network-proxy';

const ALL_DEPLOYMENT_IDS = DEFAULT_DEPLOYMENTS.map((d) => d.id);
const TRUSTED = {
  secretHeader: 'x-gateway-secret',
  secret: `trusted-${randomBytes(12).toString('hex')}`,
};

/** Every provider file id any simulator holds. */
function providerIds(t: TestApp): string[] {
  return Object.values(t.sims).flatMap((sim) => [...sim.files.keys()]);
}

/** A syntactically valid file id this gateway never issued. */
function forgedId(): string {
  return `file-${randomBytes(51).toString('base64url')}`;
}

/** The id with one character in the middle swapped for another base64url character. */
function tampered(id: string): string {
  const at = Math.floor(id.length / 2);
  const swapped = id[at] === 'A' ? 'B' : 'A';
  return `${id.slice(0, at)}${swapped}${id.slice(at + 1)}`;
}

function expectFileObject(body: FileObjectBody, data: Buffer, filename: string): void {
  // Required fields exactly; `expires_at` is the only optional one a file object may carry.
  expect(
    Object.keys(body)
      .filter((k) => k !== 'expires_at')
      .sort(),
  ).toEqual(['bytes', 'created_at', 'filename', 'id', 'object', 'purpose', 'status'].sort());
  if (body.expires_at !== undefined) expect(Number.isInteger(body.expires_at)).toBe(true);
  expect(body.id).toMatch(/^file-[A-Za-z0-9_-]+$/);
  expect(body.object).toBe('file');
  expect(body.bytes).toBe(data.length);
  expect(body.filename).toBe(filename);
  expect(body.purpose).toBe('user_data');
  expect(body.status).toBe('processed');
  expect(Number.isInteger(body.created_at)).toBe(true);
  expect(Math.abs(body.created_at - Date.now() / 1000)).toBeLessThan(60);
}

describe('Files API (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ trustedHeaders: TRUSTED });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
  });

  /** Asserts that every simulator in `ids` holds exactly one copy with these bytes. */
  function expectOneCopyEach(ids: readonly string[], data: Buffer, filename: string): void {
    for (const id of ids) {
      const files = [...t.sims[id].files.values()];
      expect({ id, count: files.length }).toEqual({ id, count: 1 });
      expect(files[0].sha256).toBe(sha256(data));
      expect(files[0].bytes).toBe(data.length);
      expect(files[0].filename.endsWith(`__${filename}`)).toBe(true);
    }
  }

  describe('upload', () => {
    it('should put one copy on every deployment of both models and answer one unified id', async () => {
      const data = jsonlContent(2_000);
      const res = await uploadRequest(t, { data, filename: 'batch-input.jsonl' });

      expect(res.status).toBe(200);
      const file = res.body as FileObjectBody;
      expectFileObject(file, data, 'batch-input.jsonl');
      expectOneCopyEach(ALL_DEPLOYMENT_IDS, data, 'batch-input.jsonl');

      const rows = await fileRows(t.dataSource);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        owner_user_id: 'alice',
        owner_team_id: 'research',
        status: 'ready',
        purpose: 'user_data',
        filename: 'batch-input.jsonl',
      });
      expect(Number(rows[0].bytes)).toBe(data.length);
      const copies = await copyRows(t.dataSource, rows[0].id);
      expect(copies.map((c) => c.deployment_id).sort()).toEqual([...ALL_DEPLOYMENT_IDS].sort());
      for (const copy of copies) {
        expect(copy.provider_file_id).toBe([...t.sims[copy.deployment_id].files.keys()][0]);
      }
      // The caller never sees a provider id.
      for (const providerId of providerIds(t)) {
        expect(res.text).not.toContain(providerId);
      }
    });

    it('should accept repeated target_model_names[] fields', async () => {
      const data = jsonlContent(300);
      const file = await uploadOk(t, { data, targets: ['gpt-4o-mini', 'gpt-4o'] });

      expectFileObject(file, data, 'input.jsonl');
      expectOneCopyEach(ALL_DEPLOYMENT_IDS, data, 'input.jsonl');
      expect(await copyRows(t.dataSource)).toHaveLength(4);
    });

    it('should give a file uploaded after a larger one exactly its own bytes, on every deployment', async () => {
      // The spool's file is reused from upload to upload (SpoolFile): the larger upload's bytes
      // past the smaller one's end must reach no copy.
      const large = randomBytes(3 * 1024 * 1024 + 5);
      await uploadOk(t, { data: large, user: 'alice', filename: 'large.jsonl' });
      const small = jsonlContent(20);
      const file = await uploadOk(t, { data: small, user: 'bob', filename: 'small.jsonl' });

      expectFileObject(file, small, 'small.jsonl');
      for (const id of ALL_DEPLOYMENT_IDS) {
        const copies = [...t.sims[id].files.values()].filter((f) =>
          f.filename.endsWith('__small.jsonl'),
        );
        expect(copies.map((c) => [id, c.bytes, c.sha256])).toEqual([
          [id, small.length, sha256(small)],
        ]);
      }
      const content = await binaryBody(get(t, `/v1/files/${file.id}/content`, 'bob'));
      expect((content.body as Buffer).equals(small)).toBe(true);
    });

    it('should accept the text fields after the file part (the Node SDK order)', async () => {
      const data = jsonlContent(300);
      const file = await uploadOk(t, { data, fieldsFirst: false });

      expectFileObject(file, data, 'input.jsonl');
      expectOneCopyEach(ALL_DEPLOYMENT_IDS, data, 'input.jsonl');
    });

    it.each([
      ['before', true],
      ['after', false],
    ])(
      'should accept a chunked upload (no Content-Length) with the fields %s the file',
      async (_label, fieldsFirst) => {
        const data = binaryContent(300 * 1024);
        const fields = [
          { name: 'purpose', value: 'user_data' },
          { name: 'target_model_names', value: BOTH_MODELS },
        ];
        const filePart = { name: 'file', filename: 'chunked.jsonl', data };
        const body = multipart(fieldsFirst ? [...fields, filePart] : [filePart, ...fields]);

        const res = await rawRequest(
          `${t.baseUrl}/v1/files`,
          'POST',
          { authorization: t.bearer('alice'), 'content-type': body.contentType },
          body.whole,
          true,
        );

        expect(res.status).toBe(200);
        expectFileObject(parseJson(res) as FileObjectBody, data, 'chunked.jsonl');
        expectOneCopyEach(ALL_DEPLOYMENT_IDS, data, 'chunked.jsonl');
      },
    );

    it('should copy only to the deployments of the named model', async () => {
      const data = jsonlContent(300);
      await uploadOk(t, { data, targets: 'gpt-4o' });

      expectOneCopyEach(['4o-azure', '4o-openai'], data, 'input.jsonl');
      expect(t.sims['mini-openai-1'].calls).toHaveLength(0);
      expect(t.sims['mini-openai-2'].calls).toHaveLength(0);
    });

    it('should set expires_at to created_at plus expires_after[seconds]', async () => {
      const file = await uploadOk(t, {
        extraFields: [
          ['expires_after[anchor]', 'created_at'],
          ['expires_after[seconds]', '86400'],
        ],
      });

      expect(file.expires_at).toBe(file.created_at + 86_400);
      const again = await get(t, `/v1/files/${file.id}`);
      expect(again.status).toBe(200);
      expect((again.body as FileObjectBody).expires_at).toBe(file.created_at + 86_400);
    });

    it.each(['batch', 'user_data'])(
      'should never report a %s file as outliving its copies upstream',
      async (purpose) => {
        // OpenAI expires batch files after 30 days by default, and Azure copies always get an
        // expiry; a unified id that outlives its copies would answer retrieve but fail content.
        const file = await uploadOk(t, {
          purpose,
          ...(purpose === 'batch' ? { data: batchJsonl(3) } : {}),
        });

        const upstreamExpiries = ALL_DEPLOYMENT_IDS.flatMap((id) =>
          [...t.sims[id].files.values()].flatMap((f) =>
            f.expiresAt === null ? [] : [f.expiresAt],
          ),
        );
        expect(upstreamExpiries.length).toBeGreaterThan(0);
        expect(file.expires_at).toBeDefined();
        expect(file.expires_at).toBeLessThanOrEqual(Math.min(...upstreamExpiries));
      },
    );

    it('should keep a non-ASCII filename intact, for the caller and upstream', async () => {
      const data = jsonlContent(300);
      const name = 'données-élève №1.jsonl';

      const file = await uploadOk(t, { data, filename: name });

      expect(file.filename).toBe(name);
      expect((await listAs(t, 'alice')).data[0].filename).toBe(name);
      expectOneCopyEach(ALL_DEPLOYMENT_IDS, data, name);
    });

    it('should keep concurrent uploads apart: each id maps to its own four copies', async () => {
      const datas = Array.from({ length: 5 }, (_, i) => jsonlContent(1_000 + i, `c${i}`));

      const files = await Promise.all(
        datas.map((data, i) => uploadOk(t, { data, filename: `c${i}.jsonl` })),
      );

      expect(new Set(files.map((f) => f.id)).size).toBe(5);
      for (const id of ALL_DEPLOYMENT_IDS) expect(t.sims[id].files.size).toBe(5);
      const copies = await copyRows(t.dataSource);
      expect(copies).toHaveLength(20);
      const filenameOf = new Map((await fileRows(t.dataSource)).map((r) => [r.id, r.filename]));
      for (const copy of copies) {
        const stored = t.sims[copy.deployment_id].files.get(copy.provider_file_id ?? '');
        const filename = filenameOf.get(copy.file_id) ?? '';
        expect(stored?.filename).toBe(`mfg-${copy.file_id}__${filename}`);
        expect(stored?.sha256).toBe(sha256(datas[Number(/^c(\d)/.exec(filename)?.[1])]));
      }
      for (const [i, file] of files.entries()) {
        const content = await binaryBody(get(t, `/v1/files/${file.id}/content`));
        expect((content.body as Buffer).equals(datas[i])).toBe(true);
      }
    });

    it('should honour expires_after sent after the file even when purpose and targets came first', async () => {
      // Clients may order multipart fields as they like; an expiry must never be dropped.
      const res = await uploadWithLateFields(t, [
        ['expires_after[anchor]', 'created_at'],
        ['expires_after[seconds]', '7200'],
      ]);

      expect(res.status).toBe(200);
      const file = parseJson(res) as FileObjectBody;
      expect(file.expires_at).toBe(file.created_at + 7_200);
    });

    it('should reject an invalid expires_after sent after the file even when purpose and targets came first', async () => {
      const res = await uploadWithLateFields(t, [
        ['expires_after[anchor]', 'created_at'],
        ['expires_after[seconds]', '5'],
      ]);

      expect({ status: res.status, body: parseJson(res) }).toMatchObject({
        status: 400,
        body: { error: { param: 'expires_after[seconds]' } },
      });
      expect(filesHeld(t.sims)).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });
  });

  describe('upload validation', () => {
    const cases: Array<{
      title: string;
      options: Parameters<typeof uploadRequest>[1];
      param: string;
      message?: RegExp;
    }> = [
      { title: 'no file part', options: { omitFile: true }, param: 'file' },
      { title: 'no purpose', options: { purpose: null }, param: 'purpose' },
      { title: 'an unknown purpose', options: { purpose: 'shopping' }, param: 'purpose' },
      {
        title: 'an unknown model name',
        options: { targets: 'gpt-4o-mini,gpt-9-ultra' },
        param: 'target_model_names',
        message: /gpt-9-ultra[\s\S]*Known models: gpt-4o-mini, gpt-4o/,
      },
      {
        title: 'no target_model_names and no configured default',
        options: { targets: null },
        param: 'target_model_names',
      },
      {
        title: 'expires_after with only the anchor',
        options: { extraFields: [['expires_after[anchor]', 'created_at']] },
        param: 'expires_after[seconds]',
      },
      {
        title: 'expires_after with only the seconds',
        options: { extraFields: [['expires_after[seconds]', '86400']] },
        param: 'expires_after[anchor]',
      },
      {
        title: 'expires_after seconds below 3600',
        options: {
          extraFields: [
            ['expires_after[anchor]', 'created_at'],
            ['expires_after[seconds]', '3599'],
          ],
        },
        param: 'expires_after[seconds]',
      },
      {
        title: 'expires_after seconds above 2592000',
        options: {
          extraFields: [
            ['expires_after[anchor]', 'created_at'],
            ['expires_after[seconds]', '2592001'],
          ],
        },
        param: 'expires_after[seconds]',
      },
    ];

    it.each(
      cases.flatMap((c) => [
        { ...c, fieldsFirst: true },
        { ...c, fieldsFirst: false },
      ]),
    )(
      'should answer 400 naming the field for $title (fields first: $fieldsFirst), with no upstream call',
      async ({ options, param, message, fieldsFirst }) => {
        const res = await uploadRequest(t, { ...options, fieldsFirst });

        const error = expectEnvelope(res, 400);
        expect(error.type).toBe('invalid_request_error');
        expect(error.param).toBe(param);
        if (message) expect(error.message).toMatch(message);
        expect(callsTo(t.sims, 'files.create')).toBe(0);
        expect(await fileRows(t.dataSource)).toEqual([]);
      },
    );

    it('should accept expires_after seconds at both ends of 3600..2592000', async () => {
      for (const seconds of [3_600, 2_592_000]) {
        const file = await uploadOk(t, {
          extraFields: [
            ['expires_after[anchor]', 'created_at'],
            ['expires_after[seconds]', String(seconds)],
          ],
        });
        expect(file.expires_at).toBe(file.created_at + seconds);
      }
    });
    it('should answer 400 for a body that is not multipart/form-data, with no upstream call', async () => {
      const json = await request(t.http)
        .post('/v1/files')
        .set('authorization', t.bearer('alice'))
        .send({ purpose: 'user_data', target_model_names: BOTH_MODELS });
      expectEnvelope(json, 400);

      const garbage = await request(t.http)
        .post('/v1/files')
        .set('authorization', t.bearer('alice'))
        .set('content-type', 'multipart/form-data; boundary=xyz')
        .send('this is not a multipart body');
      expectEnvelope(garbage, 400);

      expect(callsTo(t.sims, 'files.create')).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });

    it('should answer 400 for a body with two file parts and keep no copy', async () => {
      const res = await uploadRequest(t, { filename: 'one.jsonl' }).attach(
        'file',
        jsonlContent(100),
        'two.jsonl',
      );

      expect(expectEnvelope(res, 400).param).toBe('file');
      expect(filesHeld(t.sims)).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });
  });

  describe('retrieve and list', () => {
    it('should retrieve the uploaded file object without any provider id', async () => {
      const data = jsonlContent(500);
      const file = await uploadOk(t, { data });

      const res = await get(t, `/v1/files/${file.id}`);

      expect(res.status).toBe(200);
      expect(res.body).toEqual(file);
      expect(providerIds(t)).toHaveLength(4);
      for (const providerId of providerIds(t)) {
        expect(res.text).not.toContain(providerId);
      }
      expect(callsTo(t.sims, 'files.retrieve')).toBe(0);
    });

    it('should list only what the caller may see, filter by purpose and page with limit, order and after', async () => {
      const a1 = await uploadOk(t, { user: 'alice', filename: 'a1.jsonl' });
      const a2 = await uploadOk(t, { user: 'alice', filename: 'a2.jsonl', purpose: 'fine-tune' });
      const a3 = await uploadOk(t, { user: 'alice', filename: 'a3.jsonl' });
      const b1 = await uploadOk(t, { user: 'bob', filename: 'b1.jsonl' });
      const callsBefore = allCalls(t.sims).length;

      const all = await listAs(t, 'alice');
      expect(Object.keys(all).sort()).toEqual(
        ['data', 'first_id', 'has_more', 'last_id', 'object'].sort(),
      );
      expect(all.object).toBe('list');
      expect(all.data.map((f) => f.id)).toEqual([a3.id, a2.id, a1.id]);
      expect(all.data[0]).toEqual(a3);
      expect(all).toMatchObject({ first_id: a3.id, last_id: a1.id, has_more: false });

      const asc = await listAs(t, 'alice', { order: 'asc' });
      expect(asc.data.map((f) => f.id)).toEqual([a1.id, a2.id, a3.id]);

      const batchOnly = await listAs(t, 'alice', { purpose: 'user_data' });
      expect(batchOnly.data.map((f) => f.id)).toEqual([a3.id, a1.id]);

      const page1 = await listAs(t, 'alice', { limit: '2' });
      expect(page1).toMatchObject({ first_id: a3.id, last_id: a2.id, has_more: true });
      expect(page1.data.map((f) => f.id)).toEqual([a3.id, a2.id]);
      const page2 = await listAs(t, 'alice', { limit: '2', after: page1.last_id ?? '' });
      expect(page2).toMatchObject({ first_id: a1.id, last_id: a1.id, has_more: false });
      expect(page2.data.map((f) => f.id)).toEqual([a1.id]);

      const ascPage = await listAs(t, 'alice', { limit: '1', order: 'asc', after: a1.id });
      expect(ascPage.data.map((f) => f.id)).toEqual([a2.id]);
      expect(ascPage.has_more).toBe(true);

      const bob = await listAs(t, 'bob');
      expect(bob.data.map((f) => f.id)).toEqual([b1.id]);

      const empty = await listAs(t, 'alice', { purpose: 'vision' });
      expect(empty).toEqual({
        object: 'list',
        data: [],
        first_id: null,
        last_id: null,
        has_more: false,
      });

      // Listing is served from the gateway's store: no provider was asked.
      expect(allCalls(t.sims)).toHaveLength(callsBefore);
    });

    it.each([
      { param: 'limit', value: '0' },
      { param: 'limit', value: '10001' },
      { param: 'limit', value: 'abc' },
      { param: 'order', value: 'sideways' },
      { param: 'after', value: 'abc' },
      { param: 'after', value: 'file-not-a-real-id' },
    ])('should answer 400 with param $param for $param=$value', async ({ param, value }) => {
      const res = await get(t, '/v1/files').query({ [param]: value });

      const error = expectEnvelope(res, 400);
      expect(error.param).toBe(param);
      expect(allCalls(t.sims)).toEqual([]);
    });

    it('should answer 400 with param after for a cursor whose file is gone', async () => {
      const file = await uploadOk(t);
      expect((await del(t, `/v1/files/${file.id}`)).status).toBe(200);

      const res = await get(t, '/v1/files').query({ after: file.id });

      expect(expectEnvelope(res, 400).param).toBe('after');
    });
  });

  describe('content', () => {
    it('should stream the exact bytes that were uploaded', async () => {
      const data = binaryContent(256 * 1024);
      const file = await uploadOk(t, { data, contentType: 'application/octet-stream' });

      const res = await binaryBody(get(t, `/v1/files/${file.id}/content`));

      expect(res.status).toBe(200);
      expect(Buffer.isBuffer(res.body)).toBe(true);
      expect(sha256(res.body as Buffer)).toBe(sha256(data));
      expect(callsTo(t.sims, 'files.content')).toBe(1);
    });

    it("should fall back to another copy when the first copy's deployment fails", async () => {
      const data = jsonlContent(4_000);
      const file = await uploadOk(t, { data });
      t.sims['mini-openai-1'].addFault({ route: 'files.content', status: 500 });

      const res = await binaryBody(get(t, `/v1/files/${file.id}/content`));

      expect(res.status).toBe(200);
      expect((res.body as Buffer).equals(data)).toBe(true);
      expect(t.sims['mini-openai-1'].calls.filter((c) => c.route === 'files.content')).toHaveLength(
        1,
      );
      expect(callsTo(t.sims, 'files.content')).toBe(2);
    });

    it('should stream the content from the Azure deployment, falling back to the OpenAI one', async () => {
      const data = jsonlContent(3_000);
      const file = await uploadOk(t, { data, targets: 'gpt-4o' });

      const fromAzure = await binaryBody(get(t, `/v1/files/${file.id}/content`));
      expect((fromAzure.body as Buffer).equals(data)).toBe(true);
      expect(t.sims['4o-azure'].calls.filter((c) => c.route === 'files.content')).toHaveLength(1);
      expect(t.sims['4o-openai'].calls.filter((c) => c.route === 'files.content')).toHaveLength(0);

      t.sims['4o-azure'].addFault({ route: 'files.content', status: 503 });
      const fromOpenai = await binaryBody(get(t, `/v1/files/${file.id}/content`));
      expect((fromOpenai.body as Buffer).equals(data)).toBe(true);
      expect(t.sims['4o-openai'].calls.filter((c) => c.route === 'files.content')).toHaveLength(1);
    });

    it('should answer 502 in the envelope when no deployment can serve the content', async () => {
      const file = await uploadOk(t);
      for (const sim of Object.values(t.sims)) {
        sim.addFault({ route: 'files.content', status: 500 });
      }

      const res = await get(t, `/v1/files/${file.id}/content`);

      expectEnvelope(res, 502);
      expect(callsTo(t.sims, 'files.content')).toBe(4);
    });
  });

  describe('delete', () => {
    it('should delete every copy and then answer 404 for the id', async () => {
      const file = await uploadOk(t);
      expect(filesHeld(t.sims)).toBe(4);

      const res = await del(t, `/v1/files/${file.id}`);

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: file.id, object: 'file', deleted: true });
      for (const id of ALL_DEPLOYMENT_IDS) {
        expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
      }
      expectEnvelope(await get(t, `/v1/files/${file.id}`), 404);
      expectEnvelope(await get(t, `/v1/files/${file.id}/content`), 404);
      expectEnvelope(await del(t, `/v1/files/${file.id}`), 404);
      expect((await listAs(t, 'alice')).data).toEqual([]);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });

    it('should count a copy already gone upstream as deleted', async () => {
      const file = await uploadOk(t);
      t.sims['mini-openai-2'].reset();

      const res = await del(t, `/v1/files/${file.id}`);

      expect(res.body).toEqual({ id: file.id, object: 'file', deleted: true });
      expect(filesHeld(t.sims)).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });

    it('should answer 404, not 403, to another user once the file is deleted', async () => {
      const file = await uploadOk(t, { user: 'alice' });
      expect((await del(t, `/v1/files/${file.id}`)).status).toBe(200);

      expectEnvelope(await get(t, `/v1/files/${file.id}`, 'bob'), 404);
      expectEnvelope(await del(t, `/v1/files/${file.id}`, 'bob'), 404);
    });

    it('should hide the file at once when one copy cannot be deleted, and let the sweeper finish', async () => {
      const file = await uploadOk(t);
      // Read it once so it is cached: the delete must still hide it.
      expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);
      const stuck = t.sims['4o-azure'];
      const stuckCopy = [...stuck.files.keys()][0];
      stuck.addFault({ route: 'files.delete', status: 500 });

      const res = await del(t, `/v1/files/${file.id}`);

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: file.id, object: 'file', deleted: true });
      expectEnvelope(await get(t, `/v1/files/${file.id}`), 404);
      expectEnvelope(await get(t, `/v1/files/${file.id}/content`), 404);
      expect((await listAs(t, 'alice')).data).toEqual([]);
      const rows = await fileRows(t.dataSource);
      expect(rows).toHaveLength(1);
      expect(rows[0].status).toBe('deleting');
      expect(await copyRows(t.dataSource, rows[0].id)).toEqual([
        { file_id: rows[0].id, deployment_id: '4o-azure', provider_file_id: stuckCopy },
      ]);
      expect(filesHeld(t.sims)).toBe(1);
      expect(stuck.files.has(stuckCopy)).toBe(true);

      stuck.clearFaults();
      await t.app.get(FileSweeperService).sweep(0);

      expect(stuck.files.size).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
      expect(await copyRows(t.dataSource)).toEqual([]);
    });
  });

  describe('ownership', () => {
    it('should refuse another user with 403 on retrieve, content and delete, and hide the file from their list', async () => {
      const file = await uploadOk(t, { user: 'alice' });
      const callsBefore = allCalls(t.sims).length;

      for (const req of [
        get(t, `/v1/files/${file.id}`, 'bob'),
        get(t, `/v1/files/${file.id}/content`, 'bob'),
        del(t, `/v1/files/${file.id}`, 'bob'),
      ]) {
        const error = expectEnvelope(await req, 403);
        expect(error.message).toBe(`User bob does not have access to the file ${file.id}`);
        expect(error.type).toBe('permission_error');
      }
      expect((await listAs(t, 'bob')).data).toEqual([]);
      expect(allCalls(t.sims)).toHaveLength(callsBefore);
      // Nothing was deleted.
      expect(filesHeld(t.sims)).toBe(4);
      expect((await get(t, `/v1/files/${file.id}`, 'alice')).status).toBe(200);
    });

    it("should let the owner's teammate and an admin retrieve, download and list the file", async () => {
      const data = jsonlContent(700);
      const file = await uploadOk(t, { user: 'alice', data });

      for (const user of ['carol', 'admin'] as const) {
        const res = await get(t, `/v1/files/${file.id}`, user);
        expect({ user, status: res.status }).toEqual({ user, status: 200 });
        expect(res.body).toEqual(file);
        const content = await binaryBody(get(t, `/v1/files/${file.id}/content`, user));
        expect((content.body as Buffer).equals(data)).toBe(true);
        expect((await listAs(t, user)).data.map((f) => f.id)).toEqual([file.id]);
      }
    });

    it('should let an admin see every user in the list, and a user without a team only their own', async () => {
      const a = await uploadOk(t, { user: 'alice' });
      const b = await uploadOk(t, { user: 'bob' });
      const c = await uploadOk(t, { user: 'carol' });

      expect((await listAs(t, 'admin')).data.map((f) => f.id)).toEqual([c.id, b.id, a.id]);
      expect((await listAs(t, 'alice')).data.map((f) => f.id)).toEqual([c.id, a.id]);
      expect((await listAs(t, 'bob')).data.map((f) => f.id)).toEqual([b.id]);
    });

    it('should answer 404 for a forged, tampered or raw provider id without calling any upstream', async () => {
      const file = await uploadOk(t);
      const providerId = [...t.sims['mini-openai-1'].files.keys()][0];
      const callsBefore = allCalls(t.sims).length;

      for (const id of [forgedId(), tampered(file.id), `${file.id}x`, 'file-abc', providerId]) {
        for (const req of [
          get(t, `/v1/files/${id}`),
          get(t, `/v1/files/${id}/content`),
          del(t, `/v1/files/${id}`),
        ]) {
          const res = await req;
          expect({ id, status: res.status }).toEqual({ id, status: 404 });
          expectEnvelope(res, 404);
        }
      }
      expect(allCalls(t.sims)).toHaveLength(callsBefore);
      expect(filesHeld(t.sims)).toBe(4);
    });
  });

  describe('failing provider', () => {
    async function expectNothingLeft(): Promise<void> {
      for (const id of ALL_DEPLOYMENT_IDS) {
        expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
      }
      expect((await listAs(t, 'alice')).data).toEqual([]);
      expect(await fileRows(t.dataSource)).toEqual([]);
      expect(await copyRows(t.dataSource)).toEqual([]);
    }

    it('should answer 502 naming the deployment and leave no copy anywhere when one upload fails', async () => {
      // The failure comes after the other copies are made, so they must be rolled back. (Copies
      // still in flight when the upload is given up are the subject of the network tests below.)
      t.sims['4o-azure'].addFault({ route: 'files.create', status: 500, latencyMs: 250 });

      const res = await uploadRequest(t, { data: jsonlContent(5_000) });

      const error = expectEnvelope(res, 502);
      expect(error.message).toContain('4o-azure');
      expect(res.headers['x-should-retry']).toBe('false');
      // It was tried (and retried) on the failing deployment.
      expect(t.sims['4o-azure'].calls.filter((c) => c.route === 'files.create')).toHaveLength(2);
      await expectNothingLeft();
    });

    it('should answer 502 and leave no copy anywhere when a deployment drops the connection mid-body', async () => {
      t.sims['mini-openai-2'].addFault({
        route: 'files.create',
        dropConnection: 'mid-body',
        latencyMs: 250,
      });

      const res = await uploadRequest(t, { data: binaryContent(1024 * 1024) });

      const error = expectEnvelope(res, 502);
      expect(error.message).toContain('mini-openai-2');
      await expectNothingLeft();
    });

    it('should retry a copy that failed once and answer 200 with every copy in place', async () => {
      const data = jsonlContent(3_000);
      t.sims['4o-openai'].addFault({ route: 'files.create', status: 500, nth: 1 });

      const file = await uploadOk(t, { data });

      expectFileObject(file, data, 'input.jsonl');
      expectOneCopyEach(ALL_DEPLOYMENT_IDS, data, 'input.jsonl');
      expect(t.sims['4o-openai'].calls.filter((c) => c.route === 'files.create')).toHaveLength(2);
      expect(await copyRows(t.dataSource)).toHaveLength(4);
      expect((await listAs(t, 'alice')).data.map((f) => f.id)).toEqual([file.id]);
    });
  });

  describe('sweeper', () => {
    it('should remove an upload abandoned by a killed process, including copies whose id was never learned', async () => {
      const uploadId = '6f2d1c0e-5b7a-4c3e-9d1f-0a1b2c3d4e5f';
      const data = jsonlContent(400);
      const openaiSim = t.sims['mini-openai-2'];
      const azureSim = t.sims['4o-azure'];
      // The dead process got its copies stored upstream but never learned their ids.
      const orphanOpenai = await uploadToSimulator(
        openaiSim,
        t.simKeys['mini-openai-2'],
        `mfg-${uploadId}__input.jsonl`,
        data,
      );
      const orphanAzure = await uploadToSimulator(
        azureSim,
        t.simKeys['4o-azure'],
        `mfg-${uploadId}__input.jsonl`,
        data,
      );
      // Files that belong to somebody else must survive the sweep.
      const bystander = await uploadToSimulator(
        openaiSim,
        t.simKeys['mini-openai-2'],
        'someone-elses.jsonl',
        data,
      );
      const otherUpload = await uploadToSimulator(
        azureSim,
        t.simKeys['4o-azure'],
        `mfg-${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}__input.jsonl`,
        data,
      );
      await seedFile(t.dataSource, {
        id: uploadId,
        status: 'pending',
        heartbeatSecondsAgo: 600,
        copies: [
          { deploymentId: 'mini-openai-2', providerFileId: null },
          { deploymentId: '4o-azure', providerFileId: null },
        ],
      });
      expect((await listAs(t, 'alice')).data).toEqual([]);

      await t.app.get(FileSweeperService).sweep(0);

      expect(openaiSim.files.has(orphanOpenai)).toBe(false);
      expect(azureSim.files.has(orphanAzure)).toBe(false);
      expect([...openaiSim.files.keys()]).toEqual([bystander]);
      expect([...azureSim.files.keys()]).toEqual([otherUpload]);
      expect(await fileRows(t.dataSource)).toEqual([]);
      expect(await copyRows(t.dataSource)).toEqual([]);
    });

    it('should leave a pending upload alone while its process is still heartbeating', async () => {
      await seedFile(t.dataSource, {
        status: 'pending',
        heartbeatSecondsAgo: 0,
        copies: [{ deploymentId: 'mini-openai-1', providerFileId: null }],
      });

      await t.app.get(FileSweeperService).sweep();

      expect(await fileRows(t.dataSource)).toHaveLength(1);
      expect(allCalls(t.sims)).toEqual([]);
    });

    it('should remove an expired file: hidden from callers at once, copies deleted by the sweep', async () => {
      const file = await uploadOk(t, {
        extraFields: [
          ['expires_after[anchor]', 'created_at'],
          ['expires_after[seconds]', '3600'],
        ],
      });
      expect(filesHeld(t.sims)).toBe(4);
      await t.dataSource.query(`UPDATE managed_files SET expires_at = now() - interval '1 second'`);

      expectEnvelope(await get(t, `/v1/files/${file.id}`), 404);
      expect((await listAs(t, 'alice')).data).toEqual([]);

      await t.app.get(FileSweeperService).sweep(0);

      expect(filesHeld(t.sims)).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });

    it('should remove a seeded expired ready file and its copies', async () => {
      const data = jsonlContent(200);
      const copyA = await uploadToSimulator(
        t.sims['mini-openai-1'],
        t.simKeys['mini-openai-1'],
        'expired.jsonl',
        data,
      );
      const copyB = await uploadToSimulator(
        t.sims['4o-azure'],
        t.simKeys['4o-azure'],
        'expired.jsonl',
        data,
      );
      await seedFile(t.dataSource, {
        status: 'ready',
        bytes: data.length,
        expiresInSeconds: -60,
        copies: [
          { deploymentId: 'mini-openai-1', providerFileId: copyA },
          { deploymentId: '4o-azure', providerFileId: copyB },
        ],
      });
      expect((await listAs(t, 'alice')).data).toEqual([]);

      await t.app.get(FileSweeperService).sweep(0);

      expect(filesHeld(t.sims)).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });
  });

  describe('identity', () => {
    it('should answer 401 in the envelope without credentials or with a wrong key', async () => {
      for (const authorization of [undefined, 'Bearer sk-wrong', 'Basic YWxpY2U6eA==', 'Bearer']) {
        let req = request(t.http).get('/v1/files');
        if (authorization !== undefined) req = req.set('authorization', authorization);
        const res = await req;
        const error = expectEnvelope(res, 401);
        expect(error.type).toBe('authentication_error');
        expect(res.headers['x-request-id']).toEqual(expect.any(String));
      }
      const upload = await request(t.http)
        .post('/v1/files')
        .field('purpose', 'user_data')
        .field('target_model_names', BOTH_MODELS)
        .attach('file', jsonlContent(100), 'x.jsonl');
      expectEnvelope(upload, 401);
      expect(callsTo(t.sims, 'files.create')).toBe(0);
    });

    it('should put x-request-id on every response, and echo a sane incoming one', async () => {
      const file = await uploadOk(t);
      const responses = [
        await get(t, '/v1/files'),
        await get(t, `/v1/files/${file.id}`),
        await get(t, `/v1/files/${file.id}`, 'bob'),
        await get(t, `/v1/files/${forgedId()}`),
        await get(t, '/v1/files').query({ limit: '0' }),
        await request(t.http).get('/v1/files'),
        await request(t.http).get('/health/live'),
        await request(t.http).get('/v1/no-such-route'),
      ];
      expect(responses.map((r) => r.status)).toEqual([200, 200, 403, 404, 400, 401, 200, 404]);
      const ids = responses.map((r) => r.headers['x-request-id']);
      for (const id of ids) expect(id).toMatch(/^\S{8,}$/);
      expect(new Set(ids).size).toBe(ids.length);

      expectEnvelope(responses[7], 404);

      const echoed = await get(t, '/v1/files').set('x-request-id', 'trace-abc-123');
      expect(echoed.headers['x-request-id']).toBe('trace-abc-123');
    });

    it('should accept trusted identity headers only with the shared secret', async () => {
      const file = await uploadOk(t, { user: 'alice' });
      const secret = TRUSTED.secret;

      const asAlice = await request(t.http)
        .get(`/v1/files/${file.id}`)
        .set('x-gateway-secret', secret)
        .set('x-user-id', 'alice');
      expect(asAlice.status).toBe(200);
      expect((asAlice.body as FileObjectBody).id).toBe(file.id);

      const asDana = await request(t.http)
        .post('/v1/files')
        .set('x-gateway-secret', secret)
        .set('x-user-id', 'dana')
        .field('purpose', 'user_data')
        .field('target_model_names', 'gpt-4o')
        .attach('file', jsonlContent(100), 'dana.jsonl');
      expect(asDana.status).toBe(200);
      const danaList = await request(t.http)
        .get('/v1/files')
        .set('x-gateway-secret', secret)
        .set('x-user-id', 'dana');
      expect((danaList.body as FileListBody).data.map((f) => f.id)).toEqual([
        (asDana.body as FileObjectBody).id,
      ]);
      const danaOnAlice = await request(t.http)
        .get(`/v1/files/${file.id}`)
        .set('x-gateway-secret', secret)
        .set('x-user-id', 'dana');
      expectEnvelope(danaOnAlice, 403);

      const wrongSecret = await request(t.http)
        .get('/v1/files')
        .set('x-gateway-secret', 'guess')
        .set('x-user-id', 'alice')
        .set('authorization', t.bearer('alice'));
      expectEnvelope(wrongSecret, 401);

      const noSecret = await request(t.http).get('/v1/files').set('x-user-id', 'alice');
      expectEnvelope(noSecret, 401);

      // Two users without a team never share files (LiteLLM #27004: None == None).
      const bobs = await uploadOk(t, { user: 'bob', targets: 'gpt-4o' });
      const danaOnBob = await request(t.http)
        .get(`/v1/files/${bobs.id}`)
        .set('x-gateway-secret', secret)
        .set('x-user-id', 'dana');
      expectEnvelope(danaOnBob, 403);
      const danaListAgain = await request(t.http)
        .get('/v1/files')
        .set('x-gateway-secret', secret)
        .set('x-user-id', 'dana');
      expect((danaListAgain.body as FileListBody).data.map((f) => f.id)).not.toContain(bobs.id);

      // Without the secret the identity headers are ignored: the bearer decides.
      const bobClaimingAlice = await get(t, `/v1/files/${file.id}`, 'bob').set(
        'x-user-id',
        'alice',
      );
      expectEnvelope(bobClaimingAlice, 403);
    });

    it('should answer 401 without credentials on every registered route except /health and /docs', async () => {
      const file = await uploadOk(t);
      const callsBefore = allCalls(t.sims).length;
      const express = t.app.getHttpAdapter().getInstance() as {
        router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> };
      };
      const routes = express.router.stack.flatMap((layer) =>
        layer.route
          ? Object.keys(layer.route.methods).map((method) => ({
              method,
              path: layer.route?.path ?? '',
            }))
          : [],
      );
      const isPublic = (path: string): boolean =>
        path.startsWith('/health/') || path.startsWith('/docs') || path === '/metrics';
      const guarded = routes.filter((r) => !isPublic(r.path));
      expect(guarded.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort()).toEqual(
        expect.arrayContaining([
          'DELETE /v1/files/:file_id',
          'GET /v1/files',
          'GET /v1/files/:file_id',
          'GET /v1/files/:file_id/content',
          'POST /v1/files',
        ]),
      );
      expect(routes.filter((r) => isPublic(r.path)).map((r) => r.path)).toEqual(
        expect.arrayContaining(['/health/live', '/health/ready', '/docs', '/docs-json']),
      );

      for (const route of guarded) {
        // A real id of a real file: authentication must come before any lookup.
        const path = route.path.replace(/:[A-Za-z_]+/g, file.id);
        const res = await request(t.http)[route.method as 'get' | 'post' | 'delete'](path);
        expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({
          route: `${route.method} ${route.path}`,
          status: 401,
        });
        expectEnvelope(res, 401);
      }
      expect(allCalls(t.sims)).toHaveLength(callsBefore);
      expect(filesHeld(t.sims)).toBe(4);
    });
  });

  describe('health and docs', () => {
    it('should report ready with PostgreSQL and Redis up, without credentials', async () => {
      const res = await request(t.http).get('/health/ready');

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: 'ready',
        checks: {
          database: { status: 'up' },
          cache: { status: 'up' },
          jobs: { status: 'up', queues: expect.any(Object) as unknown },
        },
      });
      expect((await request(t.http).get('/health/live')).status).toBe(200);
    });

    it('should serve the API docs as HTML and the OpenAPI document, without credentials', async () => {
      const html = await request(t.http).get('/docs');
      expect(html.status).toBe(200);
      expect(html.headers['content-type']).toMatch(/text\/html/);
      expect(html.text).toMatch(/swagger/i);

      const doc = await request(t.http).get('/docs-json');
      expect(doc.status).toBe(200);
      const paths = (doc.body as { paths: Record<string, Record<string, unknown>> }).paths;
      expect(Object.keys(paths['/v1/files']).sort()).toEqual(['get', 'post']);
      expect(Object.keys(paths['/v1/files/{file_id}']).sort()).toEqual(['delete', 'get']);
      expect(Object.keys(paths['/v1/files/{file_id}/content'])).toEqual(['get']);

      // Swagger UI's own assets and the YAML form come from the same lazily loaded docs.
      const css = await request(t.http).get('/docs/swagger-ui.css');
      expect(css.status).toBe(200);
      expect(css.headers['content-type']).toMatch(/text\/css/);
      const yaml = await request(t.http).get('/docs-yaml');
      expect(yaml.status).toBe(200);
      expect(yaml.text).toContain('/v1/files/{file_id}/content:');
      expectEnvelope(await request(t.http).get('/docs/no-such-asset.js'), 404);
    });
  });
});

describe('Files API with a 64 KiB upload limit and a default target model (e2e)', () => {
  const LIMIT = 64 * 1024;
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ maxUploadBytes: LIMIT, defaultTargetModels: ['gpt-4o-mini'] });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
  });

  it('should refuse a declared oversize body with 413 before reading it and call no upstream', async () => {
    const body = multipart([
      { name: 'purpose', value: 'user_data' },
      { name: 'file', filename: 'big.jsonl', data: binaryContent(1024 * 1024) },
    ]);
    const open = openRequest(`${t.baseUrl}/v1/files`, 'POST', {
      authorization: t.bearer('alice'),
      'content-type': body.contentType,
      'content-length': String(body.whole.length),
    });
    // Only the headers go out: the answer must come without the body.
    open.request.flushHeaders();
    const res = await open.response;
    open.request.destroy();

    expect(res.status).toBe(413);
    const parsed = parseJson(res) as { error: Record<string, unknown> };
    expect(Object.keys(parsed.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(parsed.error.param).toBe('file');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(allCalls(t.sims)).toEqual([]);
    expect(await fileRows(t.dataSource)).toEqual([]);
  });

  it('should answer 413 for a file over the limit inside a small body, with no copy left', async () => {
    const res = await uploadRequest(t, { data: binaryContent(LIMIT + 1), targets: BOTH_MODELS });

    expect(expectEnvelope(res, 413).param).toBe('file');
    expect(filesHeld(t.sims)).toBe(0);
    expect(await fileRows(t.dataSource)).toEqual([]);
  });

  it('should accept a file of exactly the limit', async () => {
    const data = binaryContent(LIMIT);
    const file = await uploadOk(t, { data, targets: BOTH_MODELS });
    expect(file.bytes).toBe(LIMIT);
    expect(filesHeld(t.sims)).toBe(4);
  });

  it('should answer 413 for a chunked body that runs over after the copies started, and leave nothing behind', async () => {
    const data = binaryContent(512 * 1024);
    const body = multipart([
      { name: 'purpose', value: 'user_data' },
      { name: 'target_model_names', value: BOTH_MODELS },
      { name: 'file', filename: 'runaway.jsonl', data },
    ]);
    const open = openRequest(`${t.baseUrl}/v1/files`, 'POST', {
      authorization: t.bearer('alice'),
      'content-type': body.contentType,
    });
    await open.write(body.head);
    await open.write(data.subarray(0, 16 * 1024));
    // The copies start while the body is still arriving.
    await waitFor(
      () => Object.values(t.sims).every((s) => s.calls.some((c) => c.route === 'files.create')),
      'every deployment to receive its copy request',
    );
    for (let offset = 16 * 1024; offset < data.length; offset += 16 * 1024) {
      try {
        await open.write(data.subarray(offset, offset + 16 * 1024));
      } catch {
        break; // The gateway may close the connection once it has answered.
      }
    }
    open.end(body.tail);
    const res = await open.response;

    expect(res.status).toBe(413);
    expect((parseJson(res) as { error: { param: string } }).error.param).toBe('file');
    expect(filesHeld(t.sims)).toBe(0);
    expect(await fileRows(t.dataSource)).toEqual([]);
    expect(await copyRows(t.dataSource)).toEqual([]);
    expect((await listAs(t, 'alice')).data).toEqual([]);
  });

  it('should copy to the default target model when the caller names none', async () => {
    const data = jsonlContent(300);
    await uploadOk(t, { data, targets: null });

    for (const id of ['mini-openai-1', 'mini-openai-2']) {
      expect(t.sims[id].files.size).toBe(1);
    }
    expect(t.sims['4o-azure'].calls).toEqual([]);
    expect(t.sims['4o-openai'].calls).toEqual([]);
  });
});

describe('Files API with Redis unreachable (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ redisUrl: 'redis://127.0.0.1:1' });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function timed<T>(what: string, call: () => PromiseLike<T>): Promise<T> {
    const started = Date.now();
    const result = await call();
    const elapsed = Date.now() - started;
    expect({ what, fast: elapsed < 3_000 }).toEqual({ what, fast: true });
    return result;
  }

  it('should upload, retrieve, list, download and delete, each within a few seconds', async () => {
    const data = jsonlContent(2_000);
    const upload = await timed('upload', () => uploadRequest(t, { data }));
    expect(upload.status).toBe(200);
    const file = upload.body as FileObjectBody;

    for (let i = 0; i < 2; i++) {
      const retrieved = await timed('retrieve', () => get(t, `/v1/files/${file.id}`));
      expect(retrieved.status).toBe(200);
      expect(retrieved.body).toEqual(file);
    }
    const list = await timed('list', () => get(t, '/v1/files'));
    expect((list.body as FileListBody).data.map((f) => f.id)).toEqual([file.id]);
    const content = await timed('content', () =>
      binaryBody(get(t, `/v1/files/${file.id}/content`)),
    );
    expect((content.body as Buffer).equals(data)).toBe(true);
    const deleted = await timed('delete', () => del(t, `/v1/files/${file.id}`));
    expect(deleted.body).toEqual({ id: file.id, object: 'file', deleted: true });
    expect(filesHeld(t.sims)).toBe(0);
    expectEnvelope(await timed('retrieve deleted', () => get(t, `/v1/files/${file.id}`)), 404);
  });

  it('should stay ready and report the cache as down', async () => {
    const res = await request(t.http).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ready',
      checks: {
        database: { status: 'up' },
        cache: { status: 'down' },
        jobs: { status: 'up', queues: expect.any(Object) as unknown },
      },
    });
  });
});

describe('Files API over an unreliable network (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ proxied: ['mini-openai-1'] });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
  });

  it('should leave no copy upstream when a deployment stored its copy but answered after another deployment failed', async () => {
    // mini-openai-1 stores the copy at once, but its answer is slow to come back; meanwhile
    // 4o-azure fails for good. The stored copy must not outlive the failed upload.
    t.proxies['mini-openai-1'].holdAnswers(FILES_CREATE, 3_000);
    t.sims['4o-azure'].addFault({ route: 'files.create', status: 500, latencyMs: 300 });

    const res = await uploadRequest(t, { data: jsonlContent(2_000) });

    expect(expectEnvelope(res, 502).message).toContain('4o-azure');
    expect(t.sims['mini-openai-1'].calls.some((c) => c.route === 'files.create')).toBe(true);
    // Whether the gateway cleans up at once or leaves it to the sweeper, nothing may remain.
    await t.app.get(FileSweeperService).sweep(0);
    for (const id of ALL_DEPLOYMENT_IDS) {
      expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
    }
    expect(await fileRows(t.dataSource)).toEqual([]);
  });

  it('should not leave a duplicate copy upstream when a retried copy had been stored but its answer was lost', async () => {
    t.proxies['mini-openai-1'].loseAnswers(FILES_CREATE, 1);
    const data = jsonlContent(2_000);

    const file = await uploadOk(t, { data, targets: 'gpt-4o-mini' });

    expect(t.proxies['mini-openai-1'].matchedAnswers).toBe(1);
    expect(t.sims['mini-openai-1'].calls.filter((c) => c.route === 'files.create')).toHaveLength(2);
    // After deleting the file (and a sweep), no copy of it may remain anywhere.
    expect((await del(t, `/v1/files/${file.id}`)).status).toBe(200);
    await t.app.get(FileSweeperService).sweep(0);
    for (const id of ALL_DEPLOYMENT_IDS) {
      expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
    }
  });
});

/**
 * Sends purpose and target_model_names, then the whole file, and the `late` fields (and the end
 * of the body) only once the copies are under way — or after 2 s, for a gateway that waits.
 */
async function uploadWithLateFields(
  t: TestApp,
  late: ReadonlyArray<readonly [string, string]>,
): Promise<RawResponse> {
  const body = multipart([
    { name: 'purpose', value: 'user_data' },
    { name: 'target_model_names', value: BOTH_MODELS },
    { name: 'file', filename: 'late.jsonl', data: binaryContent(256 * 1024) },
    ...late.map(([name, value]) => ({ name, value })),
  ]);
  const open = openRequest(`${t.baseUrl}/v1/files`, 'POST', {
    authorization: t.bearer('alice'),
    'content-type': body.contentType,
  });
  await open.write(body.head);
  await open.write(body.fileData);
  await becomes(() => callsTo(t.sims, 'files.create') >= 4, 2_000);
  open.end(body.tail);
  return open.response;
}
