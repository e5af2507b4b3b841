// The list queries' plans on a seeded store (issue 12, BENCHMARKS.md "store scale"): every
// list shape must read about as many rows as it returns. A slower plan gives the same answers,
// so no other test would notice it: these run each query of FilesRepository.listVisible and
// ManagedObjectsRepository.listVisible under EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) and bound
// the rows its scans read and the buffers it touches by multiples of the rows it returns.
// On PostgreSQL and on the embedded PGlite, 50,000 files each.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import {
  DEPLOYMENTS,
  HOT_TEAM,
  HOT_USER,
  TEAM_USER,
  TEAM_USER_TEAM,
  loneUser,
  seedStore,
} from '../../bench/seed-store';
import type { Caller } from '../../src/common/auth/caller';
import {
  buildDataSourceOptions,
  type ResolvedDataSource,
} from '../../src/database/data-source-options';
import { FilesRepository, type ListQuery } from '../../src/files/files.repository';
import { ManagedObjectsRepository } from '../../src/managed-objects/managed-objects.repository';
import { adminQuery, TEST_DATABASE_URL } from '../utils/create-test-app';

/** One plan node of EXPLAIN (FORMAT JSON), as far as these tests read it. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

interface Explained {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Rows the query returned. */
  readonly returned: number;
  /** Rows every scan of the plan produced or filtered out, over all its loops. */
  readonly rowsRead: number;
  /** Shared buffers the query touched (hit or read). */
  readonly buffers: number;
  /** `Node Type on relation using index`, depth first. */
  readonly scans: string[];
  readonly plan: PlanNode;
}

function explained(sql: string, params: readonly unknown[], plan: PlanNode): Explained {
  let rowsRead = 0;
  const scans: string[] = [];
  const walk = (node: PlanNode): void => {
    if (node['Node Type'].includes('Scan') && node['Relation Name']) {
      const removed =
        (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0);
      rowsRead += (node['Actual Rows'] + removed) * node['Actual Loops'];
      scans.push(
        `${node['Node Type']} on ${node['Relation Name']}` +
          (node['Index Name'] ? ` using ${node['Index Name']}` : ''),
      );
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(plan);
  return {
    sql,
    params,
    returned: plan['Actual Rows'],
    rowsRead,
    buffers: (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0),
    scans,
    plan,
  };
}

/**
 * The DataSource, except that each list query (the one with LIMIT) is also run under EXPLAIN
 * ANALYZE first and its plan kept: the repositories are tested with their own SQL.
 */
function explaining(dataSource: DataSource, plans: Explained[]): DataSource {
  return new Proxy(dataSource, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
      return async (sql: string, params?: unknown[]): Promise<unknown> => {
        if (/\bLIMIT\b/.test(sql)) {
          const [row] = await target.query<Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>>(
            `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`,
            params,
          );
          plans.push(explained(sql, params ?? [], row['QUERY PLAN'][0].Plan));
        }
        return target.query(sql, params);
      };
    },
  });
}

const user = (userId: string, teamId: string | null = null): Caller => ({
  userId,
  teamId,
  role: 'user',
});
const ADMIN: Caller = { userId: 'admin', teamId: null, role: 'admin' };

interface Store {
  readonly users: number;
  readonly files: FilesRepository;
  readonly objects: ManagedObjectsRepository;
  readonly plans: Explained[];
  readonly dataSource: DataSource;
}

/**
 * A migrated store seeded with bench/seed-store.ts's shape at `files` files (user-0 owns 5 % of
 * them, 1,000 users in 10 teams), plus `objects` batches and fine-tuning jobs.
 */
async function seededStore(
  resolved: ResolvedDataSource,
  files: number,
  objects: number,
): Promise<Store> {
  const dataSource = await new DataSource(resolved.options).initialize();
  await dataSource.runMigrations({ transaction: 'all' });
  const users = 1_000;
  await seedStore((sql) => dataSource.query(sql), {
    files,
    users,
    teams: 10,
    secret: null,
    salt: randomBytes(4).toString('hex'),
  });
  // Batches and jobs: the same owners, one object a minute, half of each kind.
  await dataSource.query(
    `INSERT INTO managed_objects
       (id, kind, deployment_id, provider_object_id, owner_user_id, owner_team_id, status,
        provider_object, created_at)
     SELECT md5('object' || i)::uuid, CASE WHEN i % 2 = 0 THEN 'batch' ELSE 'fine_tuning_job' END,
            'bench-dep-1', 'obj-' || i, 'user-' || owner,
            CASE WHEN owner < ${users * 0.8} THEN 'team-' || (owner % 10) END, 'completed',
            jsonb_build_object('metadata', jsonb_build_object('n', (i % 7)::text)),
            now() - (${objects} - i) * interval '1 minute'
       FROM (SELECT i, CASE WHEN i % 20 = 0 THEN 0 ELSE 1 + i % ${users - 1} END AS owner
               FROM generate_series(1, ${objects}) AS i) AS s`,
  );
  await dataSource.query('VACUUM ANALYZE managed_objects');
  const plans: Explained[] = [];
  const explainingSource = explaining(dataSource, plans);
  return {
    users,
    files: new FilesRepository(explainingSource),
    objects: new ManagedObjectsRepository(explainingSource),
    plans,
    dataSource,
  };
}

