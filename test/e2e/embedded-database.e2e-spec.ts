// The embedded default's first boot: a fresh DATA_DIR starts as a copy of the template that
// `npm run build` makes (initdb + migrations + pg-boss's schema), not by PGlite's initdb.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { buildEmbeddedTemplate } from '../../src/database/build-embedded-template';
import { openEmbeddedPostgres, type EmbeddedPostgres } from '../../src/database/embedded-postgres';

const MIGRATIONS = readdirSync(join(__dirname, '../../src/database/migrations')).filter((f) =>
  f.endsWith('.ts'),
).length;

async function query<T>(embedded: EmbeddedPostgres, sql: string): Promise<T[]> {
  const client = new Client(embedded.poolOptions);
  await client.connect();
  try {
    return (await client.query<T & Record<string, unknown>>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('Embedded database template', () => {
  const root = mkdtempSync(join(tmpdir(), 'mfg-template-e2e-'));
  const template = join(root, 'template');

  beforeAll(async () => {
    await buildEmbeddedTemplate(template);
  }, 120_000);

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('should create a fresh data folder from the template, migrated and with the job schema, and keep it on the next open', async () => {
    const dataDir = join(root, 'data');
    const first = await openEmbeddedPostgres(dataDir, template);
    try {
      const applied = await query<{ n: string }>(
        first,
        'SELECT count(*) AS n FROM typeorm_migrations',
      );
      expect(Number(applied[0].n)).toBe(MIGRATIONS);
      const boss = await query<{ n: string }>(first, 'SELECT count(*) AS n FROM pgboss.version');
      expect(Number(boss[0].n)).toBe(1);
      await query(
        first,
        "INSERT INTO fine_tuned_models (name, deployment_id, job_id, owner_user_id) VALUES ('kept', 'd', gen_random_uuid(), 'u')",
      );
    } finally {
      await first.close();
    }
    // An existing database is opened as it is, never copied over.
    const again = await openEmbeddedPostgres(dataDir, template);
    try {
      expect(await query(again, 'SELECT name FROM fine_tuned_models')).toEqual([{ name: 'kept' }]);
    } finally {
      await again.close();
    }
  }, 60_000);

  it('should fall back to initdb when there is no template', async () => {
    const embedded = await openEmbeddedPostgres(join(root, 'bare'), join(root, 'missing'));
    try {
      const tables = await query<{ n: string }>(
        embedded,
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'typeorm_migrations'",
      );
      expect(Number(tables[0].n)).toBe(0);
      expect(await query(embedded, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await embedded.close();
    }
  }, 60_000);
});
