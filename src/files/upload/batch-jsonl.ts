import { isAscii, isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidRequestError } from '../../common/errors/api-error';
import { ID_PREFIXES } from '../../id-codec/id-codec';
import type { BatchLimits } from './batch-limits';

/*
 * Design: one rewriter per deployment, no separate scan.
 *
 * The upload fan-out gives every deployment its own Readable over the spooled upload; each is piped
 * through its own `batchLineRewriter`. Validation is part of the rewrite, so every deployment
 * applies the same checks to the same bytes and fails at the same line with the same error, and
 * there is no second pass over the file (nor a place to keep its result) before the copies start.
 * The price is that the checks run once per deployment, so the rewriter must be cheap: it never
 * re-serialises a line. JSON.parse validates it and yields the few fields checked; a light scanner
 * that trusts the now-validated text finds the byte ranges of `body.model` and of the declared file
 * ids; the output is the input bytes with only those ranges replaced. So key order, whitespace,
 * escapes and numbers that JSON.parse cannot represent (1e400, integers beyond 2^53, -0) reach the
 * provider byte for byte; only the values the gateway owns change.
 *
 * Memory: complete lines are handled as they arrive; only the unfinished line is held, and never
 * more than `limits.maxLineBytes` of it. Output is pushed once per input chunk, and Node's
 * Transform does not ask for the next chunk while its readable side is over its high-water mark,
 * so a slow provider slows the spool reader instead of filling memory.
 *
 * Cost, measured on the 2-vCPU benchmark VM (Node 20.20) with a 100 MB, 50,000-line file of 2 KB
 * chat lines each with a managed file part, 1 MiB chunks: about 220-260 MB/s per rewriter
 * (0.4 s per deployment), ASCII or not; JSON.parse is half of it. So a file going to N
 * deployments costs N × 0.4 s of CPU per 100 MB on top of the plain upload.
 *
 * The checks depend on `modelFor` and `fileIdFor` only through whether they answer; the caller
 * must give every deployment of one upload the same domain (the upload's target model names, the
 * files the caller may use), or the deployments would decide differently.
 */

/** Endpoints a batch line may call (OpenAI's batch `endpoint` values that take JSONL lines). */
export const BATCH_ENDPOINTS: readonly string[] = Object.freeze([
  '/v1/chat/completions',
  '/v1/responses',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/moderations',
]);

/** Azure's codes where Azure has one (model_not_found, model_mismatch, url_mismatch). */
export type BatchFileErrorCode =
  | 'invalid_batch_line'
  | 'empty_batch_file'
  | 'batch_file_too_large'
  | 'batch_line_too_large'
  | 'too_many_batch_requests'
  | 'duplicate_custom_id'
  | 'url_mismatch'
  | 'model_mismatch'
  | 'model_not_found'
  | 'unknown_file_id';

/** A batch input file the gateway refuses. `line` is 1-based, as in OpenAI's `BatchError.line`. */
export class BatchFileError extends InvalidRequestError {
  readonly line: number | null;

  constructor(line: number | null, message: string, code: BatchFileErrorCode) {
    super(line === null ? message : `Line ${line}: ${message}`, { param: 'file', code });
    this.line = line;
  }
}

export interface BatchLineRewrite {
  /** The upload's target model names (public) → this deployment's upstream model / Azure deployment. */
  readonly modelFor: (publicModel: string) => string | undefined;
  /** A managed (unified) file id → this deployment's provider file id; undefined when not managed/known. */
  readonly fileIdFor: (unifiedId: string) => string | undefined;
  readonly limits: BatchLimits;
}

