/*
 * Where a JSON string token ends, found two ways with one contract: the batch line reader
 * (batch-line-scan.ts) asks for every string of every line, and string content is most of a
 * batch file's bytes. `stringEndInJs` is a byte loop, for the JavaScript reader; batch-line.wat
 * has the same function 16 bytes per step (WebAssembly SIMD), for its own walk, exported so a
 * test holds the two to each other.
 *
 * The answer for the string whose content starts at `i` (just after its opening quote) and
 * must close before `end`: the offset of its closing quote times two, plus 1 if it has an
 * escape; -1 if it is not a JSON string (a raw control byte, an escape JSON does not have, no
 * closing quote).
 */

// Plain constants, never re-exported: a re-export compiles to a getter on the exporting
// module's `exports`, and the reader's loops, which read their constants from it, ran 45 %
// slower for it (measured).
export const QUOTE = 0x22;
const BACKSLASH = 0x5c;
export const SPACE = 0x20;

/** The byte loop: `b[i, end)` as the contract above says. */
export function stringEndInJs(b: Uint8Array, i: number, end: number): number {
  let escaped = 0;
  for (;;) {
    let d = 0;
    while (i < end && (d = b[i]) !== QUOTE && d !== BACKSLASH && d >= SPACE) i++;
    if (i >= end || d < SPACE) return -1;
    if (d === QUOTE) return i * 2 + escaped;
    escaped = 1;
    i = escapeEnd(b, i);
    if (i < 0) return -1;
  }
}

/** The escape at `b[i]` (a backslash): the offset after it, or -1 if JSON has no such escape. */
function escapeEnd(b: Uint8Array, i: number): number {
  const e = b[i + 1];
  if (e === 0x75) {
    return isHex(b[i + 2]) && isHex(b[i + 3]) && isHex(b[i + 4]) && isHex(b[i + 5]) ? i + 6 : -1;
  }
  // " \ / b f n r t
  return e === QUOTE ||
    e === BACKSLASH ||
    e === 0x2f ||
    e === 0x62 ||
    e === 0x66 ||
    e === 0x6e ||
    e === 0x72 ||
    e === 0x74
    ? i + 2
    : -1;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}
