import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { stringify as toYaml } from 'yaml';
import { loadAppConfig } from '../../src/config/load-app-config';
import { createApp } from '../../src/create-app';
import { FileSweeperService, SWEEP_QUEUE } from '../../src/files/file-sweeper.service';
import { JobsService } from '../../src/jobs/jobs.service';
import { startSimulator } from '../../src/simulator/simulator';
import { createTestApp, TEST_DATABASE_URL, type TestApp } from '../utils/create-test-app';
import { fileRows, seedFile } from '../utils/factories';
import { jsonlContent, uploadToSimulator } from '../utils/http';

/** SWEEP_INTERVAL_MS in these tests: the smallest the config accepts. */
const INTERVAL_MS = 1_000;

/** Polls a (database) condition at a pace the database does not notice. */
async function until(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(100);
  }
}

/** Records when each sweep pass of an app starts (the scheduled ones call sweep()). */
function recordPasses(app: INestApplication, name: string, into: Array<[number, string]>): void {
  const sweeper = app.get(FileSweeperService);
  const sweep = sweeper.sweep.bind(sweeper);
  jest.spyOn(sweeper, 'sweep').mockImplementation((...args) => {
    into.push([Date.now(), name]);
    return sweep(...args);
  });
}

/** Every warning and error any Nest logger writes from now on. */
function watchLogs(): { readonly lines: string[]; restore(): void } {
  const lines: string[] = [];
  const record = (message: unknown): void => {
    lines.push(message instanceof Error ? message.message : String(message));
  };
  const spies = [
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(record),
    jest.spyOn(Logger.prototype, 'error').mockImplementation(record),
    jest.spyOn(Logger, 'error').mockImplementation(record),
  ];
  return { lines, restore: () => spies.forEach((spy) => spy.mockRestore()) };
}

async function pgbossStates(databaseName: string, queue: string): Promise<string[]> {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${databaseName}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ state: string }>(
      'SELECT state::text AS state FROM pgboss.job WHERE name = $1',
      [queue],
    );
    return rows.map((r) => r.state);
  } finally {
    await client.end();
  }
}

