import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

export interface MultipartFilePart {
  readonly field: string;
  readonly filename: string;
  readonly contentType: string;
  readonly body: Readable;
  /** Takes back each chunk of `body` once it has been written out (see `StreamingMultipart.body`). */
  readonly giveBack?: (chunk: Buffer) => void;
}

export interface StreamingMultipart {
  readonly contentType: string;
  /**
   * For undici as an async iterable: it pulls one chunk at a time and, when the socket refuses
   * more, waits for 'drain' before pulling the next, so by the time the generator resumes after
   * a file chunk that chunk has been written out and can go back to `giveBack`.
   */
  readonly body: AsyncIterable<Buffer>;
  /** True once the last byte of the body has been handed to the transport. */
  readonly complete: () => boolean;
}

/**
 * A multipart/form-data body that streams the file part: the file's bytes pass through as they
 * are read (pull-based, so the upstream's pace is the pace), never held in memory whole.
 */
export function streamingMultipart(
  fields: ReadonlyArray<readonly [string, string]>,
  file: MultipartFilePart,
): StreamingMultipart {
  const boundary = `mfg-${randomBytes(16).toString('hex')}`;
  let complete = false;
  async function* parts(): AsyncGenerator<Buffer> {
    for (const [name, value] of fields) {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`,
      );
    }
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${quote(file.field)}"; ` +
        `filename="${quote(file.filename)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`,
    );
    for await (const chunk of file.body) {
      yield chunk as Buffer;
      file.giveBack?.(chunk as Buffer);
    }
    complete = true;
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: parts(),
    complete: () => complete,
  };
}

/** RFC 7578 §4.2: quote and backslash are escaped; CR/LF cannot appear in a header. */
function quote(value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/(["\\])/g, '\\$1');
}
