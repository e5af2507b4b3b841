import { FILE_ID_PATHS } from '../../managed-refs/file-id-paths';
import { Answer, BatchLineWasm, SPAN_WORDS, Verdict } from './batch-line-wasm';
import { QUOTE, SPACE, stringEndInJs } from './json-string';

/*
 * Reading a batch request line (batch-jsonl.ts has the design): where the values a copy rewrites
 * sit, as byte ranges of the line, and the few fields the check needs.
 *
 * `readRequestLine` is one pass over a line's bytes that checks the JSON grammar, finds the
 * ranges and decodes the fields, allocating nothing per line but those. Two readers make that
 * pass with one contract: batch-line.wat (the walk and the string scan in WebAssembly, one call
 * per line) for the lines it takes, RequestLineReader below for the others and wherever
 * WebAssembly is off. It answers for every line that is a JSON object with string `custom_id`,
 * `method`, `url`, `body.model` and an object `body`, and null for every other: those are
 * refused, and JSON.parse and the check say why (batch-jsonl.ts). A test holds it to JSON.parse on every line it generates or mutates, and to
 * the paths of FILE_ID_PATHS for the ranges.
 */

/** JSON's structural bytes (batch-jsonl.ts uses the same; the quote and space: json-string.ts). */
export const NEWLINE = 0x0a;
export const CR = 0x0d;
export const TAB = 0x09;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/** Where a rewritten value sits; indices make its path only when an error needs it. */
export const SpanPaths = {
  customId: 0,
  model: 1,
  chatFile: 2,
  inputItem: 3,
  inputPart: 4,
} as const;
export type SpanPath = (typeof SpanPaths)[keyof typeof SpanPaths];

export interface Span {
  readonly start: number;
  readonly end: number;
  readonly path: SpanPath;
  /** `messages[i]` or `input[i]`. */
  readonly i: number;
  /** `content[j]`. */
  readonly j: number;
}

const [CHAT_FILE_PATH] = FILE_ID_PATHS.chatCompletions;
const [INPUT_ITEM_PATH, INPUT_PART_PATH] = FILE_ID_PATHS.responses;

/** The path of a span for error messages, e.g. `body.messages[0].content[1].file.file_id`. */
export function pathOf(span: Span): string {
  switch (span.path) {
    case SpanPaths.customId:
      return 'custom_id';
    case SpanPaths.model:
      return 'body.model';
    case SpanPaths.chatFile:
      return `body.${indexed(CHAT_FILE_PATH, span)}`;
    case SpanPaths.inputItem:
      return `body.${indexed(INPUT_ITEM_PATH, span)}`;
    case SpanPaths.inputPart:
      return `body.${indexed(INPUT_PART_PATH, span)}`;
  }
}

/** A FILE_ID_PATHS path with its `[*]`s replaced by the span's indices, `i` first. */
function indexed(path: string, span: Span): string {
  let n = 0;
  return path.replaceAll('[*]', () => `[${n++ === 0 ? span.i : span.j}]`);
}

/** A string value of an ASCII line, from its JSON token (escapes decoded). */
export function latin1Value(bytes: Buffer, span: Span): string {
  const token = bytes.toString('latin1', span.start, span.end);
  return token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
}

/** A string value decoded from its own UTF-8 bytes: exact where the latin1 reading is not. */
export function utf8Value(bytes: Buffer, span: Span): string {
  return JSON.parse(bytes.toString('utf8', span.start, span.end)) as string;
}

/** Which reader reads the line (see `readRequestLine`). */
export type LineReader = 'fastest' | 'in JavaScript';

/** What `readRequestLine` found in a line that can be a request. */
export interface RequestLine {
  /**
   * The custom_id when it had escapes; null when it had none and so is its bytes as they stand,
   * `[customIdFrom, customIdTo)` of the line (not decoded: the check keys ids by their bytes).
   */
  readonly customId: string | null;
  readonly customIdFrom: number;
  readonly customIdTo: number;
  readonly method: string;
  readonly url: string;
  /** The last `model` of the last `body`, as JSON.parse would keep it. */
  readonly model: string;
  /**
   * Every value at `custom_id`, `body.model` or a FILE_ID_PATHS path, in text order, duplicate
   * keys included: every copy is rewritten, whichever one a provider keeps.
   */
  readonly spans: Span[];
}

