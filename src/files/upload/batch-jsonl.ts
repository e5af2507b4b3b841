import { isAscii, isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidRequestError } from '../../common/errors/api-error';
import { ID_PREFIXES } from '../../id-codec/id-codec';
import { FILE_ID_PATHS } from '../../managed-refs/file-id-paths';
import type { BatchLimits } from './batch-limits';

/*
 * Design: one check of every line per upload, one cheap splice per deployment.
 *
 * The upload fan-out gives every deployment its own Readable over the spooled upload; each is piped
 * through its own `batchLineRewriter`, and all of them share one `BatchFileCheck`. A line is
 * validated once, by whichever rewriter reaches it first: JSON.parse checks it and yields the few
 * fields checked; a light scanner that trusts the now-validated text finds the byte ranges of
 * `body.model` and of the managed file ids. That verdict is kept, and every rewriter that reaches
 * the line later uses it: its output is the line's bytes with only those ranges replaced by its
 * own deployment's values. So each deployment fails at the same line with the same error (there
 * is one check), key order, whitespace, escapes and numbers JSON.parse cannot represent (1e400,
 * integers beyond 2^53, -0) reach the provider byte for byte, and there is no separate pass over
 * the file before the copies start.
 *
 * Memory: complete lines are handled as they arrive; each rewriter holds only its unfinished line,
 * and never more than `limits.maxLineBytes` of it. Output is pushed once per input chunk, and
 * Node's Transform does not ask for the next chunk while its readable side is over its high-water
 * mark, so a slow provider slows its spool reader instead of filling memory. The check keeps the
 * verdicts (offsets and ids, not bytes) of the last few thousand lines only: a rewriter further
 * behind than that, or a copy retried from the start, finds the ranges again with the scanner
 * alone (the line was validated already, and the spooled bytes do not change).
 *
 * Cost, measured on the 2-vCPU benchmark VM (Node 20.20) with `npm run bench:batch-upload` (100
 * MiB, 50,000 lines of 2 KB chat lines each with a managed file part, three deployments): the
 * gateway spends about 2.3 s of CPU more on the file as `batch` than as `user_data` (4.3-5.4 s
 * when every copy ran its own check), so batch uploads are CPU-bound in the gateway at about
 * 40 MB/s of input. JSON.parse, the scanner, Buffer copies and GC share it (BENCHMARKS.md,
 * "Batch upload").
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

/** What the check found on a line: where its values are, or that it is blank. */
interface LineVerdict {
  /** The line's content within the bytes the rewriter cut: without a byte-order mark or `\r`. */
  readonly from: number;
  readonly to: number;
  /** No request on the line: nothing is written for it. */
  readonly blank: boolean;
  /** `body.model` and managed file ids, in text order; offsets into the cut bytes. */
  readonly spans: readonly RewriteSpan[];
}

interface RewriteSpan extends Span {
  /** The managed file id held there; null for `body.model`. */
  readonly fileId: string | null;
}

const BLANK_LINE: LineVerdict = Object.freeze({ from: 0, to: 0, blank: true, spans: [] });

/**
 * Verdicts kept for rewriters that are behind: lines, and their spans in all (a line may name
 * thousands of files); about 2 MB at most. At the benchmark's 2 KB lines, 8,192 lines is 16 MB
 * of lag between the fastest and the slowest copy (copies that follow a live upload stay within
 * a few MB of each other); what is evicted is found again by the scanner.
 */
const KEPT_VERDICT_LINES = 8192;
const KEPT_VERDICT_SPANS = 16_384;

/**
 * The checks of one batch input file, shared by the rewriters of all its copies (see the design
 * note): line `n` is validated once, when the first rewriter reaches it, against what the lines
 * before it established (one url, one model, unique custom_ids, no blank line between requests,
 * the limits); its verdict serves the others. A line that fails fails every copy with the same
 * error.
 */
export class BatchFileCheck {
  readonly limits: BatchLimits;
  /** The first request's public model, once known: every line uses it. */
  private publicModel: string | null = null;
  private url: string | null = null;
  /** The next line to validate; every line before it passed. */
  private next = 1;
  private failure: { readonly line: number; readonly error: unknown } | null = null;
  private requestCount = 0;
  /** The first blank line not yet known to be trailing. */
  private blankLine: number | null = null;
  private readonly customIds = new CustomIds();
  private readonly kept = new Map<number, LineVerdict>();
  private keptSpans = 0;

