// Store-scale benchmark (issue 12): file lists and uncached retrieves through the gateway's HTTP
// API on a store of a million files (bench/seed-store.ts), PostgreSQL + Redis.
//
//   npm run build
//   node scripts/with-scratch-db.js 'npm run -s bench:store-scale -- --database-url "$DATABASE_URL" --redis-url redis://127.0.0.1:6379'
//
// It starts one simulator and a gateway (dist/) whose four deployments (bench-dep-1…4, all on
// that simulator) serve three models, with one API key per seeded caller. The gateway's boot
// migrates the empty database; the store is then seeded (unless it holds files already) with
// the gateway's signing secret, so each row's stored public id is the id the gateway would have
// issued. Per shape: a warm-up, then `--seconds` at concurrency 1 (p50/p99) and `--seconds` at
// `--connections` (lists/s). See bench/README.md.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import {
  gatewayArgs,
  gatewayEnv,
  load,
  makeTempDir,
  parseFlags,
  cpuStart,
  pidsNamed,
  positiveInteger,
  progress,
  runBench,
  SIM_KEY,
  startChild,
  startSimulator,
  waitReady,
  freePort,
  type LoadResult,
  type Target,
} from './harness';
import { HOT_TEAM, HOT_USER, TEAM_USER, TEAM_USER_TEAM, loneUser, seedStore } from './seed-store';

type Options = {
  databaseUrl: string | null;
  redisUrl: string | null;
  files: number;
  users: number;
  seconds: number;
  connections: number;
  shapes: string;
  /** A 10,000-file admin page (`limit=10000`) at concurrency 1, reported apart. */
  bigPage: boolean;
};

const USAGE = `Usage: npm run bench:store-scale -- --database-url URL [--redis-url URL] [--files 1000000]
  [--users 10000] [--seconds 5] [--connections 16] [--shapes retrieve,own,team,hot,...] [--no-big-page]`;

/** The seeded callers: one API key each. */
const CALLERS = {
  lone: { key: 'sk-lone', user: '', team: null as string | null, admin: false },
  team: { key: 'sk-team', user: TEAM_USER, team: TEAM_USER_TEAM, admin: false },
  hot: { key: 'sk-hot', user: HOT_USER, team: HOT_TEAM, admin: false },
  admin: { key: 'sk-admin', user: 'admin', team: null, admin: true },
};
type CallerName = keyof typeof CALLERS;

/**
 * Three models over the four deployments the seed's copies name: `bench-common` is bench-dep-1
 * (half the files have a copy there), `bench-rare` bench-dep-4 (one in ten).
 */
const MODELS: ReadonlyArray<[string, string]> = [
  ['bench-common', 'bench-dep-1'],
  ['bench-model', 'bench-dep-2'],
  ['bench-model', 'bench-dep-3'],
  ['bench-rare', 'bench-dep-4'],
];

function config(apiBase: string): string {
  const q = (s: string): string => JSON.stringify(s);
  const models = MODELS.map(
    ([model, id]) =>
      `  - model_name: ${q(model)}\n` +
      `    litellm_params: { model: "openai/bench", api_base: ${q(apiBase)}, api_key: ${q(SIM_KEY)} }\n` +
      `    model_info: { id: ${q(id)} }\n`,
  );
  const keys = Object.values(CALLERS).map(
    (c) =>
      `    - { key: ${q(c.key)}, user_id: ${q(c.user)}` +
      (c.team ? `, team_id: ${q(c.team)}` : '') +
      (c.admin ? ', role: admin' : '') +
      ' }\n',
  );
  return `# Written by bench/store-scale-bench.ts\nmodel_list:\n${models.join('')}gateway:\n  api_keys:\n${keys.join('')}`;
}

interface Shape {
  /** What `--shapes` names. */
  key: string;
  name: string;
  caller: CallerName;
  /** Path and query under /v1, or a list of them taken in turn. */
  path: string | readonly string[];
}

