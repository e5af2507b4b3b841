import fc from 'fast-check';
import type { UserName } from './create-test-app';
import {
  extendedFilename,
  fieldPart,
  filePart,
  quotedFilename,
  rawMultipart,
  type DelimiterStyle,
  type RawPart,
} from './raw-multipart';
import type { WireFraming, WireRequest, WireResponse } from './wire';

/**
 * Generated requests for the Files routes and the upload parser (test/e2e/files-fuzz.e2e-spec.ts).
 * A plan is pure data drawn from a seeded fast-check arbitrary; it becomes bytes only when run,
 * against the files that exist at that moment (`FuzzContext.live`), so requests can hit real ids.
 */

export const MODEL_NAMES = ['gpt-4o-mini', 'gpt-4o'] as const;
// 'batch' uploads must be valid batch JSONL (they are validated and rewritten per deployment,
// test/e2e/batches.e2e-spec.ts); the well-formed uploads here carry arbitrary bytes.
const PURPOSES = ['assistants', 'fine-tune', 'vision', 'user_data', 'evals'] as const;
const LIST_PURPOSES = [
  ...PURPOSES,
  'batch',
  'assistants_output',
  'batch_output',
  'fine-tune-results',
];

/** Who the request claims to be: a configured user, or an Authorization header that is wrong. */
export type FuzzCaller =
  UserName | 'anonymous' | 'wrong-key' | 'basic' | 'empty-bearer' | 'long-key' | 'lowercase-scheme';

const VALID_CALLERS: ReadonlySet<FuzzCaller> = new Set<FuzzCaller>([
  'alice',
  'bob',
  'carol',
  'admin',
]);
/** Callers the gateway must refuse with 401 whatever the route. */
const REFUSED_CALLERS: ReadonlySet<FuzzCaller> = new Set<FuzzCaller>([
  'anonymous',
  'wrong-key',
  'basic',
  'empty-bearer',
  'long-key',
]);

export interface LiveFile {
  /** The unified id the upload answered. */
  readonly id: string;
  readonly owner: UserName;
  readonly filename: string;
  readonly purpose: string;
  readonly data: Buffer;
}

export interface FuzzContext {
  /** The Host header value. */
  readonly host: string;
  readonly maxUploadBytes: number;
  authorization(caller: FuzzCaller): string | null;
  /** Files uploaded well-formed and not deleted since, oldest first. */
  readonly live: readonly LiveFile[];
  addLive(file: LiveFile): void;
  removeLive(id: string): void;
}

export interface BuiltCase {
  readonly request: WireRequest;
  /** What this request must get beyond the checks every request gets; empty when fine. */
  readonly expect?: (response: WireResponse) => readonly string[];
  /** Keeps `live` in step with the store once a response is in (whether or not it passed). */
  readonly onAnswered?: (response: WireResponse) => void;
}

export interface FuzzPlan {
  /** The hostile shape this plan is, e.g. `upload/truncated` (used to group failures). */
  readonly shape: string;
  build(ctx: FuzzContext): BuiltCase;
}

function plan(shape: string, summary: string, build: (ctx: FuzzContext) => BuiltCase): FuzzPlan {
  // fast-check prints counterexamples with this; the default would dump every Buffer byte.
  return { shape, build, [fc.toStringMethod]: () => `${shape} (${summary})` } as FuzzPlan;
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

function baseHeaders(
  ctx: FuzzContext,
  caller: FuzzCaller,
  requestId: string | null,
): Array<readonly [string, string]> {
  // Connection: close gives each request its own connection, so one bad request cannot
  // desynchronise the next one's framing and a failure belongs to exactly one request.
  const headers: Array<readonly [string, string]> = [
    ['Host', ctx.host],
    ['Connection', 'close'],
  ];
  const authorization = ctx.authorization(caller);
  if (authorization !== null) headers.push(['Authorization', authorization]);
  if (requestId !== null) headers.push(['X-Request-Id', requestId]);
  return headers;
}

/** JSONL of exactly `bytes` bytes, the same for the same (bytes, seed). */
export function jsonlBytes(bytes: number, seed: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `{"custom_id":"fz-${seed}-${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi ${i}"}]}}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** Bytes of a repeating pattern: hostile bodies need a size, not meaning. */
function patternBytes(bytes: number, fill: number): Buffer {
  const buffer = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) buffer[i] = (fill + i * 31) & 0xff;
  return buffer;
}

/** Percent-encodes every byte outside RFC 3986 unreserved: any string becomes a safe target. */
export function pct(value: string | Buffer): string {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  let out = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    out += /^[A-Za-z0-9\-._~]$/.test(char)
      ? char
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const callerArb: fc.Arbitrary<FuzzCaller> = fc.oneof(
  { arbitrary: fc.constant<FuzzCaller>('alice'), weight: 12 },
  { arbitrary: fc.constantFrom<FuzzCaller>('bob', 'carol', 'admin'), weight: 3 },
  {
    arbitrary: fc.constantFrom<FuzzCaller>(
      'anonymous',
      'wrong-key',
      'basic',
      'empty-bearer',
      'long-key',
      'lowercase-scheme',
    ),
    weight: 2,
  },
);

/** Mostly no X-Request-Id; else a sane one to echo, or one the gateway must not echo. */
const requestIdArb: fc.Arbitrary<string | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      'fuzz-req-1',
      '',
      'a b c',
      '<script>alert(1)</script>',
      'x'.repeat(300),
      '../../etc/passwd',
      'caf\u00e9',
    ),
    weight: 2,
  },
);

/** Weighted: mostly sent whole, often chunked, sometimes the client walks away mid-body. */
function framingArb(allowAbort: boolean): fc.Arbitrary<FramingChoice> {
  const whole = fc.oneof(
    { arbitrary: fc.constant<FramingChoice>({ kind: 'length' }), weight: 6 },
    {
      arbitrary: fc
        .array(fc.integer({ min: 1, max: 24_000 }), { minLength: 1, maxLength: 6 })
        .map((chunkSizes): FramingChoice => ({ kind: 'chunked', chunkSizes })),
      weight: 3,
    },
  );
  if (!allowAbort) return whole;
  return fc.oneof(
    { arbitrary: whole, weight: 9 },
    {
      arbitrary: fc
        .record({
          at: fc.double({ min: 0, max: 0.999, noNaN: true }),
          how: fc.constantFrom<'destroy' | 'half-close'>('destroy', 'half-close'),
        })
        .map((a): FramingChoice => ({ kind: 'abort', at: a.at, how: a.how })),
      weight: 1,
    },
  );
}

export type FramingChoice =
  | { readonly kind: 'length' }
  | { readonly kind: 'chunked'; readonly chunkSizes: readonly number[] }
  /** Abort after this fraction of the body. */
  | { readonly kind: 'abort'; readonly at: number; readonly how: 'destroy' | 'half-close' };

function toFraming(choice: FramingChoice, bodyLength: number): WireFraming {
  switch (choice.kind) {
    case 'length':
      return { kind: 'length' };
    case 'chunked':
      return { kind: 'chunked', chunkSizes: choice.chunkSizes };
    case 'abort':
      return { kind: 'abort', afterBytes: Math.floor(choice.at * bodyLength), how: choice.how };
  }
}

function framingLabel(choice: FramingChoice): string {
  return choice.kind === 'abort' ? `abort-${choice.how}@${choice.at.toFixed(2)}` : choice.kind;
}

// ---------------------------------------------------------------------------------------------
// Response checks
// ---------------------------------------------------------------------------------------------

export function jsonOf(response: WireResponse): unknown {
  try {
    return JSON.parse(response.body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectStatus(response: WireResponse, status: number): string[] {
  return response.status === status ? [] : [`expected HTTP ${status}, got ${response.status}`];
}

/** A file object (OpenAI's shape) with the given fields. */
function fileObjectProblems(
  response: WireResponse,
  want: { id?: string; filename: string; bytes: number; purpose: string },
): string[] {
  const body = jsonOf(response);
  if (!isRecord(body)) return ['the 200 body is not a JSON object'];
  const problems: string[] = [];
  if (typeof body.id !== 'string' || !/^file-[A-Za-z0-9_-]+$/.test(body.id)) {
    problems.push(`id ${JSON.stringify(body.id)} is not a file-… id`);
  }
  if (want.id !== undefined && body.id !== want.id) problems.push('id differs from the upload');
  if (body.object !== 'file') problems.push(`object is ${JSON.stringify(body.object)}`);
  if (body.filename !== want.filename) {
    problems.push(
      `filename ${JSON.stringify(body.filename)} is not the uploaded ${JSON.stringify(want.filename)}`,
    );
  }
  if (body.bytes !== want.bytes) problems.push(`bytes ${String(body.bytes)} ≠ ${want.bytes}`);
  if (body.purpose !== want.purpose) problems.push(`purpose ${JSON.stringify(body.purpose)}`);
  if (body.status !== 'processed') problems.push(`status ${JSON.stringify(body.status)}`);
  return problems;
}

export function uploadedId(response: WireResponse): string | null {
  const body = jsonOf(response);
  return isRecord(body) && typeof body.id === 'string' ? body.id : null;
}

// ---------------------------------------------------------------------------------------------
// Well-formed uploads: odd but valid filenames and MIME types, every target spelling
// ---------------------------------------------------------------------------------------------

/**
 * A filename any client may send: unicode (emoji, CJK, RTL, combining marks), spaces, `%`,
 * `;` and `'`. Left out: control and format characters, `"` and `\` (quoted-string escapes),
 * `/` (a path), surrounding whitespace — a gateway may legitimately treat those specially.
 */
const oddFilenameArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }),
      fc.constantFrom(
        'batch input',
        '数据集',
        'données été',
        'ملف',
        'e\u0301t\u00e9',
        '\u{1F4C4}\u{1F680}',
        '100% done; really',
        "o'brien (1)",
        'a'.repeat(200),
        '#hash&amp=1?x',
      ),
    ),
    fc.constantFrom('.jsonl', '.JSONL', '.txt', '.tar.gz', '', '.jsonl.bak'),
  )
  .map(([stem, ext]) => `${stem.replace(/[\p{C}"\\/]/gu, '_').trim()}${ext}`)
  // NAME_MAX: a name any filesystem can hold must be accepted; longer ones are hostile shapes.
  .filter(
    (name) =>
      name.length > 0 &&
      name === name.trim() &&
      !/^\.+$/.test(name) &&
      Buffer.byteLength(name) <= 255,
  );

