import { promises as fs, type promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { BufferPool, allocateBuffer } from '../../common/memory/buffer-pool';
import { noteAllocatedBuffers } from '../../common/memory/gc';

/**
 * Readers read the file in aligned chunks of this size, so copies that keep pace with each other
 * ask for the same chunks and share one read (see `chunk`). A reader that has caught up with the
 * writer waits for a whole chunk (or the end) before reading again.
 */
export const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Chunks kept for readers that have not taken them yet. A reader further behind than this
 * reads its own (from the page cache); the bound is what one lagging or restarted copy can hold
 * in memory. Copies of a live upload drift up to 13-14 chunks apart now and then; keeping 4
 * instead of 8 took 3-5 MB off every upload's peak (1 GiB to three deployments on PostgreSQL +
 * Redis: 144-147 MB against 149-152) at the same walls (BENCHMARKS.md).
 */
const MAX_SHARED_CHUNKS = 4;
/**
 * Chunk buffers given back (see `giveBack`) and kept to carry later chunks. Enough for the chunks
 * that are in flight at once (the shared ones, plus about two per copy: one being written out,
 * one read ahead); past it, given-back buffers are left to the garbage collector.
 */
const MAX_FREE_CHUNKS = MAX_SHARED_CHUNKS + 8;
/**
 * Incoming bytes the Writable queues while the writer waits (both its buffers busy, or far ahead
 * of the copies): about one socket read. The writer's two 1 MiB buffers are the real buffer: one
 * fills while the other is written. (One chunk of buffering behind a write paced a fresh
 * process's first large upload; two did not, BENCHMARKS.md.)
 */
const WRITE_BUFFER_BYTES = 64 * 1024;
/**
 * Finished uploads' files kept for the next ones (see `close`): one per upload that may run at
 * once without waiting for a fresh file's pages; more would only hold disk space.
 */
const MAX_IDLE_FILES = 2;
/**
 * How far the writer may get ahead of the fastest copy before the upload's socket is paused.
 * Writing into pages the file already has is quick (see SpoolFile), so the body could come in
 * far faster than any copy leaves it; this keeps the intake at the fastest copy's pace and the
 * copies reading pages written moments before. (Measured alone it did not stop glibc's heap from
 * growing upload after upload; copying the body in `writer` did.) With no copy started (the file
 * came before the fields naming its targets) only the disk paces the writer.
 */
const MAX_AHEAD_BYTES = 8 * READ_CHUNK_BYTES;

/**
 * Told of every write to the spool file: how many bytes, and how long the write took. A spool
 * that spends about as long writing as the upload takes is what paces the upload (BENCHMARKS.md:
 * 85-90 % under load on a 2-vCPU VM), which is worth an operator's graph.
 */
export type SpoolWriteObserver = (bytes: number, seconds: number) => void;

interface Chunk {
  readonly bytes: Promise<Buffer>;
  /** Readers still expected to take it while it is shared; at 0 it is dropped from `shared`. */
  takers: number;
  /** Readers that took it and have not given it back. */
  holders: number;
  /** The pooled buffer it is read into; null when freshly allocated (a short last chunk). */
  readonly buffer: Buffer | null;
}

/**
 * The upload's bytes on disk, readable while they are still being written. Each upstream copy
 * reads it at its own pace with its own reader (so one slow upstream does not pace the others,
 * and a failed copy can start over), memory stays flat whatever the file size, and the copies
 * can begin before the body has ended.
 *
 * Readers at the same place share reads: the first to ask for a chunk reads it from disk and the
 * others get the same Buffer (nobody downstream writes into it). Copies of one upload run in
 * step, so a fan-out to three deployments reads and allocates each byte once instead of three
 * times; with fresh buffers per copy the garbage collector had to reclaim three times the file,
 * which showed as gateway CPU (whole-heap collections) and RSS that varied between uploads.
 *
 * Memory is reused as well: a copy hands each chunk back once it has been written out
 * (`giveBack`), and the buffer carries a later chunk. An upload's copies then allocate a few
 * buffers in all instead of one per MiB: V8 frees short-lived Buffers only in whole-heap
 * collections once they outlive two scavenges, and these would (each is held until the slowest
 * copy has sent it), so every upload used to run 50-100 mark-compacts per GiB (BENCHMARKS.md).
 *
 * The file is unlinked as soon as it is opened: the open descriptor keeps it alive, and the
 * kernel frees it when we close it or the process dies, so a crash cannot leave spool files.
 *
 * The file itself is reused too: a finished upload's file is kept open for the next upload
 * (`close`), which overwrites it in place. Writing the body into the page cache is what paces a
 * large upload (the spool wrote for 88-91 % of a 1 GiB upload's wall time under load,
 * BENCHMARKS.md), and most of that is the kernel finding fresh pages: on a VM whose freed memory
 * goes back to the host, 1 GiB into fresh pages took 1.4-1.5 s of system time, over pages the
 * file already has 0.2 s. A reused file keeps its old size and bytes; readers never read past
 * what this upload wrote, so the last upload's bytes are never seen.
 */
