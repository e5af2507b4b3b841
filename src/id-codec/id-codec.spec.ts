import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  ID_PREFIXES,
  IdCodec,
  MAX_DEPLOYMENT_ID_BYTES,
  MAX_ID_LENGTH,
  MAX_MIME_TYPE_BYTES,
  MAX_OWNER_ID_BYTES,
  MAX_PROVIDER_ID_BYTES,
  isUuid,
  type IdKind,
  type UnifiedIdPayload,
} from './id-codec';
import { MIME_TYPE_TABLE } from './mime-types';

const SECRET = 'unit-test-secret-0123456789abcdef-0123456789';
const OTHER_SECRET = 'another-secret-0123456789abcdef-0123456789';
const UID = '0f8e5a3c-6b1d-4c2e-9a7f-1234567890ab';
const KINDS: readonly IdKind[] = ['file', 'batch', 'fine_tuning_job', 'response'];
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// Wire constants restated here on purpose: issued ids depend on them, so changing them in the
// implementation must break these tests.
const KIND_CODE: Record<IdKind, number> = { file: 1, batch: 2, fine_tuning_job: 3, response: 4 };
const FLAG_MIME = 0x01;
const FLAG_DEPLOYMENT = 0x02;
const FLAG_PROVIDER = 0x04;

function uidBytes(uid: string): Buffer {
  return Buffer.from(uid.replaceAll('-', ''), 'hex');
}

function header(kindCode: number, flags: number, version = 1): Buffer {
  return Buffer.concat([Buffer.of(version, kindCode), uidBytes(UID), Buffer.of(flags)]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Builds an id around arbitrary payload bytes with a valid MAC, to reach the parser. */
function forge(prefix: string, payload: Buffer, secret = SECRET): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(prefix, 'ascii')
    .update(payload)
    .digest()
    .subarray(0, 16);
  return prefix + Buffer.concat([payload, mac]).toString('base64url');
}

function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function truncateUtf8(s: string, maxBytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (used + size > maxBytes) break;
    out += ch;
    used += size;
  }
  return out;
}

const kindArb = fc.constantFrom(...KINDS);
const uidArb = fc.oneof(fc.uuid(), fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatUuid));
// Mixes 1- to 4-byte UTF-8 characters, NUL and BOM, which are the usual round-trip breakers.
const unicodeUnitArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  fc.constantFrom('\u0000', '\uFEFF', 'é', '€', '😀', '/', ';'),
);
function boundedUtf8Arb(maxBytes: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: unicodeUnitArb, maxLength: maxBytes }).map((s) => truncateUtf8(s, maxBytes)),
    // The default size keeps strings short; this branch pushes against the byte limit.
    fc
      .string({ unit: unicodeUnitArb, maxLength: maxBytes, size: 'max' })
      .map((s) => truncateUtf8(s, maxBytes)),
    fc.nat({ max: maxBytes }).map((n) => 'x'.repeat(n)),
  );
}
const mimeTypeArb = fc.oneof(
  fc.constantFrom(...MIME_TYPE_TABLE),
  boundedUtf8Arb(MAX_MIME_TYPE_BYTES),
);
const payloadArb: fc.Arbitrary<UnifiedIdPayload> = fc.record(
  {
    kind: kindArb,
    uid: uidArb,
    mimeType: mimeTypeArb,
    deploymentId: boundedUtf8Arb(MAX_DEPLOYMENT_ID_BYTES),
    providerId: boundedUtf8Arb(MAX_PROVIDER_ID_BYTES),
  },
  { requiredKeys: ['kind', 'uid'], noNullPrototype: true },
);
// Every UTF-16 code unit, lone surrogates included.
const codeUnitArb = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
const anyCharArb = fc.oneof(
  fc.constantFrom(...BASE64URL_ALPHABET),
  codeUnitArb,
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom('=', '+', '/', '.', ' ', '\n'),
);

