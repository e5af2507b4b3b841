import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { TextDecoder } from 'node:util';
import { mimeTypeFromIndex, mimeTypeToIndex } from './mime-types';

export type IdKind = 'file' | 'batch' | 'fine_tuning_job' | 'response';

/** The same prefixes OpenAI uses, so the official SDKs and client code accept our ids unchanged. */
export const ID_PREFIXES: Readonly<Record<IdKind, string>> = Object.freeze({
  file: 'file-',
  batch: 'batch_',
  fine_tuning_job: 'ftjob-',
  response: 'resp_',
});

/**
 * Kinds whose ids are encrypted (AES-256-GCM), not just signed: they name a deployment and the
 * provider's own id, which nobody who decodes the id may learn, and carry their owner, so the
 * ownership rule applies without a database read (a Responses call writes nothing to the store).
 */
const SEALED_KINDS: ReadonlySet<IdKind> = new Set<IdKind>(['response']);

export interface UnifiedIdPayload {
  kind: IdKind;
  /** Canonical lowercase UUID (8-4-4-4-12 hex); also the database primary key. */
  uid: string;
  /** Files: MIME type of the upload (chat `file` parts on some providers need the format). */
  mimeType?: string;
  /** Objects that live on exactly one deployment: lets the gateway route without a lookup. */
  deploymentId?: string;
  /** The provider's own id for the object on that deployment. */
  providerId?: string;
  /** Sealed kinds: who owns the object (the ownership rule needs no lookup). */
  ownerUserId?: string;
  ownerTeamId?: string;
}

export const MIN_SECRET_BYTES = 32;
export const MAX_MIME_TYPE_BYTES = 255;
export const MAX_DEPLOYMENT_ID_BYTES = 255;
export const MAX_PROVIDER_ID_BYTES = 1024;
export const MAX_OWNER_ID_BYTES = 255;

const VERSION = 1;
// Wire codes are part of issued ids: never renumber, only add.
const KIND_CODES: Readonly<Record<IdKind, number>> = Object.freeze({
  file: 1,
  batch: 2,
  fine_tuning_job: 3,
  response: 4,
});
const FLAG_MIME_TYPE = 0x01;
const FLAG_DEPLOYMENT_ID = 0x02;
const FLAG_PROVIDER_ID = 0x04;
const FLAG_OWNER_USER_ID = 0x08;
const FLAG_OWNER_TEAM_ID = 0x10;
const KNOWN_FLAGS =
  FLAG_MIME_TYPE | FLAG_DEPLOYMENT_ID | FLAG_PROVIDER_ID | FLAG_OWNER_USER_ID | FLAG_OWNER_TEAM_ID;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SEAL_INFO = 'managed-files-gateway id seal v1';

const UID_BYTES = 16;
const HEADER_BYTES = 1 + 1 + UID_BYTES + 1;
const MAC_BYTES = 16;
const MAX_PAYLOAD_BYTES =
  HEADER_BYTES +
  (1 + 1 + MAX_MIME_TYPE_BYTES) +
  (1 + MAX_DEPLOYMENT_ID_BYTES) +
  (2 + MAX_PROVIDER_ID_BYTES) +
  2 * (1 + MAX_OWNER_ID_BYTES);

/**
 * The longest id encode() can produce (2105). Derived from the field limits rather than picked,
 * so decode's early length cut-off can never reject an id we issued; callers can reuse it to
 * bound request fields.
 */
export const MAX_ID_LENGTH = Math.max(
  ...(Object.keys(ID_PREFIXES) as IdKind[]).map(
    (kind) =>
      ID_PREFIXES[kind].length +
      Math.ceil(
        ((MAX_PAYLOAD_BYTES + (SEALED_KINDS.has(kind) ? NONCE_BYTES + TAG_BYTES : MAC_BYTES)) * 4) /
          3,
      ),
  ),
);

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/;
// Without the `u` flag this matches UTF-16 code units, which is what a lone surrogate is.
const LONE_SURROGATE_PATTERN =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// fatal: malformed UTF-8 must fail rather than turn into U+FFFD; ignoreBOM: a leading U+FEFF is
// data, not a byte-order mark to strip.
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** True for a canonical lowercase UUID string (8-4-4-4-12 hex digits). */
export function isUuid(s: string): boolean {
  return typeof s === 'string' && UUID_PATTERN.test(s);
}

/**
 * Turns gateway-managed object references into OpenAI-looking ids and back.
 *
 * Signed kinds: `<prefix><base64url(payload || mac)>` where mac is HMAC-SHA256 over prefix and
 * payload, truncated to 128 bits. Authenticated, not encrypted: clients can read what is in it,
 * but cannot make up one the gateway will accept.
 * Sealed kinds: `<prefix><base64url(nonce || AES-256-GCM(payload) || tag)>` with the prefix as
 * associated data and a key derived from the secret (HKDF): unreadable and unforgeable.
 */
export class IdCodec {
  private readonly key: KeyObject;
  private readonly sealKey: Buffer;

