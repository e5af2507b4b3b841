import { isAscii, isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidRequestError } from '../../common/errors/api-error';
import { allocateBuffer, MIN_POOLED_BYTES, type BufferPool } from '../../common/memory/buffer-pool';
import { ID_PREFIXES } from '../../id-codec/id-codec';
import type { BatchLimits } from './batch-limits';
import { CustomIds } from './custom-ids';
import {
  CR,
  latin1Value,
  NEWLINE,
  TAB,
  pathOf,
  readRequestLine,
  sameBytes,
  SpanPaths,
  utf8Value,
  type Span,
  type SpanPath,
} from './batch-line-scan';
import { QUOTE, SPACE } from './json-string';

/*
 * Design: one check of every line per upload, one cheap splice per deployment.
 *
 * The upload fan-out gives every deployment its own Readable over the spooled upload; each is piped
 * through its own `batchLineRewriter`, and all of them share one `BatchFileCheck`. The check
 * reads the file once, in order, as the first rewriter to reach each byte hands it over: it cuts
 * lines, and one pass over each line's bytes (batch-line-scan.ts) checks the JSON grammar, yields
 * the few fields checked and finds the byte ranges of `body.model` and of the managed file ids
 * (a line it refuses is parsed again only to say why). What it keeps is not per line but per
 * file: a list of edits in file offsets (this range → the model, a file id by its index,
 * nothing, a newline) and how far the file is valid. None of it depends on a deployment. A rewriter only splices: it writes the valid bytes it has with
 * each edit's range replaced by its own deployment's value, encoded once per upload, into one
 * Buffer per input chunk (memcpy of the runs between edits); it never cuts lines nor decodes a
 * byte. So each deployment fails at the same line with the same error (there is one check, and
 * every copy stops at the offset of the line it names), key order, whitespace, escapes and
 * numbers JSON.parse cannot represent (1e400, integers beyond 2^53, -0) reach the provider byte
 * for byte, and there is no separate pass over the file before the copies start.
 *
 * Memory: the check holds only the unfinished line, never more than `limits.maxLineBytes` of it,
 * and each rewriter the bytes after its last newline; input chunks go back to the spool once
 * neither needs them, and output is written into the upload's pooled buffers (BufferPool), so a
 * batch upload allocates no more per MiB than a plain one. Output is pushed once per input chunk, and
 * Node's Transform does not ask for the next chunk while its readable side is over its high-water
 * mark, so a slow provider slows its spool reader instead of filling memory. The check keeps the
 * edits of the last few thousand lines only (plain numbers in one typed array, no object per
 * line): a rewriter further behind than that, or a copy retried from the start, cuts those lines
 * itself and finds their ranges again with the same reader (they were validated already, and
 * the spooled bytes do not change).
 *
 * Cost: see BENCHMARKS.md, "Batch upload" (`npm run bench:batch-upload`: 100 MiB, 50,000 lines
 * of 2 KB chat lines each with a managed file part, three deployments). Reading the lines
 * (batch-line.wat: the token walk and the string scan in WebAssembly, one call per line) and the
 * memmove of the three copies are most of what remains, about equal.
 *
 * The check depends on the deployments only through `isTargetModel`; a deployment's `modelFor`
 * and `fileIdFor` must answer for that same domain (the upload's target model names, the files
 * the caller may use), or that deployment refuses lines the others accept.
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

interface DeploymentRewrite {
  /** The upload's target model names (public) → this deployment's upstream model / Azure deployment. */
  readonly modelFor: (publicModel: string) => string | undefined;
  /** A managed (unified) file id → this deployment's provider file id; undefined when not managed/known. */
  readonly fileIdFor: (unifiedId: string) => string | undefined;
  /**
   * Null once `fileIdFor` can answer for every managed id the check has found so far, else a
   * promise of that (ids are looked up as the check finds them: BatchFileIds). Absent: always.
   */
  readonly fileIdsSettled?: () => Promise<void> | null;
  /**
   * Takes back each input chunk once neither this rewriter nor the check looks at it again (the
   * spool's `giveBack`): a copy has only what it has not written yet, so memory stays flat.
   */
  readonly giveBack?: (chunk: Buffer) => void;
  /**
   * Buffers to write the output into; their owner takes them back once they are written out.
   * Absent: each output chunk is allocated fresh.
   */
  readonly output?: BufferPool;
}