/**
 * Where a container's members or items sit on the paths the reader follows: the top-level
 * request, its `body`, `messages` and `input` with their items, their `content` parts, a chat
 * part's `file`. Anything else is Other: checked, not followed. (batch-line.wat uses the same
 * numbers for these and for Role.)
 */
const Ctx = {
  other: 0,
  top: 1,
  body: 2,
  chatItems: 3,
  inputItems: 4,
  chatItem: 5,
  inputItem: 6,
  chatParts: 7,
  inputParts: 8,
  chatPart: 9,
  inputPart: 10,
  chatFile: 11,
} as const;

/** What the value after a key is to the check. */
const Role = { none: 0, customId: 1, method: 2, url: 3, body: 4, model: 5, fileId: 6 } as const;

/** A decoded string token, `bytes[start, end)` with its quotes. */
function tokenString(bytes: Buffer, start: number, end: number, ascii: boolean, escaped: boolean) {
  if (escaped) return JSON.parse(bytes.toString('utf8', start, end)) as string;
  return bytes.toString(ascii ? 'latin1' : 'utf8', start + 1, end - 1);
}

/**
 * One pass over a request line's bytes (no `\n`, no byte-order mark, no trailing `\r`; valid
 * UTF-8 or ASCII as `ascii` says): null unless the bytes are one JSON object that JSON.parse
 * would accept with `custom_id`, `method`, `url` and `body.model` strings and `body` an object;
 * then those fields and the spans of the values the rewrite reads or replaces. batch-line.wat
 * reads the line where it can (`fastest`), else RequestLineReader; `in JavaScript` asks for
 * RequestLineReader always (the answers are the same: a test holds both to JSON.parse).
 */
export function readRequestLine(
  bytes: Buffer,
  ascii: boolean,
  reader: LineReader = 'fastest',
): RequestLine | null {
  // Made at the first line read: a gateway that never takes a batch file never compiles the
  // WebAssembly module (4.4 MB of RSS, measured: batch-line-wasm.ts).
  READER ??= new RequestLineReader();
  if (WASM === undefined) WASM = BatchLineWasm.create();
  const wasm = WASM;
  if (reader === 'fastest' && wasm !== null && bytes.length <= wasm.maxLineBytes) {
    wasm.load(bytes);
    const verdict = wasm.readLine(bytes.length);
    if (verdict === Verdict.notARequest) return null;
    if (verdict === Verdict.request) return READER.answered(wasm.bytes, wasm.answer, ascii);
  }
  return READER.read(bytes, ascii);
}

let WASM: BatchLineWasm | null | undefined;

const NO_BYTES = Buffer.alloc(0);

/** Key names as bytes, compared in place. */
const Keys = {
  body: Buffer.from('body'),
  customId: Buffer.from('custom_id'),
  method: Buffer.from('method'),
  url: Buffer.from('url'),
  model: Buffer.from('model'),
  messages: Buffer.from('messages'),
  input: Buffer.from('input'),
  content: Buffer.from('content'),
  file: Buffer.from('file'),
  fileId: Buffer.from('file_id'),
} as const;

/**
 * The reader's state lives in fields of one instance reused for every line (reading is
 * synchronous), so a line allocates only what it returns: its stack of open containers is four
 * typed arrays that grow with the deepest line seen, and depth costs memory (bounded by the line
 * limit), never the call stack.
 */