/**
 * Bytes in, bytes out: validates each line of a batch input file and rewrites it for one
 * deployment. Fails with a {@link BatchFileError} naming the line before any byte of that line is
 * pushed, so the error does not depend on how the input is chunked.
 *
 * Line rules:
 * - lines end with `\n`; a `\r` before it is dropped, and a last line without `\n` gets one;
 * - a UTF-8 byte-order mark at the start of the file is dropped (Azure rejects it);
 * - a blank line between requests is refused (OpenAI refuses empty lines too): dropping it would
 *   shift the line numbers the provider reports in its error file; blank lines after the last
 *   request are dropped, since editors often leave one;
 * - a file with no request at all is refused: no batch can run on it;
 * - every line uses the first line's `url` and public `body.model` (one endpoint and one model
 *   per batch, as OpenAI and Azure require), and a `custom_id` used by no earlier line.
 */
export function batchLineRewriter(rewrite: BatchLineRewrite): Transform {
  return new BatchLineRewriter(rewrite);
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const NEWLINE_BYTES = Buffer.from('\n');
const FILE_ID_PREFIX = ID_PREFIXES.file;
const FILE_ID_CACHE_SIZE = 1024;

class BatchLineRewriter extends Transform {
  private readonly modelFor: BatchLineRewrite['modelFor'];
  private readonly fileIdFor: BatchLineRewrite['fileIdFor'];
  private readonly limits: BatchLimits;

  /** The unfinished line: tails of the chunks received since its start. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Number of the line being received, and the file offset of its first byte. */
  private lineNo = 1;
  private lineStart = 0;
  /** Bytes received before the chunk being handled. */
  private received = 0;
  private requests = 0;
  /** The first request's url and public model: every later line must use the same. */
  private url: string | null = null;
  private model: string | null = null;
  /** `body.model` for this deployment, as JSON bytes, ready to splice in. */
  private upstreamModel: Buffer | null = null;
  /** The first blank line not yet known to be trailing. */
  private blankLine: number | null = null;
  private readonly customIds = new CustomIds();
  private readonly fileIds = new Map<string, Buffer>();

  constructor(rewrite: BatchLineRewrite) {
    super();
    const { maxLines, maxBytes, maxLineBytes } = rewrite.limits;
    for (const [name, value] of Object.entries({ maxLines, maxBytes, maxLineBytes })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        // A configuration bug, not a bad file: fail loudly where the rewriter is built.
        throw new RangeError(`batch limit ${name} must be a positive integer, got ${value}`);
      }
    }
    this.modelFor = rewrite.modelFor;
    this.fileIdFor = rewrite.fileIdFor;
    this.limits = { maxLines, maxBytes, maxLineBytes };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    let error: unknown = null;
    try {
      this.consume(chunk, out);
    } catch (caught) {
      error = caught;
    }
    // Lines before a failing one are complete and valid; the failing line is never in `out`.
    if (out.length > 0) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    callback(error === null ? null : asError(error));
  }

  override _flush(callback: TransformCallback): void {
    const out: Buffer[] = [];
    let error: unknown = null;
    try {
      if (this.pendingBytes > 0) this.handleLine(this.takeLine(Buffer.alloc(0)), out);
      if (this.requests === 0) {
        throw new BatchFileError(
          null,
          'The batch input file contains no requests; it needs one JSON request per line.',
          'empty_batch_file',
        );
      }
    } catch (caught) {
      error = caught;
    }
    if (out.length > 0) this.push(Buffer.concat(out));
    callback(error === null ? null : asError(error));
  }

  private consume(chunk: Buffer, out: Buffer[]): void {
    const { maxBytes, maxLineBytes } = this.limits;
    const base = this.received;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl === -1 ? chunk.length : nl;
      const through = nl === -1 ? chunk.length : nl + 1;
      // Both limits are crossed at a fixed file offset, so whichever comes first in the file
      // decides the error, however the bytes were chunked.
      const lineOver =
        this.pendingBytes + (end - pos) > maxLineBytes ? this.lineStart + maxLineBytes : Infinity;
      const fileOver = base + through > maxBytes ? maxBytes : Infinity;
      if (lineOver !== Infinity || fileOver !== Infinity) {
        throw lineOver <= fileOver
          ? new BatchFileError(
              this.lineNo,
              `the line is longer than ${maxLineBytes} bytes, the most one batch request may take.`,
              'batch_line_too_large',
            )
          : new BatchFileError(
              this.lineNo,
              `the file is larger than ${maxBytes} bytes, the limit for a batch input file.`,
              'batch_file_too_large',
            );
      }
      if (nl === -1) {
        this.pending.push(chunk.subarray(pos));
        this.pendingBytes += chunk.length - pos;
        break;
      }
      this.handleLine(this.takeLine(chunk.subarray(pos, end)), out);
      this.lineNo++;
      this.lineStart = base + through;
      pos = through;
    }
    this.received = base + chunk.length;
  }

  private takeLine(tail: Buffer): Buffer {
    if (this.pending.length === 0) return tail;
    const line = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    return line;
  }

  private handleLine(raw: Buffer, out: Buffer[]): void {
    const n = this.lineNo;
    let bytes = raw;
    if (n === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.subarray(3);
    }
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, -1);
    if (isBlank(bytes)) {
      this.blankLine ??= n;
      return;
    }
    if (this.blankLine !== null) {
      throw new BatchFileError(
        this.blankLine,
        'the line is empty; a batch input file has one JSON request on every line.',
        'invalid_batch_line',
      );
    }
    this.requests++;
    if (this.requests > this.limits.maxLines) {
      throw new BatchFileError(
        n,
        `the file has more than ${this.limits.maxLines} requests, the limit for a batch input file.`,
        'too_many_batch_requests',
      );
    }

    // Every line is decoded as latin1: one char per byte, so char offsets are byte offsets, and
    // a one-byte string decodes and parses about twice as fast as the two-byte string UTF-8
    // text becomes. The grammar JSON.parse checks is the same, since JSON's structural
    // characters are ASCII and UTF-8 never uses ASCII bytes inside a multi-byte character; only
    // non-ASCII string values come out wrong, and the few that are used are decoded again from
    // their own bytes (`exact`). isUtf8 supplies the check a UTF-8 decoder would have made.
    const ascii = isAscii(bytes);
    if (!ascii && !isUtf8(bytes)) {
      throw new BatchFileError(n, 'the line is not valid UTF-8.', 'invalid_batch_line');
    }
    const text = bytes.toString('latin1');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new BatchFileError(
        n,
        `the line is not valid JSON (${parseError(bytes, error)}).`,
        'invalid_batch_line',
      );
    }
    // Without a backslash in the line no key or value is escaped: the scanner compares in place.
    const escapes = bytes.includes(BACKSLASH);
    const spans = scanLine(text, escapes);
    const exact = ascii
      ? asParsed
      : (value: unknown, path: SpanPath): unknown => {
          if (typeof value !== 'string' || isAsciiString(value)) return value;
          // JSON.parse kept the last of duplicate keys; in text order that is the last span.
          const span = spans.findLast((candidate) => candidate.path === path);
          return span === undefined ? value : utf8Value(bytes, span);
        };
    this.check(n, parsed, exact);
    this.splice(n, spans, bytes, ascii, out);
  }

  /**
   * The request's own fields. Duplicate keys: JSON.parse keeps the last, as Python's and Go's
   * decoders do (the file-id and model rewrite covers every copy; see the scanner).
   * `exact` turns a parsed string back into its real value (see handleLine).
   */
  private check(
    n: number,
    line: unknown,
    exact: (value: unknown, path: SpanPath) => unknown,
  ): void {
    const bad = (message: string, code: BatchFileErrorCode = 'invalid_batch_line'): never => {
      throw new BatchFileError(n, message, code);
    };
    if (!isRecord(line)) return bad('the line must be a JSON object (one request).');
    const { method, url, body } = line;
    const customId = exact(line.custom_id, SpanPaths.customId);
    if (typeof customId !== 'string' || customId === '') {
      return bad('custom_id is required and must be a non-empty string.');
    }
    if (method !== 'POST') return bad('method is required and must be "POST".');
    // A non-ASCII url cannot be an endpoint, so the latin1 reading is enough to refuse it.
    if (typeof url !== 'string' || !BATCH_ENDPOINTS.includes(url)) {
      return bad(`url must be one of ${BATCH_ENDPOINTS.join(', ')}.`);
    }
    if (!isRecord(body)) return bad('body is required and must be a JSON object.');
    const model = exact(body.model, SpanPaths.model);
    if (typeof model !== 'string' || model === '') {
      return bad('body.model is required and must name one of the target models.');
    }
    if (this.url !== null && url !== this.url) {
      return bad(
        `url ${shown(url)} differs from line 1's ${shown(this.url)}; a batch calls one endpoint.`,
        'url_mismatch',
      );
    }
    if (model !== this.model) {
      const upstream = this.modelFor(model);
      if (upstream === undefined) {
        return bad(
          `body.model ${shown(model)} is not one of the file's target_model_names.`,
          'model_not_found',
        );
      }
      if (this.model !== null) {
        // One public model per file (OpenAI's and Azure's rule), checked on the public name so
        // every deployment decides alike whatever each maps it to.
        return bad(
          `body.model ${shown(model)} differs from line 1's ${shown(this.model)}; a batch uses one model.`,
          'model_mismatch',
        );
      }
      this.upstreamModel = Buffer.from(JSON.stringify(upstream));
    }
    const firstUse = this.customIds.add(customId, n);
    if (firstUse !== n) {
      return bad(
        `custom_id ${shown(customId)} is already used on line ${firstUse}; custom_id must be unique.`,
        'duplicate_custom_id',
      );
    }
    this.url = url;
    this.model = model;
  }

  /** Pushes the line's bytes with `body.model` and the managed file ids replaced. */
  private splice(
    n: number,
    spans: readonly Span[],
    bytes: Buffer,
    ascii: boolean,
    out: Buffer[],
  ): void {
    // Pieces go to `out` only once the whole line passed: a bad file id must not leave half a line.
    const pieces: Buffer[] = [];
    let at = 0;
    for (const span of spans) {
      let replacement: Buffer;
      if (span.path === SpanPaths.customId) {
        continue;
      } else if (span.path === SpanPaths.model) {
        replacement = this.upstreamModel as Buffer;
      } else {
        if (bytes[span.start] !== QUOTE) continue; // `"file_id": null` and other non-strings
        const id = ascii ? latin1Value(bytes, span) : utf8Value(bytes, span);
        if (!id.startsWith(FILE_ID_PREFIX)) continue;
        replacement = this.providerFileId(n, id, span);
      }
      pieces.push(bytes.subarray(at, span.start), replacement);
      at = span.end;
    }
    for (const piece of pieces) out.push(piece);
    out.push(bytes.subarray(at), NEWLINE_BYTES);
  }

  /** This deployment's id for a managed file id, as JSON bytes; files repeat across lines. */
  private providerFileId(n: number, id: string, span: Span): Buffer {
    const cached = this.fileIds.get(id);
    if (cached !== undefined) return cached;
    const providerId = this.fileIdFor(id);
    if (providerId === undefined) {
      // A `file-` id the gateway cannot map is either someone else's or a provider's own id:
      // passing it through would let a line reach a file the caller may not use.
      throw new BatchFileError(
        n,
        `${pathOf(span)} ${shown(id)} is not a file this upload can use.`,
        'unknown_file_id',
      );
    }
    // Bounded: a file naming more distinct ids than this just maps them again.
    if (this.fileIds.size >= FILE_ID_CACHE_SIZE) this.fileIds.clear();
    const bytes = Buffer.from(JSON.stringify(providerId));
    this.fileIds.set(id, bytes);
    return bytes;
  }
}