describe('Background jobs (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ sweepIntervalMs: INTERVAL_MS, redisUrl: null });
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('should sweep a stale pending upload by the scheduled job, without anyone calling sweep()', async () => {
    const uploadId = randomUUID();
    const sim = t.sims['mini-openai-1'];
    const orphan = await uploadToSimulator(
      sim,
      t.simKeys['mini-openai-1'],
      `mfg-${uploadId}__input.jsonl`,
      jsonlContent(300),
    );
    await seedFile(t.dataSource, {
      id: uploadId,
      status: 'pending',
      heartbeatSecondsAgo: 600,
      copies: [{ deploymentId: 'mini-openai-1', providerFileId: null }],
    });

    await until(
      async () => (await fileRows(t.dataSource)).length === 0,
      'the scheduled sweep to remove the abandoned upload',
    );

    expect(sim.files.has(orphan)).toBe(false);
    const counts = (await t.app.get(JobsService).counts())[SWEEP_QUEUE];
    expect(counts.completed).toBeGreaterThan(0);
    expect(counts.failed).toBe(0);
  });

  it('should report the job engine up in /health/ready, with counts by queue and state', async () => {
    const res = await request(t.http).get('/health/ready');

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ready',
      checks: {
        database: { status: 'up' },
        cache: { status: 'disabled' },
        jobs: { status: 'up', queues: expect.any(Object) as unknown },
      },
    });
    // Every registered queue, with a count for every state.
    const queues = (
      res.body as { checks: { jobs: { queues: Record<string, Record<string, number>> } } }
    ).checks.jobs.queues;
    expect(Object.keys(queues).sort()).toEqual([
      'batch-refresh',
      'batch-refresh-pass',
      'files-sweep',
      'fine-tuning-job-refresh',
      'fine-tuning-job-refresh-pass',
    ]);
    for (const counts of Object.values(queues)) {
      expect(Object.keys(counts).sort()).toEqual(
        ['active', 'cancelled', 'completed', 'created', 'failed', 'retry'].sort(),
      );
      for (const n of Object.values(counts)) expect(Number.isInteger(n)).toBe(true);
    }
  });

  it('should run one sweep pass per interval with two app instances on one database, not two', async () => {
    const second = await createTestApp({
      databaseName: t.databaseName,
      sweepIntervalMs: INTERVAL_MS,
      redisUrl: null,
    });
    const passes: Array<[number, string]> = [];
    try {
      recordPasses(t.app, 'first', passes);
      recordPasses(second.app, 'second', passes);
      await sleep(6 * INTERVAL_MS);
    } finally {
      jest.restoreAllMocks();
      await second.close();
    }

    // Each instance alone would start a pass every interval: two would make about twice as
    // many, some of them close together.
    const sorted = [...passes].sort(([a], [b]) => a - b);
    const tooClose = sorted
      .slice(1)
      .map(([at, app], i) => ({ gapMs: at - sorted[i][0], apps: `${sorted[i][1]} → ${app}` }))
      .filter(({ gapMs }) => gapMs < INTERVAL_MS - 100);
    expect(tooClose).toEqual([]);
    expect(passes.length).toBeGreaterThanOrEqual(3);
    expect(passes.length).toBeLessThanOrEqual(7);
  });

  it('should retry a job that throws, with backoff, while the other jobs still run; counts by state show it', async () => {
    const jobs = t.app.get(JobsService);
    const runs: Array<{ name: string; retryCount: number; at: number }> = [];
    jobs.work<{ name: string; failures: number }>(
      'e2e-flaky',
      async (job) => {
        runs.push({ name: job.data.name, retryCount: job.retryCount, at: Date.now() });
        await Promise.resolve();
        if (job.retryCount < job.data.failures) throw new Error(`${job.data.name} failed`);
      },
      { retryLimit: 2, retryDelayMs: 1_000, pollIntervalMs: 200 },
    );

    await jobs.send('e2e-flaky', { name: 'flaky', failures: 2 });
    await jobs.send('e2e-flaky', { name: 'steady-1', failures: 0 });
    await jobs.send('e2e-flaky', { name: 'broken', failures: 99 });
    await jobs.send('e2e-flaky', { name: 'steady-2', failures: 0 });

    await until(
      async () => (await jobs.counts())['e2e-flaky'].retry > 0,
      'a failed job waiting for its retry',
    );
    await until(async () => {
      const counts = (await jobs.counts())['e2e-flaky'];
      return counts.completed === 3 && counts.failed === 1;
    }, 'the flaky job to succeed on its last retry and the broken one to fail for good');

    const of = (name: string): typeof runs => runs.filter((r) => r.name === name);
    const flaky = of('flaky');
    expect(flaky.map((r) => r.retryCount)).toEqual([0, 1, 2]);
    expect(of('broken').map((r) => r.retryCount)).toEqual([0, 1, 2]);
    // Backoff: the first retry waits at least the delay, the second at least twice that.
    expect(flaky[1].at - flaky[0].at).toBeGreaterThanOrEqual(1_000 - 50);
    expect(flaky[2].at - flaky[1].at).toBeGreaterThanOrEqual(2_000 - 50);
    // The others did not wait for the failing ones.
    expect(
      of('steady-1')
        .concat(of('steady-2'))
        .map((r) => r.retryCount),
    ).toEqual([0, 0]);
    expect(Math.max(...of('steady-2').map((r) => r.at))).toBeLessThan(flaky[1].at);
    expect((await jobs.counts())['e2e-flaky']).toEqual({
      created: 0,
      retry: 0,
      active: 0,
      completed: 3,
      cancelled: 0,
      failed: 1,
    });
  });

  it('should keep one waiting job per singleton key, and enqueue inside a transaction only if it commits', async () => {
    const jobs = t.app.get(JobsService);
    jobs.work('e2e-keyed', () => Promise.resolve());
    const later = { startAfterMs: 60_000 };

    const first = await jobs.send('e2e-keyed', {}, { singletonKey: 'batch-1', ...later });
    const again = await jobs.send('e2e-keyed', {}, { singletonKey: 'batch-1', ...later });
    const other = await jobs.send('e2e-keyed', {}, { singletonKey: 'batch-2', ...later });
    const rolledBack = t.dataSource.transaction(async (manager) => {
      await jobs.send('e2e-keyed', {}, { singletonKey: 'batch-3', manager, ...later });
      throw new Error('roll back');
    });
    await expect(rolledBack).rejects.toThrow('roll back');
    await t.dataSource.transaction(async (manager) => {
      await jobs.send('e2e-keyed', {}, { singletonKey: 'batch-4', manager, ...later });
    });

    expect([first, again, other]).toEqual([expect.any(String), null, expect.any(String)]);
    expect((await jobs.counts())['e2e-keyed']).toEqual({
      created: 3,
      retry: 0,
      active: 0,
      completed: 0,
      cancelled: 0,
      failed: 0,
    });
  });

  it('should let a running pass finish before the pool closes on shutdown, logging nothing', async () => {
    const app = await createTestApp({ sweepIntervalMs: INTERVAL_MS, redisUrl: null });
    try {
      const sim = app.sims['mini-openai-1'];
      const copy = await uploadToSimulator(
        sim,
        app.simKeys['mini-openai-1'],
        'expired.jsonl',
        jsonlContent(100),
      );
      await seedFile(app.dataSource, {
        status: 'ready',
        expiresInSeconds: -60,
        copies: [{ deploymentId: 'mini-openai-1', providerFileId: copy }],
      });
      sim.addFault({ route: 'files.delete', latencyMs: 1_500 });
      await until(
        () => Promise.resolve(sim.calls.some((c) => c.route === 'files.delete')),
        'the scheduled pass to reach the upstream',
      );
      const logs = watchLogs();

      const started = Date.now();
      await app.shutdown();
      const tookMs = Date.now() - started;
      logs.restore();

      expect(logs.lines).toEqual([]);
      expect(tookMs).toBeLessThan(10_000);
      expect(sim.files.has(copy)).toBe(false);
      // The pass was recorded as done, not left active for another replica to redo.
      expect(await pgbossStates(app.databaseName, SWEEP_QUEUE)).not.toContain('active');
    } finally {
      await app.close();
    }
  });
});

