// Defects found by a hostile-client and careless-operator run against the Files capability,
// one test (or a few) per defect. Each failed on the code before the fix.
import { connect, type Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { LogCapture } from '../utils/log-capture';
import { createTestApp, filesHeld, type TestApp } from '../utils/create-test-app';
import { fileRows, seedFile, type FileListBody, type FileObjectBody } from '../utils/factories';
import { expectEnvelope, get, listAs, uploadOk, uploadRequest } from '../utils/files-client';
import {
  becomes,
  jsonlContent,
  multipart,
  openRequest,
  parseJson,
  rawRequest,
  waitFor,
  type RawResponse,
} from '../utils/http';

/** The envelope and a request id, checked on a raw answer. */
function expectRawEnvelope(res: RawResponse, status: number): { code: string | null } {
  expect(res.status).toBe(status);
  expect(res.headers['x-request-id']).toMatch(/^req_[0-9a-f]{32}$/);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = parseJson(res) as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  return body.error as { code: string | null };
}

/** Writes bytes on a fresh socket and reads the whole answer until the server closes. */
function rawSocket(t: TestApp, bytes: string | Buffer): Promise<string> {
  const { port } = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

function parseRawAnswer(text: string): { status: number; headers: string; body: unknown } {
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
    headers: head.toLowerCase(),
    body: JSON.parse(text.slice(split + 4)) as unknown,
  };
}

function fileForm(filenameHeader: string, contentType: string, data: Buffer): MultipartBodyRaw {
  const boundary = '----hardening-boundary';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="target_model_names"\r\n\r\ngpt-4o-mini\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; ${filenameHeader}\r\n` +
      `Content-Type: ${contentType}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head,
    data,
    tail,
    whole: Buffer.concat([head, data, tail]),
  };
}

interface MultipartBodyRaw {
  readonly contentType: string;
  readonly head: Buffer;
  readonly data: Buffer;
  readonly tail: Buffer;
  readonly whole: Buffer;
}

function postForm(t: TestApp, form: MultipartBodyRaw, body = form.whole): Promise<RawResponse> {
  return rawRequest(
    `${t.baseUrl}/v1/files`,
    'POST',
    { authorization: t.bearer('alice'), 'content-type': form.contentType },
    body,
  );
}

