import { promises as fs, type promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';

/**
 * Readers read the file in aligned chunks of this size, so copies that keep pace with each other
 * ask for the same chunks and share one read (see `chunk`). A reader that has caught up with the
 * writer waits for a whole chunk (or the end) before reading again.
 */
const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Chunks kept for readers that have not taken them yet. A reader further behind than this
 * reads its own; the bound is what one lagging or restarted copy can hold in memory.
 */
const MAX_SHARED_CHUNKS = 8;

interface SharedChunk {
  readonly bytes: Promise<Buffer>;
  /** Readers still expected to take it; at 0 it is dropped. */
  takers: number;
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
 * The file is unlinked as soon as it is opened: the open descriptor keeps it alive, and the
 * kernel frees it when we close it or the process dies, so a crash cannot leave spool files.
 */
export class SpoolFile {
  private written = 0;
  private ended = false;
  private failure: Error | null = null;
  private waiters: Array<() => void> = [];
  private readers = 0;
  private closed = false;
  private readonly shared = new Map<number, SharedChunk>();

  private constructor(private readonly handle: fsp.FileHandle) {}

  static async create(dir: string = tmpdir()): Promise<SpoolFile> {
    const path = join(dir, `mfg-spool-${randomUUID()}`);
    const handle = await fs.open(path, 'w+', 0o600);
    await fs.unlink(path);
    return new SpoolFile(handle);
  }

  get size(): number {
    return this.written;
  }

  get complete(): boolean {
    return this.ended;
  }

  /** A Writable to pipe the incoming file stream into; backpressure is the disk's pace. */
  writer(): Writable {
    return new Writable({
      highWaterMark: READ_CHUNK_BYTES,
      writev: (chunks, callback) => {
        const buffers = chunks.map((c) => c.chunk as Buffer);
        const length = buffers.reduce((n, b) => n + b.length, 0);
        this.handle.writev(buffers, this.written).then(
          () => {
            this.written += length;
            this.wake();
            callback();
          },
          (error: Error) => callback(error),
        );
      },
      final: (callback) => {
        this.ended = true;
        this.wake();
        callback();
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
    this.readers++;
    let offset = 0;
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.readers--;
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
          const length = Math.min(READ_CHUNK_BYTES, this.written - offset);
          if (length === READ_CHUNK_BYTES || (this.ended && length > 0)) {
            this.chunk(offset, length).then(
              (buffer) => {
                offset += buffer.length;
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
  private chunk(offset: number, length: number): Promise<Buffer> {
    const kept = this.shared.get(offset);
    if (kept) {
      if (--kept.takers <= 0) this.shared.delete(offset);
      return kept.bytes;
    }
    const bytes = this.readAt(offset, length);
    const takers = this.readers - 1;
    if (takers > 0) {
      this.shared.set(offset, { bytes, takers });
      if (this.shared.size > MAX_SHARED_CHUNKS) {
        // The oldest chunk: whoever still wants it has fallen behind and reads its own.
        this.shared.delete(this.shared.keys().next().value as number);
      }
      // A failed read is seen by every reader that takes it; none must find it later.
      bytes.catch(() => this.shared.delete(offset));
    }
    return bytes;
  }

  private async readAt(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(
        buffer,
        filled,
        length - filled,
        offset + filled,
      );
      if (bytesRead === 0)
        throw new Error(`spool file ended at ${offset + filled} of ${this.written}`);
      filled += bytesRead;
    }
    return buffer;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.fail(new Error('spool closed'));
      this.shared.clear();
      await this.handle.close();
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