/**
 * One deployment's values, and either the upload's shared `check` (every copy of one upload) or
 * `limits` (a copy checked on its own, its target models being those `modelFor` answers for).
 */
export type BatchLineRewrite = DeploymentRewrite &
  ({ readonly check: BatchFileCheck } | { readonly limits: BatchLimits });

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

const NEWLINE_BYTES = Buffer.from('\n');
const NO_BYTES = Buffer.alloc(0);
const FILE_ID_PREFIX = ID_PREFIXES.file;

/** What an edit puts in place of its bytes; a managed file id is its index in the check's table (≥ 0). */
const Put = { nothing: -1, model: -2, newline: -3 } as const;
/** `fileIndexAt`'s answer for a string that is not a managed file id (no edit's put). */
const NOT_MANAGED = -4;
/** File id tokens longer than this are decoded every time (ids are a few dozen bytes). */
const MAX_REMEMBERED_FILE_TOKEN = 256;

/** A put's index in a rewriter's table of values (`put + VALUE_OFFSET`, from 0). */
const VALUE_OFFSET = 3;

/**
 * Edits kept for copies that are behind: 8,192 to 16,384 (32 bytes each, a 1 MiB typed array at
 * most). At the benchmark's 2 KB lines (two edits each) that is 4,096 lines or more, 8 MB of lag
 * between the fastest and the slowest copy; what is dropped is read again by the copy that
 * needs it. Copies that follow a live upload stay within a chunk or two of each other, but a
 * slow provider next to a fast one does not: in-process, copies 6-16 MiB apart cost 312-984 ms
 * of CPU per 100 MiB against 212-279 in step, at half this bound (BENCHMARKS.md).
 */
const KEPT_EDITS = 16384;

/** Numbers per edit in `Edits`. */
const EDIT_WIDTH = 8;

/** The largest `maxBytes` a check takes: edits keep file offsets as 32-bit integers. */
export const MAX_BATCH_FILE_BYTES = 2 ** 31 - 1;

/**
 * The edits that turn a validated file into one deployment's copy, in file order: byte ranges of
 * the input (file offsets) and what goes in their place. Every line has at least one (its
 * `body.model`, or the drop of a blank line; a last line without `\n` gets an inserted one), so
 * the line of the last edit a copy used tells it the number of the next line. Plain numbers in
 * one typed array, eight per edit: no object per line for the collector, and nothing that
 * depends on the deployment. 32-bit integers: file offsets stay below 2^31 (MAX_BATCH_FILE_BYTES),
 * they halve the memory per edit, and the splice, which reads them, lost half its own time
 * in-process with this and copyShort's TypedArray#set together (BENCHMARKS.md, 2026-12-03).
 */
class Edits {
  /** Global index of the first edit kept (those before it were dropped). */
  base = 0;
  count = 0;
  private data = new Int32Array(256 * EDIT_WIDTH);

  get end(): number {
    return this.base + this.count;
  }

  push(start: number, end: number, put: number, line: number, lineStart: number, span?: Span) {
    const w = EDIT_WIDTH;
    if ((this.count + 1) * w > this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const d = this.data;
    const at = this.count++ * w;
    d[at] = start;
    d[at + 1] = end;
    d[at + 2] = put;
    d[at + 3] = line;
    d[at + 4] = lineStart;
    d[at + 5] = span?.path ?? 0;
    d[at + 6] = span?.i ?? 0;
    d[at + 7] = span?.j ?? 0;
  }

  /** Field `f` of edit `k` (a global index). */
  private get(k: number, f: number): number {
    return this.data[(k - this.base) * EDIT_WIDTH + f];
  }
  start(k: number): number {
    return this.get(k, 0);
  }
  stop(k: number): number {
    return this.get(k, 1);
  }
  put(k: number): number {
    return this.get(k, 2);
  }
  line(k: number): number {
    return this.get(k, 3);
  }
  lineStart(k: number): number {
    return this.get(k, 4);
  }
  span(k: number): Span {
    return {
      start: this.start(k),
      end: this.stop(k),
      path: this.get(k, 5) as SpanPath,
      i: this.get(k, 6),
      j: this.get(k, 7),
    };
  }

  clear(): void {
    this.base += this.count;
    this.count = 0;
  }

  /** Drops the oldest edits once more than `max` are kept, down to half of that, whole lines only. */
  trim(max: number): void {
    if (this.count <= max) return;
    let cut = this.base + this.count - (max >> 1);
    while (cut < this.end && this.line(cut) === this.line(cut - 1)) cut++;
    const w = EDIT_WIDTH;
    this.data.copyWithin(0, (cut - this.base) * w, this.count * w);
    this.count -= cut - this.base;
    this.base = cut;
  }
}

/**
 * The checks of one batch input file, shared by the rewriters of all its copies (see the design
 * note): the bytes are validated once, in file order, as the first rewriter to reach them hands
 * them over; each line against what the lines before it established (one url, one model, unique
 * custom_ids, no blank line between requests, the limits). The result is the file's edits and
 * how far the file is valid; a line that fails fails every copy with the same error, at the
 * same offset.
 */
export class BatchFileCheck {
  readonly limits: BatchLimits;
  /** The first request's public model, once known: every line uses it. */
  private publicModel: string | null = null;
  private url: string | null = null;
  private requestCount = 0;
  /** The first blank line not yet known to be trailing. */
  private blankLine: number | null = null;
  private readonly customIds = new CustomIds();
  /** Managed file ids named so far; an edit names one by its index. */
  private readonly fileIds: string[] = [];
  private readonly fileIndex = new Map<string, number>();
  /** The last file id token read, with its bytes' answer (see `fileIndexAt`). */
  private lastFileToken: Buffer | null = null;
  private lastFileIndex = NOT_MANAGED;
  readonly edits = new Edits();

