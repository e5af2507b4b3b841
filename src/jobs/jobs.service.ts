import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import PgBoss from 'pg-boss';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import {
  JOB_STATES,
  type JobHandler,
  type JobState,
  type PeriodicData,
  type QueueCounts,
  type ScheduleOptions,
  type SendOptions,
  type WorkOptions,
} from './job';
import { QueueWorker } from './queue-worker';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../database/advisory-lock';
import { PGBOSS_SCHEMA } from './pgboss-schema';
import { SqlExecutor } from './sql-executor';
import { MetricsService } from '../observability/metrics.service';

const SCHEMA = PGBOSS_SCHEMA;
const DEFAULT_RETRY_LIMIT = 3;
const DEFAULT_RETRY_DELAY_MS = 5_000;
/**
 * Also how long the job of a replica that died mid-run stays "active" before pg-boss's
 * maintenance (every 2 min) expires it and it runs again — for a periodic job, how long its
 * passes pause. Long enough for a pass that waits on slow upstreams, short enough for that.
 */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/** pg-boss refuses an expiry of 24 hours or more. */
const MAX_TIMEOUT_MS = 23 * 3_600_000;
/** pg-boss's own default for workers. */
const DEFAULT_POLL_MS = 2_000;
const MIN_POLL_MS = 100;
/** How often each replica checks that a periodic queue still has its next pass queued. */
const MIN_WATCHDOG_MS = 30_000;

type State = 'idle' | 'running' | 'stopping' | 'stopped';

interface Registration {
  readonly queue: string;
  /** null: per-item work (send + work); otherwise a periodic job's interval. */
  readonly everyMs: number | null;
  readonly settings: PgBoss.Queue;
  readonly worker: QueueWorker<object>;
  /** Settles when the queue exists and its worker runs; send() waits for it. */
  ready: Promise<void>;
  watchdog: NodeJS.Timeout | null;
}

/**
 * Background work on pg-boss, in the application's own PostgreSQL (the embedded one included:
 * no extra service). Two kinds of queue, both registered by the module that owns the work,
 * typically in its `onModuleInit`:
 *
 * - `schedule(queue, everyMs, handler)`: periodic work, one pass per interval across all
 *   replicas (a self-rescheduling singleton job, so any interval works, not only cron minutes);
 * - `work(queue, handler)` + `send(queue, data, { singletonKey })`: one job per item, retried
 *   with backoff, each independent of the others.
 *
 * Each job runs in one replica (claimed with FOR UPDATE SKIP LOCKED), at least once: a handler
 * must be idempotent. Jobs run as the system (see JobContext); nothing here is reachable over
 * HTTP except the up/down of `/health/ready`.
 *
 * pg-boss is pinned to 10.x: 12 needs Node ≥ 22, and the service supports Node 20.
 */
