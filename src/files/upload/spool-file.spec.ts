import { createHash, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SpoolFile } from './spool-file';

const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `data` to the spool in `chunk`-sized pieces, yielding between them. */
async function writeSlowly(spool: SpoolFile, data: Buffer, chunk: number): Promise<void> {
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.length; i += chunk) {
      await new Promise((resolve) => setImmediate(resolve));
      yield data.subarray(i, i + chunk);
    }
  }
  await pipeline(Readable.from(pieces()), spool.writer());
}

describe(SpoolFile.name, () => {
  let spool: SpoolFile;

  beforeEach(async () => {
    spool = await SpoolFile.create();
  });
  afterEach(async () => {
    await spool.close();
  });
  afterAll(async () => {
    await SpoolFile.closeIdle();
  });

  it('should give every reader the exact bytes, including readers that follow a live writer', async () => {
    const data = randomBytes(5 * MiB + 12_345);
    const early = [spool.createReader(), spool.createReader()];

    const writing = writeSlowly(spool, data, 64 * 1024);
    const results = await Promise.all(early.map(readAll));
    await writing;
    const late = await readAll(spool.createReader());

    for (const result of [...results, late]) {
      expect(result.length).toBe(data.length);
      expect(sha256(result)).toBe(sha256(data));
    }
    expect(spool.size).toBe(data.length);
  });

  it('should still serve a reader that falls far behind the others', async () => {
    const data = randomBytes(20 * MiB);
    await writeSlowly(spool, data, MiB);

    const fast = await readAll(spool.createReader());
    const slow = await readAll(spool.createReader());

    expect(sha256(fast)).toBe(sha256(data));
    expect(sha256(slow)).toBe(sha256(data));
  });

  it('should read each chunk from disk once for copies that keep pace with each other', async () => {
    const data = randomBytes(6 * MiB + 777);
    const handle = (spool as unknown as { handle: FileHandle }).handle;
    const reads = jest.spyOn(handle, 'read');
    const copies = [spool.createReader(), spool.createReader(), spool.createReader()];

    const writing = writeSlowly(spool, data, 256 * 1024);
    const results = await Promise.all(copies.map(readAll));
    await writing;

    for (const result of results) expect(sha256(result)).toBe(sha256(data));
    // Seven chunks (six whole, one short), each read once for the three copies.
    expect(reads).toHaveBeenCalledTimes(7);
  });

  it('should give a copy restarted from byte 0 the exact bytes while others are far ahead', async () => {
    const data = randomBytes(24 * MiB + 5);
    const ahead = spool.createReader();
    const writing = writeSlowly(spool, data, MiB);
    const first = await readAll(ahead);
    await writing;
    // Two copies in step with a third that starts over: kept chunks must not be handed out at
    // the wrong offsets, nor stall the one that is behind.
    const [again, other] = await Promise.all([
      readAll(spool.createReader()),
      readAll(spool.createReader()),
    ]);

    for (const result of [first, again, other]) {
      expect(result.length).toBe(data.length);
      expect(sha256(result)).toBe(sha256(data));
    }
  });

  /** Hashes each chunk as it comes, then gives it back; returns the hash and the memory seen. */
  async function readGivingBack(reader: Readable): Promise<{ sha: string; memory: Set<unknown> }> {
    const hash = createHash('sha256');
    const memory = new Set<unknown>();
    for await (const chunk of reader) {
      hash.update(chunk as Buffer);
      memory.add((chunk as Buffer).buffer);
      spool.giveBack(chunk as Buffer);
    }
    return { sha: hash.digest('hex'), memory };
  }

  it('should carry later chunks in the memory of chunks its readers gave back', async () => {
    const data = randomBytes(40 * MiB + 3);
    const copies = [spool.createReader(), spool.createReader()];

    const writing = writeSlowly(spool, data, 256 * 1024);
    const results = await Promise.all(copies.map(readGivingBack));
    await writing;

    for (const result of results) expect(result.sha).toBe(sha256(data));
    // 41 chunks went through a handful of buffers (the pool keeps at most 16).
    const memory = new Set(results.flatMap((r) => [...r.memory]));
    expect(memory.size).toBeLessThanOrEqual(17);
  });

  it('should never reuse a chunk that a reader still holds, whatever the others give back', async () => {
    const data = randomBytes(20 * MiB + 11);
    const holder = spool.createReader();
    const giver = spool.createReader();

    const writing = writeSlowly(spool, data, 256 * 1024);
    // The holder keeps every chunk (as a batch rewriter may keep slices) and looks at them
    // only at the end, after the giver has given back its share of each of them.
    const [held, given] = await Promise.all([readAll(holder), readGivingBack(giver)]);
    await writing;

    expect(given.sha).toBe(sha256(data));
    expect(sha256(held)).toBe(sha256(data));
  });

  /** The spool's open file, to tell whether two spools share one (descriptor numbers recur). */
  function fileOf(of: SpoolFile): FileHandle {
    return (of as unknown as { handle: FileHandle }).handle;
  }

  it("should hand a finished upload's file to the next upload, which never sees the old bytes", async () => {
    const first = randomBytes(5 * MiB + 17);
    await writeSlowly(spool, first, 256 * 1024);
    const file = fileOf(spool);
    await spool.close();

    spool = await SpoolFile.create();
    const second = randomBytes(2 * MiB + 3);
    const reader = spool.createReader();
    const [result] = await Promise.all([readAll(reader), writeSlowly(spool, second, 256 * 1024)]);

    // The same file, overwritten in place: its pages are already the page cache's.
    expect(fileOf(spool)).toBe(file);
    expect(result.length).toBe(second.length);
    expect(sha256(result)).toBe(sha256(second));
    expect(sha256(await readAll(spool.createReader()))).toBe(sha256(second));
  });

  it('should refuse late bytes of an upload it has closed, so they cannot land in the next one', async () => {
    const writer = spool.writer();
    // The refusal is the write's callback's error; the stream emits it as well.
    writer.on('error', () => undefined);
    await new Promise<void>((resolve, reject) =>
      writer.write(randomBytes(1000), (e) => (e ? reject(e) : resolve())),
    );
    await spool.close();
    const next = await SpoolFile.create();
    try {
      const late = new Promise<Error | null | undefined>((resolve) =>
        writer.write(randomBytes(3 * MiB), resolve),
      );
      const data = randomBytes(MiB + 1);
      await writeSlowly(next, data, 64 * 1024);

      expect(await late).toEqual(new Error('spool closed'));
      expect(sha256(await readAll(next.createReader()))).toBe(sha256(data));
    } finally {
      await next.close();
    }
  });

  it('should keep at most two files for later uploads', async () => {
    await SpoolFile.closeIdle();
    const spools = [spool, await SpoolFile.create(), await SpoolFile.create()];
    await Promise.all(spools.map((s) => writeSlowly(s, randomBytes(1000), 1000)));
    const files = spools.map(fileOf);
    await Promise.all(spools.map((s) => s.close()));

    const again = [await SpoolFile.create(), await SpoolFile.create(), await SpoolFile.create()];
    try {
      const reused = again.map(fileOf).filter((file) => files.includes(file));
      expect(reused).toHaveLength(2);
    } finally {
      await Promise.all(again.map((s) => s.close()));
    }
  });

  it('should tell its observer how many bytes each write took to disk and how long', async () => {
    const writes: Array<[number, number]> = [];
    const observed = await SpoolFile.create({
      onWrite: (bytes, seconds) => writes.push([bytes, seconds]),
    });
    try {
      const data = randomBytes(5 * MiB + 99);
      await writeSlowly(observed, data, 256 * 1024);

      expect(writes.reduce((n, [bytes]) => n + bytes, 0)).toBe(data.length);
      expect(writes.every(([, seconds]) => seconds > 0 && seconds < 10)).toBe(true);
      expect(sha256(await readAll(observed.createReader()))).toBe(sha256(data));
    } finally {
      await observed.close();
    }
  });

  it('should fail readers waiting for more bytes when the upload fails', async () => {
    const reader = spool.createReader();
    const writer = spool.writer();
    writer.write(randomBytes(1000));

    const failure = new Error('client went away');
    setImmediate(() => spool.fail(failure));

    await expect(readAll(reader)).rejects.toBe(failure);
  });
});
