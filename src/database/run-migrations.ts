import type { DataSource, Migration } from 'typeorm';
import { ADVISORY_LOCKS, withAdvisoryLock } from './advisory-lock';

/**
 * Runs pending migrations, for the app at start-up and for the one-off job
 * (`node dist/database/migrate.js`). On a shared server, replicas rolled out together (or a job
 * racing a replica) would race to create the same tables; a session advisory lock makes them
 * take turns, and the later ones find nothing pending. The embedded database belongs to one
 * process (DATA_DIR is locked) and has a single connection, which the lock's session would hold,
 * so it migrates directly.
 */
export function runMigrations(dataSource: DataSource, shared: boolean): Promise<Migration[]> {
  return withAdvisoryLock(dataSource, ADVISORY_LOCKS.migrations, shared, () =>
    dataSource.runMigrations({ transaction: 'all' }),
  );
}
