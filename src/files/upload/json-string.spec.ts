import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringEndInJs, WasmStrings } from './json-string';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require('../../../scripts/build-wasm.js') as {
  generate(): Promise<string>;
  TARGET: string;
};

/** Bytes that end, start or break a string's run, and some that do not. */
const ALPHABET = Buffer.from('aZ "\\u0fFgbnrt/\t\x00\x1f\x7f\xe9\x80');

describe('json-string: where a JSON string token ends', () => {
  const wasm = WasmStrings.create() as WasmStrings;

  it('should run json-string.wat as npm run build:wasm compiles it', async () => {
    expect(await build.generate()).toBe(readFileSync(build.TARGET, 'utf8'));
  });

  it('should find the end of plain, escaped and broken strings', () => {
    const end = (text: string): number => {
      const bytes = Buffer.from(text, 'latin1');
      return stringEndInJs(bytes, 0, bytes.length);
    };
    expect(end('abc"')).toBe(3 * 2);
    expect(end('a\\"b\\\\c\\/\\u00E9"tail')).toBe(15 * 2 + 1);
    expect(end('abc')).toBe(-1); // no closing quote
    expect(end('a\tb"')).toBe(-1); // a raw control byte
    expect(end('a\\x"')).toBe(-1); // no such escape
    expect(end('a\\u00g0"')).toBe(-1);
    expect(end('a\\u00e"')).toBe(-1);
  });

  it('should answer as the byte loop does for any bytes, wherever the string ends and whatever follows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(ALPHABET.length - 1), { maxLength: 80 }),
        fc.nat(),
        fc.nat(),
        (picks, cut, skip) => {
          const bytes = Buffer.from(picks.map((k) => ALPHABET[k]));
          // The string must end before `end`; the bytes after it are garbage to both.
          const end = bytes.length === 0 ? 0 : cut % (bytes.length + 1);
          const start = end === 0 ? 0 : skip % (end + 1);
          const loaded = wasm.load(bytes);
          expect(wasm.stringEnd(start, end)).toBe(stringEndInJs(loaded, start, end));
        },
      ),
      { seed: 20261204, numRuns: 50_000 },
    );
  });

  it('should read a string as long as its memory allows, up to its last byte', () => {
    const bytes = Buffer.alloc(wasm.maxLineBytes, 0x61);
    bytes[bytes.length - 1] = 0x22;
    wasm.load(bytes);
    expect(wasm.stringEnd(0, bytes.length)).toBe((bytes.length - 1) * 2);
  });
});
