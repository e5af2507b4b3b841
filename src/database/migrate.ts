// The migration job: `node dist/database/migrate.js` (in the image: no dev dependencies, no
// TypeORM CLI). It runs the app's migrations with the app's data-source options and under the
// same advisory lock, so it may run before a rolling deployment while old replicas serve, or
// race a replica that is starting: whichever comes second finds nothing pending.
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { databaseConfigFromEnv } from '../config/database-config';
import { buildDataSourceOptions } from './data-source-options';
import { runMigrations } from './run-migrations';

async function main(): Promise<void> {
  const resolved = await buildDataSourceOptions(databaseConfigFromEnv(process.env));
  try {
    const dataSource = await new DataSource(resolved.options).initialize();
    try {
      const applied = await runMigrations(dataSource, resolved.embedded === null);
      const where = resolved.embedded ? 'embedded database' : 'DATABASE_URL';
      process.stdout.write(
        applied.length === 0
          ? `migrations: none pending on ${where}\n`
          : `migrations: applied ${applied.length} on ${where}: ${applied.map((m) => m.name).join(', ')}\n`,
      );
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await resolved.embedded?.close();
  }
}

main().catch((error: unknown) => {
  // The driver's messages name the host and the failing statement, never the password.
  process.stderr.write(
    `migrations failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