  /** Bytes handed over so far, and the unfinished line among them (views of the chunks). */
  private received = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo = 1;
  private lineStart = 0;
  /** Every line that ends before this offset passed. */
  private validThrough = 0;
  private finished = false;
  private failed: { readonly at: number; readonly error: Error } | null = null;

  constructor(
    limits: BatchLimits,
    /** Whether a public model is one of the upload's target models. */
    private readonly isTargetModel: (publicModel: string) => boolean,
    /** Called once for each managed file id the file names, when a line naming it passed. */
    private readonly onFileId: (unifiedId: string) => void = () => undefined,
  ) {
    const { maxLines, maxBytes, maxLineBytes } = limits;
    for (const [name, value] of Object.entries({ maxLines, maxBytes, maxLineBytes })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        // A configuration bug, not a bad file: fail loudly where the check is built.
        throw new RangeError(`batch limit ${name} must be a positive integer, got ${value}`);
      }
    }
    if (maxBytes > MAX_BATCH_FILE_BYTES) {
      throw new RangeError(
        `batch limit maxBytes must be at most ${MAX_BATCH_FILE_BYTES}, got ${maxBytes}`,
      );
    }
    this.limits = { maxLines, maxBytes, maxLineBytes };
  }

  /** The file's public model (line 1's), once a request passed. */
  get model(): string | null {
    return this.publicModel;
  }

  /** Requests that passed so far. */
  get requests(): number {
    return this.requestCount;
  }

  /** The bytes before this offset are whole lines that passed. */
  get valid(): number {
    return this.validThrough;
  }

  /** The file's error, and the offset of the line it names; no byte from there on is written. */
  get failure(): { readonly at: number; readonly error: Error } | null {
    return this.failed;
  }

  fileId(index: number): string {
    return this.fileIds[index];
  }

  /**
   * The index of the file id that string token `bytes[span]` names, or NOT_MANAGED when it is not
   * a managed id. Lines of one file mostly name the same file: when the token's bytes are the
   * last one's, so is the answer, with no string made and no lookup (measured: the decode and
   * the Map lookup were 5 % of an in-process check of the benchmark's file).
   */
  fileIndexAt(bytes: Buffer, span: Span, ascii: boolean): number {
    const last = this.lastFileToken;
    const length = span.end - span.start;
    if (last !== null && sameBytes(bytes, span.start, span.end, last)) return this.lastFileIndex;
    const id = ascii ? latin1Value(bytes, span) : utf8Value(bytes, span);
    const index = id.startsWith(FILE_ID_PREFIX) ? this.fileIndexOf(id) : NOT_MANAGED;
    // Tokens are short (an id), so keeping one costs nothing; a long one is not kept.
    if (length <= MAX_REMEMBERED_FILE_TOKEN) {
      this.lastFileToken = Buffer.from(bytes.subarray(span.start, span.end));
      this.lastFileIndex = index;
    }
    return index;
  }

