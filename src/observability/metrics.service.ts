import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DataSource } from 'typeorm';

/**
 * Seconds. From a cache-fast file retrieve (~1 ms) to a long completion or a large upload's
 * fan-out (minutes): model calls take seconds, so the default buckets (up to 10 s) would put
 * every slow one in +Inf.
 */
const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/** The route label of a request that matched no API route (404s, Swagger UI's assets). */
export const UNMATCHED_ROUTE = 'unmatched';

export type CacheFailure = 'timeout' | 'error';

/** Counts read at scrape time from the component that owns them (see setSource). */
export interface ScrapeSources {
  /** Jobs by queue and state (JobsService.counts()). */
  jobs: () => Promise<Readonly<Record<string, Readonly<Record<string, number>>>>>;
  /** Files the sweeper has yet to finish (FileSweeperService.backlog()). */
  sweepBacklog: () => Promise<number>;
}

/** The pg Pool counters TypeORM's postgres driver keeps on its master pool. */
interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/**
 * Every Prometheus series the gateway exposes, in one registry of its own (two apps in one
 * process, as in the e2e tests, do not share counts). Labels are bounded by construction:
 * route templates, methods, status codes, deployment ids and operation names from the config
 * and the code, never a request's ids. Counts that already live somewhere (job states, the
 * sweeper's backlog, the database pool) are read when Prometheus scrapes rather than kept twice.
 */
@Injectable()
export class MetricsService {
  private readonly logger = new Logger(MetricsService.name);
  readonly registry = new Registry();
  private readonly sources: Partial<ScrapeSources> = {};

  private readonly httpRequests = new Counter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time from the request arriving to its response ending, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamCalls = new Counter({
    name: 'gateway_upstream_requests_total',
    help: 'Calls to upstream deployments, by deployment id, operation and outcome (ok, 4xx, 5xx, timeout, no_answer, aborted).',
    labelNames: ['deployment', 'operation', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_request_duration_seconds',
    help: 'Time until an upstream answered (its headers, for streamed replies), by deployment id, operation and outcome.',
    labelNames: ['deployment', 'operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly fanOutBytes = new Counter({
    name: 'gateway_upload_fanout_bytes_total',
    help: 'Bytes of the file copies stored on each deployment by uploads.',
    labelNames: ['deployment'] as const,
    registers: [this.registry],
  });
  private readonly spoolWriteSeconds = new Counter({
    name: 'gateway_upload_spool_write_seconds_total',
    help: "Time uploads' spools spent writing the incoming files to disk. Growing about as fast as the uploads' own time means the spool's disk (page cache) is what paces them.",
    registers: [this.registry],
  });
  private readonly spoolBytes = new Counter({
    name: 'gateway_upload_spool_bytes_total',
    help: "Bytes uploads' spools wrote to disk (each incoming file once, whatever the number of copies).",
    registers: [this.registry],
  });
  private readonly cacheLookups = new Counter({
    name: 'gateway_cache_lookups_total',
    help: 'Cache lookups by result, one per key (a lookup that timed out or failed is a miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly cacheFailures = new Counter({
    name: 'gateway_cache_failures_total',
    help: 'Cache calls that timed out or failed (each treated as a miss), by operation and reason.',
    labelNames: ['operation', 'reason'] as const,
    registers: [this.registry],
  });

  constructor(@InjectDataSource() dataSource: DataSource) {
    collectDefaultMetrics({ register: this.registry });
    const sources = this.sources;
    const logger = this.logger;
    new Gauge({
      name: 'gateway_jobs',
      help: 'Background jobs by queue and state (waiting, running, and ended but not yet archived).',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        // A database outage must not fail the scrape: the other series still say what is wrong.
        const counts: Awaited<ReturnType<ScrapeSources['jobs']>> =
          (await sources.jobs?.().catch((error: unknown) => {
            logger.warn(`job counts unavailable: ${(error as Error).message}`);
            return undefined;
          })) ?? {};
        for (const [queue, states] of Object.entries(counts)) {
          for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
        }
      },
    });
    new Gauge({
      name: 'gateway_file_sweep_backlog',
      help: 'Files the sweeper has yet to finish: abandoned uploads, deletions left part-way, expired files.',
      registers: [this.registry],
      async collect() {
        this.reset();
        const backlog = await sources.sweepBacklog?.().catch((error: unknown) => {
          logger.warn(`sweep backlog unavailable: ${(error as Error).message}`);
          return undefined;
        });
        if (backlog !== undefined) this.set(backlog);
      },
    });
    new Gauge({
      name: 'gateway_db_pool_connections',
      help: 'Database pool: connections open (total), idle, and queries waiting for one (waiting).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const pool = poolOf(dataSource);
        if (!pool) return;
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
  }

  /** Registers where a scrape-time count comes from; called by the component that owns it. */
  setSource<K extends keyof ScrapeSources>(name: K, source: ScrapeSources[K]): void {
    this.sources[name] = source;
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  upstreamCall(deployment: string, operation: string, outcome: string, seconds: number): void {
    const labels = { deployment, operation, outcome };
    this.upstreamCalls.inc(labels);
    this.upstreamDuration.observe(labels, seconds);
  }

  uploadedBytes(deployment: string, bytes: number): void {
    this.fanOutBytes.inc({ deployment }, bytes);
  }

  spoolWrite(bytes: number, seconds: number): void {
    this.spoolBytes.inc(bytes);
    this.spoolWriteSeconds.inc(seconds);
  }

  cacheLookup(hits: number, misses: number): void {
    if (hits > 0) this.cacheLookups.inc({ result: 'hit' }, hits);
    if (misses > 0) this.cacheLookups.inc({ result: 'miss' }, misses);
  }

  cacheFailure(operation: string, reason: CacheFailure): void {
    this.cacheFailures.inc({ operation, reason });
  }

  /** The Prometheus text exposition of every series. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The pg Pool behind TypeORM's postgres driver (embedded PGlite is reached through one too). */
function poolOf(dataSource: DataSource): PoolCounts | null {
  const master: unknown = (dataSource.driver as { master?: unknown }).master;
  return isPool(master) ? master : null;
}

function isPool(value: unknown): value is PoolCounts {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<PoolCounts>).totalCount === 'number' &&
    typeof (value as Partial<PoolCounts>).idleCount === 'number' &&
    typeof (value as Partial<PoolCounts>).waitingCount === 'number'
  );
}
