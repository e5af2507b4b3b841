/** What one batch input file may hold. Checked line by line as the file streams to a deployment. */
export interface BatchLimits {
  /** Requests (non-blank lines) per file. */
  readonly maxLines: number;
  /** The file as uploaded: every byte, including a byte-order mark, `\r` and newlines. */
  readonly maxBytes: number;
  /**
   * One line without its `\n` (a `\r` before it and a leading byte-order mark count). Also the
   * most the check ever holds of a line, so it bounds memory: the check (one per upload) holds a
   * line as bytes, as a string and as the parsed value at once (about 3-4× this), and each
   * deployment's rewriter the unfinished line's bytes (views of the chunks it received).
   */
  readonly maxLineBytes: number;
}

const MIB = 1024 * 1024;

/**
 * OpenAI's documented batch input limits: 50,000 requests and 200 MB per file. "MB" is read as
 * MiB, the larger reading, so the gateway never refuses a file the provider would take (the
 * gateway's 512 MB upload limit is MiB as well). Azure allows 100,000 requests; a gateway that
 * only targets Azure may raise `maxLines`.
 *
 * 16 MiB per line leaves room for a request carrying a base64 PDF or image of about 12 MB (OpenAI
 * documents no per-line limit; the file limit is the only one) while keeping what each
 * deployment's rewriter holds at once well below the file size.
 */
export const DEFAULT_BATCH_LIMITS: BatchLimits = Object.freeze({
  maxLines: 50_000,
  maxBytes: 200 * MIB,
  maxLineBytes: 16 * MIB,
});