  constructor(
    limits: BatchLimits,
    /** Whether a public model is one of the upload's target models. */
    private readonly isTargetModel: (publicModel: string) => boolean,
  ) {
    const { maxLines, maxBytes, maxLineBytes } = limits;
    for (const [name, value] of Object.entries({ maxLines, maxBytes, maxLineBytes })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        // A configuration bug, not a bad file: fail loudly where the check is built.
        throw new RangeError(`batch limit ${name} must be a positive integer, got ${value}`);
      }
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

  /** The verdict on line `n`, `raw` being its bytes without the `\n`; throws the line's error. */
  verdict(n: number, raw: Buffer): LineVerdict {
    if (this.failure !== null && n >= this.failure.line) throw this.failure.error;
    if (n < this.next) return this.kept.get(n) ?? rescan(n, raw);
    if (n > this.next) {
      // Rewriters hand lines in order, and line n-1 reached this one before line n.
      throw new Error(`batch line check: line ${n} before line ${this.next}`);
    }
    let verdict: LineVerdict;
    try {
      verdict = this.validate(n, raw);
    } catch (error) {
      this.failure = { line: n, error };
      throw error;
    }
    this.next = n + 1;
    this.keep(n, verdict);
    return verdict;
  }

  private keep(n: number, verdict: LineVerdict): void {
    if (verdict.blank) return; // rescan() answers blank lines as cheaply
    this.kept.set(n, verdict);
    this.keptSpans += verdict.spans.length;
    if (this.kept.size <= KEPT_VERDICT_LINES && this.keptSpans <= KEPT_VERDICT_SPANS) return;
    // A Map iterates in insertion order: the first key is the oldest line.
    for (const [line, old] of this.kept) {
      if (this.kept.size <= KEPT_VERDICT_LINES && this.keptSpans <= KEPT_VERDICT_SPANS) break;
      this.kept.delete(line);
      this.keptSpans -= old.spans.length;
    }
  }

  private validate(n: number, raw: Buffer): LineVerdict {
    const { from, to } = content(n, raw);
    const bytes = raw.subarray(from, to);
    if (isBlank(bytes)) {
      this.blankLine ??= n;
      return BLANK_LINE;
    }
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
    const spans = scanLine(text, bytes.includes(BACKSLASH));
    const exact = ascii
      ? asParsed
      : (value: unknown, path: SpanPath): unknown => {
          if (typeof value !== 'string' || isAsciiString(value)) return value;
          // JSON.parse kept the last of duplicate keys; in text order that is the last span.
          const span = spans.findLast((candidate) => candidate.path === path);
          return span === undefined ? value : utf8Value(bytes, span);
        };
    this.check(n, parsed, exact);
    this.requestCount++;
    return verdictOf(from, to, bytes, ascii, spans);
  }

  /**
   * The request's own fields. Duplicate keys: JSON.parse keeps the last, as Python's and Go's
   * decoders do (the file-id and model rewrite covers every copy; see the scanner).
   * `exact` turns a parsed string back into its real value (see validate).
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
    if (model !== this.publicModel) {
      if (!this.isTargetModel(model)) {
        return bad(
          `body.model ${shown(model)} is not one of the file's target_model_names.`,
          'model_not_found',
        );
      }
      if (this.publicModel !== null) {
        // One public model per file (OpenAI's and Azure's rule), checked on the public name so
        // every deployment decides alike whatever each maps it to.
        return bad(
          `body.model ${shown(model)} differs from line 1's ${shown(this.publicModel)}; a batch uses one model.`,
          'model_mismatch',
        );
      }
    }
    const firstUse = this.customIds.add(customId, n);
    if (firstUse !== n) {
      return bad(
        `custom_id ${shown(customId)} is already used on line ${firstUse}; custom_id must be unique.`,
        'duplicate_custom_id',
      );
    }
    this.url = url;
    this.publicModel = model;
  }
}

/** The line without a leading byte-order mark (line 1 only) and a trailing `\r`. */
function content(n: number, raw: Buffer): { from: number; to: number } {
  const from = n === 1 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  const to = raw.length > from && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
  return { from, to };
}

/** The verdict on a line validated before: the scanner alone finds its values again. */
function rescan(n: number, raw: Buffer): LineVerdict {
  const { from, to } = content(n, raw);
  const bytes = raw.subarray(from, to);
  if (isBlank(bytes)) return BLANK_LINE;
  const spans = scanLine(bytes.toString('latin1'), bytes.includes(BACKSLASH));
  return verdictOf(from, to, bytes, isAscii(bytes), spans);
}

/** The spans a rewriter replaces: `body.model`, and every string at a file-id path that is a managed id. */
function verdictOf(
  from: number,
  to: number,
  bytes: Buffer,
  ascii: boolean,
  spans: readonly Span[],
): LineVerdict {
  const replaced: RewriteSpan[] = [];
  for (const span of spans) {
    const { path, i, j } = span;
    let fileId: string | null = null;
    if (path === SpanPaths.customId) continue;
    if (path !== SpanPaths.model) {
      if (bytes[span.start] !== QUOTE) continue; // `"file_id": null` and other non-strings
      fileId = ascii ? latin1Value(bytes, span) : utf8Value(bytes, span);
      if (!fileId.startsWith(FILE_ID_PREFIX)) continue;
    }
    replaced.push({ start: span.start + from, end: span.end + from, path, i, j, fileId });
  }
  return { from, to, blank: false, spans: replaced };
}

class BatchLineRewriter extends Transform {
  private readonly modelFor: DeploymentRewrite['modelFor'];
  private readonly fileIdFor: DeploymentRewrite['fileIdFor'];
  private readonly shared: BatchFileCheck;
  private readonly limits: BatchLimits;

  /** The unfinished line: tails of the chunks received since its start. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Number of the line being received, and the file offset of its first byte. */
  private lineNo = 1;
  private lineStart = 0;
  /** Bytes received before the chunk being handled. */
  private received = 0;
  /** `body.model` for this deployment, as JSON bytes, ready to splice in. */
  private upstreamModel: Buffer | null = null;
  private readonly fileIds = new Map<string, Buffer>();

  constructor(rewrite: BatchLineRewrite) {
    super();
    this.fileIdFor = rewrite.fileIdFor;
    if ('check' in rewrite) {
      this.modelFor = rewrite.modelFor;
      this.shared = rewrite.check;
    } else {
      // Checked alone, the target models are those this deployment maps; the check asks first
      // and the splice next, about the same model, so the answer is asked for once.
      let last: { model: string; upstream: string | undefined } | null = null;
      const modelFor = (model: string): string | undefined => {
        if (last?.model !== model) last = { model, upstream: rewrite.modelFor(model) };
        return last.upstream;
      };
      this.modelFor = modelFor;
      this.shared = new BatchFileCheck(rewrite.limits, (model) => modelFor(model) !== undefined);
    }
    this.limits = this.shared.limits;
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
      if (this.shared.requests === 0) {
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
    const verdict = this.shared.verdict(this.lineNo, raw);
    if (verdict.blank) return;
    // Pieces go to `out` only once the whole line passed: a bad file id must not leave half a line.
    const pieces: Buffer[] = [];
    let at = verdict.from;
    for (const span of verdict.spans) {
      const replacement =
        span.fileId === null ? this.modelBytes() : this.providerFileId(span.fileId, span);
      pieces.push(raw.subarray(at, span.start), replacement);
      at = span.end;
    }
    for (const piece of pieces) out.push(piece);
    out.push(raw.subarray(at, verdict.to), NEWLINE_BYTES);
  }

  /** This deployment's model for the file's public model, as JSON bytes. */
  private modelBytes(): Buffer {
    if (this.upstreamModel === null) {
      const model = this.shared.model as string; // a line with a model span passed the check
      const upstream = this.modelFor(model);
      if (upstream === undefined) {
        // The check's target models and this deployment's disagree (see the design note).
        throw new BatchFileError(
          this.lineNo,
          `body.model ${shown(model)} is not one of the file's target_model_names.`,
          'model_not_found',
        );
      }
      this.upstreamModel = Buffer.from(JSON.stringify(upstream));
    }
    return this.upstreamModel;
  }

  /** This deployment's id for a managed file id, as JSON bytes; files repeat across lines. */
  private providerFileId(id: string, span: Span): Buffer {
    const cached = this.fileIds.get(id);
    if (cached !== undefined) return cached;
    const providerId = this.fileIdFor(id);
    if (providerId === undefined) {
      // A `file-` id the gateway cannot map is either someone else's or a provider's own id:
      // passing it through would let a line reach a file the caller may not use.
      throw new BatchFileError(
        this.lineNo,
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

const [CHAT_FILE_PATH] = FILE_ID_PATHS.chatCompletions;
const [INPUT_ITEM_PATH, INPUT_PART_PATH] = FILE_ID_PATHS.responses;

/** The path of a span for error messages, e.g. `body.messages[0].content[1].file.file_id`. */
function pathOf(span: Span): string {
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

/*
 * The scanner below finds, in text order, the range of every value at `custom_id` (only to decode
 * it exactly), `body.model` and under `body` at the file-id paths of FILE_ID_PATHS (the paths
 * the model-call routes resolve: `messages[*].content[*].file.file_id`, `input[*].file_id`,
 * `input[*].content[*].file_id`; pathOf names them from that list, and a test feeds the scanner
 * every path in it). It runs only on
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
