import { Transform, type TransformCallback } from 'node:stream';

/**
 * Token-bucket throttle for a request body. It holds each chunk until the bucket has paid for it;
 * while a chunk is held the transform's small write buffer fills, `pipe`/`pipeline` pauses the
 * request, the socket stops being read and TCP flow control pushes back on the sender — so the
 * cap behaves like a slow network link and nothing is buffered beyond the stream high-water marks.
 */
export class Throttle extends Transform {
  private tokens: number;
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly capacity: number;

  constructor(private readonly bytesPerSec: number) {
    super();
    if (!(bytesPerSec > 0)) throw new RangeError('bytesPerSec must be positive');
    // ~50 ms of burst: big enough that 1 ms timer granularity does not cap throughput at high
    // rates, small enough that short uploads still see the cap.
    this.capacity = Math.max(16 * 1024, bytesPerSec / 20);
    this.tokens = this.capacity;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.refill();
    // Tokens may go negative (a chunk larger than the bucket): the debt is paid by waiting, which
    // keeps the long-run rate exact whatever the chunk sizes.
    this.tokens -= chunk.length;
    if (this.tokens >= 0) {
      callback(null, chunk);
      return;
    }
    const waitMs = (-this.tokens / this.bytesPerSec) * 1000;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      callback(null, chunk);
    }, waitMs);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    callback(error);
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(
      this.capacity,
      this.tokens + ((now - this.last) / 1000) * this.bytesPerSec,
    );
    this.last = now;
  }
}
