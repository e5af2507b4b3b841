import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { Caller } from '../common/auth/caller';
import { visibleListSql } from '../common/auth/ownership';
import type { FileCopyRecord, FileRecord } from './file-record';
import { ManagedFileCopy } from './managed-file-copy.entity';
import { ManagedFile, type ManagedFileStatus } from './managed-file.entity';

/** Files the sweeper must finish ($1: seconds without a heartbeat that make an upload abandoned). */
const SWEEP_DUE = `(status IN ('pending', 'deleting') AND heartbeat_at < now() - make_interval(secs => $1))
              OR (status = 'ready' AND expires_at IS NOT NULL AND expires_at <= now())`;

/** What a new managed_files row holds, however the file came to be. */
interface FileRow {
  readonly id: string;
  readonly ownerUserId: string;
  readonly ownerTeamId: string | null;
  readonly purpose: string;
  readonly filename: string;
  readonly mimeType: string;
  readonly publicId: string;
  readonly expiresAt: Date | null;
}

/** An upload about to be copied to these deployments. */
export interface NewFile extends FileRow {
  readonly deploymentIds: readonly string[];
}

/** A file a provider made (a batch's output), with its one copy. */
export interface RegisteredFile extends FileRow {
  readonly bytes: number;
  readonly deploymentId: string;
  readonly providerFileId: string;
}

export interface ListQuery {
  readonly caller: Caller;
  readonly purpose: string | null;
  /** Only files with a copy on one of these deployments; null for no such filter. */
  readonly deploymentIds: readonly string[] | null;
  readonly limit: number;
  readonly order: 'asc' | 'desc';
  /** Internal id of the last file of the previous page. */
  readonly after: string | null;
}

export interface ListPage {
  readonly data: readonly FileRecord[];
  readonly hasMore: boolean;
  /** false when `after` names no file the caller can page from. */
  readonly cursorFound: boolean;
}

