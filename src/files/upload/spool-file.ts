import { promises as fs, type promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';

const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Readers read the spool in aligned blocks, and the last few blocks read are shared: copies
 * progressing at similar rates read each block from disk once, into one Buffer, instead of once
 * each. That cuts the bytes allocated per upload (and the garbage collections they trigger) by
 * up to the number of targets.
 */
const BLOCK_BYTES = 1024 * 1024;
const SHARED_BLOCKS = 16;

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
  /** Where each live reader is: eviction keeps the blocks they still need. */
  private readonly cursors = new Set<{ offset: number }>();
  private closed = false;
  private readonly blocks = new Map<number, Promise<Buffer>>();
  private reads = 0;

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

  /** Disk reads made so far (for tests and diagnostics). */
  get diskReads(): number {
    return this.reads;
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
    const cursor = { offset: 0 };
    this.cursors.add(cursor);
    const release = (): void => {
      this.cursors.delete(cursor);
    };
    const stream: Readable = new Readable({
      highWaterMark: READ_CHUNK_BYTES,
      read: () => {
        const pump = (): void => {
          if (this.failure) {
            stream.destroy(this.failure);
            return;
          }
          const next = this.nextRead(cursor.offset);
          if (next) {
            next.then(
              (buffer) => {
                if (buffer.length === 0) {
                  stream.destroy(new Error('spool file ended early'));
                  return;
                }
                cursor.offset += buffer.length;
                stream.push(buffer);
              },
              (error: Error) => stream.destroy(error),
            );
            return;
          }
          if (this.ended) {
            // cursor.offset === written here: everything has been read.
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

  /**
   * What a reader at `offset` reads next, or null to wait for the writer. Readers move in
   * aligned blocks, and the last few blocks read are shared, so copies at similar positions
   * read each block from disk once; a reader that catches up with a live upload waits for the
   * block to fill rather than trickle. Only the final, partial block is read alone.
   */
  private nextRead(offset: number): Promise<Buffer> | null {
    const index = Math.floor(offset / BLOCK_BYTES);
    const blockEnd = (index + 1) * BLOCK_BYTES;
    if (this.written >= blockEnd) {
      return offset === index * BLOCK_BYTES
        ? this.block(index)
        : this.readAt(offset, blockEnd - offset); // back into step after a short read
    }
    if (this.ended && this.written > offset) {
      return this.readAt(offset, this.written - offset);
    }
    return null;
  }

  private remember(index: number, block: Promise<Buffer>): void {
    this.blocks.set(index, block);
    if (this.blocks.size > SHARED_BLOCKS) {
      this.blocks.delete(this.evictionVictim());
    }
  }

  /** A block every reader has passed if there is one; otherwise the one needed last. */
  private evictionVictim(): number {
    let slowest = Infinity;
    for (const cursor of this.cursors) {
      slowest = Math.min(slowest, Math.floor(cursor.offset / BLOCK_BYTES));
    }
    let behind = Infinity;
    let ahead = -Infinity;
    for (const index of this.blocks.keys()) {
      if (index < slowest) behind = Math.min(behind, index);
      ahead = Math.max(ahead, index);
    }
    return behind !== Infinity ? behind : ahead;
  }

  /** The whole block `index`, read once for every reader that asks while it is recent. */
  private block(index: number): Promise<Buffer> {
    let block = this.blocks.get(index);
    if (!block) {
      block = this.readAt(index * BLOCK_BYTES, BLOCK_BYTES);
      this.remember(index, block);
      block.catch(() => this.blocks.delete(index));
    }
    return block;
  }

  private async readAt(position: number, length: number): Promise<Buffer> {
    this.reads++;
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, position);
    return bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.blocks.clear();
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