/**
 * custom_ids seen so far → the line of first use. Bounded: ids longer than a digest are kept as
 * their SHA-256, so 50,000 ids cost a few MB however long each is.
 */
class CustomIds {
  private static readonly RAW_MAX = 64;
  private readonly short = new Map<string, number>();
  private readonly long = new Map<string, number>();

  /** Records the id on `line` unless already seen; returns the line of its first use. */
  add(id: string, line: number): number {
    const short = id.length <= CustomIds.RAW_MAX;
    const map = short ? this.short : this.long;
    const key = short ? id : createHash('sha256').update(id).digest('base64');
    const first = map.get(key);
    if (first !== undefined) return first;
    map.set(key, line);
    return line;
  }
}

/** Where a rewritten value sits; indices make its path only when an error needs it. */
const SpanPaths = { customId: 0, model: 1, chatFile: 2, inputItem: 3, inputPart: 4 } as const;
type SpanPath = (typeof SpanPaths)[keyof typeof SpanPaths];

interface Span {
  readonly start: number;
  readonly end: number;
  readonly path: SpanPath;
  /** `messages[i]` or `input[i]`. */
  readonly i: number;
  /** `content[j]`. */
  readonly j: number;
}

/** The path of a span for error messages, e.g. `body.messages[0].content[1].file.file_id`. */
function pathOf(span: Span): string {
  switch (span.path) {
    case SpanPaths.customId:
      return 'custom_id';
    case SpanPaths.model:
      return 'body.model';
    case SpanPaths.chatFile:
      return `body.messages[${span.i}].content[${span.j}].file.file_id`;
    case SpanPaths.inputItem:
      return `body.input[${span.i}].file_id`;
    case SpanPaths.inputPart:
      return `body.input[${span.i}].content[${span.j}].file_id`;
  }
}

