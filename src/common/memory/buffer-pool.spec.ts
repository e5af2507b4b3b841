import { BufferCopier, BufferPool, IDLE_ARENA_MS, MIN_POOLED_BYTES } from './buffer-pool';

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

  it('should lend at most `slots` buffers from its arena, and not keep the ones it allocated past them', () => {
    const pool = new BufferPool(SIZE, 1);
    const [a, b] = [pool.take(), pool.take()];
    expect(b.buffer).not.toBe(a.buffer);
    pool.giveBack(a);
    pool.giveBack(b);
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(b);
  });

  it('should lend slots of one memory that do not overlap', () => {
    const pool = new BufferPool(SIZE, 3);
    const lent = [pool.take(), pool.take(), pool.take()];
    lent.forEach((buffer, i) => buffer.fill(i + 1));
    expect(new Set(lent.map((b) => b.buffer)).size).toBe(1);
    lent.forEach((buffer, i) => {
      expect(buffer.length).toBe(SIZE);
      expect(buffer.every((byte) => byte === i + 1)).toBe(true);
    });
  });

  describe('its memory after close', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('should keep it for the next pool once the last lent buffer is back, not before', () => {
      const pool = new BufferPool(SIZE, 4);
      const [free, held] = [pool.take(), pool.take()];
      pool.giveBack(free);
      pool.close();
      // Still lent (a socket may be writing it): a pool made now gets memory of its own.
      const early = new BufferPool(SIZE, 4);
      expect(early.take().buffer).not.toBe(held.buffer);
      early.close();
      pool.giveBack(held);
      const next = new BufferPool(SIZE, 4);
      expect(next.take().buffer).toBe(held.buffer);
      // A closed pool lends nothing more from it.
      expect(pool.take().buffer).not.toBe(held.buffer);
      next.close();
      jest.advanceTimersByTime(IDLE_ARENA_MS);
    });

    it('should free it when no pool takes it for IDLE_ARENA_MS', () => {
      const pool = new BufferPool(SIZE, 2);
      const lent = pool.take();
      pool.giveBack(lent);
      pool.close();
      jest.advanceTimersByTime(IDLE_ARENA_MS - 1);
      expect(lent.buffer.byteLength).toBe(SIZE * 2);
      jest.advanceTimersByTime(1);
      expect(lent.buffer.byteLength).toBe(0);
      expect(new BufferPool(SIZE, 2).take().buffer).not.toBe(lent.buffer);
    });

    it('should not hand it to a pool of another size', () => {
      const pool = new BufferPool(SIZE, 2);
      const lent = pool.take();
      pool.giveBack(lent);
      pool.close();
      expect(new BufferPool(SIZE, 3).take().buffer).not.toBe(lent.buffer);
      jest.advanceTimersByTime(IDLE_ARENA_MS);
    });
  });

  it('should refuse a size below what a socket write waits to drain', () => {
    expect(() => new BufferPool(MIN_POOLED_BYTES - 1, 1)).toThrow(RangeError);
  });
});

describe('BufferCopier', () => {
  const pattern = (n: number, seed: number): Buffer =>
    Buffer.from(Array.from({ length: n }, (_v, i) => (i * 7 + seed) & 0xff));

  it('should copy between slots of one pool as Buffer#copy would', () => {
    const pool = new BufferPool(MIN_POOLED_BYTES, 2);
    const [source, target] = [pool.take(), pool.take()];
    pattern(source.length, 3).copy(source);
    target.fill(0);
    const copier = new BufferCopier();
    const end = copier.copy(source, 100, 1100, target, 7);
    const want = Buffer.alloc(MIN_POOLED_BYTES);
    source.copy(want, 7, 100, 1100);
    expect(end).toBe(1007);
    expect(target.equals(want)).toBe(true);
  });

  it('should copy between buffers of different memories, and views into either', () => {
    const pool = new BufferPool(MIN_POOLED_BYTES, 1);
    const inPool = pool.take().subarray(10);
    const own = pattern(500, 9);
    const copier = new BufferCopier();
    expect(copier.copy(own, 0, 500, inPool, 20)).toBe(520);
    expect(inPool.subarray(20, 520).equals(own)).toBe(true);
    const back = Buffer.alloc(300);
    expect(copier.copy(inPool, 120, 420, back, 0)).toBe(300);
    expect(back.equals(own.subarray(100, 400))).toBe(true);
  });
});
