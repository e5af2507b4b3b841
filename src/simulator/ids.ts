import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Dialect } from './types';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlphanumeric(length: number): string {
  // 248 is the largest multiple of 62 below 256: rejecting bytes above it keeps the draw uniform.
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62];
    }
  }
  return out;
}

export function randomHex(length: number): string {
  return randomBytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);
}

/** Each dialect's file id format (reference §7: Azure uses 32 hex digits). */
export function newFileId(dialect: Dialect): string {
  return dialect === 'azure' ? `file-${randomHex(32)}` : `file-${randomAlphanumeric(24)}`;
}

/**
 * Alphanumerics derived from `seed` (at most 32): objects computed on every read (fine-tuning
 * events, checkpoints) need ids that stay the same across reads so `after` cursors keep working.
 */
export function derivedAlphanumeric(seed: string, length = 24): string {
  const digest = createHash('sha256').update(seed).digest();
  // The slight modulo bias is harmless: these only need to be stable and distinct, not random.
  return [...digest.subarray(0, length)].map((byte) => ALPHANUMERIC[byte % 62]).join('');
}

/** Hex digits derived from `seed` (at most 64), for names that must be stable per object. */
export function derivedHex(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

export function newBatchId(): string {
  return `batch_${randomHex(32)}`;
}

export function newJobId(): string {
  return `ftjob-${randomAlphanumeric(24)}`;
}

export function newRequestId(): string {
  return `req_${randomHex(32)}`;
}

export function newApimRequestId(): string {
  return randomUUID();
}