async function main(): Promise<void> {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    {
      databaseUrl: null,
      redisUrl: null,
      files: 1_000_000,
      users: 10_000,
      seconds: 5,
      connections: 16,
      shapes: 'all',
      bigPage: true,
    },
    USAGE,
  );
  if (options.databaseUrl === null) {
    throw new Error(`--database-url is required (an empty scratch database)\n\n${USAGE}`);
  }
  positiveInteger('--files', options.files);
  CALLERS.lone.user = loneUser(positiveInteger('--users', options.users));

  const workDir = makeTempDir('mfg-store-scale-');
  const sim = await startSimulator('sim');
  const configPath = join(workDir, 'gateway.yaml');
  writeFileSync(configPath, config(sim.apiBase));
  const port = await freePort();
  const store = { databaseUrl: options.databaseUrl, redisUrl: options.redisUrl };
  const env = gatewayEnv(configPath, port, join(workDir, 'data'), store);
  const secret = randomBytes(32).toString('hex');
  env.ID_SIGNING_SECRET = secret;
  // The gateway's boot runs the migrations on the empty database.
  const gateway = startChild('gateway', process.execPath, gatewayArgs(), env);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(gateway, url);

  const db = new Client({ connectionString: options.databaseUrl });
  await db.connect();
  try {
    const started = performance.now();
    progress(`seeding ${options.files} files…`);
    await seedStore(
      (sql) => db.query(sql),
      {
        files: options.files,
        users: options.users,
        teams: 100,
        secret,
        salt: randomBytes(8).toString('hex'),
      },
      progress,
    );
    progress(`seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // The bulk load leaves hundreds of MB of dirty pages, which the checkpointer would write out
    // over the next minutes while the shapes run, reads queueing behind its writes. A store at
    // rest has none: write them now (the seed's own time excludes this).
    const checkpoint = performance.now();
    await db.query('CHECKPOINT');
    progress(`checkpoint in ${((performance.now() - checkpoint) / 1000).toFixed(1)} s`);

    const publicIds = async (sql: string): Promise<string[]> =>
      (await db.query<{ public_id: string }>(sql)).rows.map((r) => r.public_id);
    // 30,000 files into what the hot user sees, newest first.
    const [deep] = await publicIds(
      `SELECT public_id FROM managed_files
        WHERE status = 'ready' AND (owner_user_id = '${HOT_USER}' OR owner_team_id = '${HOT_TEAM}')
        ORDER BY created_at DESC, id DESC OFFSET 30000 LIMIT 1`,
    );
    // More distinct files than a run can ask for: every retrieve misses the cache.
    const fresh = await publicIds(
      `SELECT public_id FROM managed_files TABLESAMPLE SYSTEM (10)
        WHERE status = 'ready' AND (expires_at IS NULL OR expires_at > now()) LIMIT 60000`,
    );
    const shapes: Shape[] = [
      {
        key: 'retrieve',
        name: 'retrieve, uncached (a different file each call)',
        caller: 'admin',
        path: fresh.map((id) => `/files/${id}`),
      },
      {
        key: 'retrieve-cached',
        name: 'retrieve, cached (one file)',
        caller: 'admin',
        path: `/files/${fresh[0]}`,
      },
      { key: 'own', name: 'list, user without a team', caller: 'lone', path: '/files?limit=20' },
      {
        key: 'team',
        name: 'list, user in a team (team-1)',
        caller: 'team',
        path: '/files?limit=20',
      },
      {
        key: 'hot',
        name: 'list, user owning 5 % in a team of ~57,000 files',
        caller: 'hot',
        path: '/files?limit=20',
      },
      {
        key: 'hot-asc',
        name: 'list, same, `order=asc`',
        caller: 'hot',
        path: '/files?limit=20&order=asc',
      },
      {
        key: 'deep',
        name: 'list, same, deep page (`after` 30,000 in)',
        caller: 'hot',
        path: `/files?limit=20&after=${deep}`,
      },
      {
        key: 'purpose',
        name: 'list, team user, `purpose=batch`',
        caller: 'team',
        path: '/files?limit=20&purpose=batch',
      },
      {
        key: 'models',
        name: 'list, team user, `target_model_names` (1 in 2 files)',
        caller: 'team',
        path: '/files?limit=20&target_model_names=bench-common',
      },
      {
        key: 'hot-models-rare',
        name: 'list, hot user, `target_model_names` (1 in 10 files)',
        caller: 'hot',
        path: '/files?limit=20&target_model_names=bench-rare',
      },
      { key: 'admin', name: 'list, admin', caller: 'admin', path: '/files?limit=20' },
      {
        key: 'admin-asc',
        name: 'list, admin, `order=asc`',
        caller: 'admin',
        path: '/files?limit=20&order=asc',
      },
      {
        key: 'admin-purpose',
        name: 'list, admin, `purpose=fine-tune`, limit 100',
        caller: 'admin',
        path: '/files?limit=100&purpose=fine-tune',
      },
      {
        key: 'admin-models-rare',
        name: 'list, admin, `target_model_names` (1 in 10 files)',
        caller: 'admin',
        path: '/files?limit=20&target_model_names=bench-rare',
      },
    ];
    // A client that stops (the end of a run) leaves the gateway's queries running: the next run
    // starts once the database has finished them, or a slow shape would slow the next one.
    const drain = async (): Promise<void> => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
        );
        if (rows[0].n === 0 || Date.now() > deadline) return;
        await sleep(100);
      }
    };
    const measure = async (
      t: Target,
      connections: number,
      seconds: number,
    ): Promise<LoadResult> => {
      // Read each time: the gateway's pool opens database sessions as the load grows.
      const services = [...pidsNamed('postgres'), ...pidsNamed('redis-server')];
      const cpu = cpuStart(gateway.proc.pid ?? 0, [sim.pid], services);
      const result = await load(t, connections, seconds);
      other.push(cpu().other / result.seconds);
      await drain();
      return result;
    };
    // CPU of processes outside this benchmark (in cores): a busy machine is visible in the
    // table. PostgreSQL's parallel workers live shorter than a run and count here too.
    const other: number[] = [];
    const wanted = options.shapes === 'all' ? null : options.shapes.split(',');
    const target = (shape: Shape): Target => {
      const key = CALLERS[shape.caller].key;
      return typeof shape.path === 'string'
        ? { url: `${url}/v1${shape.path}`, key }
        : { url, key, paths: shape.path.map((p) => `/v1${p}`) };
    };
    const rows: string[] = [];
    const ms = (n: number): string => n.toFixed(2);
    for (const shape of shapes) {
      if (wanted && !wanted.includes(shape.key)) continue;
      progress(shape.name);
      const t = target(shape);
      // Warm-up (JIT, pools); the uncached shape warms on ids it will not ask for again.
      const warm = t.paths ? { ...t, paths: t.paths.slice(-5000) } : t;
      await measure(warm, options.connections, 1);
      other.length = 0;
      const runs: LoadResult[] = [];
      if (t.paths) {
        // Each run its own part of the ids, none asked for before.
        const third = Math.floor((t.paths.length - 5000) / 2);
        runs.push(await measure({ ...t, paths: t.paths.slice(0, third) }, 1, options.seconds));
        runs.push(
          await measure(
            { ...t, paths: t.paths.slice(third, 2 * third) },
            options.connections,
            options.seconds,
          ),
        );
      } else {
        runs.push(await measure(t, 1, options.seconds));
        runs.push(await measure(t, options.connections, options.seconds));
      }
      const [one, many] = runs;
      const busy = Math.max(...other.splice(0)).toFixed(2);
      rows.push(
        `| ${shape.name} | ${ms(one.p50)} | ${ms(one.p99)} | ${many.rps.toFixed(0)} | ${ms(many.p50)} | ${ms(many.p99)} | ${one.failures + many.failures} | ${busy} |`,
      );
      if (t.paths && Math.max(one.completed, many.completed) > (t.paths.length - 5000) / 2) {
        progress('more calls than distinct ids: some retrieves were answered from the cache');
      }
    }
    let big = '';
    if (options.bigPage && (wanted === null || wanted.includes('big'))) {
      progress('admin page of 10,000');
      const t = { url: `${url}/v1/files?limit=10000`, key: CALLERS.admin.key };
      await measure(t, 1, 2);
      const r = await measure(t, 1, options.seconds);
      big = `\nAdmin page of 10,000 files (\`limit=10000\`), concurrency 1: p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms (${r.completed} pages, ${r.failures} errors)\n`;
    }
    process.stdout.write(
      `\n${options.files} files; gateway on PostgreSQL, ${options.redisUrl ? 'Redis' : 'in-memory'} cache; ${options.seconds} s per run\n\n` +
        `| call | c=1 p50 ms | c=1 p99 ms | c=${options.connections} req/s | c=${options.connections} p50 ms | c=${options.connections} p99 ms | errors | other cores |\n` +
        `| --- | --- | --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}\n${big}`,
    );
  } finally {
    await db.end();
  }
}

runBench(main);