const PAGE = 20;

/**
 * The bound: each scan stops after about a page, or reads through rows of other owners when it
 * walks the admin order for a user's rows (the planner's choice for a user owning a large share:
 * 1 in 20 rows here, on pages it reads anyway). What an unordered plan reads grows with the
 * team or the store (thousands of rows here), far past it.
 */
const MAX_ROWS_READ_PER_ROW = 40;
/**
 * A row costs a heap page and, with `target_model_names`, a descent of the copies' key (3 pages)
 * per candidate; PGlite reads a member's own few files with a bitmap scan (all of them probed).
 */
const MAX_BUFFERS_PER_ROW = 16;

function expectReadsAboutWhatItReturns(e: Explained): void {
  const problems: string[] = [];
  if (e.returned === 0) problems.push('returned no rows');
  if (e.rowsRead > MAX_ROWS_READ_PER_ROW * e.returned + 50) {
    problems.push(`read ${e.rowsRead} rows to return ${e.returned}`);
  }
  if (e.buffers > MAX_BUFFERS_PER_ROW * e.returned + 60) {
    problems.push(`touched ${e.buffers} buffers to return ${e.returned} rows`);
  }
  // Nothing reads a whole table.
  if (e.scans.some((s) => s.startsWith('Seq Scan'))) problems.push('scans a whole table');
  expect(problems.map((p) => `${p}: ${e.scans.join(', ')}\n${e.sql}`)).toEqual([]);
}

/** The last list page's plan, after checking the page itself. */
async function listPlan(store: Store, query: Partial<ListQuery> & { caller: Caller }) {
  const before = store.plans.length;
  const page = await store.files.listVisible({
    purpose: null,
    deploymentIds: null,
    limit: PAGE,
    order: 'desc',
    after: null,
    ...query,
  });
  expect(page.data).toHaveLength(query.limit ?? PAGE);
  expect(store.plans.length).toBe(before + 1);
  return { page, plan: store.plans[store.plans.length - 1] };
}