/*
 * The scanner below finds, in text order, the range of every value at `custom_id` (only to decode
 * it exactly), `body.model` and at the file-id paths `body.messages[*].content[*].file.file_id`, `body.input[*].file_id` and
 * `body.input[*].content[*].file_id` (the paths the model-call routes resolve). It runs only on
 * text JSON.parse accepted, so it checks no grammar; it descends only along those paths and skips
 * everything else (strings by indexOf, so megabytes of base64 cost little). It visits every copy
 * of a key, also duplicates JSON.parse dropped, so no copy of a field slips through unrewritten
 * whichever duplicate a provider keeps. The text is the latin1 reading of the line, so its offsets
 * are byte offsets. Plain loops, and a path string only for an error message: this runs on every
 * line once per deployment.
 *
 * Member and item loops share one convention: `firstMember`/`nextMember` (and the item variants)
 * return the offset of the next key or item, or `~end` (negative) once the container closed,
 * `end` being the offset just after it.
 */

function scanLine(s: string, escapes: boolean): Span[] {
  const spans: Span[] = [];
  const at = skipWs(s, 0);
  if (s.charCodeAt(at) !== LBRACE) return spans;
  for (let k = firstMember(s, at); k >= 0;) {
    const keyEnd = skipString(s, k);
    const v = valueAt(s, keyEnd);
    let end: number;
    if (s.charCodeAt(v) === LBRACE && isKey(s, k, keyEnd, 'body', escapes)) {
      end = scanBody(s, v, escapes, spans);
    } else {
      end = skipValue(s, v);
      // Only to decode a non-ASCII custom_id exactly; never rewritten.
      if (isKey(s, k, keyEnd, 'custom_id', escapes)) {
        spans.push({ start: v, end, path: SpanPaths.customId, i: 0, j: 0 });
      }
    }
    k = nextMember(s, end);
  }
  return spans;
}