  /** A managed file id's index in the table edits use. */
  fileIndexOf(id: string): number {
    let index = this.fileIndex.get(id);
    if (index === undefined) {
      index = this.fileIds.push(id) - 1;
      this.fileIndex.set(id, index);
      this.onFileId(id);
    }
    return index;
  }

  /** `chunk` holds the file's bytes from `offset`; what the check had already is skipped. */
  feed(offset: number, chunk: Buffer): void {
    const skip = this.received - offset;
    if (this.failed !== null || this.finished || skip >= chunk.length) return;
    if (skip < 0) throw new Error(`batch file check: bytes from ${offset} before ${this.received}`);
    this.guard(() => this.consume(skip === 0 ? chunk : chunk.subarray(skip)));
  }

  /** The file ended after `size` bytes: its last line is checked, and whether it had a request. */
  finish(size: number): void {
    if (this.failed !== null || this.finished) return;
    if (size !== this.received)
      throw new Error(`batch file check: ended at ${size}, not ${this.received}`);
    this.guard(() => {
      if (this.pendingBytes > 0) this.line(this.takeLine(NO_BYTES), false);
      if (this.requestCount === 0) {
        throw new BatchFileError(
          null,
          'The batch input file contains no requests; it needs one JSON request per line.',
          'empty_batch_file',
        );
      }
      this.finished = true;
    });
  }

  private guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.failed = { at: this.lineStart, error: asError(error) };
    }
  }

  private consume(chunk: Buffer): void {
    const { maxBytes, maxLineBytes } = this.limits;
    const base = this.received;
    this.received += chunk.length;
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
        return;
      }
      this.line(this.takeLine(chunk.subarray(pos, end)), true);
      pos = through;
    }
  }

  private takeLine(tail: Buffer): Buffer {
    if (this.pending.length === 0) return tail;
    const line = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    return line;
  }

  /** Line `lineNo`, its bytes without the `\n`. */
  private line(raw: Buffer, newline: boolean): void {
    const n = this.lineNo;
    const bytes = content(n, raw);
    if (isBlank(bytes)) {
      this.blankLine ??= n;
      record(this, this.edits, n, this.lineStart, raw, newline, null);
    } else {
      const read = this.validate(n, bytes);
      this.requestCount++;
      record(this, this.edits, n, this.lineStart, raw, newline, read);
    }
    this.edits.trim(KEPT_EDITS);
    this.lineNo = n + 1;
    this.lineStart += raw.length + (newline ? 1 : 0);
    this.validThrough = this.lineStart;
  }

  /** A request line's content (no byte-order mark, no `\r`): the values it names, once it passed. */
  private validate(n: number, bytes: Buffer): LineRead {
    if (this.blankLine !== null) {
      throw new BatchFileError(
        this.blankLine,
        'the line is empty; a batch input file has one JSON request on every line.',
        'invalid_batch_line',
      );
    }
    if (this.requestCount >= this.limits.maxLines) {
      throw new BatchFileError(
        n,
        `the file has more than ${this.limits.maxLines} requests, the limit for a batch input file.`,
        'too_many_batch_requests',
      );
    }

    // The reader works on bytes; isUtf8 supplies the check a UTF-8 decoder would have made.
    const ascii = isAscii(bytes);
    if (!ascii && !isUtf8(bytes)) {
      throw new BatchFileError(n, 'the line is not valid UTF-8.', 'invalid_batch_line');
    }
    // One pass over its bytes gives the fields and the ranges (batch-line-scan.ts).
    const fast = readRequestLine(bytes, ascii);
    if (fast !== null) {
      // An id without escapes is checked as its bytes; its string is made only for a message.
      const id = fast.customId ?? new IdBytes(bytes, fast.customIdFrom, fast.customIdTo);
      this.checkFields(n, id, fast.method, fast.url, true, fast.model);
      return { bytes, ascii, spans: fast.spans };
    }
    // Not a request (batch-line-scan.ts answers for every line that can be one): JSON.parse
    // says what is wrong with its JSON, or the check which field is.
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      refuse(n, `the line is not valid JSON (${reason}).`);
    }
    this.check(n, parsed);
    // The reader and the check disagree: a bug, not a bad line.
    throw new Error(`batch line ${n}: the check accepts a line the reader refused`);
  }

  /**
   * The request's own fields, from JSON.parse's value. Duplicate keys: JSON.parse keeps the
   * last, as Python's and Go's decoders do (the rewrite covers every copy: batch-line-scan.ts).
   */
  private check(n: number, line: unknown): void {
    if (!isRecord(line)) refuse(n, 'the line must be a JSON object (one request).');
    const { body } = line;
    const hasBody = isRecord(body);
    const model = hasBody ? body.model : undefined;
    this.checkFields(n, line.custom_id, line.method, line.url, hasBody, model);
  }

  /** The fields of request line `n`, in the order their errors are reported. */
  private checkFields(
    n: number,
    customId: unknown,
    method: unknown,
    url: unknown,
    hasBody: boolean,
    model: unknown,
  ): void {
    const raw = customId instanceof IdBytes ? customId : null;
    if (raw === null ? typeof customId !== 'string' || customId === '' : raw.to === raw.from) {
      refuse(n, 'custom_id is required and must be a non-empty string.');
    }
    if (method !== 'POST') refuse(n, 'method is required and must be "POST".');
    // A non-ASCII url cannot be an endpoint, so the latin1 reading is enough to refuse it.
    if (typeof url !== 'string' || !BATCH_ENDPOINTS.includes(url)) {
      refuse(n, `url must be one of ${BATCH_ENDPOINTS.join(', ')}.`);
    }
    if (!hasBody) refuse(n, 'body is required and must be a JSON object.');
    if (typeof model !== 'string' || model === '') {
      refuse(n, 'body.model is required and must name one of the target models.');
    }
    if (this.url !== null && url !== this.url) {
      refuse(
        n,
        `url ${shown(url)} differs from line 1's ${shown(this.url)}; a batch calls one endpoint.`,
        'url_mismatch',
      );
    }
    if (model !== this.publicModel) {
      if (!this.isTargetModel(model)) {
        refuse(
          n,
          `body.model ${shown(model)} is not one of the file's target_model_names.`,
          'model_not_found',
        );
      }
      if (this.publicModel !== null) {
        // One public model per file (OpenAI's and Azure's rule), checked on the public name so
        // every deployment decides alike whatever each maps it to.
        refuse(
          n,
          `body.model ${shown(model)} differs from line 1's ${shown(this.publicModel)}; a batch uses one model.`,
          'model_mismatch',
        );
      }
    }
    const firstUse =
      raw === null
        ? this.customIds.add(customId as string, n)
        : this.customIds.addBytes(raw.bytes, raw.from, raw.to, n);
    if (firstUse !== n) {
      const text = raw === null ? (customId as string) : raw.text();
      refuse(
        n,
        `custom_id ${shown(text)} is already used on line ${firstUse}; custom_id must be unique.`,
        'duplicate_custom_id',
      );
    }
    this.url = url;
    this.publicModel = model;
  }
}

