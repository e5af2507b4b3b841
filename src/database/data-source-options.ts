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

/** One builder for the app and for ormconfig.ts: both modes use the postgres driver and the same migrations. */
export async function buildDataSourceOptions(db: DatabaseConfig): Promise<ResolvedDataSource> {
  const common = {
    type: 'postgres' as const,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    // PGlite and plain servers alike: gen_random_uuid() is core since PG 13; uuid-ossp needs privileges.
    uuidExtension: 'pgcrypto' as const,
    installExtensions: false,
  };
  if (db.kind === 'postgres' && db.url) {
    return {
      options: { ...common, url: db.url, poolSize: 10, extra: { connectionTimeoutMillis: 5_000 } },
      embedded: null,
    };
  }
  const embedded = await openEmbeddedPostgres(db.dataDir);
  return { options: { ...common, poolSize: 1, extra: embedded.poolOptions }, embedded };
}