describe(IdCodec.name, () => {
  const codec = new IdCodec(SECRET);

  describe('properties', () => {
    it('should round-trip every valid payload', () => {
      fc.assert(
        fc.property(payloadArb, (payload) => {
          const id = codec.encode(payload);
          expect(id.startsWith(ID_PREFIXES[payload.kind])).toBe(true);
          expect(id.length).toBeLessThanOrEqual(MAX_ID_LENGTH);
          expect(codec.decode(id)).toStrictEqual(payload);
          expect(codec.decode(id, payload.kind)).toStrictEqual(payload);
        }),
        { numRuns: 500 },
      );
    });

    it('should reject any single-character substitution, deletion or insertion', () => {
      const mutationArb = fc.oneof(
        fc.record({ op: fc.constant('substitute' as const), at: fc.nat(), ch: anyCharArb }),
        fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('insert' as const), at: fc.nat(), ch: anyCharArb }),
      );
      fc.assert(
        fc.property(payloadArb, mutationArb, (payload, mutation) => {
          const id = codec.encode(payload);
          let mutated: string;
          if (mutation.op === 'substitute') {
            const at = mutation.at % id.length;
            fc.pre(id[at] !== mutation.ch);
            mutated = id.slice(0, at) + mutation.ch + id.slice(at + 1);
          } else if (mutation.op === 'delete') {
            const at = mutation.at % id.length;
            mutated = id.slice(0, at) + id.slice(at + 1);
          } else {
            const at = mutation.at % (id.length + 1);
            mutated = id.slice(0, at) + mutation.ch + id.slice(at);
          }
          expect(codec.decode(mutated)).toBeNull();
          expect(codec.decode(mutated, payload.kind)).toBeNull();
        }),
        { numRuns: 2000 },
      );
    });

    it('should substitute every base64url character at every position of one id and reject all', () => {
      const id = codec.encode({ kind: 'file', uid: UID, mimeType: 'application/pdf' });
      for (let at = 0; at < id.length; at++) {
        for (const ch of BASE64URL_ALPHABET) {
          if (ch === id[at]) continue;
          expect(codec.decode(id.slice(0, at) + ch + id.slice(at + 1))).toBeNull();
        }
      }
    });

    it('should never throw and return null for arbitrary strings', () => {
      const prefixed = fc
        .tuple(
          fc.constantFrom(...Object.values(ID_PREFIXES)),
          fc.string({ unit: fc.constantFrom(...BASE64URL_ALPHABET), maxLength: 200 }),
        )
        .map(([prefix, body]) => prefix + body);
      const inputArb = fc.oneof(
        fc.string(),
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: codeUnitArb }),
        prefixed,
      );
      fc.assert(
        fc.property(inputArb, fc.option(kindArb, { nil: undefined }), (input, expectedKind) => {
          expect(codec.decode(input, expectedKind)).toBeNull();
        }),
        { numRuns: 2000 },
      );
    });

    it('should return null for any other expectedKind', () => {
      fc.assert(
        fc.property(payloadArb, kindArb, (payload, otherKind) => {
          fc.pre(otherKind !== payload.kind);
          expect(codec.decode(codec.encode(payload), otherKind)).toBeNull();
        }),
      );
    });

    it('should return null when an id is moved under another prefix', () => {
      fc.assert(
        fc.property(payloadArb, kindArb, (payload, otherKind) => {
          fc.pre(otherKind !== payload.kind);
          const id = codec.encode(payload);
          const moved = ID_PREFIXES[otherKind] + id.slice(ID_PREFIXES[payload.kind].length);
          expect(codec.decode(moved)).toBeNull();
          expect(codec.decode(moved, otherKind)).toBeNull();
        }),
      );
    });

    it('should return null for ids issued under another secret', () => {
      const other = new IdCodec(OTHER_SECRET);
      fc.assert(
        fc.property(payloadArb, (payload) => {
          expect(other.decode(codec.encode(payload))).toBeNull();
          expect(codec.decode(other.encode(payload))).toBeNull();
        }),
      );
    });
  });

  describe('examples', () => {
    it('should produce ids of the expected lengths', () => {
      const fileWithPdf = codec.encode({ kind: 'file', uid: UID, mimeType: 'application/pdf' });
      const fileBare = codec.encode({ kind: 'file', uid: UID });
      const fileCustomMime = codec.encode({ kind: 'file', uid: UID, mimeType: 'video/quicktime' });
      const batch = codec.encode({
        kind: 'batch',
        uid: UID,
        deploymentId: 'azure-eastus2-gpt4o',
        providerId: 'batch_6789abcdef0123456789abcdef012345',
      });
      const outputFile = codec.encode({
        kind: 'file',
        uid: UID,
        mimeType: 'application/jsonl',
        deploymentId: 'azure-eastus2-gpt4o',
        providerId: 'file-6789abcdef0123456789abcdef012345',
      });
      const ftjob = codec.encode({
        kind: 'fine_tuning_job',
        uid: UID,
        deploymentId: 'openai-main',
        providerId: 'ftjob-abc123DEF456ghi789JKL0',
      });
      expect(fileWithPdf).toMatch(/^file-[A-Za-z0-9_-]{48}$/);
      expect(fileWithPdf).toHaveLength(53);
      expect(fileBare).toHaveLength(52);
      expect(fileCustomMime).toHaveLength(75);
      expect(batch).toHaveLength(133);
      expect(outputFile).toHaveLength(132);
      expect(ftjob).toHaveLength(109);
    });

    it('should keep the wire format stable', () => {
      const id = codec.encode({ kind: 'file', uid: UID, mimeType: 'application/pdf' });
      const raw = Buffer.from(id.slice('file-'.length), 'base64url');
      const pdfIndex = MIME_TYPE_TABLE.indexOf('application/pdf') + 1;
      expect(raw.subarray(0, raw.length - 16)).toEqual(
        Buffer.concat([header(KIND_CODE.file, FLAG_MIME), Buffer.of(pdfIndex)]),
      );
      expect(pdfIndex).toBe(9);
      expect(id).toBe(forge('file-', Buffer.concat([header(1, FLAG_MIME), Buffer.of(9)])));
    });

    it('should be deterministic for the same payload and secret', () => {
      const payload: UnifiedIdPayload = {
        kind: 'file',
        uid: UID,
        mimeType: 'application/jsonl',
        deploymentId: 'dep-1',
        providerId: 'file-abc',
      };
      const sameSecretAsBytes = new IdCodec(new TextEncoder().encode(SECRET));
      expect(codec.encode(payload)).toBe(codec.encode({ ...payload }));
      expect(sameSecretAsBytes.encode(payload)).toBe(codec.encode(payload));
      expect(new IdCodec(OTHER_SECRET).encode(payload)).not.toBe(codec.encode(payload));
    });

    it('should not depend on the caller keeping its secret buffer intact', () => {
      const secret = new TextEncoder().encode(SECRET);
      const fromBytes = new IdCodec(secret);
      secret.fill(0);
      const id = codec.encode({ kind: 'batch', uid: UID });
      expect(fromBytes.decode(id)).toStrictEqual({ kind: 'batch', uid: UID });
    });

    it('should throw when the secret is shorter than 32 bytes', () => {
      expect(() => new IdCodec('x'.repeat(31))).toThrow(/at least 32 bytes, got 31/);
      expect(() => new IdCodec(new Uint8Array(31))).toThrow(/at least 32 bytes/);
      expect(() => new IdCodec('')).toThrow(/at least 32 bytes/);
      expect(() => new IdCodec('x'.repeat(32))).not.toThrow();
      // Counted in UTF-8 bytes, not characters: 11 × '€' is 33 bytes.
      expect(() => new IdCodec('€'.repeat(11))).not.toThrow();
    });

    it('should not expose the secret when the codec is logged or serialized', () => {
      expect(inspect(codec, { depth: 10, showHidden: true })).not.toContain(SECRET);
      expect(JSON.stringify(codec)).not.toContain(SECRET);
    });

    it('should throw on a non-canonical uid', () => {
      for (const uid of [
        UID.toUpperCase(),
        UID.replaceAll('-', ''),
        `{${UID}}`,
        ` ${UID}`,
        `${UID}0`,
        UID.slice(1),
        'not-a-uuid',
        '',
      ]) {
        expect(() => codec.encode({ kind: 'file', uid })).toThrow(/canonical lowercase UUID/);
      }
    });

    it('should throw on an unknown kind', () => {
      const payload = { kind: 'assistant', uid: UID } as unknown as UnifiedIdPayload;
      expect(() => codec.encode(payload)).toThrow(/unknown kind/);
    });

    it('should enforce the field size limits in UTF-8 bytes', () => {
      expect(() => codec.encode({ kind: 'file', uid: UID, mimeType: 'm'.repeat(256) })).toThrow(
        /mimeType is 256 UTF-8 bytes, the maximum is 255/,
      );
      expect(() =>
        codec.encode({ kind: 'batch', uid: UID, deploymentId: 'é'.repeat(128) }),
      ).toThrow(/deploymentId is 256 UTF-8 bytes, the maximum is 255/);
      expect(() => codec.encode({ kind: 'batch', uid: UID, providerId: 'p'.repeat(1025) })).toThrow(
        /providerId is 1025 UTF-8 bytes, the maximum is 1024/,
      );
    });

    it('should encode the largest payload of every kind within MAX_ID_LENGTH, the sealed one exactly', () => {
      const lengths = KINDS.map((kind) => {
        const payload: UnifiedIdPayload = {
          kind,
          uid: UID,
          mimeType: 'm'.repeat(MAX_MIME_TYPE_BYTES),
          deploymentId: 'd'.repeat(MAX_DEPLOYMENT_ID_BYTES),
          providerId: 'p'.repeat(MAX_PROVIDER_ID_BYTES),
          ownerUserId: 'u'.repeat(MAX_OWNER_ID_BYTES),
          ownerTeamId: 't'.repeat(MAX_OWNER_ID_BYTES),
        };
        const id = codec.encode(payload);
        expect(id.length).toBeLessThanOrEqual(MAX_ID_LENGTH);
        expect(codec.decode(id)).toStrictEqual(payload);
        expect(codec.decode(id + 'A')).toBeNull();
        return id.length;
      });
      expect(MAX_ID_LENGTH).toBe(2803);
      expect(Math.max(...lengths)).toBe(MAX_ID_LENGTH);
    });

    it('should seal response ids: nothing in them is readable, and every edit fails', () => {
      const payload: UnifiedIdPayload = {
        kind: 'response',
        uid: UID,
        deploymentId: 'azure-sweden',
        providerId: 'resp_provider123',
        ownerUserId: 'alice',
        ownerTeamId: 'research',
      };
      const id = codec.encode(payload);
      expect(id.startsWith('resp_')).toBe(true);
      const raw = Buffer.from(id.slice('resp_'.length), 'base64url').toString('latin1');
      for (const secret of ['azure-sweden', 'resp_provider123', 'alice', 'research']) {
        expect(raw).not.toContain(secret);
        expect(id).not.toContain(secret);
      }
      expect(codec.decode(id)).toStrictEqual(payload);
      // Two ids for one payload differ (random nonce) and both open.
      const again = codec.encode(payload);
      expect(again).not.toBe(id);
      expect(codec.decode(again, 'response')).toStrictEqual(payload);
      expect(new IdCodec(OTHER_SECRET).decode(id)).toBeNull();
      for (let i = 'resp_'.length; i < id.length; i++) {
        const swapped = id[i] === 'A' ? 'B' : 'A';
        expect(codec.decode(id.slice(0, i) + swapped + id.slice(i + 1))).toBeNull();
      }
      // The sealed bytes cannot be replayed under another prefix.
      expect(codec.decode(`file-${id.slice('resp_'.length)}`)).toBeNull();
    });

    it('should throw on strings with lone surrogates, which UTF-8 cannot carry', () => {
      expect(() => codec.encode({ kind: 'file', uid: UID, mimeType: 'text/\uD800' })).toThrow(
        /lone surrogate/,
      );
      expect(() => codec.encode({ kind: 'batch', uid: UID, deploymentId: '\uDC00x' })).toThrow(
        /lone surrogate/,
      );
      expect(() => codec.encode({ kind: 'batch', uid: UID, providerId: 'a\uD83D' })).toThrow(
        /lone surrogate/,
      );
      const emoji = { kind: 'batch' as const, uid: UID, providerId: '😀\uFEFF' };
      expect(codec.decode(codec.encode(emoji))).toStrictEqual(emoji);
    });

    it('should reject oversized input before decoding it', () => {
      expect(codec.decode('file-' + 'A'.repeat(MAX_ID_LENGTH))).toBeNull();
      expect(codec.decode('file-' + 'A'.repeat(1_000_000))).toBeNull();
    });

    it('should reject a non-canonical spelling of the last base64url character', () => {
      // 35 bytes encode to 47 characters; the last carries 2 unused bits.
      const id = codec.encode({ kind: 'file', uid: UID });
      expect(id).toHaveLength('file-'.length + 47);
      const last = BASE64URL_ALPHABET.indexOf(id[id.length - 1]);
      const sibling = BASE64URL_ALPHABET[last ^ 1];
      const respelled = id.slice(0, -1) + sibling;
      expect(Buffer.from(respelled.slice(5), 'base64url')).toEqual(
        Buffer.from(id.slice(5), 'base64url'),
      );
      expect(codec.decode(respelled)).toBeNull();
    });

    it('should reject padding, standard base64 characters and whitespace', () => {
      const id = codec.encode({ kind: 'file', uid: UID });
      expect(codec.decode(id)).not.toBeNull();
      expect(codec.decode(id + '=')).toBeNull();
      expect(codec.decode(id.slice(0, -1) + '+')).toBeNull();
      expect(codec.decode(id.slice(0, -1) + '/')).toBeNull();
      expect(codec.decode(` ${id}`)).toBeNull();
      expect(codec.decode(`${id}\n`)).toBeNull();
      expect(codec.decode('file-')).toBeNull();
      expect(codec.decode('')).toBeNull();
    });

    it('should return null for non-string input from untyped callers', () => {
      for (const input of [undefined, null, 42, {}, ['file-abc']]) {
        expect(codec.decode(input as string)).toBeNull();
      }
      expect(codec.decode(codec.encode({ kind: 'file', uid: UID }), 'bogus' as IdKind)).toBeNull();
      expect(
        codec.decode(codec.encode({ kind: 'file', uid: UID }), '__proto__' as IdKind),
      ).toBeNull();
    });

    it('should accept a correctly forged payload, proving the forge helper matches', () => {
      const id = forge(
        'batch_',
        Buffer.concat([header(KIND_CODE.batch, FLAG_DEPLOYMENT), Buffer.of(2), Buffer.from('d1')]),
      );
      expect(codec.decode(id)).toStrictEqual({ kind: 'batch', uid: UID, deploymentId: 'd1' });
    });

    describe('with a valid MAC over malformed payload bytes', () => {
      const cases: [string, string, Buffer][] = [
        ['version 0', 'file-', header(KIND_CODE.file, 0, 0)],
        ['version 2', 'file-', header(KIND_CODE.file, 0, 2)],
        ['kind code 0', 'file-', header(0, 0)],
        ['kind code 4', 'file-', header(4, 0)],
        ['a batch kind byte under the file prefix', 'file-', header(KIND_CODE.batch, 0)],
        ['a file kind byte under the ftjob prefix', 'ftjob-', header(KIND_CODE.file, 0)],
        ['unknown flag bit 0x08', 'file-', header(KIND_CODE.file, 0x08)],
        ['unknown flag bit 0x80', 'file-', header(KIND_CODE.file, 0x80 | FLAG_MIME)],
        ['a payload shorter than the header', 'file-', header(KIND_CODE.file, 0).subarray(0, 18)],
        [
          'a MIME index past the table',
          'file-',
          Buffer.concat([header(KIND_CODE.file, FLAG_MIME), Buffer.of(MIME_TYPE_TABLE.length + 1)]),
        ],
        [
          'MIME index 255',
          'file-',
          Buffer.concat([header(KIND_CODE.file, FLAG_MIME), Buffer.of(255)]),
        ],
        [
          'a table MIME type spelled out (non-canonical)',
          'file-',
          Buffer.concat([
            header(KIND_CODE.file, FLAG_MIME),
            Buffer.of(0, 'application/pdf'.length),
            Buffer.from('application/pdf'),
          ]),
        ],
        ['a missing MIME byte', 'file-', header(KIND_CODE.file, FLAG_MIME)],
        [
          'a missing custom MIME length',
          'file-',
          Buffer.concat([header(KIND_CODE.file, FLAG_MIME), Buffer.of(0)]),
        ],
        [
          'a truncated custom MIME type',
          'file-',
          Buffer.concat([
            header(KIND_CODE.file, FLAG_MIME),
            Buffer.of(0, 10),
            Buffer.from('text/'),
          ]),
        ],
        ['a missing deployment length', 'batch_', header(KIND_CODE.batch, FLAG_DEPLOYMENT)],
        [
          'a truncated deploymentId',
          'batch_',
          Buffer.concat([
            header(KIND_CODE.batch, FLAG_DEPLOYMENT),
            Buffer.of(5),
            Buffer.from('dep'),
          ]),
        ],
        [
          'a one-byte provider length',
          'batch_',
          Buffer.concat([header(KIND_CODE.batch, FLAG_PROVIDER), Buffer.of(0)]),
        ],
        [
          'a truncated providerId',
          'batch_',
          Buffer.concat([header(KIND_CODE.batch, FLAG_PROVIDER), u16(4), Buffer.from('abc')]),
        ],
        [
          'a providerId over 1024 bytes',
          'batch_',
          Buffer.concat([
            header(KIND_CODE.batch, FLAG_PROVIDER),
            u16(1025),
            Buffer.alloc(1025, 0x61),
          ]),
        ],
        [
          'invalid UTF-8 in deploymentId',
          'batch_',
          Buffer.concat([header(KIND_CODE.batch, FLAG_DEPLOYMENT), Buffer.of(2, 0xc3, 0x28)]),
        ],
        [
          'an overlong UTF-8 encoding in providerId',
          'batch_',
          Buffer.concat([header(KIND_CODE.batch, FLAG_PROVIDER), u16(2), Buffer.of(0xc0, 0xaf)]),
        ],
        [
          'an encoded surrogate in the custom MIME type',
          'file-',
          Buffer.concat([header(KIND_CODE.file, FLAG_MIME), Buffer.of(0, 3, 0xed, 0xa0, 0x80)]),
        ],
        [
          'trailing garbage after the header',
          'file-',
          Buffer.concat([header(KIND_CODE.file, 0), Buffer.of(0)]),
        ],
        [
          'trailing garbage after the fields',
          'batch_',
          Buffer.concat([
            header(KIND_CODE.batch, FLAG_DEPLOYMENT | FLAG_PROVIDER),
            Buffer.of(1),
            Buffer.from('d'),
            u16(1),
            Buffer.from('p'),
            Buffer.of(0x00),
          ]),
        ],
      ];

      it.each(cases)('should return null for %s', (_title, prefix, payload) => {
        const id = forge(prefix, payload);
        expect(codec.decode(id)).toBeNull();
        for (const kind of KINDS) expect(codec.decode(id, kind)).toBeNull();
      });
    });
  });

  describe(isUuid.name, () => {
    it('should accept canonical lowercase UUIDs only', () => {
      expect(isUuid(UID)).toBe(true);
      expect(isUuid('00000000-0000-0000-0000-000000000000')).toBe(true);
      expect(isUuid(UID.toUpperCase())).toBe(false);
      expect(isUuid(UID.replaceAll('-', ''))).toBe(false);
      expect(isUuid(`${UID}\n`)).toBe(false);
    });
  });
});
