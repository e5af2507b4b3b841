import type { Owner } from '../common/auth/ownership';
import type { ManagedFileStatus } from './managed-file.entity';

export interface FileCopyRecord {
  readonly deploymentId: string;
  /** null while the copy is being made (or when a crash left us without its id). */
  readonly providerFileId: string | null;
}

/**
 * A managed file as the service works with it, and as it is cached: plain JSON (unix seconds,
 * no Dates), so the Redis and in-memory stores return the same shape.
 */
export interface FileRecord {
  readonly id: string;
  readonly owner: Owner;
  readonly purpose: string;
  readonly filename: string;
  readonly bytes: number;
  readonly mimeType: string;
  /** The unified id as stored at upload; null (or absent in older cache entries) for old rows. */
  readonly publicId?: string | null;
  readonly status: ManagedFileStatus;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly copies: readonly FileCopyRecord[];
}

/** Expired files are gone for the caller even before the sweeper removes them. */
export function isLive(record: FileRecord, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  return record.status === 'ready' && (record.expiresAt === null || record.expiresAt > nowSeconds);
}
