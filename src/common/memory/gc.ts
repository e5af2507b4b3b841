import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A young-generation collection (scavenge) after every this many bytes of short-lived Buffers:
 * well below the old generation's headroom after a whole-heap collection (about 24 MB on a
 * gateway at rest), so those Buffers are freed before they count against it (see
 * `noteAllocatedBuffers`). Measured on 1 GiB to three deployments, Node 24: every 8 MiB left
 * some uploads in the loop (one in six at 1.4-1.6x), every 4 MiB none (1-5 mark-compacts, ~250
 * scavenges of ~0.5 ms per upload).
 */
export const SCAVENGE_EVERY_BYTES = 4 * 1024 * 1024;

/** V8's gc extension's function; its options are V8's (`type`, `execution`, `flavor`). */
type GcFunction = (options: {
  type: 'minor' | 'major';
  execution: 'sync';
  flavor?: 'regular' | 'last-resort';
}) => void;

let gcFunction: GcFunction | null | undefined;
let sinceLast = 0;

/**
 * Says that `bytes` of Buffers were allocated that die young (an upload's body chunks), and
 * runs a scavenge once SCAVENGE_EVERY_BYTES have accumulated.
 *
 * Why by hand: V8 counts the external memory of Buffers against the old generation's limit, but
 * sizes that limit from the JavaScript heap alone. An upload allocates hundreds of MB/s of body
 * Buffers and almost no JavaScript objects, so the young generation rarely fills and nothing
 * frees the Buffers until the external bytes pass the limit; then V8 runs a whole-heap
 * mark-compact, which finds the heap unchanged, sets the limit the same ~24 MB higher, and runs
 * again 24 MB later: 50-100 mark-compacts per GiB uploaded (4-8 s of CPU on 2 cores), on Node 24
 * from the first upload. A scavenge frees dead young Buffers in well under a millisecond
 * (measured: 1 GiB to three deployments, 68-93 mark-compacts and 5-8 s of gateway CPU before,
 * 1-5 and ~1 s after; BENCHMARKS.md).
 */
export function noteAllocatedBuffers(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < SCAVENGE_EVERY_BYTES) return;
  sinceLast = 0;
  gc()?.({ type: 'minor', execution: 'sync' });
}

/**
 * One whole-heap collection in V8's memory-reducing mode: it collects, compacts, and gives back
 * the pages and the young generation's growth that garbage left committed.
 *
 * At start (main.ts, before the server takes requests): booting (compiling 2,000 modules,
 * building Nest's and TypeORM's metadata, running migrations) grows the young generation to its
 * maximum and leaves garbage that an idle process would keep for good; this gives it back: 162 ->
 * 131 MB of RSS at rest on Node 24 (heap committed 114 -> 52 MB), in one pause of ~0.1 s no
 * request waits for. After large uploads, see releaseGarbageOnceIdle.
 */
export function releaseGarbage(): void {
  gc()?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * An upload of at least this many bytes asks for releaseGarbage once no upload runs: below it
 * the collection's pause (60-120 ms, measured) would cost more than the few MB it gives back.
 */
export const RELEASE_GARBAGE_AFTER_BYTES = 256 * 1024 * 1024;

let garbagePending = false;

/**
 * Asks for releaseGarbage once no young-generation hold is kept (no upload runs), after the
 * current I/O callbacks, so that the upload's answer is written first.
 *
 * Why: a 1 GiB upload leaves the heap and glibc's arenas 10-20 MB above where they were (old
 * space promoted from the body's Buffers, the old generation's limit raised), and V8 does not
 * shrink them on an idle process; the next upload then starts from there. Measured on
 * PostgreSQL, 1 GiB to three deployments, six uploads: RSS right after it 120-127 MB, and the
 * highest upload peak 147 MB against 152-153 without (BENCHMARKS.md).
 */
export function releaseGarbageOnceIdle(): void {
  garbagePending = true;
  if (youngGenerationHolds === 0) scheduleRelease();
}

function scheduleRelease(): void {
  setImmediate(() => {
    if (!garbagePending || youngGenerationHolds > 0) return;
    garbagePending = false;
    releaseGarbage();
  });
}

/** V8's own `--semi-space-growth-factor`: what the last hold's release restores. */
const DEFAULT_SEMI_SPACE_GROWTH_FACTOR = 2;
let youngGenerationHolds = 0;

/**
 * Keeps V8's young generation at the size it has now, for as long as any hold is kept; returns
 * the hold's release. Holds are counted, so that uploads running at once each hold it.
 *
 * Start-up (main.ts takes the first hold before it loads the app): loading ~1,600 modules is
 * much allocation that survives a scavenge (module sources, function metadata), and V8 doubled
 * the young generation each time, to its 2 x 16 MB maximum; with the old generation's garbage
 * on top the heap reached 101-105 MB committed before Nest had built anything, and the
 * gateway's peak RSS of its whole life was its start-up, 150-158 MB (VmHWM). Held at 1 MB the
 * heap loads the same modules in 47-51 MB: start-up peak 131 MB, ~0.1 s more start-up.
 *
 * Uploads (FilesService.create holds it while one runs): the spool asks for a scavenge every
 * SCAVENGE_EVERY_BYTES, and V8 grows the young generation once the bytes that survived its
 * scavenges since the last growth exceed its size; a few KB of live upload state per scavenge
 * did that upload after upload (new space 16 -> 32 -> 64 MB committed over four 1 GiB uploads,
 * +20-30 MB of RSS; BENCHMARKS.md). Not held for good: the chat path then ran at 1,068 req/s
 * instead of 1,581 (`bench:chat`, the young generation held at 1 MB). Once no hold is kept, V8
 * sizes it as it always did.
 */
export function holdYoungGeneration(): () => void {
  if (youngGenerationHolds++ === 0) setFlagsFromString('--semi-space-growth-factor=1');
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--youngGenerationHolds === 0) {
      setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_SEMI_SPACE_GROWTH_FACTOR}`);
      if (garbagePending) scheduleRelease();
    }
  };
}

/**
 * V8's heap growing factor, in percent above the live size, for the whole process: the old
 * generation's limit after a whole-heap collection is the live size times 1.5.
 *
 * V8 derives the factor from how fast its collections are. On this gateway (~50 MB live, quick
 * collections) that gave limits 1.1-1.3x the live size, 5-16 MB of headroom. V8 starts
 * incremental marking as soon as that headroom is less than the young generation's target
 * capacity, so during an upload it started marking again almost as soon as it had finished: one
 * mark-compact every ~250 ms, each freeing 1-3 MB (`--trace-gc` with
 * `--trace-incremental-marking`: "Start (task)" with 16 MB of slack). With 1.5x, measured in
 * alternating runs (BENCHMARKS.md):
 * - one benchmark scenario (twelve 100 MiB uploads) ran 3-5 mark-compacts where it had 19-22;
 * - the gateway's CPU per upload fell by 10-35 % (batch and plain) and by 16-18 % for the
 *   1 GiB fan-out;
 * - peak RSS rose by 2-13 MB; chat throughput held or improved; the embedded first boot's peak
 *   was unchanged.
 * V8 reads the flag each time it sets a limit, so setting it at start is enough.
 */
export const HEAP_GROWING_PERCENT = 50;

/** Sets the old generation's growing factor (see HEAP_GROWING_PERCENT); call once at start. */
export function setHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * V8's gc extension, switched on for a context made after the flag is set (the way Jest's leak
 * detector gets it); null if that ever fails, and then the callers above do nothing.
 */
function gc(): GcFunction | null {
  if (gcFunction === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFunction = runInNewContext('gc') as GcFunction;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}
