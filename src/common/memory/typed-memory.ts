/*
 * Growing and freeing typed arrays that hold an upload's tables (a batch file's custom ids and
 * edits) or chunks (BufferPool), without leaving the old memory to the collector.
 *
 * Why: these arrays live as long as an upload, so they are promoted to V8's old generation, and a
 * promoted ArrayBuffer's memory is freed only by a whole-heap collection. An array that doubles
 * leaves its smaller predecessors resident until then: during a 50,000-line batch upload, about
 * as much memory again as the tables themselves. ES2024's `ArrayBuffer#transfer` (Node 21+)
 * moves the contents into a new buffer and detaches the old one, whose memory is freed at once;
 * V8 may even grow the allocation in place.
 */

type Transferable = ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };

/** Whether `view` is the whole of an ArrayBuffer of its own (not a view into a larger one). */
function ownsMemory(view: ArrayBufferView): view is ArrayBufferView & { buffer: Transferable } {
  return (
    view.byteOffset === 0 &&
    view.byteLength === view.buffer.byteLength &&
    // Not `instanceof ArrayBuffer` (false across realms); a SharedArrayBuffer has no `transfer`.
    typeof (view.buffer as Transferable).transfer === 'function'
  );
}

/** `array`'s elements in an Int32Array of `length` (more) elements, the rest 0; `array` is spent. */
export function grownInt32(array: Int32Array, length: number): Int32Array<ArrayBuffer> {
  if (ownsMemory(array)) return new Int32Array(array.buffer.transfer!(length * 4));
  const grown = new Int32Array(length);
  grown.set(array);
  return grown;
}

/** `bytes` in a Buffer of `length` (more) bytes, the rest unspecified; `bytes` is spent. */
export function grownBytes(bytes: Buffer, length: number): Buffer<ArrayBuffer> {
  if (ownsMemory(bytes)) return Buffer.from(bytes.buffer.transfer!(length));
  const grown = Buffer.allocUnsafe(length);
  bytes.copy(grown);
  return grown;
}

/**
 * Frees `view`'s memory now, when it is the whole of its ArrayBuffer (else the collector frees
 * it); every view of that memory is then empty.
 */
export function freeNow(view: ArrayBufferView): void {
  if (ownsMemory(view)) view.buffer.transfer!(0);
}
