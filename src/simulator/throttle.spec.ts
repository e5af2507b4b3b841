import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Throttle } from './throttle';

describe(Throttle.name, () => {
  it('should let bytes through at about the configured rate', async () => {
    const bytesPerSec = 2_000_000;
    const total = 1_000_000;
    const chunks = Array.from({ length: total / 10_000 }, () => Buffer.alloc(10_000));
    let received = 0;
    const began = performance.now();
    await pipeline(
      Readable.from(chunks),
      new Throttle(bytesPerSec),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          callback();
        },
      }),
    );
    const elapsedMs = performance.now() - began;
    const expectedMs = (total / bytesPerSec) * 1000;

    expect(received).toBe(total);
    // The first ~50 ms of budget is an allowed burst.
    expect(elapsedMs).toBeGreaterThanOrEqual(0.8 * expectedMs);
    expect(elapsedMs).toBeLessThan(2 * expectedMs);
  });

  it('should refuse a non-positive rate', () => {
    expect(() => new Throttle(0)).toThrow(RangeError);
  });
});
