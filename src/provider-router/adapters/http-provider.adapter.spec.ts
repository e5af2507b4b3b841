// The transport contract both dialects share (HttpProviderAdapter), exercised over real loopback
// HTTP against the project's simulated upstream. Dialect details (auth header, URL shape, expiry
// fields) are in openai/openai.adapter.spec.ts and azure/azure.adapter.spec.ts.
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Agent } from 'undici';
import type { Deployment } from '../../config/deployment';
import { startSimulator, type Dialect, type SimulatedUpstream } from '../../simulator/simulator';
import { ProviderError, type ProviderClient, type UploadRequest } from '../provider-client';
import { copyOf, deleteAll } from '../upload-fan-out';
import { AzureAdapter } from './azure/azure.adapter';
import { failsWithProviderError, until, uploadOf as uploadFixture } from './upload-request.fixture';
import { createUpstreamPool, type HttpAdapterOptions } from './http-provider.adapter';
import { OpenAIAdapter } from './openai/openai.adapter';

const API_KEY = 'sk-sim-0123456789abcdefSECRET';
const API_VERSION = '2025-04-01-preview';
const TIMEOUT_MS = 10_000;
/** The impatient adapter's bound; fault latencies well above it make it give up. */
const SHORT_TIMEOUT_MS = 300;
const SLOW_MS = 4_000;

interface ErrorKind {
  readonly code: string | null;
  readonly type: string | null;
}

/** Error code and type as each dialect's error body spells them (simulator/http-errors.ts). */
const CODES: Readonly<Record<Dialect, Readonly<Record<number, ErrorKind>>>> = {
  // OpenAI bodies carry `code` only sometimes, `type` always.
  openai: {
    400: { code: null, type: 'invalid_request_error' },
    401: { code: 'invalid_api_key', type: 'invalid_request_error' },
    404: { code: null, type: 'invalid_request_error' },
    429: { code: null, type: 'requests' },
    500: { code: null, type: 'server_error' },
    503: { code: null, type: 'server_error' },
  },
  // Azure's dated API sends a code and no type.
  azure: {
    400: { code: 'invalidPayload', type: null },
    401: { code: 'unauthorized', type: null },
    404: { code: 'notFound', type: null },
    429: { code: 'tooManyRequests', type: null },
    500: { code: 'internalServerError', type: null },
    503: { code: 'serviceUnavailable', type: null },
  },
};

const kindOf = (error: ProviderError): ErrorKind => ({ code: error.code, type: error.type });

function adapterFor(dialect: Dialect, options: HttpAdapterOptions): ProviderClient {
  return dialect === 'openai' ? new OpenAIAdapter(options) : new AzureAdapter(options);
}

function deploymentOf(sim: SimulatedUpstream, apiKey = API_KEY): Deployment {
  return {
    id: `${sim.dialect}-sim`,
    modelName: 'gpt-test',
    provider: sim.dialect,
    upstreamModel: 'gpt-4o-mini',
    apiBase: sim.apiBase,
    apiKey,
    apiVersion: sim.dialect === 'azure' ? API_VERSION : null,
    weight: 1,
  };
}

function pieces(content: Buffer, size = 64 * 1024): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < content.length; i += size) out.push(content.subarray(i, i + size));
  return out;
}

