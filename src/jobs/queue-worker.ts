import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@nestjs/common';
import type PgBoss from 'pg-boss';
import type { JobHandler } from './job';

/** The part of pg-boss a worker uses (a fake in unit tests). */
export type WorkerBoss = Pick<PgBoss, 'fetch' | 'complete' | 'fail'>;

export interface QueueWorkerOptions<T> {
  readonly queue: string;
  readonly handler: JobHandler<T>;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
}

class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
}

/**
 * Runs one queue's jobs in this process: claims a due job (pg-boss's `fetch`, FOR UPDATE SKIP
 * LOCKED, so each job runs in one replica only), runs it, then records the outcome.
 *
 * Not pg-boss's `work()`: it records the outcome without awaiting it, so a database error at
 * that moment is an unhandled rejection, which ends a Node 20 process; and a job it fetches
 * while `stop()` is under way is run after `stop()` has returned, against a closing pool. Here
 * every outcome is awaited and logged, and `stop()` returns once the last run has ended. A run
 * whose outcome could not be recorded stays active until pg-boss's maintenance expires it and
 * retries it: at least once, never lost.
 */
export class QueueWorker<T extends object> {
  private readonly stopping = new AbortController();
  private readonly loops: Array<Promise<void>> = [];
  /** Runs past their timeout that have not ended yet: shutdown still waits for them. */
  private readonly overdue = new Set<Promise<void>>();
  /** One per napping loop: notify() and stop() wake them all. */
  private readonly naps = new Set<AbortController>();
  private notified = false;

  constructor(
    private readonly boss: WorkerBoss,
    private readonly options: QueueWorkerOptions<T>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
  }

  /** A job was just sent from this process: look now rather than at the next poll. */
  notify(): void {
    this.notified = true;
    this.naps.forEach((nap) => nap.abort());
  }

  /**
   * Stops claiming jobs, aborts the running ones' signals, and waits up to `graceMs` for them to
   * end. Past that they are left to finish on their own (and to be expired and retried).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping.abort();
    this.naps.forEach((nap) => nap.abort());
    const grace = new AbortController();
    const ended = Promise.all([...this.loops, ...this.overdue]).then(() => true);
    const late = sleep(graceMs, false, { signal: grace.signal }).catch(() => false);
    const inTime = await Promise.race([ended, late]);
    grace.abort();
    if (!inTime) {
      this.logger.warn(
        `${this.options.queue}: job(s) still running after ${graceMs} ms; leaving them`,
      );
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const job = await this.claim();
      if (job) {
        // Claimed even if stopping began meanwhile: it is ours now; it runs with its signal aborted.
        await this.run(job);
      } else {
        await this.nap();
      }
    }
  }

  private async claim(): Promise<PgBoss.JobWithMetadata<T> | null> {
    try {
      // pg-boss answers [] when the query fails (the database is down): the next poll retries.
      const [job] = await this.boss.fetch<T>(this.options.queue, {
        batchSize: 1,
        includeMetadata: true,
      });
      return job ?? null;
    } catch (error) {
      this.logger.warn(`${this.options.queue}: could not claim a job: ${messageOf(error)}`);
      return null;
    }
  }

  private async run(job: PgBoss.JobWithMetadata<T>): Promise<void> {
    const { queue, handler, timeoutMs } = this.options;
    const controller = new AbortController();
    const abort = (): void => controller.abort(new Error('the application is shutting down'));
    if (this.stopping.signal.aborted) abort();
    this.stopping.signal.addEventListener('abort', abort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new JobTimeoutError(`timed out after ${timeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    });
    // Inside an async function, so that a handler that throws before its first await still
    // yields a rejected promise rather than escaping the loop.
    const running = (async () =>
      handler({
        id: job.id,
        queue,
        data: job.data,
        retryCount: job.retryCount,
        signal: controller.signal,
      }))();
    try {
      await Promise.race([running, timedOut]);
      await this.record('complete', job, () => this.boss.complete(queue, job.id));
    } catch (error) {
      const attempt = `attempt ${job.retryCount + 1} of ${job.retryLimit + 1}`;
      this.logger.warn(`${queue} job ${job.id} failed (${attempt}): ${messageOf(error)}`);
      await this.record('fail', job, () =>
        this.boss.fail(queue, job.id, { message: messageOf(error) }),
      );
      if (error instanceof JobTimeoutError) this.watchOverdue(running);
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener('abort', abort);
    }
  }

  private watchOverdue(running: Promise<void>): void {
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    this.overdue.add(settled);
    void settled.then(() => this.overdue.delete(settled));
  }

  private async record(
    outcome: 'complete' | 'fail',
    job: PgBoss.JobWithMetadata<T>,
    call: () => Promise<unknown>,
  ): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.logger.warn(
        `${this.options.queue} job ${job.id}: could not record ${outcome} (${messageOf(error)}); ` +
          'it will be expired and retried',
      );
    }
  }

  private async nap(): Promise<void> {
    // A job sent while this loop was busy: look again at once.
    if (this.notified) {
      this.notified = false;
      return;
    }
    const nap = new AbortController();
    this.naps.add(nap);
    try {
      await sleep(this.options.pollIntervalMs, undefined, { signal: nap.signal });
    } catch {
      // Woken by notify() (the loop looks now) or stop().
      this.notified = false;
    } finally {
      this.naps.delete(nap);
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
