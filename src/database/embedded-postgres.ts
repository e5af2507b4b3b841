import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { DataDirLock } from './data-dir-lock';

export interface EmbeddedPostgres {
  /** Spread into TypeORM's `extra`: hands node-postgres a connection that talks to PGlite. */
  readonly poolOptions: Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * The embedded default: PostgreSQL compiled to WASM (PGlite), persisted in DATA_DIR, reached
 * through the ordinary `pg` driver so the same entities and migrations serve both modes.
 * PGlite has one session, so the pool must hold exactly one connection.
 */
export async function openEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const lock = DataDirLock.acquire(dataDir);
  try {
    const dir = join(dataDir, 'pgdata');
    mkdirSync(dir, { recursive: true });
    const pglite = await PGlite.create(dir, {
      // PGlite's default 128 MB of shared buffers sits in the gateway's own heap; the tables here
      // are small metadata, and 16 MB cuts resident memory by ~130 MB (measured, BENCHMARKS.md).
      postgresqlconf: ['shared_buffers=16MB', 'wal_buffers=1MB'],
    });
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