function uploadOf(content: Buffer, overrides: Partial<UploadRequest> = {}): UploadRequest {
  return uploadFixture(content, {
    filename: 'mfg_0123abcd__report.bin',
    mimeType: 'application/octet-stream',
    openBody: () => Readable.from(pieces(content)),
    ...overrides,
  });
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A call that must fail with a ProviderError that never shows the api key. */
const providerErrorOf = (call: Promise<unknown>): Promise<ProviderError> =>
  failsWithProviderError(call, API_KEY);

describe.each<Dialect>(['openai', 'azure'])('HttpProviderAdapter (%s dialect)', (dialect) => {
  let sim: SimulatedUpstream;
  let pool: Agent;
  let shortPool: Agent;
  let adapter: ProviderClient;
  /** Same upstream, but its pool gives up after SHORT_TIMEOUT_MS. */
  let impatient: ProviderClient;
  let deployment: Deployment;
  const codes = CODES[dialect];

  beforeAll(async () => {
    sim = await startSimulator({ dialect, apiKey: API_KEY, apiVersion: API_VERSION });
    pool = createUpstreamPool(TIMEOUT_MS);
    shortPool = createUpstreamPool(SHORT_TIMEOUT_MS);
    adapter = adapterFor(dialect, { timeoutMs: TIMEOUT_MS, dispatcher: pool });
    // The pool's headers/body timeouts give up first. (With timeoutMs equal to them, as in
    // production, list and delete may be cut by their AbortSignal.timeout instead; its
    // DOMException comes from Node's realm, not jest's, so `instanceof Error` is false only
    // under jest and that path cannot report timedOut here. Plain Node reports it.)
    impatient = adapterFor(dialect, {
      timeoutMs: 4 * SHORT_TIMEOUT_MS,
      dispatcher: shortPool,
    });
    deployment = deploymentOf(sim);
  });

  afterEach(() => {
    sim.reset();
  });

  afterAll(async () => {
    await sim.close();
    await Promise.all([pool.close(), shortPool.close()]);
  });

  const createCalls = (): number => sim.calls.filter((c) => c.route === 'files.create').length;

  describe('uploadFile', () => {
    it('should deliver every byte intact and return the stored file object', async () => {
      const content = randomBytes(3 * 1024 * 1024 + 17);
      const filename = 'mfg_7f3a9c__quarterly résumé 2024.pdf';
      const before = Math.floor(Date.now() / 1000);

      const file = await adapter.uploadFile(
        deployment,
        uploadOf(content, { filename, purpose: 'batch', mimeType: 'application/pdf' }),
      );

      const stored = sim.files.get(file.id);
      expect(stored).toBeDefined();
      expect(stored?.sha256).toBe(sha256(content));
      expect(stored?.bytes).toBe(content.length);
      expect(stored?.filename).toBe(filename);
      expect(stored?.purpose).toBe('batch');
      expect(file).toEqual({
        id: stored?.id,
        filename,
        purpose: 'batch',
        bytes: content.length,
        createdAt: stored?.createdAt,
        expiresAt: stored?.expiresAt,
      });
      expect(file.id).toMatch(/^file-/);
      expect(file.createdAt).toBeGreaterThanOrEqual(before);
      expect(createCalls()).toBe(1);
    });

    it('should read a fresh body stream for every upload', async () => {
      const content = Buffer.from('same bytes, twice');
      const opened: Readable[] = [];
      const upload = uploadOf(content, {
        openBody: () => {
          const body = Readable.from([content]);
          opened.push(body);
          return body;
        },
      });

      const first = await adapter.uploadFile(deployment, upload);
      const second = await adapter.uploadFile(deployment, upload);

      expect(opened).toHaveLength(2);
      expect(first.id).not.toBe(second.id);
      expect(sim.files.get(first.id)?.sha256).toBe(sha256(content));
      expect(sim.files.get(second.id)?.sha256).toBe(sha256(content));
    });

    it('should upload an empty file', async () => {
      const file = await adapter.uploadFile(deployment, uploadOf(Buffer.alloc(0)));
      expect(file.bytes).toBe(0);
      expect(sim.files.get(file.id)?.sha256).toBe(sha256(Buffer.alloc(0)));
    });
  });

  describe('fileContent', () => {
    it('should stream the stored bytes back with their content type and length', async () => {
      const content = randomBytes(2 * 1024 * 1024 + 5);
      const file = await adapter.uploadFile(deployment, uploadOf(content));

      const answer = await adapter.fileContent(deployment, file.id);

      expect(answer.contentType).toBe('application/octet-stream');
      expect(answer.contentLength).toBe(String(content.length));
      const received = await readAll(answer.body);
      expect(received.equals(content)).toBe(true);
    });

    it('should fail with 404 for an id the upstream does not have', async () => {
      const error = await providerErrorOf(adapter.fileContent(deployment, 'file-doesnotexist'));
      expect(error.status).toBe(404);
      expect(error.notFound).toBe(true);
      expect(error.retryable).toBe(false);
      expect(kindOf(error)).toEqual(codes[404]);
      expect(error.message).toBe('No such File object: file-doesnotexist');
    });

    it('should error the body stream when the upstream cuts the download mid-way', async () => {
      const content = randomBytes(1024 * 1024);
      const file = await adapter.uploadFile(deployment, uploadOf(content));
      sim.addFault({ route: 'files.content', dropConnection: 'mid-body' });

      const answer = await adapter.fileContent(deployment, file.id);

      expect(answer.contentLength).toBe(String(content.length));
      await expect(readAll(answer.body)).rejects.toThrow();
    });
  });

  describe('listFiles', () => {
    it('should list the uploaded files oldest first, and page after a cursor', async () => {
      const a = await adapter.uploadFile(deployment, uploadOf(Buffer.from('a'), { filename: 'a' }));
      const b = await adapter.uploadFile(
        deployment,
        uploadOf(Buffer.from('bb'), { filename: 'b' }),
      );

      const all = await adapter.listFiles(deployment, null);
      expect(all.hasMore).toBe(false);
      expect(all.data.map((f) => [f.id, f.filename, f.bytes])).toEqual([
        [a.id, 'a', 1],
        [b.id, 'b', 2],
      ]);

      const rest = await adapter.listFiles(deployment, a.id);
      expect(rest.data.map((f) => f.id)).toEqual([b.id]);
    });

    it('should return an empty page when the upstream holds no files', async () => {
      await expect(adapter.listFiles(deployment, null)).resolves.toEqual({
        data: [],
        hasMore: false,
      });
    });
  });

  describe('deleteFile', () => {
    it('should remove the copy from the upstream', async () => {
      const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('to delete')));
      expect(sim.files.has(file.id)).toBe(true);

      await adapter.deleteFile(deployment, file.id);

      expect(sim.files.has(file.id)).toBe(false);
      expect((await adapter.listFiles(deployment, null)).data).toEqual([]);
    });

    it('should resolve for an id the upstream never had, so it counts as deleted', async () => {
      await expect(adapter.deleteFile(deployment, 'file-neverexisted')).resolves.toBeUndefined();
      expect(sim.calls.filter((c) => c.route === 'files.delete')).toHaveLength(1);

      const left = await deleteAll(
        [copyOf(deployment, 'file-neverexisted')],
        [{ deployment, client: adapter }],
      );
      expect(left).toEqual([]);
    });
  });

  describe('error mapping', () => {
    it.each([
      [400, false],
      [429, true],
      [500, true],
      [503, true],
    ])(
      'should map an upstream %i on upload to a ProviderError (retryable %s)',
      async (status, retryable) => {
        sim.addFault({ route: 'files.create', status });

        const error = await providerErrorOf(
          adapter.uploadFile(deployment, uploadOf(randomBytes(10))),
        );

        expect(error.status).toBe(status);
        expect(kindOf(error)).toEqual(codes[status]);
        expect(error.message).toBe(`Simulated fault: HTTP ${status}.`);
        expect(error.retryable).toBe(retryable);
        expect(error.timedOut).toBe(false);
        expect(sim.files.size).toBe(0);
      },
    );

    it('should map an upstream 500 on list to a retryable ProviderError', async () => {
      sim.addFault({ route: 'files.list', status: 500 });
      const error = await providerErrorOf(adapter.listFiles(deployment, null));
      expect(error.status).toBe(500);
      expect(kindOf(error)).toEqual(codes[500]);
      expect(error.message).toBe('Simulated fault: HTTP 500.');
      expect(error.retryable).toBe(true);
    });

    it('should reject a delete the upstream refused (429), not count it as deleted', async () => {
      const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('kept')));
      sim.addFault({ route: 'files.delete', status: 429 });

      const error = await providerErrorOf(adapter.deleteFile(deployment, file.id));

      expect(error.status).toBe(429);
      expect(error.retryable).toBe(true);
      expect(sim.files.has(file.id)).toBe(true);
    });

    it('should answer 401 (not retryable) when the api key is wrong', async () => {
      const wrong = deploymentOf(sim, 'sk-wrong-key');

      const listError = await providerErrorOf(adapter.listFiles(wrong, null));
      const uploadError = await providerErrorOf(
        adapter.uploadFile(wrong, uploadOf(Buffer.from('x'))),
      );

      for (const error of [listError, uploadError]) {
        expect(error.status).toBe(401);
        expect(kindOf(error)).toEqual(codes[401]);
        expect(error.retryable).toBe(false);
        expect(error.message).not.toContain('sk-wrong-key');
      }
      expect(sim.files.size).toBe(0);
    });

    it('should give status null when the upstream drops the connection', async () => {
      const file = await adapter.uploadFile(deployment, uploadOf(Buffer.from('x')));
      sim.addFault({ route: '*', dropConnection: 'before-response' });

      const errors = [
        await providerErrorOf(adapter.listFiles(deployment, null)),
        await providerErrorOf(adapter.fileContent(deployment, file.id)),
        await providerErrorOf(adapter.deleteFile(deployment, file.id)),
      ];

      for (const error of errors) {
        expect(error.status).toBeNull();
        expect(error.code).toBe('connection_error');
        expect(error.timedOut).toBe(false);
        expect(error.retryable).toBe(true);
      }
      // The failed delete did not count as done: the copy is still there.
      expect(sim.files.has(file.id)).toBe(true);
    });
  });

  describe('timeouts', () => {
    it('should time out an upload whose answer is slower than timeoutMs', async () => {
      sim.addFault({ route: 'files.create', latencyMs: SLOW_MS });
      const started = Date.now();

      const error = await providerErrorOf(
        impatient.uploadFile(deployment, uploadOf(randomBytes(100))),
      );

      expect(error.status).toBeNull();
      expect(error.timedOut).toBe(true);
      expect(error.code).toBe('timeout');
      expect(error.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(SLOW_MS);
    });

    it.each(['list', 'content', 'delete'] as const)(
      'should time out a %s call slower than timeoutMs',
      async (operation) => {
        sim.addFault({ route: '*', latencyMs: SLOW_MS });
        const started = Date.now();
        const call =
          operation === 'list'
            ? impatient.listFiles(deployment, null)
            : operation === 'content'
              ? impatient.fileContent(deployment, 'file-slow')
              : impatient.deleteFile(deployment, 'file-slow');

        const error = await providerErrorOf(call);

        expect(error.status).toBeNull();
        expect(error.timedOut).toBe(true);
        expect(error.retryable).toBe(true);
        expect(Date.now() - started).toBeLessThan(SLOW_MS);
      },
    );
  });

  describe('api key redaction', () => {
    it('should redact the key when the upstream echoes it in an error message', async () => {
      const error = await providerErrorOf(adapter.fileContent(deployment, `file-${API_KEY}`));
      expect(error.status).toBe(404);
      expect(error.message).toBe('No such File object: file-***');
    });

    // The Azure adapter maps purposes it does not know, so only OpenAI echoes this one back.
    (dialect === 'openai' ? it : it.skip)(
      'should redact the key echoed in an upload rejection',
      async () => {
        const error = await providerErrorOf(
          adapter.uploadFile(deployment, uploadOf(Buffer.from('x'), { purpose: API_KEY })),
        );
        expect(error.status).toBe(400);
        expect(error.message).toContain("Invalid value for 'purpose': '***'");
      },
    );

    // Regression: clipping before redacting left the first part of a key straddling the cut.
    it('should leave no fragment of a key that straddles the 500-character clip', async () => {
      const prefix = 'No such File object: ';
      const id = `file-${'x'.repeat(486 - prefix.length - 'file-'.length)}${API_KEY}`;
      expect(prefix.length + id.indexOf(API_KEY)).toBe(486);

      const error = await providerErrorOf(adapter.fileContent(deployment, id));

      expect(error.status).toBe(404);
      expect(error.message.length).toBeLessThanOrEqual(501);
      expect(error.message).not.toContain(API_KEY.slice(0, 10));
    });
  });

  describe('uploads that end without an answer', () => {
    /** A body that sends `sent` bytes and then waits (the caller's spool still filling). */
    function stalledBody(sent: number): { body: PassThrough; upload: UploadRequest } {
      const body = new PassThrough();
      body.write(randomBytes(sent));
      return { body, upload: uploadOf(Buffer.alloc(0), { openBody: () => body }) };
    }

    it('should report an abort mid-body as aborted with requestComplete false', async () => {
      const { body, upload } = stalledBody(256 * 1024);
      const abort = new AbortController();
      const pending = providerErrorOf(adapter.uploadFile(deployment, upload, abort.signal));
      await until(() => createCalls() === 1);
      await delay(50);

      // What the fan-out does when another deployment failed for good.
      abort.abort(new ProviderError('other deployment refused the file', 400, 'invalid'));
      const error = await pending;
      body.destroy();

      expect(error.status).toBeNull();
      expect(error.requestComplete).toBe(false);
      expect(error.outcomeUnknown).toBe(false);
      expect(error.code).toBe('aborted');
      expect(error.message).not.toContain('other deployment');
      await delay(50);
      expect(sim.files.size).toBe(0);
    });

    it('should report requestComplete false when the caller aborts mid-body with a plain reason', async () => {
      const { body, upload } = stalledBody(256 * 1024);
      const abort = new AbortController();
      const pending = providerErrorOf(adapter.uploadFile(deployment, upload, abort.signal));
      await until(() => createCalls() === 1);
      await delay(50);

      abort.abort(new Error('client went away'));
      const error = await pending;
      body.destroy();

      expect(error.status).toBeNull();
      expect(error.requestComplete).toBe(false);
      expect(error.outcomeUnknown).toBe(false);
    });

    it('should report an abort after the whole body went out as aborted with requestComplete true', async () => {
      sim.addFault({ route: 'files.create', latencyMs: SLOW_MS });
      const abort = new AbortController();
      const pending = providerErrorOf(
        adapter.uploadFile(deployment, uploadOf(randomBytes(1000)), abort.signal),
      );
      await until(() => createCalls() === 1);
      await delay(200);

      abort.abort(new ProviderError('other deployment refused the file', 400, 'invalid'));
      const error = await pending;

      expect(error.status).toBeNull();
      expect(error.requestComplete).toBe(true);
      expect(error.outcomeUnknown).toBe(true);
      expect(error.code).toBe('aborted');
      expect(error.timedOut).toBe(false);
    });

    // Regression: send() wraps a plain abort reason (what IncomingUpload uses when the client
    // goes away) as a connection error; it must still count as an abort, since the upstream may
    // still be storing the copy (the fan-out marks it mayStillLand).
    it('should report a caller abort (plain reason) after the whole body went out as aborted', async () => {
      sim.addFault({ route: 'files.create', latencyMs: SLOW_MS });
      const abort = new AbortController();
      const pending = providerErrorOf(
        adapter.uploadFile(deployment, uploadOf(randomBytes(1000)), abort.signal),
      );
      await until(() => createCalls() === 1);
      await delay(200);

      abort.abort(new Error('client went away'));
      const error = await pending;

      expect(error.status).toBeNull();
      expect(error.requestComplete).toBe(true);
      expect(error.code).toBe('aborted');
      expect(error.message).not.toContain('client went away');
    });

    it('should report requestComplete false when the upstream drops the connection mid-body', async () => {
      // 32 MiB, far more than loopback socket buffers hold: the cut lands while bytes still flow.
      const chunk = randomBytes(64 * 1024);
      const upload = uploadOf(Buffer.alloc(0), {
        openBody: () => Readable.from(Array.from({ length: 512 }, () => chunk)),
      });
      sim.addFault({ route: 'files.create', dropConnection: 'mid-body' });

      const error = await providerErrorOf(adapter.uploadFile(deployment, upload));

      expect(error.status).toBeNull();
      expect(error.requestComplete).toBe(false);
      expect(error.outcomeUnknown).toBe(false);
      expect(error.timedOut).toBe(false);
      expect(error.retryable).toBe(true);
      expect(sim.files.size).toBe(0);
    });

    it.each(['mid-body', 'before-response'] as const)(
      'should report requestComplete true when the connection drops (%s) after the whole body was sent',
      async (dropConnection) => {
        // A small chunked body: the 'mid-body' meter trips only at its end; 'before-response'
        // waits a moment so the whole body is surely out before the socket goes.
        sim.addFault({
          route: 'files.create',
          dropConnection,
          latencyMs: dropConnection === 'before-response' ? 200 : 0,
        });

        const error = await providerErrorOf(
          adapter.uploadFile(deployment, uploadOf(randomBytes(2000))),
        );

        expect(error.status).toBeNull();
        expect(error.requestComplete).toBe(true);
        expect(error.outcomeUnknown).toBe(true);
        expect(error.code).toBe('connection_error');
        expect(error.timedOut).toBe(false);
        expect(error.retryable).toBe(true);
      },
    );
  });
});
