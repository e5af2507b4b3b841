import type { DataSource } from 'typeorm';

/** Any fixed 64-bit keys: replicas that start together take turns under them. */
export const ADVISORY_LOCKS = {
  migrations: 4_170_313_712,
  jobEngine: 4_170_313_713,
} as const;

/**
 * Runs `work` while holding a PostgreSQL session advisory lock, so replicas started together do
 * it one at a time (schema set-up that concurrent DDL would deadlock on). The lock lives on a
 * connection of its own; the work uses the pool as usual. On the embedded database there is one
 * process and one connection, which the lock would hold: pass `shared: false` to run directly.
 */
export async function withAdvisoryLock<T>(
  dataSource: DataSource,
  key: number,
  shared: boolean,
  work: () => Promise<T>,
): Promise<T> {
  if (!shared) return work();
  const lock = dataSource.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [key]);
    return await work();
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined);
    await lock.release();
  }
}
