import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Caller } from '../common/auth/caller';
import { visibleListSql } from '../common/auth/ownership';
import type { ManagedObjectKind } from './managed-object.entity';
import type { ObjectRecord } from './object-record';

export interface NewObject {
  readonly id: string;
  readonly kind: ManagedObjectKind;
  readonly deploymentId: string;
  readonly providerObjectId: string;
  readonly owner: { readonly userId: string; readonly teamId: string | null };
  readonly status: string;
  readonly providerObject: Record<string, unknown>;
  readonly fileIds: readonly string[];
  readonly fileMap: Readonly<Record<string, string>>;
}

export interface ObjectPage {
  readonly data: readonly ObjectRecord[];
  readonly hasMore: boolean;
}

interface Row {
  id: string;
  kind: ManagedObjectKind;
  deployment_id: string;
  provider_object_id: string;
  owner_user_id: string;
  owner_team_id: string | null;
  status: string;
  provider_object: Record<string, unknown>;
  file_ids: string[];
  file_map: Record<string, string>;
  created_at: Date;
}

const COLUMNS = `id, kind, deployment_id, provider_object_id, owner_user_id, owner_team_id, status,
                 provider_object, file_ids, file_map, created_at`;

const LIST_COLUMNS = COLUMNS.split(',').map((c) => c.trim());

/** Data access for batches and fine-tuning jobs (one table, one kind column). */
@Injectable()
export class ManagedObjectsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Records an object the first time it is seen. The unique (deployment, provider id) key makes
   * concurrent registrations converge on one row: the loser's insert does nothing and it reads
   * the winner's.
   */
  async register(object: NewObject): Promise<ObjectRecord> {
    const inserted = await this.dataSource.query<Row[]>(
      `INSERT INTO managed_objects
         (id, kind, deployment_id, provider_object_id, owner_user_id, owner_team_id, status,
          provider_object, file_ids, file_map)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (deployment_id, provider_object_id) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        object.id,
        object.kind,
        object.deploymentId,
        object.providerObjectId,
        object.owner.userId,
        object.owner.teamId,
        object.status,
        object.providerObject,
        object.fileIds,
        object.fileMap,
      ],
    );
    if (inserted[0]) return toRecord(inserted[0]);
    const [existing] = await this.dataSource.query<Row[]>(
      `SELECT ${COLUMNS} FROM managed_objects WHERE deployment_id = $1 AND provider_object_id = $2`,
      [object.deploymentId, object.providerObjectId],
    );
    return toRecord(existing);
  }

  async findByIds(ids: readonly string[]): Promise<ObjectRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.dataSource.query<Row[]>(
      `SELECT ${COLUMNS} FROM managed_objects WHERE id = ANY($1)`,
      [ids],
    );
    return rows.map(toRecord);
  }

  /** Stores the provider's latest answer, and file ids learnt from it (merged in). */
  async update(
    id: string,
    status: string,
    providerObject: Record<string, unknown>,
    fileMap: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    await this.dataSource.query(
      `UPDATE managed_objects
          SET status = $2, provider_object = $3, file_map = file_map || $4::jsonb,
              updated_at = now()
        WHERE id = $1`,
      [id, status, providerObject, fileMap],
    );
  }

  /** Ids of objects of a kind still running, least recently refreshed first. */
  async unfinished(
    kind: ManagedObjectKind,
    terminal: readonly string[],
    limit: number,
  ): Promise<string[]> {
    const rows = await this.dataSource.query<Array<{ id: string }>>(
      `SELECT id FROM managed_objects WHERE kind = $1 AND NOT (status = ANY($2))
        ORDER BY updated_at LIMIT $3`,
      [kind, terminal, limit],
    );
    return rows.map((r) => r.id);
  }

  /** Objects not yet in one of `terminal` statuses that use the file. */
  async usingFile(fileId: string, terminal: readonly string[]): Promise<ObjectRecord[]> {
    const rows = await this.dataSource.query<Row[]>(
      `SELECT ${COLUMNS} FROM managed_objects
        WHERE $1 = ANY(file_ids) AND NOT (status = ANY($2)) ORDER BY created_at LIMIT 10`,
      [fileId, terminal],
    );
    return rows.map(toRecord);
  }

  /**
   * The objects of a kind the caller may see, newest first, keyset-paged after `after`: one
   * ordered scan per visibility branch (`visibleListSql`), on the (owner, kind, created_at, id)
   * indexes, and on (kind, created_at, id) for admins.
   */
  async listVisible(query: {
    readonly kind: ManagedObjectKind;
    readonly caller: Caller;
    readonly after: string | null;
    readonly limit: number;
    /** Only objects whose stored answer contains this JSON (`{metadata: {k: v}}`). */
    readonly contains?: Readonly<Record<string, unknown>>;
  }): Promise<ObjectPage> {
    const params: unknown[] = [];
    const p = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const where = [`o.kind = ${p(query.kind)}`];
    if (query.contains)
      where.push(`o.provider_object @> ${p(JSON.stringify(query.contains))}::jsonb`);
    // A cursor naming no object compares with NULL: an empty page, as before.
    const cursor = query.after === null ? null : p(query.after);
    const sql = visibleListSql(
      query.caller,
      {
        from: 'managed_objects o',
        columns: LIST_COLUMNS,
        owner: { userId: 'o.owner_user_id', teamId: 'o.owner_team_id' },
        where,
        orderBy: ['created_at', 'id'],
        order: 'desc',
        after:
          cursor === null
            ? null
            : [`(SELECT created_at FROM managed_objects WHERE id = ${cursor})`, `${cursor}::uuid`],
        limit: query.limit + 1,
      },
      p,
    );
    const rows = await this.dataSource.query<Row[]>(sql, params);
    return { data: rows.slice(0, query.limit).map(toRecord), hasMore: rows.length > query.limit };
  }
}

function toRecord(row: Row): ObjectRecord {
  return {
    id: row.id,
    kind: row.kind,
    deploymentId: row.deployment_id,
    providerObjectId: row.provider_object_id,
    owner: { userId: row.owner_user_id, teamId: row.owner_team_id },
    status: row.status,
    providerObject: row.provider_object,
    fileIds: row.file_ids,
    fileMap: row.file_map,
    createdAt: Math.floor(row.created_at.getTime() / 1000),
  };
}
