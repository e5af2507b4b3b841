import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { discardPath } from './file-store';
import { badRequest, SimHttpError } from './http-errors';

export interface ReceivedFile {
  filename: string;
  mimeType: string;
  bytes: number;
  sha256: string;
}

export interface ReceivedForm {
  /** Text fields by name; a repeated name keeps its last value. */
  fields: Map<string, string>;
  /** The `file` part, or undefined when the form had none. */
  file: ReceivedFile | undefined;
}

/**
 * Parses an upload form as a stream: the `file` part is counted (and hashed, unless `hash` is
 * false: `sha256` is then '') as it arrives and written to `contentPath` (or dropped when null),
 * so memory stays flat for any file size. The promise settles only after the content is on
 * disk. On failure the partial file is removed.
 */
export async function receiveMultipart(
  body: Readable,
  headers: IncomingHttpHeaders,
  contentPath: string | null,
  hash = true,
): Promise<ReceivedForm> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers,
      // The stored filename must be exactly what the client sent (the gateway encodes its upload
      // id in it), so keep path separators and decode plain filename params as UTF-8.
      preservePath: true,
      defParamCharset: 'utf8',
    });
  } catch (error: unknown) {
    body.resume();
    const reason = error instanceof Error ? error.message : String(error);
    throw badRequest(`Expected a multipart/form-data body (${reason}).`);
  }

  const fields = new Map<string, string>();
  let file: ReceivedFile | undefined;
  let fileDone: Promise<void> = Promise.resolve();

  parser.on('field', (name, value) => {
    fields.set(name, value);
  });
  parser.on('file', (name, stream, info) => {
    if (name !== 'file' || file !== undefined) {
      stream.resume();
      return;
    }
    const received: ReceivedFile = {
      filename: info.filename ?? '',
      mimeType: info.mimeType,
      bytes: 0,
      sha256: '',
    };
    file = received;
    const digest = hash ? createHash('sha256') : null;
    const meter = new PassThrough();
    meter.on('data', (chunk: Buffer) => {
      received.bytes += chunk.length;
      digest?.update(chunk);
    });
    const sink = contentPath !== null ? createWriteStream(contentPath) : nullSink();
    fileDone = pipeline(stream, meter, sink).then(() => {
      received.sha256 = digest?.digest('hex') ?? '';
    });
    // A rejected fileDone is awaited below; this keeps it from counting as unhandled meanwhile.
    fileDone.catch(() => undefined);
  });

  try {
    await pipeline(body, parser);
    await fileDone;
  } catch (error: unknown) {
    // Best effort: the file may never have been created when the form failed early.
    if (contentPath !== null) discardPath(contentPath);
    if (error instanceof SimHttpError) throw error;
    // Usually a malformed form; when the client went away instead, nobody reads the answer.
    const reason = error instanceof Error ? error.message : String(error);
    throw badRequest(`Could not read the multipart body: ${reason}`);
  }
  return { fields, file };
}

function nullSink(): Writable {
  return new Writable({
    write(_chunk: Buffer, _encoding, callback) {
      callback();
    },
  });
}
