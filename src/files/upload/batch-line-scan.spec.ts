import fc from 'fast-check';
import { isAscii, isUtf8 } from 'node:buffer';
import { FILE_ID_PATHS } from '../../managed-refs/file-id-paths';
import {
  readRequestLine,
  SpanPaths,
  type RequestLine,
  type Span,
  type LineReader,
} from './batch-line-scan';

/*
 * The one-pass reader against JSON.parse for the verdict and the fields, and against the paths
 * of FILE_ID_PATHS for the ranges it finds. Lines come from a generator of requests written with
 * random key order, whitespace, escapes (in keys too) and duplicate keys, which records where it
 * put every value at a rewritten path, and from byte-level mutations of those.
 */

/** The custom_id a reader's answer names: decoded, or its bytes as they stand. */
function customIdText(line: RequestLine, bytes: Buffer): string {
  return line.customId ?? bytes.toString('utf8', line.customIdFrom, line.customIdTo);
}

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

/**
 * The paths whose values the rewrite reads or replaces, as JSON paths (`*`: any array index):
 * `custom_id`, `body.model`, and `body.` + each of FILE_ID_PATHS.
 */
const SPAN_PATTERNS: ReadonlyArray<{
  readonly path: Span['path'];
  readonly at: readonly string[];
}> = [
  { path: SpanPaths.customId, at: ['custom_id'] },
  { path: SpanPaths.model, at: ['body', 'model'] },
  ...[
    [SpanPaths.chatFile, FILE_ID_PATHS.chatCompletions[0]],
    [SpanPaths.inputItem, FILE_ID_PATHS.responses[0]],
    [SpanPaths.inputPart, FILE_ID_PATHS.responses[1]],
  ].map(([path, text]) => ({
    path: path as Span['path'],
    at: [
      'body',
      ...(text as string)
        .split('.')
        .flatMap((s) => (s.endsWith('[*]') ? [s.slice(0, -3), '*'] : [s])),
    ],
  })),
];

/** The span a value at `at` makes, if its path is one of SPAN_PATTERNS. */
function spanAt(at: ReadonlyArray<string | number>, start: number, end: number): Span | null {
  for (const pattern of SPAN_PATTERNS) {
    if (pattern.at.length !== at.length) continue;
    const indices: number[] = [];
    const matches = pattern.at.every((segment, k) => {
      if (segment !== '*') return at[k] === segment;
      if (typeof at[k] !== 'number') return false;
      indices.push(at[k]);
      return true;
    });
    if (matches) return { start, end, path: pattern.path, i: indices[0] ?? 0, j: indices[1] ?? 0 };
  }
  return null;
}

/**
 * JSON text of `value` with random whitespace, key order, escapes and an occasional duplicate,
 * and the spans of the values it wrote at SPAN_PATTERNS' paths (byte offsets, in text order).
 */
function write(value: unknown, rand: () => number): { bytes: Buffer; spans: Span[] } {
  let out = '';
  let at = 0;
  const spans: Span[] = [];
  const put = (text: string) => {
    out += text;
    at += Buffer.byteLength(text);
  };
  const ws = () => put(WS[Math.floor(rand() * WS.length)]);
  const emit = (v: unknown, path: ReadonlyArray<string | number>): void => {
    const start = at;
    if (typeof v === 'string') {
      put(stringToken(v, rand));
    } else if (Array.isArray(v)) {
      put('[');
      ws();
      v.forEach((x, k) => {
        if (k > 0) {
          ws();
          put(',');
          ws();
        }
        emit(x, [...path, k]);
      });
      ws();
      put(']');
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v).sort(() => rand() - 0.5);
      if (entries.length > 0 && rand() < 0.1) {
        // A duplicate before the real one: JSON.parse keeps the last.
        const [key] = entries[Math.floor(rand() * entries.length)];
        entries.unshift([key, rand() < 0.5 ? 'first' : { nested: [1, 2] }]);
      }
      put('{');
      ws();
      entries.forEach(([k, x], n) => {
        if (n > 0) {
          ws();
          put(',');
          ws();
        }
        put(stringToken(k, rand));
        ws();
        put(':');
        ws();
        emit(x, [...path, k]);
      });
      ws();
      put('}');
    } else {
      put(JSON.stringify(v) ?? 'null');
    }
    const span = spanAt(path, start, at);
    if (span !== null) spans.push(span);
  };
  ws();
  emit(value, []);
  ws();
  return { bytes: Buffer.from(out), spans: spans.sort((a, b) => a.start - b.start) };
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

/** What JSON.parse makes of a line: whether it is JSON, and the fields if they are well typed. */
function parsed(bytes: Buffer) {
  let line: unknown;
  try {
    line = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { valid: false as const, fields: null };
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(line) || !isObject(line.body)) return { valid: true as const, fields: null };
  const fields = {
    customId: line.custom_id,
    method: line.method,
    url: line.url,
    model: line.body.model,
  };
  const typed = Object.values(fields).every((v) => typeof v === 'string');
  return { valid: true as const, fields: typed ? fields : null };
}

