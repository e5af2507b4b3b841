import type { EntityManager } from 'typeorm';

/** pg-boss's job states, in its own order: a job waits (created, retry), runs, then ends. */
export const JOB_STATES = [
  'created',
  'retry',
  'active',
  'completed',
  'cancelled',
  'failed',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** How many jobs of one queue are in each state (ended jobs: until they are archived). */
export type QueueCounts = Readonly<Record<JobState, number>>;

/**
 * What a handler is given. Jobs run as the system: there is no caller and no request, so a
 * handler acts on the records named in `data` through its own module's services, on behalf of
 * their owners, and never on a user's say-so.
 */
export interface JobContext<T> {
  readonly id: string;
  readonly queue: string;
  readonly data: T;
  /** 0 on the first run, n on the n-th retry. */
  readonly retryCount: number;
  /**
   * Aborted when the application shuts down or the job's timeout passes: stop at the next safe
   * point. The job is retried (or, for a periodic job, the next pass comes) either way.
   */
  readonly signal: AbortSignal;
}

/** Throwing fails the job: it is retried with backoff until its retries are used up. */
export type JobHandler<T> = (job: JobContext<T>) => Promise<void>;

/** Periodic jobs carry no data: each pass finds its own work. */
export type PeriodicData = Readonly<Record<string, never>>;

export interface WorkOptions {
  /** Retries after the first run (default 3). */
  readonly retryLimit?: number;
  /**
   * First wait before a retry (default 5 s); it about doubles on each further retry, with
   * jitter. pg-boss counts in whole seconds, so this rounds up to one.
   */
  readonly retryDelayMs?: number;
  /** How long a run may take before it counts as failed (default 5 min, at most 23 h). */
  readonly timeoutMs?: number;
  /** How often an idle worker looks for due jobs (default 2 s). */
  readonly pollIntervalMs?: number;
  /** Jobs of this queue one process runs at once (default 1). */
  readonly concurrency?: number;
}

export interface ScheduleOptions {
  /** How long a pass may take before it counts as failed (default 5 min, at most 23 h). */
  readonly timeoutMs?: number;
}

export interface SendOptions {
  /**
   * At most one waiting job per key: a send while one with the same key waits adds nothing and
   * answers null. One may still be running (a refresh asked for during a refresh is not lost).
   */
  readonly singletonKey?: string;
  /** Not before this many milliseconds from now. */
  readonly startAfterMs?: number;
  /**
   * Enqueue inside this transaction (it appears only if the transaction commits). On the
   * embedded database it is required inside a transaction: a send outside it would wait for the
   * only connection, which the transaction holds.
   */
  readonly manager?: EntityManager;
}