class RequestLineReader {
  /** Per open container: its context, 1 if an object, items seen so far, the item index `[i]`. */
  private ctx = new Int32Array(32);
  private object = new Uint8Array(32);
  private count = new Int32Array(32);
  private item = new Int32Array(32);
  /** For a container that is itself a value the check reads: its role and where it starts. */
  private valueRole = new Uint8Array(32);
  private valueStart = new Int32Array(32);
  private depth = -1;
  private b: Buffer = NO_BYTES;
  private end = 0;
  /** What the value about to be read is: its role, the context it opens as an array / object. */
  private role: number = Role.none;
  private opens: number = Ctx.other;
  private objectOpens: number = Ctx.top;
  /** Whether the last custom_id is a string, decoded (escaped) or as its bytes stand. */
  private hasCustomId = false;
  private customId: string | null = null;
  private customIdFrom = 0;
  private customIdTo = 0;
  private method: string | null = null;
  private url: string | null = null;
  private model: string | null = null;
  private bodyIsObject = false;
  private spans: Span[] = [];
  /** The last token decoded for a role, by role (see `decoded`). */
  private readonly lastTokens: Array<
    { readonly bytes: Buffer; readonly value: string } | undefined
  > = [];

  read(bytes: Buffer, ascii: boolean): RequestLine | null {
    this.b = bytes;
    this.end = bytes.length;
    this.depth = -1;
    this.role = Role.none;
    this.opens = Ctx.other;
    this.objectOpens = Ctx.top;
    this.customId = this.method = this.url = this.model = null;
    this.hasCustomId = false;
    this.bodyIsObject = false;
    this.spans = [];
    const found = this.run(ascii);
    this.b = NO_BYTES; // not kept past the line
    return found;
  }

  /**
   * What batch-line.wat found in the request line it holds, `b` being its memory (the line's
   * copy at offset 0): the same answer as `read`, its strings decoded here.
   */
  answered(b: Buffer, answer: Int32Array, ascii: boolean): RequestLine {
    this.b = b;
    const escaped = answer[Answer.customIdEscaped] === 1;
    const customIdFrom = answer[Answer.customIdFrom];
    const customIdTo = answer[Answer.customIdTo];
    const customId = escaped ? tokenString(b, customIdFrom - 1, customIdTo + 1, ascii, true) : null;
    const method = this.answeredToken(Role.method, answer, Answer.method, ascii);
    const url = this.answeredToken(Role.url, answer, Answer.url, ascii);
    const model = this.answeredToken(Role.model, answer, Answer.model, ascii);
    const spans: Span[] = [];
    const count = answer[Answer.spanCount];
    for (let k = 0, at = Answer.spans; k < count; k++, at += SPAN_WORDS) {
      const path = answer[at + 2] as SpanPath;
      spans.push({
        start: answer[at],
        end: answer[at + 1],
        path,
        i: answer[at + 3],
        j: answer[at + 4],
      });
    }
    this.b = NO_BYTES;
    return { customId, customIdFrom, customIdTo, method, url, model, spans };
  }

  /** A string field of the answer, at `at` (start, end, escaped), decoded as `take` would. */
  private answeredToken(role: number, answer: Int32Array, at: number, ascii: boolean): string {
    return this.decoded(role, answer[at], answer[at + 1], ascii, answer[at + 2] === 1);
  }

  /** The string whose content starts at `i` (json-string.ts has the contract). */
  private stringEnd(i: number): number {
    return stringEndInJs(this.b, i, this.end);
  }