describe('Hardening of the Files capability', () => {
  let t: TestApp;
  const logs = new LogCapture();

  beforeAll(async () => {
    t = await createTestApp({ maxJsonBodyBytes: 4096, logLevel: 'warn', logDestination: logs });
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    await t.reset();
  });

  describe('1. fields the store or the codec cannot take', () => {
    it('should store a MIME type longer than 255 bytes as application/octet-stream and keep every list working', async () => {
      const longType = `application/${'x'.repeat(250)}`;
      const res = await postForm(t, fileForm('filename="a.jsonl"', longType, jsonlContent(100)));
      expect(res.status).toBe(200);
      const file = parseJson(res) as FileObjectBody;
      const [row] = await t.dataSource.query<Array<{ mime_type: string; public_id: string }>>(
        'SELECT mime_type, public_id FROM managed_files WHERE status = $1',
        ['ready'],
      );
      expect(row.mime_type).toBe('application/octet-stream');
      // The id is stored at upload, so lists map rows without encoding them.
      expect(row.public_id).toBe(file.id);
      for (const user of ['alice', 'carol', 'admin'] as const) {
        const list = await listAs(t, user);
        expect(list.data.map((f) => f.id)).toContain(file.id);
      }
      expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);
    });

    it('should keep lists answering when a row stored by an older version has an unencodable MIME type', async () => {
      await seedFile(t.dataSource, {
        status: 'ready',
        mimeType: `application/${'y'.repeat(300)}`,
        copies: [{ deploymentId: 'mini-openai-1', providerFileId: 'file-seeded' }],
      });
      for (const user of ['alice', 'carol', 'admin'] as const) {
        const list = await listAs(t, user);
        expect(list.data).toHaveLength(1);
        expect(list.data[0].id).toMatch(/^file-/);
      }
    });

    it('should lowercase a well-formed MIME type and replace one whose subtype is over 127 characters', async () => {
      const ok = await postForm(t, fileForm('filename="a.txt"', 'Text/Plain', jsonlContent(50)));
      expect(ok.status).toBe(200);
      const odd = await postForm(
        t,
        fileForm('filename="b.txt"', `text/${'y'.repeat(130)}`, jsonlContent(50)),
      );
      expect(odd.status).toBe(200);
      const types = await t.dataSource.query<Array<{ mime_type: string }>>(
        'SELECT mime_type FROM managed_files ORDER BY created_at',
      );
      expect(types.map((r) => r.mime_type)).toEqual(['text/plain', 'application/octet-stream']);
    });
  });

  describe('2. a multipart body that ends inside the file part', () => {
    it('should answer 400 in the envelope, with no record and no copy left', async () => {
      const form = fileForm('filename="a.jsonl"', 'application/jsonl', jsonlContent(2000));
      const truncated = Buffer.concat([form.head, form.data.subarray(0, 1000)]);
      const res = await postForm(t, form, truncated);
      const error = expectRawEnvelope(res, 400);
      expect(error.code).toBe('invalid_multipart');
      expect(await becomes(() => filesHeld(t.sims) === 0, 5_000)).toBe(true);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });
  });

  describe('3. filenames', () => {
    it("should drop a NUL byte from `filename*=utf-8''a%00b.jsonl`", async () => {
      const res = await postForm(
        t,
        fileForm("filename*=utf-8''a%00b.jsonl", 'application/jsonl', jsonlContent(80)),
      );
      expect(res.status).toBe(200);
      expect((parseJson(res) as FileObjectBody).filename).toBe('ab.jsonl');
    });

    it('should refuse a filename over 512 bytes with 400 naming file, before any copy', async () => {
      const res = await postForm(
        t,
        fileForm(`filename="${'n'.repeat(600)}.jsonl"`, 'application/jsonl', jsonlContent(80)),
      );
      const error = expectRawEnvelope(res, 400);
      expect(error.code).toBe('invalid_filename');
      expect((parseJson(res) as { error: { param: string } }).error.param).toBe('file');
      expect(filesHeld(t.sims)).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });
  });

  describe('5. every response carries x-request-id and errors the envelope', () => {
    const auth = (): Record<string, string> => ({ authorization: t.bearer('alice') });

    it('should answer malformed JSON with 400', async () => {
      const res = await rawRequest(
        `${t.baseUrl}/v1/files`,
        'POST',
        { ...auth(), 'content-type': 'application/json' },
        Buffer.from('{"purpose":'),
      );
      expectRawEnvelope(res, 400);
    });

    it('should answer a JSON body over max_json_body_bytes with 413', async () => {
      const res = await rawRequest(
        `${t.baseUrl}/v1/files`,
        'POST',
        { ...auth(), 'content-type': 'application/json' },
        Buffer.from(JSON.stringify({ pad: 'x'.repeat(5000) })),
      );
      expectRawEnvelope(res, 413);
    });

    it('should answer an urlencoded body over the limit with 413', async () => {
      const res = await rawRequest(
        `${t.baseUrl}/v1/files`,
        'POST',
        { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
        Buffer.from(`pad=${'x'.repeat(5000)}`),
      );
      expectRawEnvelope(res, 413);
    });

    it('should answer a path parameter that fails to decode with 400', async () => {
      const res = await rawRequest(`${t.baseUrl}/v1/files/%E0%A4%A`, 'GET', auth());
      expectRawEnvelope(res, 400);
    });

    it('should answer / and unknown paths with 404', async () => {
      expectRawEnvelope(await rawRequest(`${t.baseUrl}/`, 'GET', {}), 404);
      expectRawEnvelope(await rawRequest(`${t.baseUrl}/v1/nope`, 'GET', auth()), 404);
    });

    it('should send x-request-id with /docs and /docs-json', async () => {
      for (const path of ['/docs', '/docs-json']) {
        const res = await rawRequest(`${t.baseUrl}${path}`, 'GET', {});
        expect(res.status).toBe(200);
        expect(res.headers['x-request-id']).toMatch(/^req_/);
      }
    });

    it("should answer Node's own refusals (431, 417, 400) in the envelope", async () => {
      const huge = parseRawAnswer(
        await rawSocket(
          t,
          `GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        ),
      );
      expect(huge.status).toBe(431);
      expect(huge.headers).toMatch(/x-request-id: req_/);
      expect(huge.body).toMatchObject({ error: { type: 'invalid_request_error' } });

      const expectation = await rawRequest(`${t.baseUrl}/v1/files`, 'GET', {
        ...auth(),
        expect: 'something-else',
      });
      expect(expectRawEnvelope(expectation, 417).code).toBe('expectation_failed');

      const smuggled = parseRawAnswer(
        await rawSocket(
          t,
          'POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        ),
      );
      expect(smuggled.status).toBe(400);
      expect(smuggled.headers).toMatch(/x-request-id: req_/);
      expect(smuggled.body).toMatchObject({ error: { code: 'invalid_http_request' } });
    });
  });

  describe('6. a client that disconnects mid-upload', () => {
    it('should log one warning with the request id, no error, and remove every copy', async () => {
      const body = multipart([
        { name: 'purpose', value: 'user_data' },
        { name: 'target_model_names', value: 'gpt-4o-mini,gpt-4o' },
        { name: 'file', filename: 'big.jsonl', data: jsonlContent(256 * 1024) },
      ]);
      const errorsBefore = logs.lines().filter((l) => l.level === 'error').length;
      const open = openRequest(`${t.baseUrl}/v1/files`, 'POST', {
        authorization: t.bearer('alice'),
        'content-type': body.contentType,
        'x-request-id': 'req-disconnect-test',
      });
      await open.write(body.head);
      await open.write(body.fileData.subarray(0, 64 * 1024));
      // Copies start while the body arrives: wait until the upstreams see them, then leave.
      await waitFor(
        async () => (await fileRows(t.dataSource)).length === 1,
        'the upload to be recorded',
      );
      open.request.destroy();
      await waitFor(
        async () => (await fileRows(t.dataSource)).length === 0,
        'the abandoned upload to be dropped',
      );
      expect(filesHeld(t.sims)).toBe(0);
      // The access line (499, at warn) comes when the response closes; the warning is ours.
      const warnings = logs
        .of('req-disconnect-test')
        .filter((l) => l.level === 'warn' && typeof l.route !== 'string');
      expect(warnings.map((l) => l.msg)).toEqual(['client went away mid-upload; upload abandoned']);
      expect(logs.lines().filter((l) => l.level === 'error')).toHaveLength(errorsBefore);
    });
  });
});

describe('10. client connections behind a load balancer', () => {
  let t: TestApp;
  let slow: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ redisUrl: null });
    slow = await createTestApp({ redisUrl: null, requestTimeoutMs: 1500 });
  });

  afterAll(async () => {
    await Promise.all([t?.close(), slow?.close()]);
  });

  /** One GET on an open socket; resolves with the answer's head once its body is complete. */
  function getOn(socket: Socket, path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = '';
      const onData = (c: Buffer): void => {
        text += c.toString('latin1');
        const split = text.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(text.slice(0, split));
        if (split >= 0 && length && text.length >= split + 4 + Number(length[1])) {
          socket.off('data', onData);
          resolve(text.slice(0, split).toLowerCase());
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\n\r\n`);
    });
  }

  it('should keep an idle connection open past Node’s 5 s, and say for how long', async () => {
    const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    let closed = false;
    socket.on('close', () => (closed = true));
    try {
      const first = await getOn(socket, '/health/live');
      expect(first).toMatch(/^http\/1\.1 200/);
      expect(first).toContain('keep-alive: timeout=65');
      // Node's default closes it after 5 s (plus its 1 s grace); a balancer that reused it
      // then would lose the request and answer 502.
      await new Promise((resolve) => setTimeout(resolve, 6_500));
      expect(closed).toBe(false);
      expect(await getOn(socket, '/health/live')).toMatch(/^http\/1\.1 200/);
    } finally {
      socket.destroy();
    }
  }, 15_000);

  it('should answer an upload that outruns REQUEST_TIMEOUT_MS with 408 in the envelope, and remove its copies', async () => {
    const body = multipart([
      { name: 'purpose', value: 'user_data' },
      { name: 'target_model_names', value: 'gpt-4o-mini,gpt-4o' },
      { name: 'file', filename: 'slow.jsonl', data: jsonlContent(256 * 1024) },
    ]);
    const open = openRequest(`${slow.baseUrl}/v1/files`, 'POST', {
      authorization: slow.bearer('alice'),
      'content-type': body.contentType,
    });
    const started = Date.now();
    await open.write(body.head);
    await open.write(body.fileData.subarray(0, 64 * 1024));
    await waitFor(
      async () => (await fileRows(slow.dataSource)).length === 1,
      'the upload to be recorded',
    );
    // The rest of the body never comes.
    const res = await open.response;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(expectRawEnvelope(res, 408).code).toBe('invalid_http_request');
    await waitFor(
      async () => (await fileRows(slow.dataSource)).length === 0,
      'the timed-out upload to be dropped',
    );
    expect(filesHeld(slow.sims)).toBe(0);
  });
});

describe('4. the database becomes unavailable', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ proxiedDatabase: true, redisUrl: null });
  });

  afterAll(async () => {
    t?.databaseProxy?.restore();
    await t?.close();
  });

  it('should answer 503 with Retry-After, warn once per outage, and recover with nothing lost', async () => {
    const kept = await uploadOk(t, { targets: 'gpt-4o-mini' });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      t.databaseProxy?.cut();
      for (let i = 0; i < 10; i++) {
        const list = await get(t, '/v1/files');
        expect(expectEnvelope(list, 503).code).toBe('database_unavailable');
        expect(Number(list.headers['retry-after'])).toBeGreaterThan(0);
        const upload = await uploadRequest(t, { targets: 'gpt-4o-mini' });
        expect(expectEnvelope(upload, 503).code).toBe('database_unavailable');
      }
      const ready = await request(t.http).get('/health/ready');
      expect(ready.status).toBe(503);
      expect((ready.body as { checks: { database: { status: string } } }).checks.database).toEqual({
        status: 'down',
      });
      const outageLines = warn.mock.calls.filter((c) => /database unavailable/.test(String(c[0])));
      expect(outageLines).toHaveLength(1);
      expect(error).not.toHaveBeenCalled();
      // The refused uploads left nothing upstream but the one file kept before the outage.
      expect(filesHeld(t.sims)).toBe(2);

      t.databaseProxy?.restore();
      await waitFor(
        async () => (await request(t.http).get('/health/ready')).status === 200,
        'ready again',
      );
      const list = (await get(t, '/v1/files')).body as FileListBody;
      expect(list.data.map((f) => f.id)).toEqual([kept.id]);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });
});

