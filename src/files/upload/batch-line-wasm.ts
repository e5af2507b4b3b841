import { setFlagsFromString } from 'node:v8';
import { BATCH_LINE_WASM } from './batch-line.wasm';

/*
 * batch-line.wat, the batch line reader's fast path (batch-line-scan.ts has the reader): the
 * module instantiated once per process, the line copied into its memory, and its answer read
 * from there as 32-bit integers.
 */

/** What `readLine` says of a line. */
export const Verdict = { notARequest: 0, request: 1, readInJs: 2 } as const;

/** Where `readLine` leaves what it found, as indices of `BatchLineWasm.answer`. */
export const Answer = {
  /** The last custom_id's content range and whether it has an escape. */
  customIdFrom: 0,
  customIdTo: 1,
  customIdEscaped: 2,
  /** method, url and body.model as token ranges (start -1: not a string) and escape flags. */
  method: 3,
  url: 6,
  model: 9,
  spanCount: 12,
  /** Then the spans, `SPAN_WORDS` numbers each: start, end, path, i, j. */
  spans: 16,
} as const;

/** Numbers per span in the answer. */
export const SPAN_WORDS = 5;

interface BatchLineExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly maxLineBytes: { readonly value: number };
  readonly answer: { readonly value: number };
  readonly maxSpans: { readonly value: number };
  readLine(end: number): number;
  stringEnd(i: number, end: number): number;
}

/** The part of the WebAssembly global used here (the compiler's libs here do not declare it). */
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
}

/**
 * The module's memory is a fixed 18 pages (it never grows): lines up to `maxLineBytes`, then
 * its stack of open containers and the answer. Longer lines, lines nested deeper than its stack
 * or with more rewritten values than its answer holds, and every line where WebAssembly is off
 * (`--jitless`) are read by the JavaScript reader.
 */
export class BatchLineWasm {
  /** The line last loaded, `[0, end)`: a Verdict, and when `request` the answer says what. */
  readonly readLine: (end: number) => number;
  /** json-string.ts's contract, for the line last loaded. */
  readonly stringEnd: (i: number, end: number) => number;
  /** The answer, `Answer`'s indices (a view of the module's memory, valid after each read). */
  readonly answer: Int32Array;
  readonly maxLineBytes: number;

  private constructor(
    // Not `exports`: compiled to CommonJS, that name would hide the module's own exports
    // (`Answer` below).
    module: BatchLineExports,
    /**
     * The module's memory, where a loaded line starts at 0 (its offsets are the line's): what
     * the answer's ranges are read from.
     */
    readonly bytes: Buffer,
  ) {
    this.readLine = module.readLine;
    this.stringEnd = module.stringEnd;
    this.maxLineBytes = module.maxLineBytes.value;
    const words = Answer.spans + module.maxSpans.value * SPAN_WORDS;
    this.answer = new Int32Array(module.memory.buffer, module.answer.value, words);
  }

  /** Null where WebAssembly cannot run. */
  static create(): BatchLineWasm | null {
    const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
    if (wasm === undefined) return null;
    let instance: { readonly exports: unknown };
    try {
      instance = new wasm.Instance(optimized(() => new wasm.Module(BATCH_LINE_WASM)));
    } catch {
      // An engine that refuses the module (no SIMD, a sandbox): the JavaScript reader reads.
      return null;
    }
    // Past here a failure is a bug of ours, not a missing engine: it is not hidden.
    const module = instance.exports as BatchLineExports;
    return new BatchLineWasm(module, Buffer.from(module.memory.buffer));
  }

  /** `bytes` copied to the start of the module's memory (until the next load). */
  load(bytes: Uint8Array): void {
    this.bytes.set(bytes, 0);
  }
}

/**
 * `compile()` with V8's optimizing compiler. The gateway starts with WebAssembly kept at the
 * baseline tier (scripts/node-flags.js: recompiling PGlite's and undici's modules cost hundreds
 * of MB of RSS at once), and at that tier this module, which runs over every byte of a batch
 * upload, read the benchmark's 100 MiB file 35-60 % slower (median of ten passes, 105-121 ms
 * against 67-94 ms in TurboFan; BENCHMARKS.md, 2026-12-03 evening). The two flags are read when a
 * module is compiled and when a lazily compiled function is first called, so they are set for
 * this synchronous compile of 27 small functions only and put back to V8's defaults, which are
 * what node-flags.js leaves them at; no other module is compiled meanwhile (JavaScript runs one
 * thing at a time, and the other modules were compiled long before, at boot or first use). The
 * compile costs 6-9 ms and 4.4 MB of RSS once per process (0.5-1.2 MB at the baseline tier).
 */
function optimized<T>(compile: () => T): T {
  setFlagsFromString('--no-liftoff');
  setFlagsFromString('--no-wasm-lazy-compilation');
  try {
    return compile();
  } finally {
    setFlagsFromString('--liftoff');
    setFlagsFromString('--wasm-lazy-compilation');
  }
}
