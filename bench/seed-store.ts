// Seeds a store of managed files for the store-scale benchmark (bench/store-scale-bench.ts) and
// the plan tests (test/e2e/store-scale.e2e-spec.ts), with generate_series: a million files in
// about a minute on PostgreSQL.
//
//   DATABASE_URL=postgres://…/scratch npm run migration:run
//   npm run bench:seed -- --database-url postgres://…/scratch [--files 1000000] [--secret S]
//
// Into an empty, disposable database only (scripts/with-scratch-db.js makes one): it refuses a
// store that already holds files.
//
// The shape (issue 12): `users` users, of whom `user-0` owns 5 % of the files; the first 80 % of
// the users are in `teams` teams (user-k in team-(k mod teams)), the rest in none; two copies per
// file (bench-dep-1 or -2, and bench-dep-3, or bench-dep-4 for one file in ten); purposes
// assistants 40 %, batch 25 %, user_data 20 %, fine-tune 10 %, vision 5 %; 0.2 % pending or
// deleting (heartbeats fresh: not the sweeper's yet), 10 % with an expiry ahead, 0.05 % expired
// but not swept yet; one file every 30 s.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { parseFlags, positiveInteger, progress, runBench } from './harness';

export interface SeedOptions {
  readonly files: number;
  readonly users: number;
  readonly teams: number;
  /**
   * The gateway's ID_SIGNING_SECRET: each row then stores the unified id the gateway would
   * have issued (`public_id`, computed with pgcrypto). null: no public ids (encoded when read).
   */
  readonly secret: string | null;
  /** Mixed into every file id, so two seeds never share ids (nor a shared Redis cache's keys). */
  readonly salt: string;
}

/** The seeded users and teams the benchmark and the tests call as. */
export const HOT_USER = 'user-0';
export const HOT_TEAM = 'team-0';
/** A user in a team of ordinary size (team-1). */
export const TEAM_USER = 'user-1';
export const TEAM_USER_TEAM = 'team-1';
/** The first user without a team (the last 20 % of the users). */
export const loneUser = (users: number): string => `user-${Math.ceil(users * 0.8)}`;
/** Deployment ids of the copies; bench-dep-4 holds one file in ten. */
export const DEPLOYMENTS = ['bench-dep-1', 'bench-dep-2', 'bench-dep-3', 'bench-dep-4'] as const;

/**
 * The statements of a seed, in order (plain SQL: PostgreSQL and the embedded PGlite alike; the
 * public ids need pgcrypto). The file of row i has id md5(salt || i)::uuid, so the copies are
 * generated without reading the files back.
 */
export function seedStatements(options: SeedOptions): string[] {
  const { files, users, teams } = options;
  const lit = (s: string): string => `'${s.replaceAll("'", "''")}'`;
  const uid = `md5(${lit(options.salt)} || i::text)`;
  // A stable pseudo-random draw in [0, 100) per row and purpose of use.
  const draw = (n: number): string => `(abs(hashint4(i * 7 + ${n})) % 10000) / 100.0`;
  const owner = `CASE WHEN i % 20 = 0 THEN 0 ELSE 1 + abs(hashint4(i)) % ${users - 1} END`;
  const inTeams = Math.ceil(users * 0.8);
  // Layout of a file id (src/id-codec/id-codec.ts): version 1, kind 1 (file), the uuid's 16
  // bytes, flags 1 (MIME type), MIME index 3 (application/jsonl); then the first 16 bytes of
  // HMAC-SHA256 over 'file-' and those bytes, all base64url.
  const payload = `'\\x0101'::bytea || decode(${uid}, 'hex') || '\\x0103'::bytea`;
  const publicId =
    options.secret === null
      ? 'NULL'
      : `'file-' || translate(encode(p || substring(hmac('file-'::bytea || p, convert_to(${lit(options.secret)}, 'UTF8'), 'sha256') from 1 for 16), 'base64'), '+/', '-_')`;
  return [
    ...(options.secret === null ? [] : ['CREATE EXTENSION IF NOT EXISTS pgcrypto']),
    `INSERT INTO managed_files
       (id, owner_user_id, owner_team_id, purpose, filename, bytes, mime_type, public_id, status,
        created_at, expires_at, heartbeat_at)
     SELECT ${uid}::uuid, 'user-' || owner,
            CASE WHEN owner < ${inTeams} THEN 'team-' || (owner % ${teams}) END,
            CASE WHEN d_purpose < 40 THEN 'assistants' WHEN d_purpose < 65 THEN 'batch'
                 WHEN d_purpose < 85 THEN 'user_data' WHEN d_purpose < 95 THEN 'fine-tune'
                 ELSE 'vision' END,
            'file-' || i || '.jsonl', 100 + i % 100000, 'application/jsonl', ${publicId},
            CASE WHEN d_status < 0.1 THEN 'pending' WHEN d_status < 0.2 THEN 'deleting'
                 ELSE 'ready' END,
            created,
            CASE WHEN d_expiry < 0.05 THEN now() - interval '1 hour'
                 WHEN d_expiry < 10 THEN now() + (1 + d_expiry) * interval '1 day' END,
            now()
       FROM (SELECT i, ${owner} AS owner, ${draw(1)} AS d_purpose, ${draw(2)} AS d_status,
                    ${draw(3)} AS d_expiry, ${payload} AS p,
                    now() - (${files} - i) * interval '30 seconds' AS created
               FROM generate_series(1, ${files}) AS i) AS s`,
    `INSERT INTO managed_file_copies (file_id, deployment_id, provider_file_id)
     SELECT ${uid}::uuid, dep, 'file-sim-' || i || '-' || dep
       FROM generate_series(1, ${files}) AS i,
            LATERAL (VALUES (CASE WHEN i % 2 = 0 THEN 'bench-dep-1' ELSE 'bench-dep-2' END),
                            (CASE WHEN i % 10 = 0 THEN 'bench-dep-4' ELSE 'bench-dep-3' END)) AS c(dep)`,
    // A store at rest: statistics current, visibility map set (autovacuum's job in production).
    'VACUUM ANALYZE managed_files',
    'VACUUM ANALYZE managed_file_copies',
  ];
}