export class SpoolFile {
  /** Files of finished uploads, open and unlinked, most recent last, for the next uploads. */
  private static readonly idle: Array<{ readonly dir: string; readonly handle: fsp.FileHandle }> =
    [];

  private written = 0;
  private ended = false;
  private failure: Error | null = null;
  private waiters: Array<() => void> = [];
  /** Each open reader's place (the offset of its next chunk): the writer keeps near the fastest. */
  private readonly places = new Set<{ offset: number }>();
  /** The writer's callback, held while it is far enough ahead of every reader (see MAX_AHEAD_BYTES). */
  private heldWriter: (() => void) | null = null;
  private closed = false;
  private readonly shared = new Map<number, Chunk>();
  /** Pooled buffers readers hold, by buffer, so `giveBack` finds their chunk. */
  private readonly lent = new Map<Buffer, Chunk>();
  private readonly pool = new BufferPool(READ_CHUNK_BYTES, MAX_FREE_CHUNKS);
  /** Reads and writes of the file not yet settled: none may land once another upload has it. */
  private readonly io = new Set<Promise<unknown>>();
  /** A write failed: the file is not handed to another upload. */
  private broken = false;

  private constructor(
    private readonly dir: string,
    private readonly handle: fsp.FileHandle,
    private readonly onWrite: SpoolWriteObserver | undefined,
  ) {}

  /** A spool in `dir` (the system's temporary directory by default): a kept file, or a new one. */
  static async create(
    options: { dir?: string; onWrite?: SpoolWriteObserver } = {},
  ): Promise<SpoolFile> {
    const dir = options.dir ?? tmpdir();
    const kept = SpoolFile.idle.findLastIndex((f) => f.dir === dir);
    if (kept >= 0) {
      const [{ handle }] = SpoolFile.idle.splice(kept, 1);
      return new SpoolFile(dir, handle, options.onWrite);
    }
    const path = join(dir, `mfg-spool-${randomUUID()}`);
    const handle = await fs.open(path, 'w+', 0o600);
    await fs.unlink(path);
    return new SpoolFile(dir, handle, options.onWrite);
  }

  /** Closes the files kept for reuse (at shutdown: the process would free them anyway). */
  static async closeIdle(): Promise<void> {
    const files = SpoolFile.idle.splice(0);
    await Promise.allSettled(files.map((f) => f.handle.close()));
  }

  get size(): number {
    return this.written;
  }

  get complete(): boolean {
    return this.ended;
  }