function scanBody(s: string, at: number, escapes: boolean, spans: Span[]): number {
  let k = firstMember(s, at);
  while (k >= 0) {
    const keyEnd = skipString(s, k);
    const v = valueAt(s, keyEnd);
    let end: number;
    if (isKey(s, k, keyEnd, 'model', escapes)) {
      end = skipValue(s, v);
      spans.push({ start: v, end, path: SpanPaths.model, i: 0, j: 0 });
    } else if (s.charCodeAt(v) === LBRACKET && isKey(s, k, keyEnd, 'messages', escapes)) {
      end = scanItems(s, v, escapes, spans, SpanPaths.chatFile);
    } else if (s.charCodeAt(v) === LBRACKET && isKey(s, k, keyEnd, 'input', escapes)) {
      end = scanItems(s, v, escapes, spans, SpanPaths.inputItem);
    } else {
      end = skipValue(s, v);
    }
    k = nextMember(s, end);
  }
  return ~k;
}

/** `messages` (each a message with `content` parts) or `input` (items, maybe with `content`). */
function scanItems(
  s: string,
  at: number,
  escapes: boolean,
  spans: Span[],
  path: typeof SpanPaths.chatFile | typeof SpanPaths.inputItem,
): number {
  let p = firstItem(s, at);
  for (let i = 0; p >= 0; i++) {
    let end: number;
    if (s.charCodeAt(p) !== LBRACE) {
      end = skipValue(s, p);
    } else {
      let k = firstMember(s, p);
      while (k >= 0) {
        const keyEnd = skipString(s, k);
        const v = valueAt(s, keyEnd);
        let valueEnd: number;
        if (path === SpanPaths.inputItem && isKey(s, k, keyEnd, 'file_id', escapes)) {
          valueEnd = skipValue(s, v);
          spans.push({ start: v, end: valueEnd, path, i, j: 0 });
        } else if (s.charCodeAt(v) === LBRACKET && isKey(s, k, keyEnd, 'content', escapes)) {
          valueEnd = scanParts(s, v, escapes, spans, path, i);
        } else {
          valueEnd = skipValue(s, v);
        }
        k = nextMember(s, valueEnd);
      }
      end = ~k;
    }
    p = nextItem(s, end);
  }
  return ~p;
}