describe('Background jobs on the embedded database (e2e)', () => {
  it('should start the engine on PGlite through its one connection and run the scheduled sweep, also after a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mfg-jobs-embedded-'));
    const apiKey = `sim-key-${randomBytes(4).toString('hex')}`;
    const sim = await startSimulator({ dialect: 'openai', apiKey, name: 'embedded-1' });
    const open = new Set<INestApplication>();
    const close = async (app: INestApplication): Promise<void> => {
      open.delete(app);
      await app.close();
    };
    const logs = watchLogs();
    try {
      const configPath = join(dir, 'config.yaml');
      await writeFile(
        configPath,
        toYaml({
          model_list: [
            {
              model_name: 'gpt-4o-mini',
              litellm_params: {
                model: 'openai/gpt-4o-mini-upstream',
                api_base: sim.apiBase,
                api_key: apiKey,
              },
              model_info: { id: 'embedded-1' },
            },
          ],
          gateway: {
            api_keys: [{ key: `sk-alice-${randomBytes(4).toString('hex')}`, user_id: 'alice' }],
          },
        }),
      );
      const boot = async (): Promise<INestApplication> => {
        const config = loadAppConfig({
          CONFIG_PATH: configPath,
          DATA_DIR: join(dir, 'data'),
          LOG_LEVEL: 'error',
          SWEEP_INTERVAL_MS: String(INTERVAL_MS),
        });
        expect(config.database.kind).toBe('embedded');
        const app = await createApp(config);
        open.add(app);
        await app.listen(0, '127.0.0.1');
        return app;
      };
      const completedPasses = async (app: INestApplication): Promise<number> =>
        (await app.get(JobsService).counts())[SWEEP_QUEUE].completed;

      const first = await boot();
      const uploadId = randomUUID();
      const orphan = await uploadToSimulator(
        sim,
        apiKey,
        `mfg-${uploadId}__input.jsonl`,
        jsonlContent(200),
      );
      await seedFile(first.get(DataSource), {
        id: uploadId,
        status: 'pending',
        heartbeatSecondsAgo: 600,
        copies: [{ deploymentId: 'embedded-1', providerFileId: null }],
      });
      await until(
        async () => (await fileRows(first.get(DataSource))).length === 0,
        'the scheduled sweep on the embedded database',
      );
      expect(sim.files.has(orphan)).toBe(false);
      const ready = await request(first.getHttpServer() as Server).get('/health/ready');
      expect(ready.body).toMatchObject({ status: 'ready', checks: { jobs: { status: 'up' } } });
      const before = await completedPasses(first);
      expect(before).toBeGreaterThan(0);
      await close(first);

      // pg-boss's schema is there already: it checks its version and carries on.
      const reopened = await boot();
      await until(
        async () => (await completedPasses(reopened)) > before,
        'a scheduled pass after the reopen',
      );
      await close(reopened);

      expect(logs.lines).toEqual([]);
    } finally {
      logs.restore();
      for (const app of open) await app.close().catch(() => undefined);
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