  /**
   * A Writable to pipe the incoming file stream into. The body is copied into 1 MiB buffers as it
   * arrives, two in turn: one is written to the file while the other fills, and the socket is
   * paused while both are busy (the disk's pace) or while the writer is far ahead of every copy.
   *
   * Copied, not written from the incoming Buffers themselves: those are the HTTP parser's 64 KiB
   * reads, and kept until their write had finished they outlived young-generation collections,
   * were promoted, and waited for a whole-heap collection in glibc's heap (which grew by ~15 MB
   * per upload once writes were quick; BENCHMARKS.md). Copied at once, each dies young.
   */
  writer(): Writable {
    let filling: Buffer | null = null;
    let filled = 0;
    let writing: Promise<void> | null = null;
    let writeError: Error | null = null;
    /** A chunk of the body not copied yet because both buffers were busy, and its callback. */
    let held: { data: Buffer; at: number; callback: (error?: Error) => void } | null = null;

    const writeOut = (buffer: Buffer, length: number): Promise<void> => {
      const started = performance.now();
      const done = this.track(writeFully(this.handle, buffer, length, this.written)).then(
        () => {
          this.onWrite?.(length, (performance.now() - started) / 1000);
          this.written += length;
          this.pool.giveBack(buffer);
          writing = null;
          this.wake();
          if (held) {
            const next = held;
            held = null;
            take(next.data, next.at, next.callback);
          }
        },
        (error: Error) => {
          this.broken = true;
          writeError = error;
          writing = null;
          held?.callback(error);
          held = null;
        },
      );
      writing = done;
      return done;
    };

    const take = (data: Buffer, from: number, callback: (error?: Error) => void): void => {
      if (writeError) {
        callback(writeError);
        return;
      }
      for (let at = from; at < data.length;) {
        filling ??= this.pool.take();
        const copied = data.copy(filling, filled, at);
        at += copied;
        filled += copied;
        if (filled === READ_CHUNK_BYTES) {
          if (writing) {
            // Both buffers busy: the rest of this piece waits for the write in flight.
            held = { data, at, callback };
            return;
          }
          void writeOut(filling, filled);
          filling = null;
          filled = 0;
        }
      }
      // The incoming Buffer is garbage from here on.
      noteAllocatedBuffers(data.length);
      if (this.farAhead()) this.heldWriter = () => callback();
      else callback();
    };

    return new Writable({
      highWaterMark: WRITE_BUFFER_BYTES,
      write: (data: Buffer, _encoding, callback) => {
        if (this.closed) {
          // Late bytes of an upload already given up: the file may be another upload's now.
          callback(new Error('spool closed'));
          return;
        }
        take(data, 0, callback);
      },
      final: (callback) => {
        // A function, so that the compiler does not take it as unchanged across the awaits.
        const failed = (): Error | null => writeError;
        const finish = async (): Promise<void> => {
          await writing;
          if (filling && filled > 0 && !failed()) await writeOut(filling, filled);
          else if (filling) this.pool.giveBack(filling);
          filling = null;
          const error = failed();
          if (error) throw error;
          this.ended = true;
          this.wake();
        };
        finish().then(
          () => callback(),
          (error: Error) => callback(error),
        );
      },
    });
  }

  /** Readers see this error: the upload is refused or broken, so copies in flight must fail. */
  fail(error: Error): void {
    if (!this.ended && !this.failure) {
      this.failure = error;
      this.wake();
    }
  }