  private run(ascii: boolean): RequestLine | null {
    const b = this.b;
    const end = this.end;
    let i = skipSpace(b, 0, end);
    if (b[i] !== LBRACE) return null;
    for (;;) {
      // A value at i.
      const c = b[i];
      const start = i;
      const role = this.role;
      if (c === LBRACE || c === LBRACKET) {
        const isObject = c === LBRACE;
        if (role === Role.body) this.bodyIsObject = isObject;
        else if (role !== Role.none) this.take(role, c, start, start, ascii, false, this.depth);
        const ctx = isObject ? this.objectOpens : this.opens;
        this.open(ctx, isObject, role, start);
        i = skipSpace(b, i + 1, end);
        if (b[i] === (isObject ? RBRACE : RBRACKET)) {
          i++;
          this.close(i);
        } else if (isObject) {
          i = this.member(i);
          if (i < 0) return null;
          continue;
        } else {
          this.itemRole(ctx);
          continue;
        }
      } else {
        let escaped = false;
        if (c === QUOTE) {
          const found = this.stringEnd(i + 1);
          if (found < 0) return null;
          escaped = (found & 1) === 1;
          i = (found >> 1) + 1;
        } else if (c === 0x74) {
          if (b[i + 1] !== 0x72 || b[i + 2] !== 0x75 || b[i + 3] !== 0x65) return null;
          i += 4;
        } else if (c === 0x66) {
          if (b[i + 1] !== 0x61 || b[i + 2] !== 0x6c || b[i + 3] !== 0x73 || b[i + 4] !== 0x65) {
            return null;
          }
          i += 5;
        } else if (c === 0x6e) {
          if (b[i + 1] !== 0x75 || b[i + 2] !== 0x6c || b[i + 3] !== 0x6c) return null;
          i += 4;
        } else {
          i = number(b, i, end);
          if (i < 0) return null;
        }
        if (role !== Role.none) this.take(role, c, start, i, ascii, escaped, this.depth);
      }
      // After a value: the container's next member or item, or its end.
      for (;;) {
        const d = this.depth;
        if (d < 0) return this.found(skipSpace(b, i, end) === end);
        i = skipSpace(b, i, end);
        const isObject = this.object[d] === 1;
        const next = b[i];
        if (next === COMMA) {
          this.count[d]++;
          i = skipSpace(b, i + 1, end);
          if (isObject) {
            i = this.member(i);
            if (i < 0) return null;
          } else {
            this.itemRole(this.ctx[d]);
          }
          break;
        }
        if (next !== (isObject ? RBRACE : RBRACKET)) return null;
        i++;
        this.close(i);
      }
    }
  }

  private found(atEnd: boolean): RequestLine | null {
    const { customId, customIdFrom, customIdTo, method, url, model } = this;
    if (!atEnd || !this.bodyIsObject || !this.hasCustomId) return null;
    if (method === null || url === null || model === null) return null;
    return { customId, customIdFrom, customIdTo, method, url, model, spans: this.spans };
  }

  /**
   * A value the check reads, `b[start, end)`, in the object at depth `d`; a container's is taken
   * when it opens (its range once it closes, see `close`). Every copy of a key counts (whichever
   * copy a provider keeps, it is rewritten), and the last one's value is the field's, as in
   * JSON.parse; a field that is not a string is null, and the line is refused.
   */
  private take(
    role: number,
    first: number,
    start: number,
    end: number,
    ascii: boolean,
    escaped: boolean,
    d: number,
  ): void {
    const isString = first === QUOTE;
    const decode = isString && role !== Role.fileId && (role !== Role.customId || escaped);
    const value = decode ? this.decoded(role, start, end, ascii, escaped) : null;
    const isContainer = first === LBRACE || first === LBRACKET;
    switch (role) {
      case Role.fileId:
        if (!isContainer) this.spans.push(this.fileIdSpan(start, end, d));
        break;
      case Role.customId:
        this.hasCustomId = isString;
        this.customId = value;
        this.customIdFrom = start + 1;
        this.customIdTo = end - 1;
        if (!isContainer) this.spans.push({ start, end, path: SpanPaths.customId, i: 0, j: 0 });
        break;
      case Role.method:
        this.method = value;
        break;
      case Role.url:
        this.url = value;
        break;
      case Role.model:
        this.model = value;
        if (!isContainer) this.spans.push({ start, end, path: SpanPaths.model, i: 0, j: 0 });
        break;
    }
  }

  /**
   * A string token's value. `method`, `url` and `body.model` are the same on every line of a
   * file: when the bytes are the previous line's, so is the string (no decoding, no new string).
   */
  private decoded(role: number, start: number, end: number, ascii: boolean, escaped: boolean) {
    const b = this.b;
    if (role === Role.customId || end - start > MAX_REMEMBERED_TOKEN) {
      return tokenString(b, start, end, ascii, escaped);
    }
    const last = this.lastTokens[role];
    if (last !== undefined && sameBytes(b, start, end, last.bytes)) return last.value;
    const value = tokenString(b, start, end, ascii, escaped);
    this.lastTokens[role] = { bytes: Buffer.from(b.subarray(start, end)), value };
    return value;
  }

