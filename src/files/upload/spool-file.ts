import { promises as fs, type promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';

const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * A reader that has caught up with the writer waits for this much before reading again, so
 * copies that follow a live upload do not degrade into many tiny reads and allocations.
 */
const FOLLOW_MIN_BYTES = 256 * 1024;

/**
 * The upload's bytes on disk, readable while they are still being written. Each upstream copy
 * reads it at its own pace with its own reader (so one slow upstream does not pace the others,
 * and a failed copy can start over), memory stays flat whatever the file size, and the copies
 * can begin before the body has ended.
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
    const release = (): void => {
      this.readers--;
    };
    const stream: Readable = new Readable({
      highWaterMark: READ_CHUNK_BYTES,
      read: (size) => {
        const pump = (): void => {
          if (this.failure) {
            stream.destroy(this.failure);
            return;
          }
          const available = this.written - offset;
          if (available > 0 && (this.ended || available >= FOLLOW_MIN_BYTES)) {
            const length = Math.min(Math.max(size, READ_CHUNK_BYTES), this.written - offset);
            const buffer = Buffer.allocUnsafe(length);
            this.handle.read(buffer, 0, length, offset).then(
              ({ bytesRead }) => {
                offset += bytesRead;
                stream.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
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
    return stream;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.fail(new Error('spool closed'));
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