/**
 * Copies `from` into `out` at `at`; returns the offset after it. The values spliced in are a few
 * dozen bytes: below 16 a loop, above it TypedArray#set (a V8 builtin, no call into C++ as
 * Buffer.copy makes); two or three per line.
 */
function copyShort(from: Buffer, out: Buffer, at: number): number {
  const n = from.length;
  if (n > 16) {
    out.set(from, at);
    return at + n;
  }
  for (let k = 0; k < n; k++) out[at + k] = from[k];
  return at + n;
}

/**
 * A custom_id as the bytes of its value in a line, `bytes[from, to)`. A class, so no value
 * JSON.parse makes can pass for one.
 */
class IdBytes {
  constructor(
    readonly bytes: Buffer,
    readonly from: number,
    readonly to: number,
  ) {}

  /** The id as a string, for a message. */
  text(): string {
    return this.bytes.toString('utf8', this.from, this.to);
  }
}

/** Refuses request line `n`. */
function refuse(
  n: number,
  message: string,
  code: BatchFileErrorCode = 'invalid_batch_line',
): never {
  throw new BatchFileError(n, message, code);
}

/**
 * Line `n` without a leading byte-order mark (line 1 only) and a trailing `\r`: `raw` itself
 * when it has neither (most lines; no view made), else a view of it.
 */
function content(n: number, raw: Buffer): Buffer {
  const from = n === 1 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  const to = raw.length > from && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
  return from === 0 && to === raw.length ? raw : raw.subarray(from, to);
}

/** A request line's content, and the reader's spans in it. */
interface LineRead {
  /** The line without its byte-order mark and `\r`: `content(n, raw)`, a view of `raw`. */
  readonly bytes: Buffer;
  readonly ascii: boolean;
  readonly spans: readonly Span[];
}