  private open(ctx: number, isObject: boolean, role: number, start: number): void {
    const parent = this.depth;
    const d = ++this.depth;
    if (d === this.ctx.length) this.grow();
    this.ctx[d] = ctx;
    this.object[d] = isObject ? 1 : 0;
    this.count[d] = 0;
    this.valueRole[d] =
      role === Role.customId || role === Role.model || role === Role.fileId ? role : Role.none;
    this.valueStart[d] = start;
    // An item of `messages` or `input` is `[i]`; what is below it inherits that index.
    this.item[d] =
      parent < 0
        ? 0
        : ctx === Ctx.chatItem || ctx === Ctx.inputItem
          ? this.count[parent]
          : this.item[parent];
  }

  /** The innermost container closed just before `end`; a value the check reads gets its range. */
  private close(end: number): void {
    const d = this.depth--;
    const role = this.valueRole[d];
    if (role === Role.none) return;
    const start = this.valueStart[d];
    if (role === Role.fileId) this.spans.push(this.fileIdSpan(start, end, d - 1));
    else {
      const path = role === Role.model ? SpanPaths.model : SpanPaths.customId;
      this.spans.push({ start, end, path, i: 0, j: 0 });
    }
  }

  private grow(): void {
    const size = this.ctx.length * 2;
    const ctx = new Int32Array(size);
    const object = new Uint8Array(size);
    const count = new Int32Array(size);
    const item = new Int32Array(size);
    const valueRole = new Uint8Array(size);
    const valueStart = new Int32Array(size);
    valueRole.set(this.valueRole);
    valueStart.set(this.valueStart);
    this.valueRole = valueRole;
    this.valueStart = valueStart;
    ctx.set(this.ctx);
    object.set(this.object);
    count.set(this.count);
    item.set(this.item);
    this.ctx = ctx;
    this.object = object;
    this.count = count;
    this.item = item;
  }

  /**
   * The key at `k` and its colon: sets what its value is and returns the value's offset, or -1
   * when the grammar fails or the key is escaped where keys matter (the long way decodes it).
   */
  private member(k: number): number {
    const b = this.b;
    const end = this.end;
    if (b[k] !== QUOTE) return -1;
    const found = this.stringEnd(k + 1);
    if (found < 0) return -1;
    const ctx = this.ctx[this.depth];
    const escaped = (found & 1) === 1;
    const keyEnd = (found >> 1) + 1;
    const colon = skipSpace(b, keyEnd, end);
    if (b[colon] !== COLON) return -1;
    if (!escaped) {
      this.memberRole(ctx, b, k + 1, keyEnd - 1);
    } else if (ctx === Ctx.other) {
      this.set(Role.none, Ctx.other, Ctx.other);
    } else {
      // "mod\u0065l" is `model` to every JSON reader, so it is matched decoded (rare: one parse).
      const name = Buffer.from(JSON.parse(b.toString('utf8', k, keyEnd)) as string);
      this.memberRole(ctx, name, 0, name.length);
    }
    if (this.role === Role.body) {
      // JSON.parse keeps the last `body`: its model is the one that counts.
      this.model = null;
      this.bodyIsObject = false;
    }
    return skipSpace(b, colon + 1, end);
  }

  private set(role: number, opens: number, objectOpens: number): void {
    this.role = role;
    this.opens = opens;
    this.objectOpens = objectOpens;
  }