/** The `content` parts of message `i`: chat parts hold `file.file_id`, Responses parts `file_id`. */
function scanParts(
  s: string,
  at: number,
  escapes: boolean,
  spans: Span[],
  itemPath: typeof SpanPaths.chatFile | typeof SpanPaths.inputItem,
  i: number,
): number {
  let p = firstItem(s, at);
  for (let j = 0; p >= 0; j++) {
    let end: number;
    if (s.charCodeAt(p) !== LBRACE) {
      end = skipValue(s, p);
    } else {
      let k = firstMember(s, p);
      while (k >= 0) {
        const keyEnd = skipString(s, k);
        const v = valueAt(s, keyEnd);
        let valueEnd: number;
        if (itemPath === SpanPaths.inputItem && isKey(s, k, keyEnd, 'file_id', escapes)) {
          valueEnd = skipValue(s, v);
          spans.push({ start: v, end: valueEnd, path: SpanPaths.inputPart, i, j });
        } else if (
          itemPath === SpanPaths.chatFile &&
          s.charCodeAt(v) === LBRACE &&
          isKey(s, k, keyEnd, 'file', escapes)
        ) {
          valueEnd = scanChatFile(s, v, escapes, spans, i, j);
        } else {
          valueEnd = skipValue(s, v);
        }
        k = nextMember(s, valueEnd);
      }
      end = ~k;
    }
    p = nextItem(s, end);
  }
  return ~p;
}

function scanChatFile(
  s: string,
  at: number,
  escapes: boolean,
  spans: Span[],
  i: number,
  j: number,
): number {
  let k = firstMember(s, at);
  while (k >= 0) {
    const keyEnd = skipString(s, k);
    const v = valueAt(s, keyEnd);
    const end = skipValue(s, v);
    if (isKey(s, k, keyEnd, 'file_id', escapes)) {
      spans.push({ start: v, end, path: SpanPaths.chatFile, i, j });
    }
    k = nextMember(s, end);
  }
  return ~k;
}

/** `s[at]` opens an object: the offset of its first key, or `~end` when it is empty. */
function firstMember(s: string, at: number): number {
  const i = skipWs(s, at + 1);
  return s.charCodeAt(i) === RBRACE ? ~(i + 1) : i;
}

