import { freeNow, grownBytes, grownInt32 } from './typed-memory';

describe('typed memory', () => {
  it('should grow an Int32Array with its elements, zeros after them, and free the old one', () => {
    const old = Int32Array.of(7, -1, 2 ** 31 - 1);
    const grown = grownInt32(old, 8);
    expect(Array.from(grown)).toEqual([7, -1, 2 ** 31 - 1, 0, 0, 0, 0, 0]);
    expect(old.length).toBe(0);
  });

  it('should grow a Buffer of its own with its bytes, and free the old one', () => {
    const old = Buffer.allocUnsafeSlow(5);
    old.write('hello');
    const grown = grownBytes(old, 64);
    expect(grown.length).toBe(64);
    expect(grown.subarray(0, 5).toString()).toBe('hello');
    expect(old.length).toBe(0);
  });

  it('should copy a view into shared memory, leaving that memory as it was', () => {
    // Small Buffers are slices of Node's shared pool: the rest of it belongs to others.
    const slice = Buffer.from('shared');
    expect(slice.byteLength).toBeLessThan(slice.buffer.byteLength);
    const grown = grownBytes(slice, 10);
    expect(grown.subarray(0, 6).toString()).toBe('shared');
    expect(slice.toString()).toBe('shared');
    freeNow(slice);
    expect(slice.toString()).toBe('shared');
  });

  it('should free a whole buffer now', () => {
    const table = new Int32Array(1024);
    freeNow(table);
    expect(table.length).toBe(0);
    expect(table.buffer.byteLength).toBe(0);
  });
});
