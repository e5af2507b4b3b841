import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config/app-config';
import { openEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';

/** Entities and migrations by glob, so the TypeORM CLI (ts) and the app (js) share one list. */
const ROOT = join(__dirname, '..');
const ENTITIES = [join(ROOT, '**', '*.entity.{ts,js}')];
const MIGRATIONS = [join(__dirname, 'migrations', '*.{ts,js}')];

export interface ResolvedDataSource {
  readonly options: DataSourceOptions;
  readonly embedded: EmbeddedPostgres | null;
}

const COMMON = {
  type: 'postgres' as const,
  entities: ENTITIES,
  migrations: MIGRATIONS,
  migrationsTableName: 'typeorm_migrations',
  synchronize: false,
  // PGlite and plain servers alike: gen_random_uuid() is core since PG 13; uuid-ossp needs privileges.
  uuidExtension: 'pgcrypto' as const,
  installExtensions: false,
};

/** One builder for the app and for ormconfig.ts: both modes use the postgres driver and the same migrations. */
export async function buildDataSourceOptions(db: DatabaseConfig): Promise<ResolvedDataSource> {
  if (db.kind === 'postgres' && db.url) {
    return {
      options: { ...COMMON, url: db.url, poolSize: 10, extra: { connectionTimeoutMillis: 5_000 } },
      embedded: null,
    };
  }
  return embeddedDataSource(await openEmbeddedPostgres(db.dataDir));
}

/** The app's data-source options over an open embedded database (one connection). */
export function embeddedDataSource(embedded: EmbeddedPostgres): ResolvedDataSource {
  return { options: { ...COMMON, poolSize: 1, extra: embedded.poolOptions }, embedded };
}
