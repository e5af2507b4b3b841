import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import {
  ApiError,
  ClientClosedRequestError,
  InvalidRequestError,
  PayloadTooLargeError,
} from '../../common/errors/api-error';
import { normalizeMimeType } from '../../id-codec/mime-types';
import type { FormFields } from './create-file-fields';
import type { SpoolFile } from './spool-file';

/** Upstreams and tools choke on longer names; OpenAI itself keeps filenames short. */
export const MAX_FILENAME_BYTES = 512;
// C0 controls and DEL: PostgreSQL refuses NUL in text, and none of them belong in a filename.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

export interface IncomingFile {
  readonly filename: string;
  readonly mimeType: string;
}

/**
 * Parses a `multipart/form-data` request as a stream: text fields are collected, the `file`
 * part's bytes go to the spool as they arrive (never buffered whole), and its size is capped.
 * Works for Content-Length and chunked bodies alike, with fields before or after the file.
 */
export class IncomingUpload {
  readonly fields = new Map<string, string[]>();
  file: IncomingFile | null = null;
  /** Resolves when the file part begins (true) or the body ended without one (false). */
  readonly fileStarted: Promise<boolean>;
  /** Resolves when the whole body is parsed and every file byte is spooled. */
  readonly done: Promise<void>;
  private readonly abortController = new AbortController();
  private settled = false;
  private fail: (error: Error) => void = () => undefined;

  constructor(request: IncomingMessage, spool: SpoolFile, maxFileBytes: number) {
    let onFileStarted: (started: boolean) => void = () => undefined;
    this.fileStarted = new Promise((resolve) => (onFileStarted = resolve));
    this.done = new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        if (this.settled) return;
        this.settled = true;
        onFileStarted(false);
        // Copies that already have every byte are let finish, so their ids are known and the
        // caller deletes them: aborting them now would leave copies that may still land, found
        // only later by the sweeper (a client gone inside the closing boundary did exactly that).
        if (!spool.complete) this.abortController.abort(error);
        spool.fail(error);
        request.unpipe();
        // Drain what is still coming; an error answer sent with `Connection: close` then ends it.
        request.resume();
        reject(error);
      };
      this.fail = fail;
      let parser: busboy.Busboy;
      try {
        parser = createParser(request, maxFileBytes);
      } catch (error) {
        fail(
          new InvalidRequestError(
            `Expected a multipart/form-data body: ${(error as Error).message}`,
            {
              code: 'invalid_content_type',
            },
          ),
        );
        return;
      }
      let bodyParsed = false;
      let fileSpooled = true;
      const maybeDone = (): void => {
        if (bodyParsed && fileSpooled && !this.settled) {
          this.settled = true;
          onFileStarted(this.file !== null);
          resolve();
        }
      };
      parser.on('file', (name, stream, info) => {
        // First, before any early return: busboy reports a body cut inside this part on the
        // part's stream, also for a part we refuse, and an unheard 'error' would crash the process.
        stream.on('error', (error: Error) => fail(malformed(error)));
        if (name !== 'file' || this.file) {
          stream.resume();
          fail(
            new InvalidRequestError(
              name === 'file'
                ? "Only one 'file' part is allowed."
                : `Unexpected file part '${name}'; the file goes in 'file'.`,
              { param: name },
            ),
          );
          return;
        }
        const filename = cleanFilename(info.filename);
        if (Buffer.byteLength(filename) > MAX_FILENAME_BYTES) {
          stream.resume();
          fail(
            new InvalidRequestError(
              `The filename is longer than ${MAX_FILENAME_BYTES} bytes; send a shorter one.`,
              { param: 'file', code: 'invalid_filename' },
            ),
          );
          return;
        }
        this.file = { filename, mimeType: normalizeMimeType(info.mimeType) };
        fileSpooled = false;
        const writer = spool.writer();
        stream.on('limit', () =>
          fail(
            new PayloadTooLargeError(
              `File is larger than the ${maxFileBytes} bytes this gateway accepts.`,
              { param: 'file', headers: { connection: 'close' } },
            ),
          ),
        );
        writer.on('error', (error: Error) => fail(error));
        writer.on('finish', () => {
          fileSpooled = true;
          maybeDone();
        });
        stream.pipe(writer);
        onFileStarted(true);
      });
      parser.on('field', (name, value, info) => {
        if (info.valueTruncated || info.nameTruncated) {
          fail(new InvalidRequestError(`Form field '${name}' is too long.`, { param: name }));
          return;
        }
        const values = this.fields.get(name) ?? [];
        values.push(value);
        this.fields.set(name, values);
      });
      // busboy drops a second file part silently once `files` is reached; refuse it instead.
      parser.on('filesLimit', () =>
        fail(new InvalidRequestError("Only one 'file' part is allowed.", { param: 'file' })),
      );
      parser.on('partsLimit', () => fail(new InvalidRequestError('Too many form parts.')));
      parser.on('fieldsLimit', () => fail(new InvalidRequestError('Too many form fields.')));
      parser.on('error', (error: Error) => fail(malformed(error)));
      parser.on('close', () => {
        bodyParsed = true;
        maybeDone();
      });
      request.on('aborted', () => fail(new ClientClosedRequestError()));
      request.on('close', () => {
        if (!request.complete) fail(new ClientClosedRequestError());
      });
      request.pipe(parser);
    });
    // Callers await `done` when they need it; an early failure must not be an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get formFields(): FormFields {
    return this.fields;
  }

  /** Aborted when the body is refused or the client goes away before the whole file is in. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /**
   * Stops reading the body (an upstream failure already decided the answer, or shutdown gave
   * up on it): copies in flight are aborted and whoever awaits the body sees `reason`.
   */
  stop(reason: Error): void {
    this.fail(reason);
  }
}

/** What busboy says about a body it cannot parse is the client's error, not ours. */
function malformed(error: Error): ApiError {
  return error instanceof ApiError
    ? error
    : new InvalidRequestError(`Malformed multipart body: ${error.message}.`, {
        code: 'invalid_multipart',
      });
}

/** The filename as stored: control characters dropped, `upload` when nothing is left. */
function cleanFilename(raw: string | undefined): string {
  const cleaned = (raw ?? '').replace(CONTROL_CHARACTERS, '');
  return cleaned.trim() === '' ? 'upload' : cleaned;
}

function createParser(request: IncomingMessage, maxFileBytes: number): busboy.Busboy {
  return busboy({
    headers: request.headers,
    // busboy flags a file as over the limit when it *reaches* `fileSize`, so a file of exactly
    // the configured maximum needs one byte of headroom.
    limits: { fileSize: maxFileBytes + 1, files: 1, fields: 64, parts: 80, fieldSize: 64 * 1024 },
    highWaterMark: 1024 * 1024,
    // The SDKs send UTF-8 filenames in `filename="…"`; busboy's default for them is latin1.
    defParamCharset: 'utf8',
  });
}
