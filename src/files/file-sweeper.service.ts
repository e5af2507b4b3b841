import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { CacheKeys } from '../cache/cache-keys';
import { CacheService } from '../cache/cache.service';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { JobContext, PeriodicData } from '../jobs/job';
import { JobsService } from '../jobs/jobs.service';
import { MetricsService } from '../observability/metrics.service';
import { ProviderRouterService } from '../provider-router/provider-router.service';
import { copyOf } from '../provider-router/upload-fan-out';
import type { FileRecord } from './file-record';
import { FilesRepository } from './files.repository';
import { isCopyOf } from './upload/upload-tag';

const BATCH = 50;
/** The periodic job's queue in pg-boss (its counts are under this name). */
export const SWEEP_QUEUE = 'files-sweep';

export interface SweepReport {
  readonly claimed: number;
  readonly removed: number;
  readonly deferred: number;
}

/**
 * Finishes what requests could not: removes abandoned uploads (including copies whose provider
 * id we never learned, found by their tagged filename), deletions that failed part-way, and
 * expired files. A periodic job (see JobsService): at start-up, then every SWEEP_INTERVAL_MS,
 * one pass at a time across all replicas; the rows a pass takes are claimed with SKIP LOCKED
 * besides, so a direct sweep() call alongside never works on the same file.
 */
@Injectable()
export class FileSweeperService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(FileSweeperService.name);
  private running: Promise<SweepReport> | null = null;
  /** Ends passes early at shutdown: the files they have not reached wait for the next one. */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly files: FilesRepository,
    private readonly router: ProviderRouterService,
    private readonly cache: CacheService,
    private readonly jobs: JobsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() metrics?: MetricsService,
  ) {
    metrics?.setSource('sweepBacklog', () => this.backlog());
  }

  /** Files a pass would take now: a backlog that keeps growing means passes cannot keep up. */
  backlog(): Promise<number> {
    return this.files.countDueForSweep(this.config.sweepStaleAfterMs / 1000);
  }

  onModuleInit(): void {
    this.jobs.schedule(SWEEP_QUEUE, this.config.sweepIntervalMs, (job) => this.scheduledPass(job));
  }

  /** Before the pool closes: a pass under way (a direct call too) stops at the next file. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shutdown.abort();
    await this.running?.catch(() => undefined);
  }

  /**
   * One pass. Passes never overlap in one process: a call made during a pass runs after it.
   * `staleSeconds`: how old a pending upload's heartbeat must be to count as abandoned (tests
   * pass 0); by default the configured SWEEP_STALE_AFTER_MS. `signal`: stop before the next file.
   */
  async sweep(
    staleSeconds = this.config.sweepStaleAfterMs / 1000,
    signal?: AbortSignal,
  ): Promise<SweepReport> {
    while (this.running) {
      await this.running.catch(() => undefined);
    }
    // A plain check rather than AbortSignal.any(), which would tie one more signal to the
    // app-long shutdown signal on every pass.
    const stopped = (): boolean => signal?.aborted === true || this.shutdown.signal.aborted;
    const pass = this.pass(staleSeconds, stopped).finally(() => {
      if (this.running === pass) this.running = null;
    });
    this.running = pass;
    return pass;
  }

  /** Throws when the pass fails as a whole (the database), so the job counts as failed. */
  private async scheduledPass(job: JobContext<PeriodicData>): Promise<void> {
    const report = await this.sweep(undefined, job.signal);
    if (report.claimed > 0) {
      this.logger.log(`sweep: ${report.removed} removed, ${report.deferred} deferred`);
    }
  }

  private async pass(staleSeconds: number, stopped: () => boolean): Promise<SweepReport> {
    if (stopped()) return { claimed: 0, removed: 0, deferred: 0 };
    const claimed = await this.files.claimForSweep(staleSeconds, BATCH);
    let removed = 0;
    for (const record of claimed) {
      // The files claimed but not reached wait, as after a crash, until the heartbeat the
      // claim refreshed is stale again.
      if (stopped()) break;
      // One file's failure must not stop the others (LiteLLM #35357).
      try {
        if (await this.removeCopies(record)) {
          await this.files.delete(record.id);
          await this.cache.del(CacheKeys.managedFile(record.id));
          removed++;
        }
      } catch (error) {
        this.logger.warn(`sweep ${record.id}: ${(error as Error).message}`);
      }
    }
    return { claimed: claimed.length, removed, deferred: claimed.length - removed };
  }

  /** True when no copy of the file is left upstream. */
  private async removeCopies(record: FileRecord): Promise<boolean> {
    let allGone = true;
    for (const copy of record.copies) {
      const deployment = this.router.deployment(copy.deploymentId);
      if (!deployment) {
        // Deployment removed from config: nothing we can reach any more.
        await this.files.removeCopy(record.id, copy.deploymentId);
        continue;
      }
      const gone = copy.providerFileId
        ? (await this.router.deleteCopies([copyOf(deployment, copy.providerFileId)])).length === 0
        : await this.router.deleteMatching(deployment, (name) => isCopyOf(name, record.id));
      if (gone) {
        await this.files.removeCopy(record.id, copy.deploymentId);
      } else {
        allGone = false;
      }
    }
    return allGone;
  }
}