  /**
   * What the value of the key `b[from, to)` is in a member of context `ctx`. (The comparisons
   * are spelled out: a closure for them cost 20 % more scavenges of the check, measured.)
   */
  private memberRole(ctx: number, b: Buffer, from: number, to: number): void {
    switch (ctx) {
      case Ctx.top:
        if (sameBytes(b, from, to, Keys.body)) return this.set(Role.body, Ctx.other, Ctx.body);
        if (sameBytes(b, from, to, Keys.customId))
          return this.set(Role.customId, Ctx.other, Ctx.other);
        if (sameBytes(b, from, to, Keys.method)) return this.set(Role.method, Ctx.other, Ctx.other);
        if (sameBytes(b, from, to, Keys.url)) return this.set(Role.url, Ctx.other, Ctx.other);
        break;
      case Ctx.body:
        if (sameBytes(b, from, to, Keys.model)) return this.set(Role.model, Ctx.other, Ctx.other);
        if (sameBytes(b, from, to, Keys.messages))
          return this.set(Role.none, Ctx.chatItems, Ctx.other);
        if (sameBytes(b, from, to, Keys.input))
          return this.set(Role.none, Ctx.inputItems, Ctx.other);
        break;
      case Ctx.chatItem:
        if (sameBytes(b, from, to, Keys.content))
          return this.set(Role.none, Ctx.chatParts, Ctx.other);
        break;
      case Ctx.inputItem:
        if (sameBytes(b, from, to, Keys.fileId)) return this.set(Role.fileId, Ctx.other, Ctx.other);
        if (sameBytes(b, from, to, Keys.content))
          return this.set(Role.none, Ctx.inputParts, Ctx.other);
        break;
      case Ctx.chatPart:
        if (sameBytes(b, from, to, Keys.file)) return this.set(Role.none, Ctx.other, Ctx.chatFile);
        break;
      case Ctx.inputPart:
      case Ctx.chatFile:
        if (sameBytes(b, from, to, Keys.fileId)) return this.set(Role.fileId, Ctx.other, Ctx.other);
        break;
    }
    this.set(Role.none, Ctx.other, Ctx.other);
  }

  /** What the items of an array of context `ctx` are. */
  private itemRole(ctx: number): void {
    const item =
      ctx === Ctx.chatItems
        ? Ctx.chatItem
        : ctx === Ctx.inputItems
          ? Ctx.inputItem
          : ctx === Ctx.chatParts
            ? Ctx.chatPart
            : ctx === Ctx.inputParts
              ? Ctx.inputPart
              : Ctx.other;
    this.set(Role.none, Ctx.other, item);
  }

  /** The span of a file id in the container at depth `d`, `[i]` and `[j]` from the open ones. */
  private fileIdSpan(start: number, end: number, d: number): Span {
    const ctx = this.ctx[d];
    if (ctx === Ctx.inputItem) {
      return { start, end, path: SpanPaths.inputItem, i: this.count[d - 1], j: 0 };
    }
    // A part's file id (inputPart), or a chat part's file's (chatFile, one level deeper).
    const part = ctx === Ctx.chatFile ? d - 1 : d;
    const path = ctx === Ctx.chatFile ? SpanPaths.chatFile : SpanPaths.inputPart;
    return { start, end, path, i: this.item[part], j: this.count[part - 1] };
  }
}

let READER: RequestLineReader | null = null;

/** Tokens longer than this are decoded every time: comparing would cost about as much. */
const MAX_REMEMBERED_TOKEN = 256;

/** Whether `b[start, end)` holds the bytes of `token`. */
export function sameBytes(b: Buffer, start: number, end: number, token: Buffer): boolean {
  if (end - start !== token.length) return false;
  for (let k = 0; k < token.length; k++) {
    if (b[start + k] !== token[k]) return false;
  }
  return true;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function skipSpace(b: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end) {
    const c = b[i];
    if (c !== SPACE && c !== TAB && c !== CR && c !== NEWLINE) break;
    i++;
  }
  return i;
}

/** A JSON number from `at`: the offset after it, or -1 (RFC 8259's grammar, as JSON.parse's). */
function number(b: Buffer, at: number, end: number): number {
  let i = at;
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) {
    i++;
  } else if (b[i] >= 0x31 && b[i] <= 0x39) {
    while (i < end && isDigit(b[i])) i++;
  } else {
    return -1;
  }
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  return i;
}
