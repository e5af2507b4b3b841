import { BufferPool, MIN_POOLED_BYTES } from './buffer-pool';

describe('BufferPool', () => {
  const SIZE = MIN_POOLED_BYTES;

  it('should hand out a given-back buffer again, whichever view of it came back', () => {
    const pool = new BufferPool(SIZE, 2);
    const first = pool.take();
    pool.giveBack(first.subarray(10, 20));
    expect(pool.take()).toBe(first);
  });

  it('should ignore buffers it did not lend and buffers given back twice', () => {
    const pool = new BufferPool(SIZE, 4);
    const lent = pool.take();
    pool.giveBack(Buffer.alloc(SIZE));
    pool.giveBack(lent);
    pool.giveBack(lent);
    const a = pool.take();
    const b = pool.take();
    expect(a).toBe(lent);
    expect(b).not.toBe(lent);
  });

  it('should keep at most maxFree buffers for reuse', () => {
    const pool = new BufferPool(SIZE, 1);
    const [a, b] = [pool.take(), pool.take()];
    pool.giveBack(a);
    pool.giveBack(b);
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(b);
  });

  it('should free the memory of its free buffers on close, and keep none given back later', () => {
    const pool = new BufferPool(SIZE, 4);
    const [free, held] = [pool.take(), pool.take()];
    pool.giveBack(free);
    pool.close();
    expect(free.buffer.byteLength).toBe(0);
    pool.giveBack(held);
    expect(held.buffer.byteLength).toBe(SIZE);
    expect(pool.take()).not.toBe(held);
  });

  it('should refuse a size below what a socket write waits to drain', () => {
    expect(() => new BufferPool(MIN_POOLED_BYTES - 1, 1)).toThrow(RangeError);
  });
});