  constructor(secret: Uint8Array | string) {
    let bytes: Buffer;
    if (typeof secret === 'string') {
      bytes = Buffer.from(secret, 'utf8');
    } else if (secret instanceof Uint8Array) {
      // Copy so a caller later reusing or zeroing its buffer cannot change our key.
      bytes = Buffer.from(secret);
    } else {
      throw new TypeError('IdCodec secret must be a string or a Uint8Array');
    }
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new Error(
        `IdCodec secret must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes.length}`,
      );
    }
    // A KeyObject keeps the raw secret out of anything that logs or serializes this instance.
    this.key = createSecretKey(bytes);
    // A separate key for sealing: the HMAC key never doubles as an encryption key.
    this.sealKey = Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), SEAL_INFO, 32));
  }

  encode(payload: UnifiedIdPayload): string {
    if (!isIdKind(payload.kind)) {
      throw new Error(`IdCodec cannot encode unknown kind ${JSON.stringify(payload.kind)}`);
    }
    const prefix = ID_PREFIXES[payload.kind];
    const bytes = serialize(payload);
    if (SEALED_KINDS.has(payload.kind)) {
      return prefix + this.seal(prefix, bytes).toString('base64url');
    }
    return prefix + Buffer.concat([bytes, this.mac(prefix, bytes)]).toString('base64url');
  }

  /** null when the id is malformed, has the wrong prefix for expectedKind, or fails verification. Never throws on any input string. */
  decode(id: string, expectedKind?: IdKind): UnifiedIdPayload | null {
    // Bound the work an unauthenticated caller can make us do before any decoding or hashing.
    if (typeof id !== 'string' || id.length > MAX_ID_LENGTH) return null;

    const kind = expectedKind === undefined ? kindFromPrefix(id) : expectedKind;
    if (kind === undefined || !isIdKind(kind)) return null;
    const prefix = ID_PREFIXES[kind];
    if (!id.startsWith(prefix)) return null;

    const body = id.slice(prefix.length);
    // Buffer's base64 decoder skips characters it does not know, so check the alphabet first.
    if (!BASE64URL_PATTERN.test(body)) return null;
    const raw = Buffer.from(body, 'base64url');
    // The last character can carry unused low bits that the decoder drops; insisting on the
    // canonical spelling keeps one id per payload.
    if (raw.toString('base64url') !== body) return null;
    const bytes = SEALED_KINDS.has(kind) ? this.open(prefix, raw) : this.verify(prefix, raw);
    if (bytes === null) return null;

    // Authenticated from here on, so a failure means an id from a newer format or a bug; the
    // contract is still null rather than an exception.
    try {
      const payload = parse(bytes);
      if (payload === null || payload.kind !== kind) return null;
      // Anything that would not be encoded to exactly these bytes is not an id we issued.
      if (!serialize(payload).equals(bytes)) return null;
      return payload;
    } catch {
      return null;
    }
  }

  private verify(prefix: string, raw: Buffer): Buffer | null {
    if (raw.length < HEADER_BYTES + MAC_BYTES) return null;
    const bytes = raw.subarray(0, raw.length - MAC_BYTES);
    const mac = raw.subarray(raw.length - MAC_BYTES);
    return timingSafeEqual(mac, this.mac(prefix, bytes)) ? bytes : null;
  }

  private seal(prefix: string, bytes: Buffer): Buffer {
    // A random 96-bit nonce per id: GCM stays safe far beyond any number of ids one key issues.
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, nonce);
    cipher.setAAD(Buffer.from(prefix, 'ascii'));
    const sealed = Buffer.concat([cipher.update(bytes), cipher.final()]);
    return Buffer.concat([nonce, sealed, cipher.getAuthTag()]);
  }

  private open(prefix: string, raw: Buffer): Buffer | null {
    if (raw.length < NONCE_BYTES + HEADER_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, raw.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(prefix, 'ascii'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      // A wrong tag: forged, edited, or sealed under another secret.
      return null;
    }
  }

  private mac(prefix: string, bytes: Uint8Array): Buffer {
    // Binding the prefix means a valid file id cannot be replayed under another kind's prefix.
    return createHmac('sha256', this.key)
      .update(prefix, 'ascii')
      .update(bytes)
      .digest()
      .subarray(0, MAC_BYTES);
  }
}

function isIdKind(value: unknown): value is IdKind {
  return typeof value === 'string' && Object.hasOwn(ID_PREFIXES, value);
}

function kindFromPrefix(id: string): IdKind | undefined {
  // No prefix is a prefix of another, so at most one matches.
  return (Object.keys(ID_PREFIXES) as IdKind[]).find((kind) => id.startsWith(ID_PREFIXES[kind]));
}

function kindFromCode(code: number): IdKind | undefined {
  return (Object.keys(KIND_CODES) as IdKind[]).find((kind) => KIND_CODES[kind] === code);
}