/** Runs a seed through `query`; refuses a store that already holds files. */
export async function seedStore(
  run: (sql: string) => Promise<unknown>,
  options: SeedOptions,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  const query = async (sql: string): Promise<unknown> => {
    const started = performance.now();
    const result = await run(sql);
    const ms = performance.now() - started;
    if (ms > 1000) log(`${(ms / 1000).toFixed(1)} s: ${sql.replace(/\s+/g, ' ').slice(0, 70)}…`);
    return result;
  };
  const existing = (await query('SELECT 1 FROM managed_files LIMIT 1')) as
    unknown[] | { rows: unknown[] };
  const rows = Array.isArray(existing) ? existing : existing.rows;
  if (rows.length > 0) throw new Error('the store already holds files: seed an empty database');
  // Building an index once over a million rows is several times cheaper than maintaining it on
  // each insert (the ids are random), as is checking the foreign key once: every index and
  // constraint of the two tables is dropped for the inserts and made again from its own
  // definition, so the schema ends exactly as the migrations left it.
  const rowsOf = (result: unknown): Array<Record<string, string>> =>
    (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<
      Record<string, string>
    >;
  const tables = `('managed_files'::regclass, 'managed_file_copies'::regclass)`;
  // Foreign keys first (they depend on the primary keys), made again last.
  const constraints = rowsOf(
    await query(`SELECT conname AS name, conrelid::regclass::text AS "table",
                        pg_get_constraintdef(oid) AS def
                   FROM pg_constraint WHERE conrelid IN ${tables} AND contype IN ('f', 'p', 'u')
                  ORDER BY contype = 'f' DESC`),
  );
  const indexes = rowsOf(
    await query(`SELECT c.relname AS name, pg_get_indexdef(c.oid) AS def
                   FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                  WHERE x.indrelid IN ${tables}
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)`),
  );
  for (const c of constraints) await query(`ALTER TABLE ${c.table} DROP CONSTRAINT "${c.name}"`);
  for (const index of indexes) await query(`DROP INDEX "${index.name}"`);
  const [vacuum, statements] = partition(seedStatements(options), (sql) =>
    sql.startsWith('VACUUM'),
  );
  for (const sql of statements) await query(sql);
  for (const index of indexes) await query(index.def);
  for (const c of [...constraints].reverse()) {
    await query(`ALTER TABLE ${c.table} ADD CONSTRAINT "${c.name}" ${c.def}`);
  }
  for (const sql of vacuum) await query(sql);
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

type Flags = {
  databaseUrl: string | null;
  files: number;
  users: number;
  teams: number;
  secret: string | null;
};

const USAGE =
  'Usage: npm run bench:seed -- --database-url URL [--files 1000000] [--users 10000] [--teams 100] [--secret ID_SIGNING_SECRET]';

async function main(): Promise<void> {
  const flags = parseFlags<Flags>(
    process.argv.slice(2),
    { databaseUrl: null, files: 1_000_000, users: 10_000, teams: 100, secret: null },
    USAGE,
  );
  if (flags.databaseUrl === null) throw new Error(`--database-url is required\n\n${USAGE}`);
  const client = new Client({ connectionString: flags.databaseUrl });
  await client.connect();
  try {
    const started = performance.now();
    await seedStore(
      (sql) => client.query(sql),
      {
        files: positiveInteger('--files', flags.files),
        users: positiveInteger('--users', flags.users),
        teams: positiveInteger('--teams', flags.teams),
        secret: flags.secret,
        salt: randomBytes(8).toString('hex'),
      },
      progress,
    );
    progress(
      `seeded ${flags.files} files in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await client.end();
  }
}

if (require.main === module) runBench(main);
