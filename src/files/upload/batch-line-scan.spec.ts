import fc from 'fast-check';
import { isAscii, isUtf8 } from 'node:buffer';
import { customIdText, readRequestLine, scanLine } from './batch-line-scan';

/*
 * The one-pass reader against the long way (JSON.parse for the verdict and the fields, the
 * scanner for the ranges): on every line it answers, both must say the same; and it must answer
 * for the lines real files have. Lines come from a generator of requests written with random key
 * order, whitespace, escapes and duplicate keys, and from byte-level mutations of those.
 */

const URLS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/x'];

/** A string token with some characters escaped that JSON.stringify would leave alone. */
function stringToken(value: string, rand: () => number): string {
  const plain = JSON.stringify(value);
  let out = '';
  for (let k = 0; k < plain.length; k++) {
    const c = plain[k];
    if (c === '\\') {
      // Keep JSON.stringify's escape whole.
      const next = plain[k + 1];
      const len = next === 'u' ? 6 : 2;
      out += plain.slice(k, k + len);
      k += len - 1;
    } else if (k > 0 && k < plain.length - 1 && rand() < 0.05) {
      out += c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    } else {
      out += c;
    }
  }
  return out;
}

const WS = ['', '', '', ' ', '\t', '\r', '  '];

/** JSON text of `value` with random whitespace, key order, escapes and an occasional duplicate. */
function write(value: unknown, rand: () => number): string {
  const ws = () => WS[Math.floor(rand() * WS.length)];
  const emit = (v: unknown): string => {
    if (typeof v === 'string') return stringToken(v, rand);
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => emit(x)).join(`${ws()},${ws()}`)}${ws()}]`;
    if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v).sort(() => rand() - 0.5);
      if (entries.length > 0 && rand() < 0.1) {
        // A duplicate before the real one: JSON.parse keeps the last.
        const [key] = entries[Math.floor(rand() * entries.length)];
        entries.unshift([key, rand() < 0.5 ? 'first' : { nested: [1, 2] }]);
      }
      const members = entries.map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${emit(x)}`);
      return `{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}`;
    }
    return JSON.stringify(v) ?? 'null';
  };
  return `${ws()}${emit(value)}${ws()}`;
}

const text = fc.string({ unit: 'binary', maxLength: 12 });
const fileId = fc.oneof(fc.constantFrom('file-abc', 'file-é9', 'file-x"y'), fc.jsonValue());
const part = fc.oneof(
  fc.record({ type: fc.constant('text'), text }),
  fc.record(
    { type: fc.constant('file'), file: fc.record({ file_id: fileId, filename: text }) },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.constant('input_file'), file_id: fileId }),
  fc.jsonValue({ maxDepth: 2 }),
);
const message = fc.record({
  role: fc.constantFrom('user', 'system'),
  content: fc.oneof(text, fc.array(part, { maxLength: 3 })),
});
const inputItem = fc.oneof(
  message,
  fc.record({ type: fc.constant('input_file'), file_id: fileId }),
  fc.jsonValue({ maxDepth: 2 }),
);
const request = fc.record(
  {
    custom_id: text,
    method: fc.constantFrom('POST', 'GET'),
    url: fc.constantFrom(...URLS),
    body: fc.record(
      {
        model: text,
        messages: fc.array(message, { maxLength: 3 }),
        input: fc.oneof(text, fc.array(inputItem, { maxLength: 3 })),
        temperature: fc.double({ noNaN: true, noDefaultInfinity: true }),
        extra: fc.jsonValue({ maxDepth: 3 }),
      },
      { requiredKeys: ['model'] },
    ),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: ['custom_id', 'method', 'url', 'body'] },
);

/** The long way's answer: the fields JSON.parse keeps, and the scanner's ranges. */
function longWay(bytes: Buffer) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { valid: false as const };
  }
  const line = parsed as Record<string, unknown> | null;
  const body = line?.body as Record<string, unknown> | undefined;
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const fields =
    isObject(line) &&
    isObject(body) &&
    [line?.custom_id, line?.method, line?.url, body?.model].every((v) => typeof v === 'string')
      ? {
          customId: line?.custom_id,
          method: line?.method,
          url: line?.url,
          model: body?.model,
        }
      : null;
  const latin1 = bytes.toString('latin1');
  const spans = isObject(line) ? scanLine(latin1, latin1.includes('\\')) : [];
  return { valid: true as const, fields, spans };
}

function agree(bytes: Buffer): { answered: boolean } {
  if (!isUtf8(bytes)) return { answered: false };
  const fast = readRequestLine(bytes, isAscii(bytes));
  if (fast === null) return { answered: false };
  const slow = longWay(bytes);
  expect(slow.valid).toBe(true);
  if (!slow.valid) return { answered: true };
  expect({
    customId: customIdText(fast, bytes),
    method: fast.method,
    url: fast.url,
    model: fast.model,
  }).toEqual(slow.fields);
  expect(fast.spans).toEqual(slow.spans);
  return { answered: true };
}

function hasEscapedKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasEscapedKey);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(
    ([k, v]) => JSON.stringify(k).includes('\\') || hasEscapedKey(v),
  );
}

describe('readRequestLine', () => {
  it('should answer for every generated request, as JSON.parse and the scanner do', () => {
    fc.assert(
      // Keys as files have them: the one thing the reader declines is an escaped key (below).
      fc.property(
        request.filter((value) => !hasEscapedKey(value)),
        fc.integer(),
        (value, seed) => {
          let x = seed | 1;
          const rand = () => {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            return (x >>> 0) / 2 ** 32;
          };
          const bytes = Buffer.from(write(value, rand));
          expect(agree(bytes).answered).toBe(true);
        },
      ),
      { seed: 20261202, numRuns: 2000 },
    );
  });

  it('should never accept a line JSON.parse refuses, nor read a mutated line differently', () => {
    const interesting = Buffer.from('{}[]",:\\ 0123456789eE+-.tfnulr\t\r\x00\x1f\x7fé');
    let answered = 0;
    let declined = 0;
    fc.assert(
      fc.property(
        request,
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('delete', 'insert', 'replace')), {
          minLength: 1,
          maxLength: 3,
        }),
        (value, edits) => {
          let bytes = Buffer.from(JSON.stringify(value));
          for (const [at, pick, kind] of edits) {
            const k = at % (bytes.length + 1);
            const byte = interesting.subarray(
              pick % interesting.length,
              (pick % interesting.length) + 1,
            );
            const after = kind === 'insert' ? k : k + 1;
            bytes = Buffer.concat([
              bytes.subarray(0, k),
              kind === 'delete' ? Buffer.alloc(0) : byte,
              bytes.subarray(after),
            ]);
          }
          if (agree(bytes).answered) answered++;
          else declined++;
        },
      ),
      { seed: 20261203, numRuns: 20000 },
    );
    // Both sides were exercised: mutations that keep the line valid, and ones that break it.
    expect(answered).toBeGreaterThan(1000);
    expect(declined).toBeGreaterThan(1000);
  });

  it.each([
    [
      'an escaped key where keys matter',
      '{"custom_id":"a","method":"POST","url":"/v1/x","body":{"mod\\u0065l":"m"}}',
    ],
    [
      'a custom_id that is not a string',
      '{"custom_id":1,"method":"POST","url":"/v1/x","body":{"model":"m"}}',
    ],
    ['a body that is not an object', '{"custom_id":"a","method":"POST","url":"/v1/x","body":[]}'],
    [
      'a later body without a model',
      '{"custom_id":"a","method":"POST","url":"/v1/x","body":{"model":"m"},"body":{}}',
    ],
    ['a top-level array', '[{"custom_id":"a"}]'],
    ['a trailing comma', '{"custom_id":"a","method":"POST","url":"/v1/x","body":{"model":"m"},}'],
    [
      'a raw tab in a string',
      '{"custom_id":"a\tb","method":"POST","url":"/v1/x","body":{"model":"m"}}',
    ],
    ['a second value', '{"custom_id":"a","method":"POST","url":"/v1/x","body":{"model":"m"}} {}'],
  ])('should leave %s to the long way', (_name, line) => {
    expect(readRequestLine(Buffer.from(line), true)).toBeNull();
  });

  it('should keep the last of duplicate fields and give the range of every copy of a rewritten one', () => {
    const line = Buffer.from(
      '{"custom_id":"a","custom_id":"b","method":"POST","url":"/v1/x",' +
        '"body":{"model":"m1","input":[{"file_id":"file-1","content":[{"file_id":"file-2"}]}],"model":"m2"}}',
    );
    const read = readRequestLine(line, true);
    expect(read).toMatchObject({ customId: null, model: 'm2' });
    expect(read && customIdText(read, line)).toBe('b');
    const values = read?.spans.map(
      (s) => `${s.path}:${line.toString('latin1', s.start, s.end)}:${s.i}.${s.j}`,
    );
    expect(values).toEqual([
      '0:"a":0.0',
      '0:"b":0.0',
      '1:"m1":0.0',
      '3:"file-1":0.0',
      '4:"file-2":0.0',
      '1:"m2":0.0',
    ]);
  });

  it('should read lines nested deeper than the call stack would allow', () => {
    const depth = 200_000;
    const line = Buffer.from(
      `{"custom_id":"a","method":"POST","url":"/v1/x","body":{"model":"m","x":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
    );
    expect(readRequestLine(line, true)?.model).toBe('m');
  });
});