function listShapes(store: () => Store) {
  return () => {
    it('should read about a page for a user without a team', async () => {
      const { plan } = await listPlan(store(), { caller: user(loneUser(store().users)) });
      expectReadsAboutWhatItReturns(plan);
    });

    it('should read about a page for a team member, from one ordered scan per branch', async () => {
      const { page, plan } = await listPlan(store(), { caller: user(TEAM_USER, TEAM_USER_TEAM) });
      expectReadsAboutWhatItReturns(plan);
      expect(plan.scans).toHaveLength(2);
      expect(plan.sql).toContain('UNION ALL');
      // Newest first, each file once.
      const keys = page.data.map((f) => f.createdAt);
      expect(keys).toEqual([...keys].sort((a, b) => b - a));
      expect(new Set(page.data.map((f) => f.id)).size).toBe(PAGE);
    });

    it('should read about a page for the user owning 5 % in the largest team', async () => {
      const { plan } = await listPlan(store(), { caller: user(HOT_USER, HOT_TEAM) });
      expectReadsAboutWhatItReturns(plan);
    });

    it('should read about a page oldest first (`order=asc`)', async () => {
      const { page, plan } = await listPlan(store(), {
        caller: user(HOT_USER, HOT_TEAM),
        order: 'asc',
      });
      expectReadsAboutWhatItReturns(plan);
      const keys = page.data.map((f) => f.createdAt);
      expect(keys).toEqual([...keys].sort((a, b) => a - b));
    });

    it('should read about a page deep into the list (`after` far in)', async () => {
      const [deep] = await store().dataSource.query<Array<{ id: string }>>(
        `SELECT id FROM managed_files
          WHERE status = 'ready' AND (owner_user_id = $1 OR owner_team_id = $2)
          ORDER BY created_at DESC, id DESC OFFSET 2000 LIMIT 1`,
        [HOT_USER, HOT_TEAM],
      );
      const { page, plan } = await listPlan(store(), {
        caller: user(HOT_USER, HOT_TEAM),
        after: deep.id,
      });
      expectReadsAboutWhatItReturns(plan);
      expect(page.data.map((f) => f.id)).not.toContain(deep.id);
    });

    it('should read about a page with a `purpose` filter', async () => {
      const { page, plan } = await listPlan(store(), {
        caller: user(TEAM_USER, TEAM_USER_TEAM),
        purpose: 'batch',
      });
      expectReadsAboutWhatItReturns(plan);
      expect(new Set(page.data.map((f) => f.purpose))).toEqual(new Set(['batch']));
    });

    it('should probe the copies per returned file for `target_model_names`, never scan them', async () => {
      const { plan } = await listPlan(store(), {
        caller: user(TEAM_USER, TEAM_USER_TEAM),
        deploymentIds: [DEPLOYMENTS[0]],
      });
      expectReadsAboutWhatItReturns(plan);
      const probes = plan.scans.filter((s) => s.includes('managed_file_copies'));
      expect(probes.length).toBeGreaterThan(0);
      for (const probe of probes) {
        expect(probe).toMatch(/^Index Only Scan on managed_file_copies using PK_/);
      }
    });

    it('should read about a page for an admin, on the index of the admin order', async () => {
      const { plan } = await listPlan(store(), { caller: ADMIN });
      expectReadsAboutWhatItReturns(plan);
      expect(plan.scans).toEqual([
        expect.stringMatching(/Index Scan on managed_files using idx_managed_files_live_created/),
      ]);
    });

    it('should read about a page for an admin with a `purpose` filter, limit 100', async () => {
      const { plan } = await listPlan(store(), { caller: ADMIN, purpose: 'fine-tune', limit: 100 });
      expectReadsAboutWhatItReturns(plan);
    });

    it('should fail these bounds when a list cannot use ordered index scans', async () => {
      // What a lost or unmatched index would leave: the same query read with bitmap scans and
      // sorted, every file of the branch read for one page.
      const { plan } = await listPlan(store(), { caller: user(HOT_USER, HOT_TEAM) });
      const runner = store().dataSource.createQueryRunner();
      await runner.startTransaction();
      try {
        await runner.query('SET LOCAL enable_indexscan = off');
        const [row] = (await runner.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${plan.sql}`, [
          ...plan.params,
        ])) as Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>;
        const unordered = explained(plan.sql, plan.params, row['QUERY PLAN'][0].Plan);
        expect(unordered.returned).toBe(PAGE + 1);
        expect(unordered.rowsRead).toBeGreaterThan(MAX_ROWS_READ_PER_ROW * unordered.returned + 50);
      } finally {
        await runner.rollbackTransaction();
        await runner.release();
      }
    });

    it('should read about a page of batches and of fine-tuning jobs, for members and admins', async () => {
      for (const kind of ['batch', 'fine_tuning_job'] as const) {
        for (const caller of [user(HOT_USER, HOT_TEAM), user(TEAM_USER, TEAM_USER_TEAM), ADMIN]) {
          const page = await store().objects.listVisible({
            kind,
            caller,
            after: null,
            limit: PAGE,
          });
          expect(page.data).toHaveLength(PAGE);
          expect(new Set(page.data.map((o) => o.kind))).toEqual(new Set([kind]));
          expectReadsAboutWhatItReturns(store().plans[store().plans.length - 1]);
        }
      }
    });
  };
}

describe('Store scale: list plans on PostgreSQL (50,000 files)', () => {
  const name = `mfg_store_scale_${randomBytes(4).toString('hex')}`;
  let store: Store;

  beforeAll(async () => {
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    store = await seededStore(
      await buildDataSourceOptions({ kind: 'postgres', url: url.toString(), dataDir: '' }),
      50_000,
      20_000,
    );
  }, 120_000);

  afterAll(async () => {
    await store?.dataSource.destroy();
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  describe(
    'every list shape',
    listShapes(() => store),
  );
});

describe('Store scale: list plans on the embedded database (PGlite, 50,000 files)', () => {
  let store: Store;
  let resolved: ResolvedDataSource;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mfg-store-scale-'));
    resolved = await buildDataSourceOptions({ kind: 'embedded', url: null, dataDir });
    store = await seededStore(resolved, 50_000, 20_000);
  }, 180_000);

  afterAll(async () => {
    await store?.dataSource.destroy();
    await resolved?.embedded?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe(
    'every list shape',
    listShapes(() => store),
  );
});