@Injectable()
export class JobsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private readonly executor: SqlExecutor;
  private readonly boss: PgBoss;
  private readonly registrations = new Map<string, Registration>();
  private state: State = 'idle';
  /** The queues' set-up, one after another (see register). */
  private setup: Promise<void> = Promise.resolve();
  private readonly booted: Promise<void>;
  private bootDone: (error?: Error) => void = () => undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() metrics?: MetricsService,
  ) {
    // Read at scrape time: pg-boss's table is the truth, a copy kept here would drift from it.
    // Before the engine runs (or once it stopped) there is nothing to count.
    metrics?.setSource('jobs', () => (this.isRunning ? this.counts() : Promise.resolve({})));
    this.executor = new SqlExecutor(dataSource);
    this.boss = new PgBoss({
      db: this.executor,
      schema: SCHEMA,
      // No cron: pg-boss's is minute-grained, and its internal queue's worker records outcomes
      // without awaiting them (see QueueWorker). Periodic work reschedules itself instead.
      schedule: false,
      // Maintenance, taken in turn by one replica at a time: expires the jobs of replicas that
      // died mid-run (so they run again) and archives ended jobs.
      supervise: true,
      // Counts show completed jobs of the last hour and failures of the last day; the archive
      // keeps them a week for an inquiry.
      archiveCompletedAfterSeconds: 3_600,
      archiveFailedAfterSeconds: 86_400,
      deleteAfterDays: 7,
    });
    // Without a listener an 'error' event would be thrown (maintenance during an outage).
    this.boss.on('error', (error: Error) => {
      this.logger.warn(`job engine: ${error.message}`);
    });
    this.booted = new Promise<void>((resolve, reject) => {
      this.bootDone = (error) => (error === undefined ? resolve() : reject(error));
    });
    // send() and the registrations wait on it; nobody else may, so a failed start is not unheard.
    this.booted.catch(() => undefined);
  }

  /**
   * Periodic work: `handler` runs about every `everyMs` (at least that long between the starts
   * of two passes), in one replica at a time, and once at start-up when nothing is queued. A
   * pass that throws is counted as failed and not retried: the next pass is its retry.
   */
  schedule(
    queue: string,
    everyMs: number,
    handler: JobHandler<PeriodicData>,
    options: ScheduleOptions = {},
  ): void {
    if (!(everyMs > 0)) throw new Error(`jobs: ${queue}: everyMs must be positive`);
    const timeoutMs = checkedTimeout(queue, options.timeoutMs);
    const tick: JobHandler<PeriodicData> = async (job) => {
      // The next pass is queued before this one runs: a replica that starts meanwhile finds it
      // and queues none, and a pass that crashes still has a successor. The queue's policy
      // lets one wait and one run, never two run.
      await this.boss.send(queue, {}, { singletonKey: queue, startAfter: everyMs / 1000 });
      await handler(job);
    };
    this.register(
      queue,
      everyMs,
      tick as JobHandler<object>,
      {
        name: queue,
        policy: 'stately',
        retryLimit: 0,
        expireInSeconds: Math.ceil(timeoutMs / 1000),
      },
      {
        pollIntervalMs: Math.min(DEFAULT_POLL_MS, everyMs),
        timeoutMs,
        concurrency: 1,
      },
    );
  }

  /** Per-item work: `handler` runs each job sent to `queue` (see send()). */
  work<T extends object>(queue: string, handler: JobHandler<T>, options: WorkOptions = {}): void {
    const timeoutMs = checkedTimeout(queue, options.timeoutMs);
    const retryLimit = options.retryLimit ?? DEFAULT_RETRY_LIMIT;
    const concurrency = options.concurrency ?? 1;
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_MS;
    if (!Number.isInteger(retryLimit) || retryLimit < 0) {
      throw new Error(`jobs: ${queue}: retryLimit must be an integer >= 0`);
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`jobs: ${queue}: concurrency must be an integer >= 1`);
    }
    if (!(pollIntervalMs >= MIN_POLL_MS)) {
      throw new Error(`jobs: ${queue}: pollIntervalMs must be at least ${MIN_POLL_MS}`);
    }
    const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.register(
      queue,
      null,
      handler as JobHandler<object>,
      {
        name: queue,
        // At most one waiting job per singleton key; running ones do not block the queue.
        policy: 'short',
        retryLimit,
        retryDelay: Math.max(1, Math.ceil(retryDelayMs / 1000)),
        retryBackoff: true,
        expireInSeconds: Math.ceil(timeoutMs / 1000),
      },
      { pollIntervalMs, timeoutMs, concurrency },
    );
  }

  /**
   * Queues a job for `work(queue)`'s handler; answers its id, or null when a job with the same
   * `singletonKey` is already waiting. The queue must be registered in this process (the module
   * that sends is the one that works).
   */
  async send<T extends object>(
    queue: string,
    data: T,
    options: SendOptions = {},
  ): Promise<string | null> {
    const registration = this.registrations.get(queue);
    if (!registration) throw new Error(`jobs: no queue "${queue}" is registered`);
    if (registration.everyMs !== null) {
      throw new Error(`jobs: "${queue}" is periodic; it takes no jobs`);
    }
    await registration.ready;
    const runner = options.manager?.queryRunner;
    const id = await this.boss.send(queue, data, {
      // pg-boss gives every job without a key the same one (''): one would wait at a time.
      singletonKey: options.singletonKey ?? randomUUID(),
      ...(options.startAfterMs && options.startAfterMs > 0
        ? { startAfter: options.startAfterMs / 1000 }
        : {}),
      ...(runner ? { db: this.executor.within(runner) } : {}),
    });
    // Sent from here: this replica's worker looks now rather than at its next poll (a job sent
    // in a transaction is not visible before the commit; the poll will find it).
    if (id !== null && !runner) registration.worker.notify();
    return id;
  }

  /** Jobs by queue and state, for operators: waiting, running, and ended but not yet archived. */
  async counts(): Promise<Readonly<Record<string, QueueCounts>>> {
    // The query pg-boss's countStates() runs, which its typings do not declare.
    const { rows } = await this.executor.executeSql(
      `SELECT name, state::text AS state, count(*)::int AS size FROM ${SCHEMA}.job GROUP BY name, state`,
    );
    const counts = new Map<string, Record<JobState, number>>();
    const queueOf = (name: string): Record<JobState, number> => {
      let entry = counts.get(name);
      if (!entry) {
        entry = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
        counts.set(name, entry);
      }
      return entry;
    };
    for (const queue of this.registrations.keys()) queueOf(queue);
    for (const row of rows) {
      if (isCountRow(row)) queueOf(row.name)[row.state] = row.size;
    }
    return Object.fromEntries(counts);
  }

  /** Started, not stopping: its workers claim jobs. */
  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Creates or migrates pg-boss's schema, then starts every queue registered so far. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.state !== 'idle') return;
    // pg-boss's schema and queue set-up is DDL: replicas booting together on an empty database
    // deadlock on it (seen with three), so they take turns, as they do for migrations.
    await withAdvisoryLock(
      this.dataSource,
      ADVISORY_LOCKS.jobEngine,
      this.config.database.kind === 'postgres',
      async () => {
        try {
          await this.boss.start();
        } catch (error) {
          this.bootDone(error instanceof Error ? error : new Error(String(error)));
          throw error;
        }
        this.state = 'running';
        this.bootDone();
        // A queue that cannot be set up fails the start: its work would silently never run.
        await Promise.all([...this.registrations.values()].map((r) => r.ready));
      },
    );
  }

  /**
   * Before the HTTP server and the database pool close: stops claiming, gives running jobs
   * (their signals aborted) up to DRAIN_TIMEOUT_MS to end, stops pg-boss's maintenance, and
   * waits for its last statements, so that nothing touches the pool once TypeORM closes it.
   * Requests still draining can send: the queue is the database, and other replicas work it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    this.bootDone(new Error('the application shut down before the job engine started'));
    const graceMs = Math.max(1_000, this.config.drainTimeoutMs);
    const registrations = [...this.registrations.values()];
    for (const r of registrations) if (r.watchdog) clearInterval(r.watchdog);
    await Promise.all(registrations.map((r) => r.worker.stop(graceMs)));
    if (wasRunning) {
      // Our workers have stopped; pg-boss has none of its own to wait for.
      await this.boss.stop({ graceful: false });
      if (!(await within(this.executor.idle(), graceMs))) {
        this.logger.warn(`job engine statements still running after ${graceMs} ms`);
      }
    }
    this.state = 'stopped';
  }

  private register(
    queue: string,
    everyMs: number | null,
    handler: JobHandler<object>,
    settings: PgBoss.Queue,
    worker: { pollIntervalMs: number; timeoutMs: number; concurrency: number },
  ): void {
    if (this.registrations.has(queue)) throw new Error(`jobs: "${queue}" is registered twice`);
    if (this.state === 'stopping' || this.state === 'stopped') {
      throw new Error(`jobs: "${queue}" registered after shutdown began`);
    }
    const registration: Registration = {
      queue,
      everyMs,
      settings,
      worker: new QueueWorker(this.boss, { queue, handler, ...worker }, this.logger),
      ready: Promise.resolve(),
      watchdog: null,
    };
    // Registered before start-up (onModuleInit): set up once pg-boss has started; later: now.
    // One queue at a time: creating queues is DDL, and two at once deadlock each other.
    registration.ready = this.setup = this.setup
      .catch(() => undefined)
      .then(() => this.booted)
      .then(() => this.activate(registration));
    registration.ready.catch((error: unknown) => {
      // A failed start-up or a shutdown before it is reported once, by onApplicationBootstrap.
      if (this.state === 'running') {
        this.logger.error(`${queue}: could not start: ${messageOf(error)}`);
      }
    });
    this.registrations.set(queue, registration);
  }

  private async activate(registration: Registration): Promise<void> {
    const { queue, settings, everyMs } = registration;
    await this.boss.createQueue(queue, settings);
    // An existing queue takes this version's settings (retries, timeout, policy).
    await this.boss.updateQueue(queue, settings);
    if (this.state !== 'running') return;
    registration.worker.start();
    if (everyMs === null) return;
    await this.queueNextPass(registration, 0);
    const watchdogMs = Math.max(everyMs, MIN_WATCHDOG_MS);
    registration.watchdog = setInterval(() => {
      this.queueNextPass(registration, everyMs).catch((error: unknown) => {
        this.logger.warn(`${queue}: could not check the next pass: ${messageOf(error)}`);
      });
    }, watchdogMs);
    // It only re-queues; it must not keep the process alive.
    registration.watchdog.unref();
  }

  /**
   * Queues a pass when the queue has none waiting, retrying or running: at start-up (the very
   * first start, or a restart after every replica was down), or when the chain broke (a pass
   * whose successor could not be queued). Two replicas doing so at once queue one pass: the
   * queue's policy keeps one waiting job per key.
   */
  private async queueNextPass(registration: Registration, delayMs: number): Promise<void> {
    const { queue } = registration;
    if (this.state !== 'running') return;
    const pending = await this.boss.getQueueSize(queue, { before: 'completed' });
    if (pending > 0) return;
    await this.boss.send(
      queue,
      {},
      {
        singletonKey: queue,
        ...(delayMs > 0 ? { startAfter: delayMs / 1000 } : {}),
      },
    );
    registration.worker.notify();
  }
}

function checkedTimeout(queue: string, timeoutMs: number | undefined): number {
  const value = timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(value >= 1_000 && value <= MAX_TIMEOUT_MS)) {
    throw new Error(`jobs: ${queue}: timeoutMs must be between 1 s and 23 h`);
  }
  return value;
}

interface CountRow {
  readonly name: string;
  readonly state: JobState;
  readonly size: number;
}

function isCountRow(row: unknown): row is CountRow {
  if (typeof row !== 'object' || row === null) return false;
  const { name, state, size } = row as Record<string, unknown>;
  return (
    typeof name === 'string' &&
    typeof size === 'number' &&
    (JOB_STATES as readonly unknown[]).includes(state)
  );
}

/** True when `promise` settled within `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const late = sleep(ms, false, { signal: timer.signal }).catch(() => false);
  const inTime = await Promise.race([promise.then(() => true), late]);
  timer.abort();
  return inTime;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
