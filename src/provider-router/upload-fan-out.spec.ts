// The fan-out policy (all or nothing, one retry, clean-up, unanswered copies) with in-process
// fakes standing in for the adapters; the transport itself is covered by the adapter specs.
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Deployment } from '../config/deployment';
import {
  ProviderError,
  type ProviderClient,
  type ProviderContent,
  type ProviderFile,
  type ProviderFilePage,
  type ProviderReply,
  type UploadRequest,
} from './provider-client';
import { copyOf, deleteAll, uploadToAll, type CopyTarget, type PlacedCopy } from './upload-fan-out';
import { fakeDeployment } from './router.fixture';

/** One scripted upload attempt: what the fake adapter does with it. */
type Attempt = (signal: AbortSignal, call: number) => Promise<ProviderFile>;

function providerFile(id: string): ProviderFile {
  return { id, filename: 'tagged', purpose: 'assistants', bytes: 3, createdAt: 1, expiresAt: null };
}

/** What the real adapter throws when its signal aborts: no answer, body sent whole or not. */
function abortedError(requestComplete: boolean): ProviderError {
  return new ProviderError(
    'aborted before the upstream answered',
    null,
    'aborted',
    false,
    requestComplete,
  );
}

const succeed =
  (id: string, afterMs = 0): Attempt =>
  async () => {
    await delay(afterMs);
    return providerFile(id);
  };

const fail =
  (error: Error, afterMs = 0): Attempt =>
  async () => {
    await delay(afterMs);
    throw error;
  };

/** Never answers; rejects like the adapter once the fan-out aborts it. */
const hangUntilAborted =
  (requestComplete: boolean): Attempt =>
  (signal) =>
    new Promise((_resolve, reject) => {
      const onAbort = (): void => reject(abortedError(requestComplete));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });

const badRequest = (): ProviderError => new ProviderError('unsupported file', 400, 'invalid_file');
const unavailable = (): ProviderError => new ProviderError('try later', 503, 'server_error');

class FakeProvider implements ProviderClient {
  readonly uploads: UploadRequest[] = [];
  readonly signals: AbortSignal[] = [];
  readonly deleted: string[] = [];

  constructor(
    private readonly attempts: readonly Attempt[],
    private readonly deleteFails = false,
  ) {}

  uploadFile(_deployment: Deployment, upload: UploadRequest, signal?: AbortSignal) {
    if (!signal) throw new Error('the fan-out must pass a signal');
    const call = this.uploads.length;
    this.uploads.push(upload);
    this.signals.push(signal);
    const attempt = this.attempts[call] as Attempt | undefined;
    if (!attempt) return Promise.reject(new Error(`unexpected upload attempt #${call + 1}`));
    return attempt(signal, call);
  }

  deleteFile(_deployment: Deployment, providerFileId: string): Promise<void> {
    if (this.deleteFails) {
      return Promise.reject(new ProviderError('upstream down', 503, 'server_error'));
    }
    this.deleted.push(providerFileId);
    return Promise.resolve();
  }

  fileContent(): Promise<ProviderContent> {
    return Promise.reject(new Error('not used by the fan-out'));
  }

  listFiles(): Promise<ProviderFilePage> {
    return Promise.reject(new Error('not used by the fan-out'));
  }

  call(): Promise<ProviderReply> {
    return Promise.reject(new Error('not used by the fan-out'));
  }
}

interface Fixture {
  targets: CopyTarget[];
  fakes: Record<string, FakeProvider>;
  deployments: Record<string, Deployment>;
  /** Deployment ids the upload factory was called for, in order. */
  requested: string[];
  upload: (d: Deployment) => UploadRequest;
}