/** An upload whose first KiB is sent and recorded; the caller decides how the rest goes. */
async function startSlowUpload(
  t: TestApp,
  targets: string,
): Promise<{ body: ReturnType<typeof multipart>; open: ReturnType<typeof openRequest> }> {
  const body = multipart([
    { name: 'purpose', value: 'user_data' },
    { name: 'target_model_names', value: targets },
    { name: 'file', filename: 'slow.jsonl', data: jsonlContent(64 * 1024) },
  ]);
  const open = openRequest(`${t.baseUrl}/v1/files`, 'POST', {
    authorization: t.bearer('alice'),
    'content-type': body.contentType,
  });
  await open.write(body.head);
  await open.write(body.fileData.subarray(0, 1024));
  await waitFor(async () => (await fileRows(t.dataSource)).length === 1, 'upload recorded');
  return { body, open };
}

describe('9. shutdown drains', () => {
  it('should answer 503 to new requests and readiness while an upload in flight finishes', async () => {
    const t = await createTestApp({ drainTimeoutMs: 10_000 });
    try {
      const { body, open } = await startSlowUpload(t, 'gpt-4o-mini');

      const closing = t.shutdown();
      await waitFor(
        async () => (await request(t.http).get('/health/ready')).status === 503,
        'ready to turn 503',
      );
      const ready = await request(t.http).get('/health/ready');
      expect((ready.body as { status: string }).status).toBe('draining');
      const refused = await get(t, '/v1/files');
      expect(expectEnvelope(refused, 503).code).toBe('shutting_down');
      expect(refused.headers['retry-after']).toBeDefined();

      await open.write(body.fileData.subarray(1024));
      open.end(body.tail);
      const answer = await open.response;
      expect(answer.status).toBe(200);
      await closing;
      expect(filesHeld(t.sims)).toBe(2);
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('should abandon uploads still running at the drain limit and remove their copies', async () => {
    const t = await createTestApp({ drainTimeoutMs: 300 });
    try {
      const { open } = await startSlowUpload(t, 'gpt-4o-mini,gpt-4o');

      const log = jest.spyOn(Logger.prototype, 'log');
      const warn = jest.spyOn(Logger.prototype, 'warn');
      try {
        await t.shutdown();
        const answer = await open.response;
        expect(expectRawEnvelope(answer, 503).code).toBe('shutting_down');
        expect(filesHeld(t.sims)).toBe(0);
        const lines = [...log.mock.calls, ...warn.mock.calls].map((c) => String(c[0]));
        expect(lines.some((l) => /draining 1 request/.test(l))).toBe(true);
        expect(lines.some((l) => /drain limit reached: abandoning 1 request/.test(l))).toBe(true);
        expect(lines.some((l) => /^drained in \d+ ms/.test(l))).toBe(true);
      } finally {
        log.mockRestore();
        warn.mockRestore();
      }
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});
