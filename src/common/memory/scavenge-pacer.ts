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

type MinorGc = () => void;

let minorGc: MinorGc | null | undefined;
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
 * (measured: 1 GiB to three deployments, 64-120 mark-compacts and 5-10 s of gateway CPU before,
 * none and ~1 s after; BENCHMARKS.md).
 *
 * The gc function comes from V8's gc extension, switched on for a context made after the flag
 * is set (the way Jest's leak detector gets it); if that ever fails the pacer does nothing.
 */
export function noteAllocatedBuffers(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < SCAVENGE_EVERY_BYTES) return;
  sinceLast = 0;
  if (minorGc === undefined) minorGc = loadMinorGc();
  minorGc?.();
}

function loadMinorGc(): MinorGc | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options: object) => void;
    return () => gc({ type: 'minor', execution: 'sync' });
  } catch {
    return null;
  }
}