function utf8Field(name: string, value: unknown, maxBytes: number): Buffer {
  if (typeof value !== 'string') {
    throw new Error(`IdCodec ${name} must be a string`);
  }
  // Buffer.from would silently turn a lone surrogate into U+FFFD, so the id would decode to a
  // different string than the one encoded.
  if (LONE_SURROGATE_PATTERN.test(value)) {
    throw new Error(`IdCodec ${name} is not well-formed Unicode (lone surrogate)`);
  }
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > maxBytes) {
    throw new Error(`IdCodec ${name} is ${bytes.length} UTF-8 bytes, the maximum is ${maxBytes}`);
  }
  return bytes;
}

function serialize(payload: UnifiedIdPayload): Buffer {
  if (!isUuid(payload.uid)) {
    throw new Error(
      `IdCodec uid must be a canonical lowercase UUID, got ${JSON.stringify(payload.uid)}`,
    );
  }
  const parts: Buffer[] = [];
  let flags = 0;

  if (payload.mimeType !== undefined) {
    flags |= FLAG_MIME_TYPE;
    const mimeBytes = utf8Field('mimeType', payload.mimeType, MAX_MIME_TYPE_BYTES);
    const index = mimeTypeToIndex(payload.mimeType);
    parts.push(
      index === 0 ? Buffer.concat([Buffer.of(0, mimeBytes.length), mimeBytes]) : Buffer.of(index),
    );
  }
  if (payload.deploymentId !== undefined) {
    flags |= FLAG_DEPLOYMENT_ID;
    const bytes = utf8Field('deploymentId', payload.deploymentId, MAX_DEPLOYMENT_ID_BYTES);
    parts.push(Buffer.of(bytes.length), bytes);
  }
  if (payload.providerId !== undefined) {
    flags |= FLAG_PROVIDER_ID;
    const bytes = utf8Field('providerId', payload.providerId, MAX_PROVIDER_ID_BYTES);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    parts.push(length, bytes);
  }
  if (payload.ownerUserId !== undefined) {
    flags |= FLAG_OWNER_USER_ID;
    const bytes = utf8Field('ownerUserId', payload.ownerUserId, MAX_OWNER_ID_BYTES);
    parts.push(Buffer.of(bytes.length), bytes);
  }
  if (payload.ownerTeamId !== undefined) {
    flags |= FLAG_OWNER_TEAM_ID;
    const bytes = utf8Field('ownerTeamId', payload.ownerTeamId, MAX_OWNER_ID_BYTES);
    parts.push(Buffer.of(bytes.length), bytes);
  }

  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = VERSION;
  header[1] = KIND_CODES[payload.kind];
  Buffer.from(payload.uid.replaceAll('-', ''), 'hex').copy(header, 2);
  header[HEADER_BYTES - 1] = flags;
  return Buffer.concat([header, ...parts]);
}

function parse(bytes: Buffer): UnifiedIdPayload | null {
  if (bytes.length < HEADER_BYTES || bytes[0] !== VERSION) return null;
  const kind = kindFromCode(bytes[1]);
  if (kind === undefined) return null;
  const hex = bytes.toString('hex', 2, 2 + UID_BYTES);
  const uid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const flags = bytes[HEADER_BYTES - 1];
  if ((flags & ~KNOWN_FLAGS) !== 0) return null;

  const payload: UnifiedIdPayload = { kind, uid };
  let offset = HEADER_BYTES;

  const readString = (length: number): string | undefined => {
    if (offset + length > bytes.length) return undefined;
    const text = decodeUtf8(bytes.subarray(offset, offset + length));
    offset += length;
    return text;
  };

  if (flags & FLAG_MIME_TYPE) {
    if (offset >= bytes.length) return null;
    const index = bytes[offset++];
    if (index === 0) {
      if (offset >= bytes.length) return null;
      const mimeType = readString(bytes[offset++]);
      if (mimeType === undefined) return null;
      payload.mimeType = mimeType;
    } else {
      const mimeType = mimeTypeFromIndex(index);
      if (mimeType === undefined) return null;
      payload.mimeType = mimeType;
    }
  }
  if (flags & FLAG_DEPLOYMENT_ID) {
    if (offset >= bytes.length) return null;
    const deploymentId = readString(bytes[offset++]);
    if (deploymentId === undefined) return null;
    payload.deploymentId = deploymentId;
  }
  if (flags & FLAG_PROVIDER_ID) {
    if (offset + 2 > bytes.length) return null;
    const length = bytes.readUInt16BE(offset);
    offset += 2;
    if (length > MAX_PROVIDER_ID_BYTES) return null;
    const providerId = readString(length);
    if (providerId === undefined) return null;
    payload.providerId = providerId;
  }
  for (const [flag, field] of [
    [FLAG_OWNER_USER_ID, 'ownerUserId'],
    [FLAG_OWNER_TEAM_ID, 'ownerTeamId'],
  ] as const) {
    if (!(flags & flag)) continue;
    if (offset >= bytes.length) return null;
    const value = readString(bytes[offset++]);
    if (value === undefined) return null;
    payload[field] = value;
  }

  return offset === bytes.length ? payload : null;
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8_DECODER.decode(bytes);
  } catch {
    return undefined;
  }
}