const mimeToken = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.+-_'.split('')),
  minLength: 1,
  maxLength: 30,
});
const validMimeArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'application/jsonl',
    'application/json',
    'application/x-ndjson',
    'application/octet-stream',
    'text/plain',
    'text/plain; charset=utf-8',
    'application/vnd.openai.batch+jsonl',
    'image/png',
  ),
  fc.tuple(mimeToken, mimeToken).map(([type, subtype]) => `${type}/${subtype}`),
);

export type TargetSpelling =
  | { readonly kind: 'csv'; readonly names: readonly string[]; readonly padded: boolean }
  | { readonly kind: 'brackets'; readonly names: readonly string[] }
  | { readonly kind: 'indexed'; readonly names: readonly string[] }
  | { readonly kind: 'json'; readonly names: readonly string[] }
  | { readonly kind: 'model'; readonly names: readonly string[] };

const targetNamesArb = fc.subarray([...MODEL_NAMES], { minLength: 1 });
const targetSpellingArb: fc.Arbitrary<TargetSpelling> = fc.oneof(
  fc
    .record({ names: targetNamesArb, padded: fc.boolean() })
    .map((r): TargetSpelling => ({ kind: 'csv', ...r })),
  targetNamesArb.map((names): TargetSpelling => ({ kind: 'brackets', names })),
  targetNamesArb.map((names): TargetSpelling => ({ kind: 'indexed', names })),
  targetNamesArb.map((names): TargetSpelling => ({ kind: 'json', names })),
  fc.constantFrom(...MODEL_NAMES).map((name): TargetSpelling => ({ kind: 'model', names: [name] })),
);

function targetFields(spelling: TargetSpelling): Array<readonly [string, string]> {
  switch (spelling.kind) {
    case 'csv':
      return [
        [
          'target_model_names',
          spelling.padded ? ` ${spelling.names.join(' , ')} ` : spelling.names.join(','),
        ],
      ];
    case 'brackets':
      return spelling.names.map((n) => ['target_model_names[]', n] as const);
    case 'indexed':
      return spelling.names.map((n, i) => [`target_model_names[${i}]`, n] as const);
    case 'json':
      return [['target_model_names', JSON.stringify(spelling.names)]];
    case 'model':
      return [['model', spelling.names[0] ?? 'gpt-4o-mini']];
  }
}

const boundaryArb: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(
    ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'.split(''),
  ),
  minLength: 1,
  maxLength: 70,
});

export interface WellFormedUpload {
  readonly owner: 'alice' | 'carol';
  readonly filename: string;
  readonly extendedFilename: boolean;
  readonly mime: string;
  readonly purpose: (typeof PURPOSES)[number];
  readonly targets: TargetSpelling;
  readonly expiresAfterSeconds: number | null;
  readonly order: 'fields-first' | 'file-first' | 'file-between';
  readonly data: {
    readonly kind: 'jsonl' | 'binary';
    readonly bytes: number;
    readonly seed: number;
  };
  readonly boundary: string;
  readonly quoteBoundary: boolean;
  readonly framing: FramingChoice;
}

export const wellFormedUploadArb: fc.Arbitrary<WellFormedUpload> = fc.record({
  owner: fc.constantFrom<'alice' | 'carol'>('alice', 'alice', 'carol'),
  filename: oddFilenameArb,
  extendedFilename: fc.boolean(),
  mime: validMimeArb,
  purpose: fc.constantFrom(...PURPOSES),
  targets: targetSpellingArb,
  expiresAfterSeconds: fc.option(fc.integer({ min: 3_600, max: 2_592_000 }), { freq: 3 }),
  order: fc.constantFrom<WellFormedUpload['order']>('fields-first', 'file-first', 'file-between'),
  data: fc.record({
    kind: fc.constantFrom<'jsonl' | 'binary'>('jsonl', 'binary'),
    bytes: fc.integer({ min: 1, max: 6_000 }),
    seed: fc.nat(1_000_000),
  }),
  boundary: boundaryArb,
  quoteBoundary: fc.boolean(),
  framing: framingArb(false),
});