/** The reader answers exactly for lines JSON.parse reads as a well-typed request, with its fields. */
function agree(bytes: Buffer, reader: LineReader): Span[] | null {
  if (!isUtf8(bytes)) return null;
  const fast = readRequestLine(bytes, isAscii(bytes), reader);
  const slow = parsed(bytes);
  expect({ answered: fast !== null, valid: slow.valid && slow.fields !== null }).toEqual({
    answered: slow.valid && slow.fields !== null,
    valid: slow.valid && slow.fields !== null,
  });
  if (fast === null) return null;
  const { method, url, model } = fast;
  expect({ customId: customIdText(fast, bytes), method, url, model }).toEqual(slow.fields);
  return fast.spans;
}

/** The two readers (batch-line-scan.ts): each is held to JSON.parse on its own. */
const READERS: LineReader[] = ['fastest', 'in JavaScript'];

describe.each(READERS)('readRequestLine, read %s', (reader) => {
  it('should read every generated request as JSON.parse does, and find every value at a rewritten path', () => {
    fc.assert(
      fc.property(request, fc.integer(), (value, seed) => {
        let x = seed | 1;
        const rand = () => {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          return (x >>> 0) / 2 ** 32;
        };
        const { bytes, spans } = write(value, rand);
        expect(agree(bytes, reader)).toEqual(spans);
      }),
      { seed: 20261202, numRuns: 3000 },
    );
  });

  it('should answer for a mutated line exactly when JSON.parse reads a request in it', () => {
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
          const spans = agree(bytes, reader);
          if (spans === null) {
            declined++;
            return;
          }
          answered++;
          // Each range is one JSON value of the line.
          for (const span of spans) {
            expect(
              () => JSON.parse(bytes.toString('utf8', span.start, span.end)) as unknown,
            ).not.toThrow();
          }
        },
      ),
      { seed: 20261203, numRuns: 20000 },
    );
    // Both sides were exercised: mutations that keep a request, and ones that break it.
    expect(answered).toBeGreaterThan(1000);
    expect(declined).toBeGreaterThan(1000);
  });

  it.each([
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
  ])('should refuse %s', (_name, line) => {
    expect(readRequestLine(Buffer.from(line), true, reader)).toBeNull();
  });

  it('should read an escaped key as the key it spells', () => {
    const line = Buffer.from(
      String.raw`{"custom_\u0069d":"a","method":"POST","url":"/v1/x","body":{"mod\u0065l":"m","x\"y":{"model":1}}}`,
    );
    const read = readRequestLine(line, true, reader);
    expect(read?.model).toBe('m');
    expect(read && customIdText(read, line)).toBe('a');
    expect(read?.spans.map((s) => line.toString('latin1', s.start, s.end))).toEqual(['"a"', '"m"']);
  });

  it('should keep the last of duplicate fields and give the range of every copy of a rewritten one', () => {
    const line = Buffer.from(
      '{"custom_id":"a","custom_id":"b","method":"POST","url":"/v1/x",' +
        '"body":{"model":"m1","input":[{"file_id":"file-1","content":[{"file_id":"file-2"}]}],"model":"m2"}}',
    );
    const read = readRequestLine(line, true, reader);
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
    expect(readRequestLine(line, true, reader)?.model).toBe('m');
  });

  it('should find every file id of a line with more than the WebAssembly answer holds', () => {
    const items = Array.from({ length: 2100 }, (_, k) => ({ file_id: `file-${k}` }));
    const value = {
      custom_id: 'many',
      method: 'POST',
      url: '/v1/x',
      body: { model: 'm', input: items },
    };
    const line = Buffer.from(JSON.stringify(value));
    const spans = readRequestLine(line, true, reader)?.spans ?? [];
    expect(spans).toHaveLength(2 + 2100);
    expect(spans.at(-1)).toMatchObject({ path: SpanPaths.inputItem, i: 2099, j: 0 });
    expect(line.toString('latin1', spans[2101].start, spans[2101].end)).toBe('"file-2099"');
  });

  it('should read a line longer than the WebAssembly memory (the JavaScript reader then reads it)', () => {
    const text = 'a "quoted" word\\n and a \\u00e9 '.repeat(70_000);
    const value = { custom_id: 'long', method: 'POST', url: '/v1/x', body: { model: 'm', text } };
    const line = Buffer.from(JSON.stringify(value));
    expect(line.length).toBeGreaterThan(2 * 1024 * 1024);
    expect(agree(line, reader)).toHaveLength(2);
    const truncated = line.subarray(0, line.length - 3);
    expect(readRequestLine(truncated, true, reader)).toBeNull();
  });
});