/** After a member's value: the offset of the next key, or `~end` after the closing brace. */
function nextMember(s: string, valueEnd: number): number {
  const i = skipWs(s, valueEnd);
  return s.charCodeAt(i) === COMMA ? skipWs(s, i + 1) : ~(i + 1);
}

function firstItem(s: string, at: number): number {
  const i = skipWs(s, at + 1);
  return s.charCodeAt(i) === RBRACKET ? ~(i + 1) : i;
}

function nextItem(s: string, itemEnd: number): number {
  const i = skipWs(s, itemEnd);
  return s.charCodeAt(i) === COMMA ? skipWs(s, i + 1) : ~(i + 1);
}

/** After a key: the offset of its value (past the colon). */
function valueAt(s: string, keyEnd: number): number {
  return skipWs(s, skipWs(s, keyEnd) + 1);
}

/**
 * Whether the key string `s[k, keyEnd)` is `name`. An escaped key ("mod\u0065l") is the same key
 * to every JSON parser, so when the line has escapes at all, one with a backslash is decoded.
 */
function isKey(s: string, k: number, keyEnd: number, name: string, escapes: boolean): boolean {
  if (keyEnd - k - 2 === name.length && s.startsWith(name, k + 1)) return true;
  if (!escapes) return false;
  for (let c = k + 1; c < keyEnd - 1; c++) {
    if (s.charCodeAt(c) === BACKSLASH) return JSON.parse(s.slice(k, keyEnd)) === name;
  }
  return false;
}

function skipWs(s: string, at: number): number {
  let i = at;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== SPACE && c !== NEWLINE && c !== CR && c !== TAB) return i;
    i++;
  }
}

/** `s[at]` is an opening quote; returns the offset after the closing one. */
function skipString(s: string, at: number): number {
  let from = at + 1;
  for (;;) {
    const quote = s.indexOf('"', from);
    if (quote === -1) throw new Error('batch line scanner: unterminated string in validated JSON');
    let backslashes = 0;
    while (s.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** Returns the offset after the JSON value starting at `at` (valid JSON assumed). */
function skipValue(s: string, at: number): number {
  const first = s.charCodeAt(at);
  if (first === QUOTE) return skipString(s, at);
  if (first === LBRACE || first === LBRACKET) {
    let depth = 0;
    for (let i = at; i < s.length;) {
      const c = s.charCodeAt(i);
      if (c === QUOTE) {
        i = skipString(s, i);
        continue;
      }
      if (c === LBRACE || c === LBRACKET) depth++;
      else if ((c === RBRACE || c === RBRACKET) && --depth === 0) return i + 1;
      i++;
    }
    throw new Error('batch line scanner: unclosed container in validated JSON');
  }
  // A number, true, false or null: runs to the next delimiter.
  let i = at;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (
      c === COMMA ||
      c === RBRACE ||
      c === RBRACKET ||
      c === SPACE ||
      c === NEWLINE ||
      c === CR ||
      c === TAB
    ) {
      break;
    }
    i++;
  }
  return i;
}

/** A string value of an ASCII line, from its JSON token (escapes decoded). */
function latin1Value(bytes: Buffer, span: Span): string {
  const token = bytes.toString('latin1', span.start, span.end);
  return token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
}

/** A string value decoded from its own UTF-8 bytes: exact where the latin1 reading is not. */
function utf8Value(bytes: Buffer, span: Span): string {
  return JSON.parse(bytes.toString('utf8', span.start, span.end)) as string;
}

/** The parse error's message, from the UTF-8 text so any quoted excerpt reads right. */
function parseError(bytes: Buffer, latin1Error: unknown): string {
  let error = latin1Error;
  if (!isAscii(bytes)) {
    try {
      JSON.parse(bytes.toString('utf8'));
    } catch (utf8Error) {
      error = utf8Error;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

function asParsed(value: unknown): unknown {
  return value;
}

function isAsciiString(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) {
    if (b !== SPACE && b !== TAB && b !== CR) return false;
  }
  return true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value quoted for an error message, cut short: a custom_id may be megabytes long. */
function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