export function wellFormedUploadPlan(upload: WellFormedUpload): FuzzPlan {
  const summary = `${upload.owner} ${JSON.stringify(upload.filename)} ${upload.mime} ${upload.purpose} ${upload.targets.kind}:${upload.targets.names.join('+')} ${upload.order} ${upload.data.bytes}B ${framingLabel(upload.framing)}`;
  return plan('upload/well-formed', summary, (ctx) => {
    const data =
      upload.data.kind === 'jsonl'
        ? jsonlBytes(upload.data.bytes, upload.data.seed)
        : patternBytes(upload.data.bytes, upload.data.seed);
    const fields: Array<readonly [string, string]> = [['purpose', upload.purpose]];
    if (upload.expiresAfterSeconds !== null) {
      fields.push(['expires_after[anchor]', 'created_at']);
      fields.push(['expires_after[seconds]', String(upload.expiresAfterSeconds)]);
    }
    const targets = targetFields(upload.targets);
    const file = filePart({
      filenameParams: upload.extendedFilename
        ? extendedFilename(upload.filename)
        : quotedFilename(upload.filename),
      contentType: upload.mime,
      data,
    });
    const asParts = (list: ReadonlyArray<readonly [string, string]>): RawPart[] =>
      list.map(([name, value]) => fieldPart(name, value));
    const parts =
      upload.order === 'fields-first'
        ? [...asParts(fields), ...asParts(targets), file]
        : upload.order === 'file-first'
          ? [file, ...asParts(fields), ...asParts(targets)]
          : [...asParts(fields), file, ...asParts(targets)];
    const body = rawMultipart(parts, { boundary: upload.boundary }).whole;
    const boundaryParam = upload.quoteBoundary ? `"${upload.boundary}"` : upload.boundary;
    return {
      request: {
        method: 'POST',
        target: '/v1/files',
        headers: [
          ...baseHeaders(ctx, upload.owner, null),
          ['Content-Type', `multipart/form-data; boundary=${boundaryParam}`],
        ],
        body,
        framing: toFraming(upload.framing, body.length),
      },
      expect: (response) => {
        const status = expectStatus(response, 200);
        if (status.length > 0) return status;
        return fileObjectProblems(response, {
          filename: upload.filename,
          bytes: data.length,
          purpose: upload.purpose,
        });
      },
      onAnswered: (response) => {
        const id = uploadedId(response);
        if (response.status === 200 && id !== null) {
          ctx.addLive({
            id,
            owner: upload.owner,
            filename: upload.filename,
            purpose: upload.purpose,
            data,
          });
        }
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Hostile multipart uploads
// ---------------------------------------------------------------------------------------------

export interface Labelled<T> {
  readonly label: string;
  readonly value: T;
}

export function labelled<T>(label: string, value: T): Labelled<T> {
  return { label, value };
}

const long = (char: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.integer({ min, max }).map((n) => char.repeat(n));

/** The `filename…` disposition parameters of the file part. */
const hostileFilenameArb: fc.Arbitrary<Labelled<Buffer>> = fc.oneof(
  oddFilenameArb.map((n) => labelled('odd', quotedFilename(n))),
  fc.constantFrom(
    labelled('nul-raw', Buffer.from('filename="a\u0000b.jsonl"')),
    labelled('nul-rfc5987', Buffer.from("filename*=utf-8''a%00b.jsonl")),
    labelled('nul-only', Buffer.from("filename*=utf-8''%00")),
    labelled('rfc5987-bad-pct', Buffer.from("filename*=utf-8''%E0%A4%A.jsonl")),
    labelled('rfc5987-bad-utf8', Buffer.from("filename*=utf-8''%FF%FE.jsonl")),
    labelled('rfc5987-unknown-charset', Buffer.from("filename*=x-klingon''abc.jsonl")),
    labelled('rfc5987-lang', Buffer.from("filename*=UTF-8'en'%F0%9F%98%80.jsonl")),
    labelled('rfc5987-no-quotes', Buffer.from('filename*=abc.jsonl')),
    labelled('both-forms', Buffer.from('filename="a.jsonl"; filename*=utf-8\'\'b%C3%A9.jsonl')),
    labelled('empty', Buffer.from('filename=""')),
    labelled('unquoted', Buffer.from('filename=plain.jsonl')),
    labelled('unbalanced-quote', Buffer.from('filename="abc.jsonl')),
    labelled('escaped-quote', Buffer.from('filename="a\\"b.jsonl"')),
    labelled('traversal', Buffer.from('filename="../../etc/passwd"')),
    labelled('windows-path', Buffer.from('filename="C:\\\\temp\\\\x.jsonl"')),
    labelled('control-chars', Buffer.from('filename="a\u0001\u001b[31mb\u007f.jsonl"')),
    labelled(
      'invalid-utf8',
      Buffer.concat([
        Buffer.from('filename="'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('.jsonl"'),
      ]),
    ),
    labelled('bidi-override', Buffer.from('filename="\u202Elsnoj.exe"')),
    labelled('zero-width', Buffer.from('filename="\u200B\u200D\uFEFF.jsonl"')),
    labelled('dots', Buffer.from('filename=".."')),
    labelled('spaces', Buffer.from('filename="   "')),
    labelled('pct-literal', Buffer.from('filename="%00%2e%2e"')),
    labelled('reserved-device', Buffer.from('filename="CON"')),
    labelled('lone-surrogate-bytes', Buffer.from("filename*=utf-8''%ED%A0%80.jsonl")),
    labelled('two-filenames', Buffer.from('filename="a.jsonl"; filename="b.jsonl"')),
  ),
  long('a', 256, 12_000).map((s) => labelled('very-long', quotedFilename(`${s}.jsonl`))),
  long('\u{1F600}', 64, 2_000).map((s) => labelled('very-long-emoji', quotedFilename(s))),
  long('a', 16_400, 20_000).map((s) => labelled('over-header-limit', quotedFilename(s))),
  long('%C3%A9', 200, 2_000).map((s) =>
    labelled('very-long-rfc5987', Buffer.from(`filename*=utf-8''${s}`)),
  ),
);

/** The file part's Content-Type header (null: none). */
const hostileMimeArb: fc.Arbitrary<Labelled<Buffer | null>> = fc.oneof(
  validMimeArb.map((m) => labelled('valid', Buffer.from(m))),
  fc
    .integer({ min: 240, max: 1_000 })
    .map((n) => labelled(`application/x*${n}`, Buffer.from(`application/${'x'.repeat(n)}`))),
  fc
    .integer({ min: 100, max: 600 })
    .map((n) =>
      labelled(`long-subtype-and-type`, Buffer.from(`${'t'.repeat(n)}/${'s'.repeat(n)}`)),
    ),
  fc.constantFrom(
    labelled('none', null),
    labelled('empty', Buffer.from('')),
    labelled('control-chars', Buffer.from('\u0001\u0002/\u0003')),
    labelled('nul', Buffer.from('text/plain\u0000')),
    labelled('tab', Buffer.from('text/plain\t')),
    labelled('semicolons', Buffer.from(';;;')),
    labelled('no-slash', Buffer.from('text')),
    labelled('two-slashes', Buffer.from('a/b/c')),
    labelled('unterminated-param', Buffer.from('application/json; charset="')),
    labelled('raw-utf8', Buffer.from('t\u00e9xt/pl\u00e4in')),
    labelled('invalid-utf8', Buffer.from([0x74, 0x2f, 0xff, 0xfe])),
    labelled('wildcard', Buffer.from('*/*')),
    labelled('many-params', Buffer.from(`text/plain; ${'a=b; '.repeat(400)}`)),
    labelled('exactly-255', Buffer.from(`application/${'y'.repeat(243)}`)),
    labelled('exactly-256', Buffer.from(`application/${'y'.repeat(244)}`)),
  ),
);

/** One extra form part, each an abuse of the fields the parser reads. */
const hostileFieldArb: fc.Arbitrary<Labelled<RawPart>> = fc.oneof(
  fc
    .constantFrom('batch', 'fine-tune', 'nope', '', 'BATCH', 'batch ', 'batch\u0000')
    .map((v) => labelled(`purpose-again=${JSON.stringify(v)}`, fieldPart('purpose', v))),
  fc
    .tuple(
      fc.constantFrom(
        'target_model_names[0][x]',
        'target_model_names[][]',
        'target_model_names[999999999999999999999]',
        'target_model_names[-1]',
        'target_model_names[]][',
        'expires_after[seconds][]',
        'expires_after[anchor][]',
        'expires_after[seconds]',
        'expires_after[anchor]',
        'expires_after',
        'purpose[]',
        'purpose[0]',
        'file[]',
        '__proto__',
        '__proto__[purpose]',
        'constructor[prototype]',
        'model',
        'target_model_names',
      ),
      fc.constantFrom(
        '',
        'batch',
        'gpt-4o',
        'gpt-4o-mini,gpt-4o',
        '["gpt-4o"]',
        '[1,2]',
        '["gpt-4o",',
        '[',
        'created_at',
        '3600',
        '-1',
        '1e5',
        'NaN',
        'Infinity',
        '99999999999999999999999',
        '0x10',
        ' 3600 ',
        '3600.5',
        '\u0000',
        'no-such-model',
        ',,,',
        'gpt-4o,'.repeat(2_000),
        '{"anchor":"created_at"}',
      ),
    )
    .map(([name, value]) =>
      labelled(`${name}=${JSON.stringify(value.slice(0, 24))}`, fieldPart(name, value)),
    ),
  fc
    .tuple(
      fc.constantFrom('purpose', 'target_model_names', 'junk'),
      fc.integer({ min: 65_536 - 8, max: 65_536 + 300 }),
    )
    .map(([name, n]) => labelled(`oversized ${name} (${n})`, fieldPart(name, 'b'.repeat(n)))),
  long('n', 100, 12_000).map((name) =>
    labelled(`long-name (${name.length})`, fieldPart(name, 'v')),
  ),
  fc.constantFrom(
    labelled('empty-name', fieldPart('', 'batch')),
    labelled('quote-in-name', fieldPart('pur"pose', 'batch')),
    labelled('nul-in-name', fieldPart('purpose\u0000', 'batch')),
    labelled('unicode-name', fieldPart('p\u00fcrpose', 'batch')),
    labelled('value-invalid-utf8', fieldPart('purpose', Buffer.from([0x62, 0x00, 0xff, 0xfe]))),
    labelled('value-crlf', fieldPart('purpose', 'batch\r\n\r\n--x')),
    labelled('no-name', {
      headerLines: [Buffer.from('Content-Disposition: form-data')],
      body: Buffer.from('x'),
    }),
    labelled('no-disposition', {
      headerLines: [Buffer.from('Content-Type: text/plain')],
      body: Buffer.from('x'),
    }),
    labelled('header-without-colon', {
      headerLines: [Buffer.from('Content-Disposition form-data; name="purpose"')],
      body: Buffer.from('batch'),
    }),
    labelled('attachment-disposition', {
      headerLines: [Buffer.from('Content-Disposition: attachment; name="purpose"')],
      body: Buffer.from('batch'),
    }),
    labelled('header-over-16k', {
      headerLines: [
        Buffer.from('Content-Disposition: form-data; name="purpose"'),
        Buffer.from(`X-Pad: ${'p'.repeat(17_000)}`),
      ],
      body: Buffer.from('batch'),
    }),
    labelled(
      'purpose-as-file',
      filePart({
        name: 'purpose',
        filenameParams: quotedFilename('p.txt'),
        contentType: 'text/plain',
        data: Buffer.from('batch'),
      }),
    ),
    labelled(
      'second-file',
      filePart({
        filenameParams: quotedFilename('second.jsonl'),
        contentType: 'application/jsonl',
        data: jsonlBytes(300, 2),
      }),
    ),
    labelled(
      'other-file-field',
      filePart({
        name: 'document',
        filenameParams: quotedFilename('d.jsonl'),
        contentType: 'application/jsonl',
        data: jsonlBytes(100, 3),
      }),
    ),
    labelled('base64-transfer-encoding', {
      headerLines: [
        Buffer.from('Content-Disposition: form-data; name="purpose"'),
        Buffer.from('Content-Transfer-Encoding: base64'),
      ],
      body: Buffer.from('YmF0Y2g='),
    }),
  ),
);

export type ContentTypeVariant =
  | 'standard'
  | 'quoted'
  | 'mismatch'
  | 'missing-boundary'
  | 'empty-boundary'
  | 'upper-case'
  | 'extra-params'
  | 'duplicate-boundary'
  | 'garbage-params'
  | 'unterminated-quote'
  | 'multipart-mixed'
  | 'two-headers'
  | 'absent'
  | 'over-70-boundary';

const contentTypeVariantArb: fc.Arbitrary<ContentTypeVariant> = fc.oneof(
  { arbitrary: fc.constant<ContentTypeVariant>('standard'), weight: 14 },
  {
    arbitrary: fc.constantFrom<ContentTypeVariant>(
      'quoted',
      'mismatch',
      'missing-boundary',
      'empty-boundary',
      'upper-case',
      'extra-params',
      'duplicate-boundary',
      'garbage-params',
      'unterminated-quote',
      'multipart-mixed',
      'two-headers',
      'absent',
      'over-70-boundary',
    ),
    weight: 4,
  },
);

function contentTypeHeaders(
  variant: ContentTypeVariant,
  boundary: string,
): Array<readonly [string, string]> {
  const ct = (value: string): Array<readonly [string, string]> => [['Content-Type', value]];
  switch (variant) {
    case 'standard':
    case 'over-70-boundary':
      return ct(`multipart/form-data; boundary=${boundary}`);
    case 'quoted':
      return ct(`multipart/form-data; boundary="${boundary}"`);
    case 'mismatch':
      return ct(`multipart/form-data; boundary=${boundary}Z`);
    case 'missing-boundary':
      return ct('multipart/form-data');
    case 'empty-boundary':
      return ct('multipart/form-data; boundary=');
    case 'upper-case':
      return ct(`MULTIPART/FORM-DATA; BOUNDARY=${boundary}`);
    case 'extra-params':
      return ct(`multipart/form-data; charset=utf-8; boundary=${boundary}; x=y`);
    case 'duplicate-boundary':
      return ct(`multipart/form-data; boundary=other; boundary=${boundary}`);
    case 'garbage-params':
      return ct(`multipart/form-data; boundary=${boundary}; ;;=;"`);
    case 'unterminated-quote':
      return ct(`multipart/form-data; boundary="${boundary}`);
    case 'multipart-mixed':
      return ct(`multipart/mixed; boundary=${boundary}`);
    case 'two-headers':
      return [
        ['Content-Type', 'application/json'],
        ['Content-Type', `multipart/form-data; boundary=${boundary}`],
      ];
    case 'absent':
      return [];
  }
}

export interface HostileUpload {
  readonly caller: FuzzCaller;
  readonly requestId: string | null;
  readonly boundary: string;
  readonly contentType: ContentTypeVariant;
  readonly purpose: boolean;
  readonly targets: boolean;
  readonly before: readonly Labelled<RawPart>[];
  readonly after: readonly Labelled<RawPart>[];
  /** Thousands of tiny fields, in front of everything (or none). */
  readonly manyFields: number | null;
  readonly file: {
    readonly name: string;
    readonly filename: Labelled<Buffer>;
    readonly mime: Labelled<Buffer | null>;
    readonly size: number;
    readonly fill: number;
  } | null;
  readonly style: DelimiterStyle;
  readonly preamble: boolean;
  readonly epilogue: boolean;
  /** Cut the body here (a fraction past the file part's first byte): the form never ends. */
  readonly truncateAt: number | null;
  readonly framing: FramingChoice;
}

function fileSizeArb(max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 3_000 }), weight: 6 },
    { arbitrary: fc.integer({ min: max - 2, max: max + 2 }), weight: 2 },
    { arbitrary: fc.integer({ min: max + 1, max: Math.floor(max * 1.6) }), weight: 1 },
  );
}

export function hostileUploadArb(maxUploadBytes: number): fc.Arbitrary<HostileUpload> {
  return fc.record({
    caller: callerArb,
    requestId: requestIdArb,
    boundary: fc.oneof(
      { arbitrary: boundaryArb, weight: 9 },
      { arbitrary: long('B', 71, 400), weight: 1 },
    ),
    contentType: contentTypeVariantArb,
    purpose: fc.oneof({ arbitrary: fc.constant(true), weight: 5 }, fc.constant(false)),
    targets: fc.oneof({ arbitrary: fc.constant(true), weight: 5 }, fc.constant(false)),
    // Mostly one abuse at a time, so each one reaches as deep into the upload as it can.
    before: fc.oneof(
      { arbitrary: fc.constant([]), weight: 3 },
      { arbitrary: fc.array(hostileFieldArb, { minLength: 1, maxLength: 2 }), weight: 2 },
    ),
    after: fc.oneof(
      { arbitrary: fc.constant([]), weight: 5 },
      { arbitrary: fc.array(hostileFieldArb, { minLength: 1, maxLength: 2 }), weight: 1 },
    ),
    manyFields: fc.oneof(
      { arbitrary: fc.constant(null), weight: 12 },
      { arbitrary: fc.integer({ min: 60, max: 3_000 }), weight: 1 },
    ),
    file: fc.oneof(
      {
        arbitrary: fc.record({
          name: fc.oneof(
            { arbitrary: fc.constant('file'), weight: 12 },
            fc.constantFrom('file[]', 'File', '', 'files', 'file\u0000'),
          ),
          filename: fc.oneof(
            { arbitrary: hostileFilenameArb, weight: 1 },
            oddFilenameArb.map((n) => labelled('odd', quotedFilename(n))),
          ),
          mime: fc.oneof(
            { arbitrary: hostileMimeArb, weight: 1 },
            { arbitrary: validMimeArb.map((m) => labelled('valid', Buffer.from(m))), weight: 2 },
          ),
          size: fileSizeArb(maxUploadBytes),
          fill: fc.nat(255),
        }),
        weight: 12,
      },
      { arbitrary: fc.constant(null), weight: 1 },
    ),
    style: fc.oneof(
      { arbitrary: fc.constant<DelimiterStyle>('standard'), weight: 12 },
      fc.constantFrom<DelimiterStyle>(
        'no-close',
        'close-without-dashes',
        'no-crlf-before-delimiter',
        'no-blank-line-after-headers',
        'padded-delimiters',
      ),
    ),
    preamble: fc.oneof({ arbitrary: fc.constant(false), weight: 8 }, fc.constant(true)),
    epilogue: fc.oneof({ arbitrary: fc.constant(false), weight: 8 }, fc.constant(true)),
    truncateAt: fc.oneof(
      { arbitrary: fc.constant(null), weight: 6 },
      { arbitrary: fc.double({ min: 0, max: 0.999, noNaN: true }), weight: 2 },
    ),
    framing: framingArb(true),
  });
}

export function hostileUploadBody(upload: HostileUpload): { body: Buffer; labels: string[] } {
  const labels: string[] = [];
  const parts: RawPart[] = [];
  if (upload.manyFields !== null) {
    labels.push(`${upload.manyFields} fields`);
    for (let i = 0; i < upload.manyFields; i++) parts.push(fieldPart(`f${i}`, 'v'));
  }
  if (upload.purpose) parts.push(fieldPart('purpose', 'user_data'));
  if (upload.targets) parts.push(fieldPart('target_model_names', 'gpt-4o-mini,gpt-4o'));
  for (const part of upload.before) {
    labels.push(part.label);
    parts.push(part.value);
  }
  if (upload.file) {
    const f = upload.file;
    labels.push(
      `file name=${JSON.stringify(f.name)} filename:${f.filename.label} mime:${f.mime.label} ${f.size}B`,
    );
    parts.push(
      filePart({
        name: f.name,
        filenameParams: f.filename.value,
        contentType: f.mime.value,
        data: patternBytes(f.size, f.fill),
      }),
    );
  } else {
    labels.push('no file part');
  }
  for (const part of upload.after) {
    labels.push(`after:${part.label}`);
    parts.push(part.value);
  }
  const built = rawMultipart(parts, {
    boundary: upload.boundary,
    style: upload.style,
    ...(upload.preamble ? { preamble: Buffer.from('This is the preamble.\r\n--not-it') } : {}),
    ...(upload.epilogue ? { epilogue: Buffer.from('epilogue --\r\n garbage') } : {}),
  });
  if (upload.style !== 'standard') labels.push(`style:${upload.style}`);
  let body = built.whole;
  if (upload.truncateAt !== null) {
    // Cut inside the file part (or past the first part when there is none): a form that ends
    // before its close delimiter, delivered as a complete HTTP body.
    const from = built.fileDataStart >= 0 ? built.fileDataStart : Math.min(body.length, 60);
    const cut = from + Math.floor(upload.truncateAt * Math.max(0, body.length - from));
    body = body.subarray(0, Math.min(cut, body.length - 1));
    labels.push(`truncated at ${body.length}/${built.whole.length}`);
  }
  return { body, labels };
}

export function hostileUploadPlan(upload: HostileUpload): FuzzPlan {
  const preview = hostileUploadBody(upload).labels;
  const summary = `${upload.caller} ct:${upload.contentType} ${preview.join(', ')} ${framingLabel(upload.framing)}`;
  return plan(hostileShape(upload), summary, (ctx) => {
    const { body } = hostileUploadBody(upload);
    return {
      request: {
        method: 'POST',
        target: '/v1/files',
        headers: [
          ...baseHeaders(ctx, upload.caller, upload.requestId),
          ...contentTypeHeaders(upload.contentType, upload.boundary),
        ],
        body,
        framing: toFraming(upload.framing, body.length),
      },
      // A refused key is 401 whatever the body, except where the answer may legitimately come
      // first from elsewhere: a JSON Content-Type (the body parser runs before auth) or a
      // client that left mid-body (Node itself answers a half-closed request).
      expect:
        REFUSED_CALLERS.has(upload.caller) &&
        upload.contentType !== 'two-headers' &&
        upload.framing.kind !== 'abort'
          ? (response) => expectStatus(response, 401)
          : undefined,
    };
  });
}

function hostileShape(upload: HostileUpload): string {
  if (upload.framing.kind === 'abort') return 'upload/client-abort';
  if (upload.truncateAt !== null) return 'upload/truncated';
  if (upload.contentType !== 'standard') return `upload/content-type:${upload.contentType}`;
  if (upload.style !== 'standard') return `upload/delimiters:${upload.style}`;
  if (upload.manyFields !== null) return 'upload/thousands-of-fields';
  if (upload.file && upload.file.filename.label !== 'odd') {
    return `upload/filename:${upload.file.filename.label}`;
  }
  if (upload.file && upload.file.mime.label !== 'valid')
    return `upload/mime:${upload.file.mime.label}`;
  const first = upload.before[0] ?? upload.after[0];
  if (first) return `upload/field:${first.label.split('=')[0] ?? first.label}`;
  return 'upload/hostile-other';
}

// ---------------------------------------------------------------------------------------------
// Wrong content types on POST /v1/files (and bodies on GET /v1/files)
// ---------------------------------------------------------------------------------------------

export interface WrongBody {
  readonly label: string;
  readonly contentType: string | null;
  readonly body: Buffer;
  readonly extraHeaders?: ReadonlyArray<readonly [string, string]>;
}

export const wrongBodies: readonly WrongBody[] = [
  {
    label: 'json',
    contentType: 'application/json',
    body: Buffer.from('{"purpose":"batch","file":"x"}'),
  },
  { label: 'json-invalid', contentType: 'application/json', body: Buffer.from('{"purpose":') },
  {
    label: 'json-huge',
    contentType: 'application/json',
    body: Buffer.from(`{"a":"${'x'.repeat(150_000)}"}`),
  },
  {
    label: 'json-bad-charset',
    contentType: 'application/json; charset=utf-99',
    body: Buffer.from('{}'),
  },
  {
    label: 'json-gzip-garbage',
    contentType: 'application/json',
    body: Buffer.from('not gzip'),
    extraHeaders: [['Content-Encoding', 'gzip']],
  },
  {
    label: 'json-unknown-encoding',
    contentType: 'application/json',
    body: Buffer.from('{}'),
    extraHeaders: [['Content-Encoding', 'x-zz']],
  },
  { label: 'json-array', contentType: 'application/json', body: Buffer.from('[1,2,3]') },
  {
    label: 'json-nul',
    contentType: 'application/json',
    body: Buffer.from('{"purpose":"\\u0000"}'),
  },
  {
    label: 'urlencoded',
    contentType: 'application/x-www-form-urlencoded',
    body: Buffer.from('purpose=batch&file=abc'),
  },
  {
    label: 'urlencoded-bad-pct',
    contentType: 'application/x-www-form-urlencoded',
    body: Buffer.from('purpose=%E0%A4%A&x=%zz'),
  },
  {
    label: 'urlencoded-many',
    contentType: 'application/x-www-form-urlencoded',
    body: Buffer.from(Array.from({ length: 2_000 }, (_, i) => `k${i}=v`).join('&')),
  },
  {
    label: 'urlencoded-brackets',
    contentType: 'application/x-www-form-urlencoded',
    body: Buffer.from('purpose[]=batch&target_model_names[0][x]=gpt-4o&__proto__[x]=1'),
  },
  { label: 'text-plain', contentType: 'text/plain', body: Buffer.from('purpose=batch') },
  { label: 'octet-stream', contentType: 'application/octet-stream', body: jsonlBytes(500, 9) },
  { label: 'no-content-type', contentType: null, body: Buffer.from('hello') },
  { label: 'empty-content-type', contentType: '', body: Buffer.from('hello') },
  {
    label: 'multipart-no-boundary',
    contentType: 'multipart/form-data',
    body: Buffer.from('--x\r\n\r\n'),
  },
  {
    label: 'multipart-empty-body',
    contentType: 'multipart/form-data; boundary=abc',
    body: Buffer.alloc(0),
  },
  {
    label: 'multipart-boundary-only',
    contentType: 'multipart/form-data; boundary=abc',
    body: Buffer.from('--abc--\r\n'),
  },
  {
    label: 'multipart-boundary-mismatch',
    contentType: 'multipart/form-data; boundary=abc',
    body: Buffer.from(
      '--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--xyz--\r\n',
    ),
  },
  {
    label: 'multipart-related',
    contentType: 'multipart/related; boundary=abc',
    body: Buffer.from('--abc--\r\n'),
  },
  { label: 'garbage-content-type', contentType: ';;;/;;', body: Buffer.from('x') },
  {
    label: 'content-type-control-chars',
    contentType: 'multipart/form-data;\tboundary=\u0001',
    body: Buffer.from('x'),
  },
];

export interface WrongContentType {
  readonly caller: FuzzCaller;
  readonly body: WrongBody;
  readonly method: 'POST' | 'GET';
  readonly framing: FramingChoice;
}

export const wrongContentTypeArb: fc.Arbitrary<WrongContentType> = fc.record({
  caller: callerArb,
  body: fc.constantFrom(...wrongBodies),
  method: fc.oneof(
    { arbitrary: fc.constant<'POST' | 'GET'>('POST'), weight: 4 },
    fc.constant<'POST' | 'GET'>('GET'),
  ),
  framing: framingArb(false),
});

export function wrongContentTypePlan(c: WrongContentType): FuzzPlan {
  return plan(
    `content-type:${c.body.label}`,
    `${c.method} as ${c.caller}, ${framingLabel(c.framing)}`,
    (ctx) => ({
      request: {
        method: c.method,
        target: '/v1/files',
        headers: [
          ...baseHeaders(ctx, c.caller, null),
          ...(c.body.contentType === null ? [] : [['Content-Type', c.body.contentType] as const]),
          ...(c.body.extraHeaders ?? []),
        ],
        body: c.body.body,
        framing: toFraming(c.framing, c.body.body.length),
      },
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Hostile ids on /v1/files/:id, /v1/files/:id/content
// ---------------------------------------------------------------------------------------------

export type IdChoice =
  | { readonly kind: 'real'; readonly pick: number }
  | { readonly kind: 'tampered'; readonly pick: number; readonly at: number }
  | { readonly kind: 'real-plus'; readonly pick: number; readonly suffix: string }
  | { readonly kind: 'forged'; readonly body: string }
  | { readonly kind: 'raw'; readonly label: string; readonly text: string };

const base64urlChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');

const idChoiceArb: fc.Arbitrary<IdChoice> = fc.oneof(
  { arbitrary: fc.nat().map((pick): IdChoice => ({ kind: 'real', pick })), weight: 6 },
  {
    arbitrary: fc
      .record({ pick: fc.nat(), at: fc.nat() })
      .map((r): IdChoice => ({ kind: 'tampered', ...r })),
    weight: 2,
  },
  {
    arbitrary: fc
      .record({
        pick: fc.nat(),
        suffix: fc.constantFrom('%00', '%20', 'A', '%2F', '.', '%E0%A4%A', '==', '%0d%0a'),
      })
      .map((r): IdChoice => ({ kind: 'real-plus', ...r })),
    weight: 1,
  },
  {
    arbitrary: fc
      .string({ unit: fc.constantFrom(...base64urlChars), minLength: 0, maxLength: 200 })
      .map((body): IdChoice => ({ kind: 'forged', body })),
    weight: 2,
  },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          labelled('bad-pct', '%E0%A4%A'),
          labelled('lone-pct', '%'),
          labelled('pct-zz', '%zz'),
          labelled('nul', '%00'),
          labelled('file-nul', 'file-%00'),
          labelled('encoded-slash', 'file-abc%2F..%2F..%2Fhealth'),
          labelled('overlong-utf8', '%C0%AF'),
          labelled('dot', '.'),
          labelled('dotdot-encoded', '%2E%2E'),
          labelled('file-only', 'file-'),
          labelled('batch-id', 'batch_abc123'),
          labelled('upstream-style', 'file-abc123DEF456'),
          labelled('unicode', pct('file-\u00e9\u{1F600}')),
          labelled('proto', '__proto__'),
          labelled('constructor', 'constructor'),
          labelled('json', pct('{"$ne":null}')),
          labelled('sql', pct("file-' OR 1=1 --")),
        ),
        long('A', 1_000, 6_000).map((s) => labelled('very-long', `file-${s}`)),
        fc
          .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
          .map((s) => labelled('random-unicode', pct(s))),
      )
      .map((l): IdChoice => ({ kind: 'raw', label: l.label, text: l.value })),
    weight: 3,
  },
);

function resolveId(
  choice: IdChoice,
  live: readonly LiveFile[],
): { text: string; file: LiveFile | null; clean: boolean; label: string } {
  const pickFrom = (pick: number): LiveFile | null =>
    live.length === 0 ? null : (live[pick % live.length] ?? null);
  const forged = (seed: number): string =>
    `file-${Buffer.from(`forged-${seed}-${'z'.repeat(40)}`).toString('base64url')}`;
  switch (choice.kind) {
    case 'real': {
      const file = pickFrom(choice.pick);
      return file
        ? { text: file.id, file, clean: true, label: 'real' }
        : { text: forged(choice.pick), file: null, clean: true, label: 'forged' };
    }
    case 'tampered': {
      const file = pickFrom(choice.pick);
      const id = file?.id ?? forged(choice.pick);
      // Never the last character: its low bits may be padding, so changing it could change nothing.
      const at = 5 + (choice.at % Math.max(1, id.length - 6));
      const swapped = id[at] === 'A' ? 'B' : 'A';
      return {
        text: `${id.slice(0, at)}${swapped}${id.slice(at + 1)}`,
        file: null,
        clean: true,
        label: 'tampered',
      };
    }
    case 'real-plus': {
      const file = pickFrom(choice.pick);
      return {
        text: `${file?.id ?? forged(choice.pick)}${choice.suffix}`,
        file: null,
        clean: false,
        label: `real+${choice.suffix}`,
      };
    }
    case 'forged':
      return { text: `file-${choice.body}`, file: null, clean: true, label: 'forged' };
    case 'raw':
      return { text: choice.text, file: null, clean: false, label: choice.label };
  }
}

const querySuffixArb = fc.oneof(
  { arbitrary: fc.constant(''), weight: 8 },
  fc.constantFrom(
    '?',
    '?x=%',
    '?limit[]=1',
    '?after=%E0%A4%A',
    '?a=1&a=2&a[]=3',
    `?q=${'q'.repeat(2_000)}`,
  ),
);

export interface IdRoute {
  readonly caller: FuzzCaller;
  readonly method: 'GET' | 'DELETE' | 'POST' | 'PUT' | 'PATCH';
  readonly id: IdChoice;
  readonly suffix: '' | '/content' | '/' | '/content/' | '/content/x' | '//content' | '/x/y';
  readonly query: string;
}

export const idRouteArb: fc.Arbitrary<IdRoute> = fc.record({
  caller: callerArb,
  method: fc.oneof(
    { arbitrary: fc.constant<IdRoute['method']>('GET'), weight: 6 },
    { arbitrary: fc.constant<IdRoute['method']>('DELETE'), weight: 2 },
    fc.constantFrom<IdRoute['method']>('POST', 'PUT', 'PATCH'),
  ),
  id: idChoiceArb,
  suffix: fc.oneof(
    { arbitrary: fc.constantFrom<IdRoute['suffix']>('', '/content'), weight: 8 },
    fc.constantFrom<IdRoute['suffix']>('/', '/content/', '/content/x', '//content', '/x/y'),
  ),
  query: querySuffixArb,
});

export function idRoutePlan(route: IdRoute): FuzzPlan {
  return plan(
    `id-route/${route.method} ${route.suffix === '' ? ':id' : `:id${route.suffix}`}`,
    `${route.caller} id:${route.id.kind}${route.id.kind === 'raw' ? `:${route.id.label}` : ''} query:${JSON.stringify(route.query.slice(0, 30))}`,
    (ctx) => {
      const id = resolveId(route.id, ctx.live);
      const request: WireRequest = {
        method: route.method,
        target: `/v1/files/${id.text}${route.suffix}${route.query}`,
        headers: baseHeaders(ctx, route.caller, null),
        body: Buffer.alloc(0),
        framing:
          route.method === 'GET' || route.method === 'DELETE'
            ? { kind: 'none' }
            : { kind: 'length' },
      };
      return {
        request,
        expect: idRouteExpectation(route, id),
        onAnswered: (response) => {
          // A delete that answered 200 removed the file, whatever else was odd about the request.
          const file = id.file ?? ctx.live.find((f) => id.text.startsWith(f.id)) ?? null;
          if (route.method === 'DELETE' && response.status === 200 && file) ctx.removeLive(file.id);
        },
      };
    },
  );
}

/** Exact outcomes where the request is unambiguous; only the universal checks otherwise. */
function idRouteExpectation(
  route: IdRoute,
  id: { file: LiveFile | null; clean: boolean },
): ((response: WireResponse) => readonly string[]) | undefined {
  const routed =
    id.clean &&
    route.query === '' &&
    ((route.method === 'GET' && (route.suffix === '' || route.suffix === '/content')) ||
      (route.method === 'DELETE' && route.suffix === ''));
  if (!routed) return undefined;
  if (REFUSED_CALLERS.has(route.caller)) return (response) => expectStatus(response, 401);
  if (!VALID_CALLERS.has(route.caller)) return undefined;
  const file = id.file;
  if (!file) return (response) => expectStatus(response, 404);
  const sees =
    route.caller === 'admin' ||
    route.caller === file.owner ||
    ((route.caller === 'alice' || route.caller === 'carol') &&
      (file.owner === 'alice' || file.owner === 'carol'));
  if (!sees) return (response) => expectStatus(response, 403);
  if (route.method === 'DELETE') {
    return (response) => {
      const status = expectStatus(response, 200);
      if (status.length > 0) return status;
      const body = jsonOf(response);
      return isRecord(body) &&
        body.id === file.id &&
        body.object === 'file' &&
        body.deleted === true
        ? []
        : [`the delete answer is not {id, object: 'file', deleted: true} for ${file.id}`];
    };
  }
  if (route.suffix === '/content') {
    return (response) => {
      const status = expectStatus(response, 200);
      if (status.length > 0) return status;
      return response.body.equals(file.data)
        ? []
        : [
            `content is ${response.body.length} bytes that differ from the ${file.data.length} uploaded`,
          ];
    };
  }
  return (response) => {
    const status = expectStatus(response, 200);
    if (status.length > 0) return status;
    return fileObjectProblems(response, {
      id: file.id,
      filename: file.filename,
      bytes: file.data.length,
      purpose: file.purpose,
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Hostile list queries: GET /v1/files?…
// ---------------------------------------------------------------------------------------------

export type QueryValue =
  | { readonly kind: 'text'; readonly value: string }
  /** Sent as is: already (mis)encoded. */
  | { readonly kind: 'raw'; readonly value: string }
  | { readonly kind: 'real-id'; readonly pick: number };

const listKeyArb = fc.oneof(
  {
    arbitrary: fc.constantFrom('limit', 'order', 'after', 'purpose', 'target_model_names'),
    weight: 6,
  },
  fc.constantFrom(
    'limit[]',
    'limit[0]',
    'limit[a][b]',
    'order[]',
    'after[x]',
    'after[]',
    'purpose[]',
    'target_model_names[]',
    'target_model_names[0][x]',
    '__proto__',
    '__proto__[limit]',
    'constructor[prototype][x]',
    '%E0%A4%A',
    '',
    'limit%00',
  ),
);

const listValueArb: fc.Arbitrary<QueryValue> = fc.oneof(
  fc
    .constantFrom(
      '1',
      '10000',
      '10001',
      '0',
      '-1',
      '-0',
      'NaN',
      'Infinity',
      '1e3',
      '1e999',
      '0x10',
      ' 5',
      '5 ',
      '3.5',
      '99999999999999999999999999',
      '',
      'asc',
      'desc',
      'ASC',
      'random',
      'batch',
      'batch_output',
      'nope',
      'gpt-4o',
      'gpt-4o-mini,gpt-4o',
      'no-such-model',
      ',',
      'file-',
      'file-abc',
      'null',
      'true',
      '{"$gt":""}',
      '\u0000',
      'gpt-4o,'.repeat(150),
    )
    .map((value): QueryValue => ({ kind: 'text', value })),
  fc
    .constantFrom('%E0%A4%A', '%', '%zz', '%00', '%C0%AF', '%FF%FE', '%2', 'a%20b%2', '%u0041')
    .map((value): QueryValue => ({ kind: 'raw', value })),
  fc
    .string({ unit: 'grapheme', maxLength: 30 })
    .map((value): QueryValue => ({ kind: 'text', value })),
  fc
    .string({ unit: fc.constantFrom(...base64urlChars), minLength: 1, maxLength: 120 })
    .map((s): QueryValue => ({ kind: 'text', value: `file-${s}` })),
  long('9', 300, 1_500).map((value): QueryValue => ({ kind: 'text', value })),
  fc.nat().map((pick): QueryValue => ({ kind: 'real-id', pick })),
);

export interface ListQuery {
  readonly caller: FuzzCaller;
  readonly params: ReadonlyArray<readonly [string, QueryValue]>;
}

/** Well-formed list queries whose only right answer is 200 with a list. */
export interface ValidListQuery {
  readonly caller: FuzzCaller;
  readonly limit: number | null;
  readonly order: 'asc' | 'desc' | null;
  readonly purpose: string | null;
  readonly targets: readonly string[] | null;
}

export const listQueryArb: fc.Arbitrary<ListQuery> = fc.record({
  caller: callerArb,
  params: fc.array(fc.tuple(listKeyArb, listValueArb), { minLength: 1, maxLength: 5 }),
});

export const validListQueryArb: fc.Arbitrary<ValidListQuery> = fc.record({
  caller: fc.constantFrom<FuzzCaller>('alice', 'bob', 'carol', 'admin'),
  limit: fc.option(fc.integer({ min: 1, max: 10_000 })),
  order: fc.option(fc.constantFrom<'asc' | 'desc'>('asc', 'desc')),
  purpose: fc.option(fc.constantFrom(...LIST_PURPOSES)),
  targets: fc.option(targetNamesArb),
});

export function listQueryPlan(query: ListQuery): FuzzPlan {
  const shown = query.params
    .map(([k, v]) => `${k}=${v.kind === 'real-id' ? '<real id>' : v.value.slice(0, 20)}`)
    .join('&');
  return plan('list/hostile-query', `${query.caller} ${shown}`, (ctx) => {
    const encode = ([key, value]: readonly [string, QueryValue]): string => {
      const k = /%/.test(key) ? key : pct(key);
      switch (value.kind) {
        case 'text':
          return `${k}=${pct(value.value)}`;
        case 'raw':
          return `${k}=${value.value}`;
        case 'real-id': {
          const file = ctx.live.length === 0 ? null : ctx.live[value.pick % ctx.live.length];
          return `${k}=${file ? file.id : 'file-none'}`;
        }
      }
    };
    return {
      request: {
        method: 'GET',
        target: `/v1/files?${query.params.map(encode).join('&')}`,
        headers: baseHeaders(ctx, query.caller, null),
        body: Buffer.alloc(0),
        framing: { kind: 'none' },
      },
      expect: REFUSED_CALLERS.has(query.caller)
        ? (response) => expectStatus(response, 401)
        : undefined,
    };
  });
}

export function validListQueryPlan(query: ValidListQuery): FuzzPlan {
  const params: string[] = [];
  if (query.limit !== null) params.push(`limit=${query.limit}`);
  if (query.order !== null) params.push(`order=${query.order}`);
  if (query.purpose !== null) params.push(`purpose=${pct(query.purpose)}`);
  if (query.targets !== null) params.push(`target_model_names=${pct(query.targets.join(','))}`);
  const target = `/v1/files${params.length > 0 ? `?${params.join('&')}` : ''}`;
  return plan('list/valid-query', `${query.caller} ${target}`, (ctx) => ({
    request: {
      method: 'GET',
      target,
      headers: baseHeaders(ctx, query.caller, null),
      body: Buffer.alloc(0),
      framing: { kind: 'none' },
    },
    expect: (response) => {
      const status = expectStatus(response, 200);
      if (status.length > 0) return status;
      const body = jsonOf(response);
      if (!isRecord(body) || body.object !== 'list' || !Array.isArray(body.data)) {
        return ['the 200 body is not a list object'];
      }
      return query.limit !== null && body.data.length > query.limit
        ? [`${body.data.length} files listed with limit ${query.limit}`]
        : [];
    },
  }));
}

// ---------------------------------------------------------------------------------------------
// Paths next to the Files routes that match no route
// ---------------------------------------------------------------------------------------------

export const unknownPathArb: fc.Arbitrary<{ method: string; path: string; caller: FuzzCaller }> =
  fc.record({
    method: fc.constantFrom('GET', 'POST', 'DELETE', 'OPTIONS', 'PATCH'),
    path: fc.constantFrom(
      '/v1/files/a/b/c',
      '/v1/filesx',
      '/v1/files/%zz/content/extra',
      '/v1/files/file-abc/content/more',
      '/v1//files/x/y',
      '/v1/files/.%2e/.%2e/x/y',
      '/%E0%A4%A',
      '/v1/files/%E0%A4%A/x/y',
      `/v1/${'f'.repeat(4_000)}`,
      '/',
      '/nope',
      '/v2/files',
      '/v1',
      '/health/nope',
    ),
    caller: callerArb,
  });

export function unknownPathPlan(route: {
  method: string;
  path: string;
  caller: FuzzCaller;
}): FuzzPlan {
  return plan(
    'unknown-path',
    `${route.method} ${route.path.slice(0, 60)} as ${route.caller}`,
    (ctx) => ({
      request: {
        method: route.method,
        target: route.path,
        headers: baseHeaders(ctx, route.caller, null),
        body: Buffer.alloc(0),
        framing:
          route.method === 'GET' || route.method === 'DELETE' || route.method === 'OPTIONS'
            ? { kind: 'none' }
            : { kind: 'length' },
      },
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Everything together
// ---------------------------------------------------------------------------------------------

export function fuzzPlanArb(maxUploadBytes: number): fc.Arbitrary<FuzzPlan> {
  return fc.oneof(
    { arbitrary: wellFormedUploadArb.map(wellFormedUploadPlan), weight: 5 },
    { arbitrary: hostileUploadArb(maxUploadBytes).map(hostileUploadPlan), weight: 9 },
    { arbitrary: wrongContentTypeArb.map(wrongContentTypePlan), weight: 2 },
    { arbitrary: idRouteArb.map(idRoutePlan), weight: 5 },
    { arbitrary: listQueryArb.map(listQueryPlan), weight: 3 },
    { arbitrary: validListQueryArb.map(validListQueryPlan), weight: 1 },
    { arbitrary: unknownPathArb.map(unknownPathPlan), weight: 1 },
  );
}