/**
 * The edits of line `n` (its bytes `raw` without the `\n`, from file offset `at`); `read` is null
 * for a blank line, which is dropped whole. Otherwise: the byte-order mark and the `\r` are
 * dropped, `body.model` and every string at a file-id path that is a managed id are replaced,
 * and a last line without `\n` gets one.
 */
function record(
  check: BatchFileCheck,
  edits: Edits,
  n: number,
  at: number,
  raw: Buffer,
  newline: boolean,
  read: LineRead | null,
): void {
  const lineEnd = at + raw.length + (newline ? 1 : 0);
  if (read === null) {
    edits.push(at, lineEnd, Put.nothing, n, at);
    return;
  }
  const { bytes, ascii } = read;
  const from = bytes.byteOffset - raw.byteOffset;
  const to = from + bytes.length;
  if (from > 0) edits.push(at, at + from, Put.nothing, n, at);
  for (const span of read.spans) {
    if (span.path === SpanPaths.customId) continue;
    let put: number = Put.model;
    if (span.path !== SpanPaths.model) {
      if (bytes[span.start] !== QUOTE) continue; // `"file_id": null` and other non-strings
      put = check.fileIndexAt(bytes, span, ascii);
      if (put === NOT_MANAGED) continue;
    }
    edits.push(at + from + span.start, at + from + span.end, put, n, at, span);
  }
  if (to < raw.length) edits.push(at + to, at + raw.length, Put.nothing, n, at);
  if (!newline) edits.push(lineEnd, lineEnd, Put.newline, n, at);
}

/** The edits of a line the check passed but no longer keeps: the reader finds them again. */
function rescan(
  check: BatchFileCheck,
  edits: Edits,
  n: number,
  at: number,
  raw: Buffer,
  newline: boolean,
) {
  const bytes = content(n, raw);
  if (isBlank(bytes)) {
    record(check, edits, n, at, raw, newline, null);
    return;
  }
  const ascii = isAscii(bytes);
  const read = readRequestLine(bytes, ascii);
  // Lines behind the check passed it, so the reader answered for them once already.
  if (read === null) throw new Error(`batch line ${n}: a line that passed cannot be read again`);
  record(check, edits, n, at, raw, newline, { bytes, ascii, spans: read.spans });
}

/**
 * The bytes a rewriter has received and not yet written, as the chunks they came in (views, not
 * copies); ranges are asked for in file order.
 */
class HeldBytes {
  private chunks: Buffer[] = [];
  /** File offset of `chunks[0]`. */
  private first = 0;
  /** Where the last `copy` ended: `chunks[at]`, which starts at file offset `atBase`. */
  private at = 0;
  private atBase = 0;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /**
   * Copies file range [from, to) into `out` at `outAt`; returns the offset after it in `out`.
   * Ranges are asked for in file order, a few per line, so the chunk the last one ended in is
   * where the next begins: the search starts there (a splice used to walk the list from its
   * first chunk three times per line).
   */
  copy(from: number, to: number, out: Buffer, outAt: number): number {
    const chunks = this.chunks;
    let k = this.at;
    let base = this.atBase;
    if (from < base) {
      k = 0;
      base = this.first;
    }
    let o = outAt;
    for (; k < chunks.length; k++) {
      const chunk = chunks[k];
      const end = base + chunk.length;
      if (end > from) {
        const last = Math.min(to, end);
        o += chunk.copy(out, o, Math.max(from, base) - base, last - base);
        if (end >= to) break;
      }
      base = end;
    }
    this.at = k < chunks.length ? k : 0;
    this.atBase = k < chunks.length ? base : this.first;
    return o;
  }

  /** File range [from, to) as one Buffer. */
  bytes(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe(to - from);
    this.copy(from, to, out, 0);
    return out;
  }

  /** The offset of the first `\n` at or after `from`, or -1. */
  newlineFrom(from: number): number {
    let base = this.first;
    for (const chunk of this.chunks) {
      const end = base + chunk.length;
      if (end > from) {
        const at = chunk.indexOf(NEWLINE, Math.max(from, base) - base);
        if (at !== -1) return base + at;
      }
      base = end;
    }
    return -1;
  }

