import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { SpanPaths } from './batch-line-scan';
import { Answer, BatchLineWasm, Verdict } from './batch-line-wasm';
import { stringEndInJs } from './json-string';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require('../../../scripts/build-wasm.js') as {
  generate(): Promise<string>;
  TARGET: string;
};

/** Bytes that end, start or break a string's run, and some that do not. */
const ALPHABET = Buffer.from('aZ "\\u0fFgbnrt/\t\x00\x1f\x7f\xe9\x80');

describe('batch-line.wat and json-string.ts: where a JSON string token ends', () => {
  const wasm = BatchLineWasm.create() as BatchLineWasm;

  it('should run batch-line.wat as npm run build:wasm compiles it', async () => {
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
          wasm.load(bytes);
          expect(wasm.stringEnd(start, end)).toBe(stringEndInJs(bytes, start, end));
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

describe('batch-line.wat: reading a request line', () => {
  const wasm = BatchLineWasm.create() as BatchLineWasm;
  const read = (text: string): number => {
    const bytes = Buffer.from(text);
    wasm.load(bytes);
    return wasm.readLine(bytes.length);
  };
  const request = (body: string, customId = '"a"') =>
    `{"custom_id":${customId},"method":"POST","url":"/v1/responses","body":${body}}`;

  it('should answer a request line itself, with its fields and spans as token ranges', () => {
    const text = request(
      '{"model":"m","input":[{"content":[{"file_id":"file-1"}]}]}',
      '"a\\u0062"',
    );
    expect(read(text)).toBe(Verdict.request);
    const { answer } = wasm;
    const token = (at: number) => text.slice(answer[at], answer[at + 1]);
    expect(text.slice(answer[Answer.customIdFrom], answer[Answer.customIdTo])).toBe('a\\u0062');
    expect(answer[Answer.customIdEscaped]).toBe(1);
    expect([token(Answer.method), token(Answer.url), token(Answer.model)]).toEqual([
      '"POST"',
      '"/v1/responses"',
      '"m"',
    ]);
    const spans = Array.from({ length: answer[Answer.spanCount] }, (_, k) =>
      Array.from(answer.subarray(Answer.spans + k * 5, Answer.spans + k * 5 + 5)),
    );
    expect(spans.map(([start, end, ...rest]) => [text.slice(start, end), ...rest])).toEqual([
      ['"a\\u0062"', SpanPaths.customId, 0, 0],
      ['"m"', SpanPaths.model, 0, 0],
      ['"file-1"', SpanPaths.inputPart, 0, 0],
    ]);
  });

  it('should refuse a line that is not a request, whatever bytes its memory held before', () => {
    read(request('{"model":"m"}') + ' '.repeat(64));
    expect(read('{"custom_id":"a","method":"POST","url":"/v1/x","body":{"model":"m"},"x":t')).toBe(
      Verdict.notARequest,
    );
    expect(read(request('{"model":"m"}').slice(0, -1))).toBe(Verdict.notARequest);
    expect(read(request('{"model":1}'))).toBe(Verdict.notARequest);
  });

  it.each([
    [
      'nested deeper than its stack',
      request(`{"model":"m","x":${'['.repeat(600)}${']'.repeat(600)}}`),
    ],
    [
      'with more rewritten values than its answer holds',
      request(`{"model":"m","input":[${Array(2100).fill('{"file_id":"file-1"}').join(',')}]}`),
    ],
    ['with an escaped key where keys matter', request('{"mod\\u0065l":"m"}')],
  ])('should leave a line %s to the JavaScript reader', (_name, text) => {
    expect(read(text)).toBe(Verdict.readInJs);
  });
});

describe('batch-line.wat in the built gateway', () => {
  it('should be compiled and read a request line in dist/ under the flags the gateway starts with', () => {
    // The tests run the TypeScript as ES modules; the gateway runs dist/'s CommonJS, where a
    // mistake can turn the module off without failing a line (the JavaScript reader reads then).
    const root = join(__dirname, '..', '..', '..');
    const built = join(root, 'dist', 'files', 'upload', 'batch-line-wasm.js');
    if (!existsSync(built)) throw new Error('dist/ is missing: run `npm run build` first');
    const flags = execFileSync(process.execPath, [join(root, 'scripts', 'node-flags.js')], {
      encoding: 'utf8',
    });
    const script = `
      const { BatchLineWasm } = require(${JSON.stringify(built)});
      const wasm = BatchLineWasm.create();
      const line = Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/x","body":{"model":"m"}}');
      wasm.load(line);
      process.stdout.write(String(wasm.readLine(line.length)));`;
    const args = [...flags.split(' ').filter((f) => f !== ''), '-e', script];
    expect(execFileSync(process.execPath, args, { encoding: 'utf8' })).toBe(
      String(Verdict.request),
    );
  });
});
