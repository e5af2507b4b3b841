import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type * as PgliteModule from '@electric-sql/pglite';
import type * as PgliteNodePostgres from '@electric-sql/pglite/node-postgres';
import { DataDirLock } from './data-dir-lock';

export interface EmbeddedPostgres {
  /** Spread into TypeORM's `extra`: hands node-postgres a connection that talks to PGlite. */
  readonly poolOptions: Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * A data directory made at build time (`npm run build`: initdb, then the app's migrations and
 * pg-boss's schema), next to this file in dist/. A fresh DATA_DIR starts as a copy of it
 * instead of being made by initdb: PGlite's initdb runs a second WASM PostgreSQL beside the
 * first and snapshots its heap, and PGlite's own tarball loader unpacks through the WASM file
 * system; either took the first boot to 420–800 MB resident (BENCHMARKS.md), while a plain copy
 * makes the first boot cost what every other boot does. Absent (ts-node, jest), initdb runs.
 */
export const EMBEDDED_TEMPLATE = join(__dirname, 'embedded-template');

/** postgresql.conf settings of the embedded database (the template is made with them too). */
export const EMBEDDED_SETTINGS = [
  // PGlite's default 128 MB of shared buffers sits in the gateway's own heap; the tables here
  // are small metadata, and 16 MB cuts resident memory by ~130 MB (measured, BENCHMARKS.md).
  'shared_buffers=16MB',
  'wal_buffers=1MB',
];

/**
 * The embedded default: PostgreSQL compiled to WASM (PGlite), persisted in DATA_DIR, reached
 * through the ordinary `pg` driver so the same entities and migrations serve both modes.
 * PGlite has one session, so the pool must hold exactly one connection.
 *
 * @param template a data directory to create a fresh DATA_DIR from; null: initdb.
 */
export async function openEmbeddedPostgres(
  dataDir: string,
  template: string | null = EMBEDDED_TEMPLATE,
): Promise<EmbeddedPostgres> {
  const lock = DataDirLock.acquire(dataDir);
  try {
    const dir = join(dataDir, 'pgdata');
    mkdirSync(dir, { recursive: true });
    const fresh = !existsSync(join(dir, 'PG_VERSION'));
    if (fresh && template !== null && existsSync(join(template, 'PG_VERSION'))) {
      new Logger('EmbeddedPostgres').log(
        `creating the embedded database in ${dir} from its template`,
      );
      // PG_VERSION last: a copy cut short is not mistaken for a database next time.
      const marker = join(template, 'PG_VERSION');
      cpSync(template, dir, { recursive: true, filter: (from) => from !== marker });
      cpSync(marker, join(dir, 'PG_VERSION'));
    }
    // Required here, not imported: a gateway on DATABASE_URL never loads PGlite (two 0.5 MB
    // bundles whose source V8 keeps in the heap for as long as the process lives).
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { PGlite } = require('@electric-sql/pglite') as typeof PgliteModule;
    const { createPgConfig } =
      require('@electric-sql/pglite/node-postgres') as typeof PgliteNodePostgres;
    /* eslint-enable @typescript-eslint/no-require-imports */
    const pglite = await PGlite.create(dir, { postgresqlconf: [...EMBEDDED_SETTINGS] });
    const config = createPgConfig(pglite);
    return {
      poolOptions: { ...config, max: 1, idleTimeoutMillis: 0 },
      close: async () => {
        try {
          await pglite.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}