  /** The bytes before `offset` are no longer needed: each chunk wholly before it goes to `done`. */
  release(offset: number, done: (chunk: Buffer) => void): void {
    while (this.chunks.length > 0 && this.first + this.chunks[0].length <= offset) {
      const chunk = this.chunks.shift() as Buffer;
      this.first += chunk.length;
      done(chunk);
    }
    this.at = 0;
    this.atBase = this.first;
  }
}

class BatchLineRewriter extends Transform {
  private readonly modelFor: DeploymentRewrite['modelFor'];
  private readonly fileIdFor: DeploymentRewrite['fileIdFor'];
  private readonly fileIdsSettled: () => Promise<void> | null;
  private readonly check: BatchFileCheck;
  private readonly giveBack: (chunk: Buffer) => void;
  private readonly output: BufferPool | undefined;

  private readonly held = new HeldBytes();
  private received = 0;
  /** File offset just after the last `\n` received: lines before it are whole. */
  private wholeLines = 0;
  /** File offset up to which output was pushed; always a line boundary. */
  private pushed = 0;
  /** The next edit of the check's to apply, and the number of the line at `written`. */
  private cursor = 0;
  private lineNo = 1;
  /**
   * What each edit puts in for this deployment, as the bytes spliced in, by `put + VALUE_OFFSET`:
   * a newline, the upstream `body.model` and nothing first, then the file ids by index. Filled
   * as edits need them (`prepare`); undefined until then.
   */
  private readonly putBytes: Array<Buffer | undefined> = [NEWLINE_BYTES, undefined, NO_BYTES];
  /** Edits found again for lines the check no longer keeps edits for. */
  private readonly own = new Edits();