function fixture(scripts: Record<string, { attempts: Attempt[]; deleteFails?: boolean }>): Fixture {
  const targets: CopyTarget[] = [];
  const fakes: Record<string, FakeProvider> = {};
  const deployments: Record<string, Deployment> = {};
  for (const [id, script] of Object.entries(scripts)) {
    deployments[id] = fakeDeployment(id);
    fakes[id] = new FakeProvider(script.attempts, script.deleteFails);
    targets.push({ deployment: deployments[id], client: fakes[id] });
  }
  const requested: string[] = [];
  const upload = (d: Deployment): UploadRequest => {
    requested.push(d.id);
    return {
      purpose: 'assistants',
      filename: `mfg_tag__${d.id}.txt`,
      mimeType: 'text/plain',
      expiresAfterSeconds: null,
      openBody: () => Readable.from([Buffer.from('abc')]),
    };
  };
  return { targets, fakes, deployments, requested, upload };
}

const never = (): AbortSignal => new AbortController().signal;

describe(uploadToAll.name, () => {
  it('should place one copy on every deployment, all uploads running at once', async () => {
    const ids = ['a', 'b', 'c'];
    let started = 0;
    let allStarted: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (allStarted = resolve));
    // Each fake answers only once every upload has started: sequential uploads would stall.
    const together =
      (id: string): Attempt =>
      async () => {
        started++;
        if (started === ids.length) allStarted();
        const timer = new AbortController();
        const first = await Promise.race([
          barrier.then(() => 'together' as const),
          delay(2_000, 'alone' as const, { signal: timer.signal }),
        ]);
        timer.abort();
        if (first === 'alone') throw new Error(`upload to ${id} waited alone: not concurrent`);
        return providerFile(`file-${id}`);
      };
    const f = fixture(Object.fromEntries(ids.map((id) => [id, { attempts: [together(id)] }])));

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.copies.map((c) => [c.deployment.id, c.file.id])).toEqual([
      ['a', 'file-a'],
      ['b', 'file-b'],
      ['c', 'file-c'],
    ]);
    expect(result.unanswered).toEqual([]);
    expect([...f.requested].sort()).toEqual(['a', 'b', 'c']);
    expect(f.fakes.a.uploads[0].filename).toBe('mfg_tag__a.txt');
    for (const fake of Object.values(f.fakes)) {
      expect(fake.uploads).toHaveLength(1);
      expect(fake.deleted).toEqual([]);
    }
  });

  it('should fail naming the deployment, abort the others and delete the copies placed', async () => {
    const f = fixture({
      a: { attempts: [succeed('file-a')] },
      b: { attempts: [fail(badRequest(), 20)] },
      c: { attempts: [hangUntilAborted(false)] },
    });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failedDeployment).toBe(f.deployments.b);
    expect(result.error).toBeInstanceOf(ProviderError);
    expect(result.error.message).toBe('unsupported file');
    expect(f.fakes.b.uploads).toHaveLength(1); // a 400 is not retried
    expect(f.fakes.c.signals[0].aborted).toBe(true);
    expect(f.fakes.c.uploads).toHaveLength(1); // an aborted copy is not retried either
    expect(f.fakes.a.deleted).toEqual(['file-a']);
    expect(result.leftOver).toEqual([]);
    // c's body never went out whole: nothing to search for.
    expect(result.unanswered).toEqual([]);
  });

  it('should also delete a copy that landed after the failure', async () => {
    // c ignores the abort and answers anyway: the copy exists and must go.
    const f = fixture({
      b: { attempts: [fail(badRequest())] },
      c: { attempts: [succeed('file-c', 30)] },
    });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(false);
    expect(f.fakes.c.deleted).toEqual(['file-c']);
  });

  it('should retry a retryable failure exactly once, from a fresh body, and succeed', async () => {
    const f = fixture({
      a: { attempts: [fail(unavailable()), succeed('file-a2')] },
      b: { attempts: [succeed('file-b')] },
    });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.copies.map((c) => c.file.id)).toEqual(['file-a2', 'file-b']);
    expect(f.fakes.a.uploads).toHaveLength(2);
    expect(f.fakes.a.uploads[0]).not.toBe(f.fakes.a.uploads[1]);
    expect(f.requested.filter((id) => id === 'a')).toHaveLength(2);
    expect(f.fakes.b.uploads).toHaveLength(1);
    // A 503 is an answer: nothing was stored, nothing to search for.
    expect(result.unanswered).toEqual([]);
  });

  it.each([
    ['429', new ProviderError('slow down', 429, 'rate_limit')],
    ['408', new ProviderError('request timeout', 408, 'timeout')],
    ['a timeout', new ProviderError('timed out', null, 'timeout', true, true)],
  ])('should retry after %s', async (_case, error) => {
    const f = fixture({ a: { attempts: [fail(error), succeed('file-a')] } });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(true);
    expect(f.fakes.a.uploads).toHaveLength(2);
  });

  it('should give up after two retryable failures and clean up', async () => {
    const second = new ProviderError('still down', 502, 'server_error');
    const f = fixture({
      a: { attempts: [fail(unavailable()), fail(second)] },
      b: { attempts: [succeed('file-b')] },
    });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failedDeployment).toBe(f.deployments.a);
    expect(result.error).toBe(second);
    expect(f.fakes.a.uploads).toHaveLength(2);
    expect(f.fakes.b.deleted).toEqual(['file-b']);
    expect(result.leftOver).toEqual([]);
  });

  it('should not retry an error that is not a ProviderError', async () => {
    const f = fixture({ a: { attempts: [fail(new TypeError('adapter bug'))] } });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.message).toBe('adapter bug');
    expect(f.fakes.a.uploads).toHaveLength(1);
  });

  it('should report copies it could not delete in leftOver', async () => {
    const f = fixture({
      a: { attempts: [succeed('file-a')], deleteFails: true },
      b: { attempts: [succeed('file-b')] },
      c: { attempts: [fail(badRequest(), 20)] },
    });

    const result = await uploadToAll(f.targets, f.upload, never());

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.leftOver.map((c) => [c.deployment.id, c.file.id])).toEqual([['a', 'file-a']]);
    expect(f.fakes.b.deleted).toEqual(['file-b']);
  });

  describe('attempts that ended without an answer', () => {
    it('should report a timed-out attempt as unanswered, still able to land', async () => {
      const timeout = new ProviderError('timed out', null, 'timeout', true, true);
      const f = fixture({ a: { attempts: [fail(timeout), succeed('file-a')] } });

      const result = await uploadToAll(f.targets, f.upload, never());

      // The retry succeeded, but the first attempt may have stored a duplicate.
      expect(result.ok).toBe(true);
      expect(result.unanswered).toEqual([{ deployment: f.deployments.a, mayStillLand: true }]);
    });

    it('should report a connection the upstream closed as unanswered, already settled', async () => {
      const closed = new ProviderError(
        'connection failed: socket hang up',
        null,
        'connection_error',
      );
      const f = fixture({ a: { attempts: [fail(closed), succeed('file-a')] } });

      const result = await uploadToAll(f.targets, f.upload, never());

      expect(result.ok).toBe(true);
      expect(result.unanswered).toEqual([{ deployment: f.deployments.a, mayStillLand: false }]);
    });

    it('should report a copy aborted after its body went out, still able to land', async () => {
      const f = fixture({
        a: { attempts: [hangUntilAborted(true)] },
        b: { attempts: [fail(badRequest(), 20)] },
      });

      const result = await uploadToAll(f.targets, f.upload, never());

      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.failedDeployment).toBe(f.deployments.b);
      expect(result.unanswered).toEqual([{ deployment: f.deployments.a, mayStillLand: true }]);
    });

    it('should not report an attempt cut mid-body', async () => {
      const cut = new ProviderError(
        'connection failed: EPIPE',
        null,
        'connection_error',
        false,
        false,
      );
      const f = fixture({ a: { attempts: [fail(cut), succeed('file-a')] } });

      const result = await uploadToAll(f.targets, f.upload, never());

      expect(result.ok).toBe(true);
      expect(result.unanswered).toEqual([]);
      expect(f.fakes.a.uploads).toHaveLength(2);
    });

    it('should keep mayStillLand once any attempt on the deployment could still land', async () => {
      const timeout = new ProviderError('timed out', null, 'timeout', true, true);
      const closed = new ProviderError('connection failed', null, 'connection_error');
      const f = fixture({ a: { attempts: [fail(timeout), fail(closed)] } });

      const result = await uploadToAll(f.targets, f.upload, never());

      expect(result.ok).toBe(false);
      expect(result.unanswered).toEqual([{ deployment: f.deployments.a, mayStillLand: true }]);
    });
  });

  describe('the outer signal', () => {
    it('should stop every upload, retry nothing and delete what was placed', async () => {
      const outer = new AbortController();
      const f = fixture({
        a: { attempts: [succeed('file-a')] },
        b: { attempts: [hangUntilAborted(true)] },
        c: { attempts: [hangUntilAborted(false)] },
      });
      const reason = new Error('client went away');

      const pending = uploadToAll(f.targets, f.upload, outer.signal);
      await delay(30);
      outer.abort(reason);
      const result = await pending;

      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.failedDeployment).toBeNull();
      expect(result.error).toBe(reason);
      expect(f.fakes.b.signals[0].aborted).toBe(true);
      expect(f.fakes.c.signals[0].aborted).toBe(true);
      expect(f.fakes.b.uploads).toHaveLength(1);
      expect(f.fakes.c.uploads).toHaveLength(1);
      expect(f.fakes.a.deleted).toEqual(['file-a']);
      expect(result.leftOver).toEqual([]);
      expect(result.unanswered).toEqual([{ deployment: f.deployments.b, mayStillLand: true }]);
    });

    it('should stop a retry from starting once aborted', async () => {
      const outer = new AbortController();
      const f = fixture({
        a: {
          attempts: [
            async () => {
              await delay(20);
              outer.abort(new Error('client went away'));
              throw unavailable();
            },
          ],
        },
      });

      const result = await uploadToAll(f.targets, f.upload, outer.signal);

      expect(result.ok).toBe(false);
      expect(f.fakes.a.uploads).toHaveLength(1);
    });

    // A signal already aborted when uploadToAll is called never fires 'abort' (regression).
    it('should place nothing when the outer signal is already aborted', async () => {
      const outer = new AbortController();
      const reason = new Error('client went away');
      outer.abort(reason);
      const f = fixture({
        a: { attempts: [succeed('file-a', 10)] },
        b: { attempts: [succeed('file-b', 10)] },
      });

      const result = await uploadToAll(f.targets, f.upload, outer.signal);

      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.failedDeployment).toBeNull();
      expect(result.error).toBe(reason);
      // Whatever an upload placed before it noticed was removed again.
      for (const [id, fake] of Object.entries(f.fakes)) {
        expect(fake.deleted).toEqual(fake.uploads.length > 0 ? [`file-${id}`] : []);
      }
    });
  });
});