  /** A stream of the whole file from byte 0, following the writer until it ends. */
  createReader(): Readable {
    const place = { offset: 0 };
    this.places.add(place);
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.places.delete(place);
        this.resumeWriter();
      }
    };
    const stream: Readable = new Readable({
      highWaterMark: READ_CHUNK_BYTES,
      read: () => {
        const pump = (): void => {
          if (this.failure) {
            stream.destroy(this.failure);
            return;
          }
          const length = Math.min(READ_CHUNK_BYTES, this.written - place.offset);
          if (length === READ_CHUNK_BYTES || (this.ended && length > 0)) {
            const chunk = this.chunk(place.offset, length);
            chunk.bytes.then(
              (buffer) => {
                place.offset += buffer.length;
                this.resumeWriter();
                stream.push(buffer);
              },
              (error: Error) => stream.destroy(error),
            );
            return;
          }
          if (this.ended) {
            // offset === written here: everything has been read.
            stream.push(null);
            return;
          }
          this.waiters.push(pump);
        };
        pump();
      },
      destroy: (error, callback) => {
        release();
        callback(error);
      },
    });
    stream.once('end', release);
    return stream;
  }

  /**
   * The `length` bytes at `offset` (a chunk boundary): the same Buffer for every reader that asks
   * while it is kept, read from disk by the first. A chunk is complete when read (whole, or the
   * last one once the file has ended), so a kept one never goes stale.
   */
  private chunk(offset: number, length: number): Chunk {
    const kept = this.shared.get(offset);
    if (kept) {
      // Counted as held now, not when the read lands: no give-back in between may free it.
      kept.holders++;
      if (--kept.takers <= 0) this.shared.delete(offset);
      return kept;
    }
    // Only whole chunks are pooled: a short one may be smaller than a socket's high-water mark,
    // and then the transport asks for more before it is written out (see `giveBack`).
    const buffer = length === READ_CHUNK_BYTES ? this.pool.take() : null;
    const bytes = this.readAt(buffer ?? allocateBuffer(length), offset, length);
    const chunk: Chunk = { bytes, takers: this.places.size - 1, holders: 1, buffer };
    if (buffer) this.lent.set(buffer, chunk);
    if (chunk.takers > 0) {
      this.shared.set(offset, chunk);
      if (this.shared.size > MAX_SHARED_CHUNKS) {
        // The oldest chunk: whoever still wants it has fallen behind and reads its own.
        const oldest = this.shared.keys().next().value as number;
        const dropped = this.shared.get(oldest) as Chunk;
        this.shared.delete(oldest);
        dropped.takers = 0;
        this.recycle(dropped);
      }
      // A failed read is seen by every reader that takes it; none must find it later.
      bytes.catch(() => this.shared.delete(offset));
    }
    return chunk;
  }

  /**
   * The reader that took `buffer` is done with it: the consumer has written it out and will not
   * look at it again. Once every reader that took it says so, and no other reader can still
   * take it, it carries a later chunk. Buffers this spool did not lend are ignored, so it is
   * safe to call for any chunk; a reader that never gives back only costs a fresh allocation.
   *
   * The upload adapters call it when undici asks for the chunk after this one: undici takes an
   * async-iterable body one chunk at a time and, when the socket refuses more (`write` returns
   * false, which it does for any pooled chunk: 1 MiB is above every socket's high-water mark),
   * waits for 'drain', i.e. until what was written has left the process.
   */
  giveBack(buffer: Buffer): void {
    const chunk = this.lent.get(buffer);
    if (chunk && chunk.holders > 0) {
      chunk.holders--;
      this.recycle(chunk);
    }
  }

  private recycle(chunk: Chunk): void {
    if (chunk.buffer === null || chunk.holders > 0 || chunk.takers > 0) return;
    this.lent.delete(chunk.buffer);
    this.pool.giveBack(chunk.buffer);
  }

  private async readAt(buffer: Buffer, offset: number, length: number): Promise<Buffer> {
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.track(
        this.handle.read(buffer, filled, length - filled, offset + filled),
      );
      // Past close the file may hold another upload's bytes: they must reach no reader.
      if (this.closed) throw new Error('spool closed');
      if (bytesRead === 0)
        throw new Error(`spool file ended at ${offset + filled} of ${this.written}`);
      filled += bytesRead;
    }
    return buffer;
  }

  /**
   * Ends the spool. Its file goes to the next upload once no read or write of this one is in
   * flight, unless a write failed or enough files are kept already (each holds its size on disk
   * and, until the kernel needs the memory, in the page cache).
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.fail(new Error('spool closed'));
      this.resumeWriter();
      this.shared.clear();
      this.lent.clear();
      this.pool.close();
      await Promise.allSettled([...this.io]);
      if (!this.broken && SpoolFile.idle.length < MAX_IDLE_FILES) {
        SpoolFile.idle.push({ dir: this.dir, handle: this.handle });
      } else {
        await this.handle.close();
      }
    }
  }

  private track<T>(operation: Promise<T>): Promise<T> {
    this.io.add(operation);
    const settled = (): void => {
      this.io.delete(operation);
    };
    operation.then(settled, settled);
    return operation;
  }

  /** True while every reader is MAX_AHEAD_BYTES or more behind what has been written. */
  private farAhead(): boolean {
    if (this.places.size === 0) return false;
    let fastest = 0;
    for (const place of this.places) fastest = Math.max(fastest, place.offset);
    return this.written - fastest >= MAX_AHEAD_BYTES;
  }

  private resumeWriter(): void {
    if (this.heldWriter && (!this.farAhead() || this.closed)) {
      const resume = this.heldWriter;
      this.heldWriter = null;
      resume();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      waiter();
    }
  }
}

/** Writes `length` bytes of `buffer` at `position`, however many calls the kernel needs. */
async function writeFully(
  handle: fsp.FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<void> {
  for (let done = 0; done < length;) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    done += bytesWritten;
  }
}
