/**
 * MIME types that an id can carry as a single index byte instead of spelling them out.
 *
 * APPEND-ONLY. Ids already handed to clients store `index + 1` into this table (0 means "spelled
 * out"), and those ids must keep decoding to the same MIME type for as long as they live.
 * Never remove, reorder or edit an entry; add new ones at the end (at most 255 entries).
 */
export const MIME_TYPE_TABLE: readonly string[] = Object.freeze([
  'application/octet-stream',
  'application/json',
  'application/jsonl',
  'application/x-ndjson',
  'text/plain',
  'text/csv',
  'text/markdown',
  'text/html',
  'application/pdf',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'audio/mpeg',
  'audio/wav',
  'application/zip',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/xml',
  'text/xml',
  'text/css',
  'text/javascript',
  'application/javascript',
  'application/typescript',
  'text/x-typescript',
  'text/x-python',
  'text/x-script.python',
  'text/x-java',
  'text/x-c',
  'text/x-c++',
  'text/x-csharp',
  'text/x-golang',
  'text/x-php',
  'text/x-ruby',
  'text/x-tex',
  'application/x-sh',
  'application/x-yaml',
  'text/yaml',
  'application/rtf',
  'application/gzip',
  'application/x-tar',
  'audio/x-wav',
  'audio/mp4',
  'audio/x-m4a',
  'audio/ogg',
  'audio/webm',
  'audio/flac',
  'video/mp4',
  'video/webm',
  'video/mpeg',
  'image/svg+xml',
  'image/heic',
]);

const INDEX_BY_MIME_TYPE: ReadonlyMap<string, number> = new Map(
  MIME_TYPE_TABLE.map((mimeType, index) => [mimeType, index + 1]),
);

/** The wire index (1-based) of a table MIME type, or 0 when it has to be spelled out. */
export function mimeTypeToIndex(mimeType: string): number {
  return INDEX_BY_MIME_TYPE.get(mimeType) ?? 0;
}

/** The MIME type behind a wire index, or undefined for 0 and for indexes past the table. */
export function mimeTypeFromIndex(index: number): string | undefined {
  return index >= 1 ? MIME_TYPE_TABLE[index - 1] : undefined;
}

/** The type a file falls back to when the one it was sent with cannot be used. */
export const DEFAULT_MIME_TYPE = 'application/octet-stream';

// RFC 6838 §4.2: `type/subtype`, each a restricted-name of at most 127 characters, so a valid
// one always fits the codec's 255-byte field. Parameters (`; charset=…`) are not kept.
const RESTRICTED_NAME = '[a-z0-9][a-z0-9!#$&^_.+-]{0,126}';
const MIME_TYPE_PATTERN = new RegExp(`^${RESTRICTED_NAME}/${RESTRICTED_NAME}$`);

/**
 * A client-sent MIME type as the gateway stores and encodes it: lowercased, and
 * `application/octet-stream` when it is not a well-formed `type/subtype` (too long, control
 * characters, empty). Normalising instead of refusing matches what providers do with odd types,
 * and guarantees every stored file can be encoded into an id.
 */
export function normalizeMimeType(mimeType: string | null | undefined): string {
  const lower = (mimeType ?? '').trim().toLowerCase();
  return MIME_TYPE_PATTERN.test(lower) ? lower : DEFAULT_MIME_TYPE;
}