/** Data access for managed files and their per-deployment copies. Single-purpose methods only. */
@Injectable()
export class FilesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Records an upload before any copy is made: a crash from here on is found by the sweeper. */
  async insertPending(file: NewFile): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await em.insert(ManagedFile, {
        id: file.id,
        ownerUserId: file.ownerUserId,
        ownerTeamId: file.ownerTeamId,
        purpose: file.purpose,
        filename: file.filename,
        mimeType: file.mimeType,
        publicId: file.publicId,
        bytes: 0,
        status: 'pending',
        expiresAt: file.expiresAt,
      });
      await em.insert(
        ManagedFileCopy,
        file.deploymentIds.map((deploymentId) => ({
          fileId: file.id,
          deploymentId,
          providerFileId: null,
        })),
      );
    });
  }

  /** A ready file with one known copy, inserted once: a second insert of the same id does nothing. */
  async insertRegistered(file: RegisteredFile): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await em.query(
        `INSERT INTO managed_files
           (id, owner_user_id, owner_team_id, purpose, filename, bytes, mime_type, public_id,
            status, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ready', $9)
         ON CONFLICT (id) DO NOTHING`,
        [
          file.id,
          file.ownerUserId,
          file.ownerTeamId,
          file.purpose,
          file.filename,
          file.bytes,
          file.mimeType,
          file.publicId,
          file.expiresAt,
        ],
      );
      await em.query(
        `INSERT INTO managed_file_copies (file_id, deployment_id, provider_file_id)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        [file.id, file.deploymentId, file.providerFileId],
      );
    });
  }

  async heartbeat(id: string): Promise<void> {
    await this.dataSource.query('UPDATE managed_files SET heartbeat_at = now() WHERE id = $1', [
      id,
    ]);
  }

  /** Every copy exists: fill in their provider ids and make the file visible, in one transaction. */
  async markReady(
    id: string,
    bytes: number,
    copies: readonly FileCopyRecord[],
    expiresAt: Date | null,
  ): Promise<FileRecord> {
    return this.dataSource.transaction(async (em) => {
      for (const copy of copies) {
        await em.update(
          ManagedFileCopy,
          { fileId: id, deploymentId: copy.deploymentId },
          {
            providerFileId: copy.providerFileId,
          },
        );
      }
      await em.update(ManagedFile, { id }, { status: 'ready', bytes, expiresAt });
      return this.mustFind(em, id);
    });
  }

  async findById(id: string): Promise<FileRecord | undefined> {
    return (await this.findByIds([id]))[0];
  }

  /**
   * Every named file with its copies, in one query (`id = ANY($1)`, primary keys both), whatever
   * its status. Plain SQL: the query builder and entity hydration took about as long as the
   * query itself, on the path of every uncached retrieve.
   */
  async findByIds(ids: readonly string[]): Promise<FileRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.dataSource.query<Array<RawFileRow & RawCopyRow>>(
      `SELECT ${LIST_COLUMNS.map((c) => `f.${c}`).join(', ')},
              c.deployment_id, c.provider_file_id
         FROM managed_files f LEFT JOIN managed_file_copies c ON c.file_id = f.id
        WHERE f.id = ANY($1)`,
      [ids],
    );
    const records = new Map<string, FileRecord & { copies: FileCopyRecord[] }>();
    for (const row of rows) {
      let record = records.get(row.id);
      if (!record) {
        record = { ...fromRaw(row), copies: [] };
        records.set(row.id, record);
      }
      if (row.deployment_id !== null) {
        record.copies.push({
          deploymentId: row.deployment_id,
          providerFileId: row.provider_file_id,
        });
      }
    }
    for (const record of records.values()) {
      record.copies.sort((a, b) => a.deploymentId.localeCompare(b.deploymentId));
    }
    return [...records.values()];
  }

  async delete(id: string): Promise<void> {
    await this.dataSource.manager.delete(ManagedFile, { id });
  }

  /**
   * Hides the file and keeps only the copies still to delete (with their known ids), for the
   * sweeper. `deploymentIds` lists the copies whose deletion failed.
   */
  async markDeleting(id: string, remaining: readonly FileCopyRecord[]): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await em.update(ManagedFile, { id }, { status: 'deleting', heartbeatAt: () => 'now()' });
      const keep = new Set(remaining.map((c) => c.deploymentId));
      const copies = await em.find(ManagedFileCopy, { where: { fileId: id } });
      const gone = copies.filter((c) => !keep.has(c.deploymentId));
      if (gone.length > 0) {
        await em.delete(
          ManagedFileCopy,
          gone.map((c) => ({ fileId: id, deploymentId: c.deploymentId })),
        );
      }
      for (const copy of remaining) {
        await em.update(
          ManagedFileCopy,
          { fileId: id, deploymentId: copy.deploymentId },
          {
            providerFileId: copy.providerFileId,
          },
        );
      }
    });
  }

  async removeCopy(id: string, deploymentId: string): Promise<void> {
    await this.dataSource.manager.delete(ManagedFileCopy, { fileId: id, deploymentId });
  }

  /**
   * Keyset pagination on (created_at, id): the cost of a page does not depend on how deep it is,
   * nor on how many files the caller can see. Visibility is part of the query, so a list never
   * shows what the caller may not open; `visibleListSql` reads each way of seeing a file with an
   * ordered scan of a partial index over live files (`status = 'ready'`, the migration
   * StoreScaleIndexes) and merges them. The copies filter is an `EXISTS` probe of the copies'
   * primary key per candidate row, so it never reads the copies of files it does not return.
   */
  async listVisible(query: ListQuery): Promise<ListPage> {
    const params: unknown[] = [];
    const p = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const where = [`f.status = 'ready'`, `(f.expires_at IS NULL OR f.expires_at > now())`];
    if (query.purpose) {
      where.push(`f.purpose = ${p(query.purpose)}`);
    }
    if (query.deploymentIds) {
      where.push(
        `EXISTS (SELECT 1 FROM managed_file_copies c
                  WHERE c.file_id = f.id AND c.deployment_id = ANY(${p(query.deploymentIds)}))`,
      );
    }
    let after: string[] | null = null;
    if (query.after) {
      // As text: a Date would drop the microseconds and the page would repeat or skip a file.
      const cursor = await this.dataSource.query<Array<{ created_at: string }>>(
        'SELECT created_at::text AS created_at FROM managed_files WHERE id = $1',
        [query.after],
      );
      if (cursor.length === 0) {
        return { data: [], hasMore: false, cursorFound: false };
      }
      after = [`${p(cursor[0].created_at)}::timestamptz`, `${p(query.after)}::uuid`];
    }
    const sql = visibleListSql(
      query.caller,
      {
        from: 'managed_files f',
        columns: LIST_COLUMNS,
        owner: { userId: 'f.owner_user_id', teamId: 'f.owner_team_id' },
        where,
        orderBy: ['created_at', 'id'],
        order: query.order,
        after,
        limit: query.limit + 1,
      },
      p,
    );
    const rows = await this.dataSource.query<RawFileRow[]>(sql, params);
    const hasMore = rows.length > query.limit;
    return { data: rows.slice(0, query.limit).map(fromRaw), hasMore, cursorFound: true };
  }

  /**
   * Claims files that need the sweeper: pending uploads whose process stopped heartbeating,
   * deletions that did not finish, and expired files. Claiming bumps the heartbeat inside
   * `FOR UPDATE SKIP LOCKED`, so several replicas never sweep the same file at once.
   */
  /** How many files a sweep would claim now (the sweeper's backlog, for /metrics). */
  async countDueForSweep(staleSeconds: number): Promise<number> {
    const rows = await this.dataSource.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM managed_files WHERE ${SWEEP_DUE}`,
      [staleSeconds],
    );
    return rows[0]?.n ?? 0;
  }

  async claimForSweep(staleSeconds: number, limit: number): Promise<FileRecord[]> {
    const rows = await this.dataSource.query<
      [Array<{ id: string }>, number] | Array<{ id: string }>
    >(
      `UPDATE managed_files SET heartbeat_at = now(),
              status = CASE WHEN status = 'ready' THEN 'deleting' ELSE status END
        WHERE id IN (
          SELECT id FROM managed_files
           WHERE ${SWEEP_DUE}
           ORDER BY heartbeat_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED)
        RETURNING id`,
      [staleSeconds, limit],
    );
    // The pg driver answers UPDATE … RETURNING as [rows, count].
    const claimed = (Array.isArray(rows[0]) ? rows[0] : rows) as Array<{ id: string }>;
    return this.findByIds(claimed.map((r) => r.id));
  }

  private async mustFind(em: EntityManager, id: string): Promise<FileRecord> {
    const file = await em.findOneOrFail(ManagedFile, {
      where: { id },
      relations: { copies: true },
    });
    return toRecord(file);
  }
}

