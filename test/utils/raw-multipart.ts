/**
 * multipart/form-data bodies byte by byte, for tests that must send what no client library
 * would: raw NUL or invalid UTF-8 in a part header, a broken delimiter, a missing close
 * delimiter, headers without a colon. `test/utils/http.ts` `multipart()` builds the well-formed
 * bodies the other suites need; this one keeps every byte up to the caller.
 */

export interface RawPart {
  /** Header lines without their CRLF; anything at all may be in them. */
  readonly headerLines: readonly Buffer[];
  readonly body: Buffer;
}

export type DelimiterStyle =
  /** `--b` CRLF before each part, CRLF `--b--` CRLF at the end. */
  | 'standard'
  /** The close delimiter is left out: the body stops after the last part's data. */
  | 'no-close'
  /** The last delimiter lacks its closing dashes (`--b` CRLF and nothing after). */
  | 'close-without-dashes'
  /** Delimiters lose their CRLF (`…data--b`), so no delimiter after the first is one. */
  | 'no-crlf-before-delimiter'
  /** Part headers end with a single CRLF instead of an empty line. */
  | 'no-blank-line-after-headers'
  /** Transport padding (spaces and tabs) after each delimiter, which RFC 2046 allows. */
  | 'padded-delimiters';

export interface RawMultipartOptions {
  readonly boundary: string;
  readonly style?: DelimiterStyle;
  /** Bytes before the first delimiter (RFC 2046 preamble: to be ignored). */
  readonly preamble?: Buffer;
  /** Bytes after the close delimiter (RFC 2046 epilogue: to be ignored). */
  readonly epilogue?: Buffer;
}

export interface RawMultipart {
  readonly whole: Buffer;
  /** Offset of the first byte of the first part whose headers name a filename, or -1. */
  readonly fileDataStart: number;
}

const CRLF = Buffer.from('\r\n');

export function rawMultipart(
  parts: readonly RawPart[],
  options: RawMultipartOptions,
): RawMultipart {
  const style = options.style ?? 'standard';
  const dash = Buffer.from(`--${options.boundary}`);
  const pieces: Buffer[] = [];
  let size = 0;
  let fileDataStart = -1;
  const push = (piece: Buffer): void => {
    pieces.push(piece);
    size += piece.length;
  };
  if (options.preamble) push(Buffer.concat([options.preamble, CRLF]));
  parts.forEach((part, index) => {
    if (index > 0 && style !== 'no-crlf-before-delimiter') push(CRLF);
    push(dash);
    if (style === 'padded-delimiters') push(Buffer.from(' \t '));
    push(CRLF);
    for (const line of part.headerLines) push(Buffer.concat([line, CRLF]));
    if (style !== 'no-blank-line-after-headers') push(CRLF);
    if (fileDataStart < 0 && part.headerLines.some((l) => l.includes('filename'))) {
      fileDataStart = size;
    }
    push(part.body);
  });
  switch (style) {
    case 'no-close':
      break;
    case 'close-without-dashes':
      push(Buffer.concat([CRLF, dash, CRLF]));
      break;
    case 'no-crlf-before-delimiter':
      push(Buffer.concat([dash, Buffer.from('--'), CRLF]));
      break;
    case 'standard':
    case 'no-blank-line-after-headers':
    case 'padded-delimiters':
      push(Buffer.concat([CRLF, dash, Buffer.from('--'), CRLF]));
      break;
  }
  if (options.epilogue) push(options.epilogue);
  return { whole: Buffer.concat(pieces), fileDataStart };
}

/** `Content-Disposition: form-data; name="<name>"` and the value, both as UTF-8 bytes. */
export function fieldPart(name: string, value: string | Buffer): RawPart {
  return {
    headerLines: [Buffer.from(`Content-Disposition: form-data; name="${name}"`)],
    body: typeof value === 'string' ? Buffer.from(value) : value,
  };
}

export interface FilePartOptions {
  readonly name?: string;
  /** The disposition parameters after `name=…`, raw (e.g. `filename="a.jsonl"`). */
  readonly filenameParams: Buffer | string;
  /** The part's Content-Type header value, raw; null leaves the header out. */
  readonly contentType: Buffer | string | null;
  readonly data: Buffer;
  readonly extraHeaderLines?: readonly Buffer[];
}

export function filePart(options: FilePartOptions): RawPart {
  const params =
    typeof options.filenameParams === 'string'
      ? Buffer.from(options.filenameParams)
      : options.filenameParams;
  const lines: Buffer[] = [
    Buffer.concat([
      Buffer.from(`Content-Disposition: form-data; name="${options.name ?? 'file'}"; `),
      params,
    ]),
  ];
  if (options.contentType !== null) {
    const value =
      typeof options.contentType === 'string'
        ? Buffer.from(options.contentType)
        : options.contentType;
    lines.push(Buffer.concat([Buffer.from('Content-Type: '), value]));
  }
  lines.push(...(options.extraHeaderLines ?? []));
  return { headerLines: lines, body: options.data };
}

/** `filename="<value>"` with the value's UTF-8 bytes as they are (what the SDKs send). */
export function quotedFilename(value: string): Buffer {
  return Buffer.from(`filename="${value}"`);
}

/** RFC 5987 attr-char: everything else in an ext-value is percent-encoded. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+\-.^_`|~]$/;

/** `filename*=utf-8''<percent-encoded UTF-8>` (RFC 5987 / RFC 6266). */
export function extendedFilename(value: string): Buffer {
  let encoded = '';
  for (const byte of Buffer.from(value)) {
    const char = String.fromCharCode(byte);
    encoded +=
      byte < 0x80 && ATTR_CHAR.test(char)
        ? char
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return Buffer.from(`filename*=utf-8''${encoded}`);
}