  constructor(rewrite: BatchLineRewrite) {
    super();
    this.fileIdFor = rewrite.fileIdFor;
    this.fileIdsSettled = rewrite.fileIdsSettled ?? (() => null);
    this.giveBack = rewrite.giveBack ?? (() => undefined);
    this.output = rewrite.output;
    if ('check' in rewrite) {
      this.modelFor = rewrite.modelFor;
      this.check = rewrite.check;
    } else {
      // Checked alone, the target models are those this deployment maps; the check asks first
      // and the splice next, about the same model, so the answer is asked for once.
      let last: { model: string; upstream: string | undefined } | null = null;
      const modelFor = (model: string): string | undefined => {
        if (last?.model !== model) last = { model, upstream: rewrite.modelFor(model) };
        return last.upstream;
      };
      this.modelFor = modelFor;
      this.check = new BatchFileCheck(rewrite.limits, (model) => modelFor(model) !== undefined);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.check.feed(this.received, chunk);
    this.held.add(chunk);
    const nl = chunk.lastIndexOf(NEWLINE);
    if (nl !== -1) this.wholeLines = this.received + nl + 1;
    this.received += chunk.length;
    this.afterFileIds(
      () => this.pushValid(Math.min(this.wholeLines, this.check.valid), false),
      callback,
    );
  }

  override _flush(callback: TransformCallback): void {
    this.check.finish(this.received);
    this.afterFileIds(() => this.pushValid(this.check.valid, true), callback);
  }

  /** Runs `write` once the file ids found so far are looked up, and calls back with its error. */
  private afterFileIds(write: () => Error | null, callback: TransformCallback): void {
    const settled = this.fileIdsSettled();
    if (settled === null) {
      callback(write());
      return;
    }
    settled.then(
      () => callback(write()),
      (error: unknown) => callback(asError(error)),
    );
  }

  /**
   * Pushes the valid lines from `written` to `through` (to the end of the file when `end`),
   * rewritten for this deployment; returns the error to fail with once no more can be written.
   */
  private pushValid(through: number, end: boolean): Error | null {
    const shared = this.check.edits;
    if (this.cursor < shared.base) {
      // Behind the edits the check keeps: the lines up to them are scanned again here.
      const keptFrom = shared.count > 0 ? shared.lineStart(shared.base) : this.check.valid;
      const until = Math.min(through, keptFrom);
      const last = end && until === through;
      this.rescan(until, last);
      const error = this.pushEdited(this.own, this.own.base, until, last);
      this.own.clear();
      if (error !== null || this.pushed < keptFrom) return error;
      this.cursor = shared.base;
    }
    const error = this.pushEdited(shared, this.cursor, through, end);
    return error;
  }

  /** The edits of the lines from `written` to `until` into `own`, `end` if the file ends there. */
  private rescan(until: number, end: boolean): void {
    let at = this.pushed;
    let n = this.lineNo;
    while (at < until) {
      const nl = this.held.newlineFrom(at);
      if (nl !== -1 && nl < until) {
        rescan(this.check, this.own, n++, at, this.held.bytes(at, nl), true);
        at = nl + 1;
      } else {
        if (end) rescan(this.check, this.own, n, at, this.held.bytes(at, until), false);
        return;
      }
    }
  }

  /**
   * Pushes `written` to `through` with `edits` from index `first` applied, as one Buffer. The
   * values this deployment puts in are looked up first, so a line it refuses (a file id it has
   * no copy of) is known before any byte is copied, and none of it is written.
   */
  private pushEdited(edits: Edits, first: number, through: number, end: boolean): Error | null {
    const putBytes = this.putBytes;
    let until = through;
    let error: Error | null = null;
    let last = first;
    // The output's size less the input's: what the edits put in, less what they take out.
    let delta = 0;
    for (; last < edits.end; last++) {
      const start = edits.start(last);
      if (!end && start >= until) break;
      let value = putBytes[edits.put(last) + VALUE_OFFSET];
      if (value === undefined) {
        const refused = this.prepare(edits, last);
        if (refused !== null) {
          until = edits.lineStart(last);
          error = refused;
          // None of the refused line is written: its edits before this one come out again.
          while (last > first && edits.start(last - 1) >= until) {
            last--;
            delta -= this.bytesFor(edits.put(last)).length - (edits.stop(last) - edits.start(last));
          }
          break;
        }
        value = this.bytesFor(edits.put(last));
      }
      delta += value.length - (edits.stop(last) - start);
    }
    const failure = this.check.failure;
    if (error === null && failure !== null && until >= failure.at) {
      until = failure.at;
      error = failure.error;
    }
    const size = until - this.pushed + delta;
    if (size > 0) {
      const out = this.outputBuffer(size);
      const held = this.held;
      let o = 0;
      let at = this.pushed;
      for (let k = first; k < last; k++) {
        o = held.copy(at, edits.start(k), out, o);
        o = copyShort(this.bytesFor(edits.put(k)), out, o);
        at = edits.stop(k);
      }
      held.copy(at, until, out, o);
      this.push(out);
    }
    if (last > first) this.lineNo = edits.line(last - 1) + 1;
    if (edits === this.check.edits) this.cursor = last;
    this.pushed = until;
    // Chunks wholly before `until` are neither held here nor by the check: it holds only the
    // line it has not finished, which starts at or after every offset a copy pushes up to.
    this.held.release(until, this.giveBack);
    return error;
  }

  /** A Buffer for `size` bytes of output: part of a pooled one when it is big enough to pool. */
  private outputBuffer(size: number): Buffer {
    const pool = this.output;
    if (pool !== undefined && size >= MIN_POOLED_BYTES && size <= pool.size) {
      return pool.take().subarray(0, size);
    }
    return allocateBuffer(size);
  }

  /**
   * Looks up what edit `k` puts in for this deployment, into `putBytes` (where it is not yet);
   * the error if it has nothing to put.
   */
  private prepare(edits: Edits, k: number): BatchFileError | null {
    const put = edits.put(k);
    if (put === Put.model) {
      const model = this.check.model as string; // a line with a model edit passed the check
      const upstream = this.modelFor(model);
      if (upstream === undefined) {
        // The check's target models and this deployment's disagree (see the design note).
        return new BatchFileError(
          edits.line(k),
          `body.model ${shown(model)} is not one of the file's target_model_names.`,
          'model_not_found',
        );
      }
      this.putBytes[put + VALUE_OFFSET] = Buffer.from(JSON.stringify(upstream));
      return null;
    }
    const id = this.check.fileId(put);
    const providerId = this.fileIdFor(id);
    if (providerId === undefined) {
      // A `file-` id the gateway cannot map is either someone else's or a provider's own id:
      // passing it through would let a line reach a file the caller may not use.
      return new BatchFileError(
        edits.line(k),
        `${pathOf(edits.span(k))} ${shown(id)} is not a file this upload can use.`,
        'unknown_file_id',
      );
    }
    this.putBytes[put + VALUE_OFFSET] = Buffer.from(JSON.stringify(providerId));
    return null;
  }

  /** What a prepared edit puts in, as bytes. */
  private bytesFor(put: number): Buffer {
    return this.putBytes[put + VALUE_OFFSET] as Buffer;
  }
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