const LIST_COLUMNS = [
  'id',
  'owner_user_id',
  'owner_team_id',
  'purpose',
  'filename',
  'bytes',
  'mime_type',
  'public_id',
  'status',
  'created_at',
  'expires_at',
];

interface RawFileRow {
  id: string;
  owner_user_id: string;
  owner_team_id: string | null;
  purpose: string;
  filename: string;
  bytes: string;
  mime_type: string;
  public_id: string | null;
  status: ManagedFileStatus;
  created_at: Date;
  expires_at: Date | null;
}

/** A copy's columns in a LEFT JOIN: null when the file has none. */
interface RawCopyRow {
  deployment_id: string | null;
  provider_file_id: string | null;
}

const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);

function toRecord(file: ManagedFile): FileRecord {
  return {
    id: file.id,
    owner: { userId: file.ownerUserId, teamId: file.ownerTeamId },
    purpose: file.purpose,
    filename: file.filename,
    bytes: file.bytes,
    mimeType: file.mimeType,
    publicId: file.publicId,
    status: file.status,
    createdAt: seconds(file.createdAt),
    expiresAt: file.expiresAt ? seconds(file.expiresAt) : null,
    copies: (file.copies ?? [])
      .map((c) => ({ deploymentId: c.deploymentId, providerFileId: c.providerFileId }))
      .sort((a, b) => a.deploymentId.localeCompare(b.deploymentId)),
  };
}

function fromRaw(row: RawFileRow): FileRecord {
  return {
    id: row.id,
    owner: { userId: row.owner_user_id, teamId: row.owner_team_id },
    purpose: row.purpose,
    filename: row.filename,
    bytes: Number(row.bytes),
    mimeType: row.mime_type,
    publicId: row.public_id,
    status: row.status,
    createdAt: seconds(row.created_at),
    expiresAt: row.expires_at ? seconds(row.expires_at) : null,
    copies: [],
  };
}
