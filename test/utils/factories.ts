import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';

export interface FileObjectBody {
  id: string;
  object: string;
  bytes: number;
  created_at: number;
  expires_at?: number;
  filename: string;
  purpose: string;
  status: string;
}

export interface FileListBody {
  object: string;
  data: FileObjectBody[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface ManagedFileRow {
  id: string;
  owner_user_id: string;
  owner_team_id: string | null;
  purpose: string;
  filename: string;
  bytes: string;
  status: string;
  expires_at: Date | null;
}

export interface CopyRow {
  file_id: string;
  deployment_id: string;
  provider_file_id: string | null;
}

export function fileRows(dataSource: DataSource): Promise<ManagedFileRow[]> {
  return dataSource.query<ManagedFileRow[]>(
    `SELECT id, owner_user_id, owner_team_id, purpose, filename, bytes, status, expires_at
       FROM managed_files ORDER BY created_at`,
  );
}

export function copyRows(dataSource: DataSource, fileId?: string): Promise<CopyRow[]> {
  return fileId
    ? dataSource.query<CopyRow[]>(
        'SELECT file_id, deployment_id, provider_file_id FROM managed_file_copies WHERE file_id = $1 ORDER BY deployment_id',
        [fileId],
      )
    : dataSource.query<CopyRow[]>(
        'SELECT file_id, deployment_id, provider_file_id FROM managed_file_copies ORDER BY deployment_id',
      );
}

export interface SeededFile {
  readonly id?: string;
  readonly ownerUserId?: string;
  readonly ownerTeamId?: string | null;
  readonly purpose?: string;
  readonly filename?: string;
  readonly bytes?: number;
  /** Default application/jsonl. */
  readonly mimeType?: string;
  readonly status: 'pending' | 'ready' | 'deleting';
  /** How long ago the last heartbeat was. */
  readonly heartbeatSecondsAgo?: number;
  /** Seconds from now (negative: already expired); undefined: never expires. */
  readonly expiresInSeconds?: number;
  readonly copies: ReadonlyArray<{ deploymentId: string; providerFileId: string | null }>;
}

/**
 * Writes a managed file straight into the store, as another (possibly dead) gateway process
 * would have left it. Returns its internal id.
 */
export async function seedFile(dataSource: DataSource, file: SeededFile): Promise<string> {
  const id = file.id ?? randomUUID();
  await dataSource.transaction(async (em) => {
    await em.query(
      `INSERT INTO managed_files
         (id, owner_user_id, owner_team_id, purpose, filename, bytes, mime_type, status,
          created_at, expires_at, heartbeat_at)
       VALUES ($1, $2, $3, $4, $5, $6, $10, $7,
               now() - make_interval(secs => $8), $9, now() - make_interval(secs => $8))`,
      [
        id,
        file.ownerUserId ?? 'alice',
        file.ownerTeamId === undefined ? 'research' : file.ownerTeamId,
        file.purpose ?? 'batch',
        file.filename ?? 'seeded.jsonl',
        file.bytes ?? 0,
        file.status,
        file.heartbeatSecondsAgo ?? 0,
        file.expiresInSeconds === undefined
          ? null
          : new Date(Date.now() + file.expiresInSeconds * 1000),
        file.mimeType ?? 'application/jsonl',
      ],
    );
    for (const copy of file.copies) {
      await em.query(
        'INSERT INTO managed_file_copies (file_id, deployment_id, provider_file_id) VALUES ($1, $2, $3)',
        [id, copy.deploymentId, copy.providerFileId],
      );
    }
  });
  return id;
}
