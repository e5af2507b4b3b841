import { noteAllocatedBuffers } from './gc';
import { freeNow } from './typed-memory';

/**
 * Buffers of one size that carry chunk after chunk of an upload instead of being allocated
 * fresh for each. V8 frees a Buffer only in a whole-heap collection once it has outlived two
 * scavenges, and upload chunks do (each is held until the slowest copy has written it out), so
 * fresh ones pile up as external memory until a mark-compact: RSS grows by hundreds of MB per
 * upload and the collections cost whole seconds of CPU per GiB (BENCHMARKS.md). A pool of a few
 * buffers keeps an upload's memory at what is in flight.
 *
 * The buffers are slots of one allocation (an arena of `slots` × `size` bytes, allocated at the
 * first `take`), so a copy between two of them is one `copyWithin` on that memory (BufferCopier):
 * Buffer#copy between two allocations makes a view per call, which cost a batch upload's
 * splice, a few copies per line and copy, 2.7× what the bytes' memmove cost (BENCHMARKS.md).
 * Pages of a slot are only resident once written, so slots never used (or the unused tail of a
 * slot) cost address space, not memory. With every slot lent, `take` allocates a buffer of its
 * own, which is not kept when it comes back.
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
  private arena: Buffer | null = null;
  /** Per slot, its Buffer (made once), and whether it is lent. */
  private readonly views: Buffer[] = [];
  private readonly lent: Uint8Array;
  private lentCount = 0;
  /** Slots not lent, most recently given back last (its pages are the likeliest in cache). */
  private readonly free: number[] = [];
  private closed = false;

  constructor(
    readonly size: number,
    /** Buffers the pool lends from its arena; past them, `take` allocates. */
    readonly slots: number,
  ) {
    if (size < MIN_POOLED_BYTES) {
      throw new RangeError(`a pooled buffer must be at least ${MIN_POOLED_BYTES} bytes`);
    }
    this.lent = new Uint8Array(slots);
  }

  /** A buffer of `size` bytes, reused if one is free; its contents are whatever it held. */
  take(): Buffer {
    if (this.closed) return allocateBuffer(this.size);
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.views.length === this.slots) return allocateBuffer(this.size);
      this.arena ??= takeArena(this.size * this.slots);
      slot = this.views.length;
      this.views.push(this.arena.subarray(slot * this.size, (slot + 1) * this.size));
    }
    this.lent[slot] = 1;
    this.lentCount++;
    return this.views[slot];
  }

  /** The buffer `view` is part of is no longer used by whoever took it. */
  giveBack(view: Buffer): void {
    const arena = this.arena;
    if (arena === null || view.buffer !== arena.buffer) return;
    const slot = Math.floor((view.byteOffset - arena.byteOffset) / this.size);
    if (this.lent[slot] === 0) return;
    this.lent[slot] = 0;
    this.lentCount--;
    if (!this.closed) this.free.push(slot);
    else if (this.lentCount === 0) this.release();
  }

  /**
   * Ends the pool: its arena goes to the next pool (`keepArena`) now if nothing lent is out, else
   * once the last lent buffer comes back. Later `take`s allocate.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.free.length = 0;
    if (this.lentCount === 0) this.release();
  }

  private release(): void {
    if (this.arena !== null) keepArena(this.arena);
    this.arena = null;
    this.views.length = 0;
  }
}

/**
 * How long a finished pool's arena waits for the next pool before its memory is freed.
 *
 * Why keep it at all: an arena allocated per upload cost every upload its page faults (the
 * kernel zeroing each page at its first write) and, worse, V8 counts a new ArrayBuffer's bytes
 * as external memory until a collection sweeps it, freed or not, so uploads one after another
 * crossed V8's external-memory limit and ran two whole-heap collections each (measured: a plain
 * 100 MiB upload to three deployments took 0.57-0.63 CPU-s with a fresh arena per upload,
 * 0.36-0.42 with pooled buffers of its own; BENCHMARKS.md). Kept, back-to-back uploads reuse
 * the same pages; a gateway idle this long gives them back, so its memory at rest is unchanged.
 */
export const IDLE_ARENA_MS = 5_000;

/** The last finished pool's arena, and the timer that frees it. */
let idleArena: { readonly memory: Buffer; readonly timer: NodeJS.Timeout } | null = null;

/** An arena of `length` bytes: the idle one if it is that size, else a fresh one. */
function takeArena(length: number): Buffer {
  const idle = idleArena;
  if (idle !== null && idle.memory.length === length) {
    clearTimeout(idle.timer);
    idleArena = null;
    return idle.memory;
  }
  // Uninitialised and above glibc's mmap threshold: pages are mapped as they are written.
  return Buffer.allocUnsafeSlow(length);
}

/** Keeps `memory` for the next pool for IDLE_ARENA_MS; one is kept, an older one is freed. */
function keepArena(memory: Buffer): void {
  if (idleArena !== null) {
    clearTimeout(idleArena.timer);
    freeNow(idleArena.memory);
  }
  const timer = setTimeout(() => {
    if (idleArena?.memory === memory) idleArena = null;
    freeNow(memory);
  }, IDLE_ARENA_MS);
  timer.unref();
  idleArena = { memory, timer };
}

/**
 * Copies between buffers: between two of one pool (one ArrayBuffer) in one `copyWithin`, no view
 * made. It keeps a view of the last memory it copied within, so it lives as long as its user
 * (one per batch copy), not longer: a module-wide one would keep an upload's arena alive.
 */
export class BufferCopier {
  private whole: Uint8Array | null = null;

  /** Copies `source[from, to)` into `target` at `at`; returns the offset after it. */
  copy(source: Buffer, from: number, to: number, target: Buffer, at: number): number {
    const memory = source.buffer;
    if (memory !== target.buffer) return at + source.copy(target, at, from, to);
    let whole = this.whole;
    if (whole === null || whole.buffer !== memory) whole = this.whole = new Uint8Array(memory);
    whole.copyWithin(target.byteOffset + at, source.byteOffset + from, source.byteOffset + to);
    return at + (to - from);
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