describe(deleteAll.name, () => {
  it('should delete every copy and return only those that failed', async () => {
    const good = new FakeProvider([]);
    const broken = new FakeProvider([], true);
    const a = fakeDeployment('a');
    const b = fakeDeployment('b');
    const copies: PlacedCopy[] = [copyOf(a, 'file-a1'), copyOf(b, 'file-b1'), copyOf(a, 'file-a2')];

    const left = await deleteAll(copies, [
      { deployment: a, client: good },
      { deployment: b, client: broken },
    ]);

    expect(good.deleted).toEqual(['file-a1', 'file-a2']);
    expect(left).toEqual([copyOf(b, 'file-b1')]);
  });

  it('should leave over a copy whose deployment has no client', async () => {
    const left = await deleteAll([copyOf(fakeDeployment('gone'), 'file-x')], []);
    expect(left.map((c) => c.file.id)).toEqual(['file-x']);
  });

  it('should run the deletions concurrently', async () => {
    let inFlight = 0;
    let peak = 0;
    const slow: ProviderClient = {
      uploadFile: () => Promise.reject(new Error('unused')),
      fileContent: () => Promise.reject(new Error('unused')),
      listFiles: () => Promise.reject(new Error('unused')),
      call: () => Promise.reject(new Error('unused')),
      deleteFile: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await delay(20);
        inFlight--;
      },
    };
    const d = fakeDeployment('a');

    const left = await deleteAll(
      [copyOf(d, '1'), copyOf(d, '2'), copyOf(d, '3')],
      [{ deployment: d, client: slow }],
    );

    expect(left).toEqual([]);
    expect(peak).toBe(3);
  });
});
