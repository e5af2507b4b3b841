import { noteAllocatedBuffers } from './gc';

/**
 * Buffers of one size that carry chunk after chunk of an upload instead of being allocated
 * fresh for each. V8 frees a Buffer only in a whole-heap collection once it has outlived two
 * scavenges, and upload chunks do (each is held until the slowest copy has written it out), so
 * fresh ones pile up as external memory until a mark-compact: RSS grows by hundreds of MB per
 * upload and the collections cost whole seconds of CPU per GiB (BENCHMARKS.md). A pool of a few
 * buffers keeps an upload's memory at what is in flight.
 *
 * A buffer comes back through `giveBack` with any view of it (`subarray` of what was taken), so
 * a holder may hand on only the part it filled. Views of buffers the pool did not lend are
 * ignored: a consumer can give back every chunk it sees, whoever made it.
 *
 * Only hand a buffer back once nothing reads it any more. For chunks written to a socket that is
 * when the writer asks for the next chunk after a write that filled the socket's buffer: then it
 * has waited for 'drain'. A chunk smaller than the socket's high-water mark does not fill it, so
 * callers take pooled buffers only for chunks of at least MIN_POOLED_BYTES.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** Lent buffers by their memory, so a view finds the buffer it is part of. */
  private readonly lent = new Map<ArrayBufferLike, Buffer>();
  private closed = false;

  constructor(
    readonly size: number,
    /** Buffers kept for reuse; beyond it, given-back buffers are left to the garbage collector. */
    private readonly maxFree: number,
  ) {
    if (size < MIN_POOLED_BYTES) {
      throw new RangeError(`a pooled buffer must be at least ${MIN_POOLED_BYTES} bytes`);
    }
  }

  /** A buffer of `size` bytes, reused if one is free; its contents are whatever it held. */
  take(): Buffer {
    const buffer = this.free.pop() ?? allocateBuffer(this.size);
    this.lent.set(buffer.buffer, buffer);
    return buffer;
  }

  /** The buffer `view` is part of is no longer used by whoever took it. */
  giveBack(view: Buffer): void {
    const buffer = this.lent.get(view.buffer);
    if (buffer === undefined) return;
    this.lent.delete(view.buffer);
    if (this.free.length < this.maxFree && !this.closed) this.free.push(buffer);
  }

  /**
   * Frees the free buffers now, and makes later give-backs free theirs to the collector: these
   * were promoted long ago, and would otherwise wait for the next whole-heap collection.
   */
  close(): void {
    this.closed = true;
    this.lent.clear();
    for (const buffer of this.free.splice(0)) release(buffer);
  }
}

/**
 * The smallest chunk worth pooling: Node's default high-water mark for sockets and streams
 * (64 KiB since Node 22). A write at least this big returns false, so the writer waits for
 * 'drain' before asking for more (see the class comment).
 */
export const MIN_POOLED_BYTES = 64 * 1024;

/** A fresh Buffer of short-lived upload bytes, counted for the scavenge (`noteAllocatedBuffers`). */
export function allocateBuffer(length: number): Buffer {
  noteAllocatedBuffers(length);
  return Buffer.allocUnsafe(length);
}

/**
 * Frees a Buffer's memory now by detaching its ArrayBuffer (ES2024 `transfer`, Node 21+), when
 * the Buffer is the whole of it: pooled buffers are allocated whole (they are far above the
 * size Buffer.allocUnsafe takes from its shared slab).
 */
function release(buffer: Buffer): void {
  const memory = buffer.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (buffer.byteOffset === 0 && buffer.byteLength === memory.byteLength) memory.transfer?.(0);
}
