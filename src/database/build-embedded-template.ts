/*
 * Build step (`npm run build`, after `nest build`): makes the embedded database's template,
 * dist/database/embedded-template/ — a data directory after initdb, the app's migrations and
 * pg-boss's schema — so that a fresh DATA_DIR starts as a copy of it rather than being made by
 * PGlite's initdb at the first boot (see EMBEDDED_TEMPLATE). Migrations added later still run
 * at start-up as usual; the template only saves the work it already holds.
 *
 *   node dist/database/build-embedded-template.js [OUT]
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PgBoss from 'pg-boss';
import { DataSource } from 'typeorm';
import { PGBOSS_SCHEMA } from '../jobs/pgboss-schema';
import { embeddedDataSource } from './data-source-options';
import { EMBEDDED_TEMPLATE, openEmbeddedPostgres } from './embedded-postgres';
import { runMigrations } from './run-migrations';

export async function buildEmbeddedTemplate(out: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mfg-embedded-template-'));
  try {
    const embedded = await openEmbeddedPostgres(dataDir, null);
    try {
      const dataSource = await new DataSource(embeddedDataSource(embedded).options).initialize();
      try {
        await runMigrations(dataSource, false);
        await dataSource.query(PgBoss.getConstructionPlans(PGBOSS_SCHEMA));
      } finally {
        await dataSource.destroy();
      }
    } finally {
      // A clean shutdown checkpoints: the directory is then a consistent database to copy.
      await embedded.close();
    }
    rmSync(out, { recursive: true, force: true });
    cpSync(join(dataDir, 'pgdata'), out, { recursive: true });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const out = process.argv[2] ?? EMBEDDED_TEMPLATE;
  buildEmbeddedTemplate(out).then(
    () => console.log(`embedded database template: ${out}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
