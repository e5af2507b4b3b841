import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CacheKeys } from '../cache/cache-keys';
import { CacheService } from '../cache/cache.service';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ProviderRouterService } from '../provider-router/provider-router.service';
import { copyOf } from '../provider-router/upload-fan-out';
import type { FileRecord } from './file-record';
import { FilesRepository } from './files.repository';
import { isCopyOf } from './upload/upload-tag';

const BATCH = 50;

export interface SweepReport {
  readonly claimed: number;
  readonly removed: number;
  readonly deferred: number;
}

/**
 * Finishes what requests could not: removes abandoned uploads (including copies whose provider
 * id we never learned, found by their tagged filename), deletions that failed part-way, and
 * expired files. Runs at start-up and then periodically; safe with several replicas because
 * rows are claimed with SKIP LOCKED.
 */
@Injectable()
export class FileSweeperService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FileSweeperService.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepReport> | null = null;

  constructor(
    private readonly files: FilesRepository,
    private readonly router: ProviderRouterService,
    private readonly cache: CacheService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // Not awaited: start-up must not wait on upstreams.
    void this.sweepSafely();
    this.timer = setInterval(() => void this.sweepSafely(), this.config.sweepIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * One pass. Passes never overlap in one process: a call made during a pass runs after it.
   * `staleSeconds`: how old a pending upload's heartbeat must be to count as abandoned (tests
   * pass 0); by default the configured SWEEP_STALE_AFTER_MS.
   */
  async sweep(staleSeconds = this.config.sweepStaleAfterMs / 1000): Promise<SweepReport> {
    while (this.running) {
      await this.running.catch(() => undefined);
    }
    const pass = this.pass(staleSeconds).finally(() => {
      if (this.running === pass) this.running = null;
    });
    this.running = pass;
    return pass;
  }

  private async sweepSafely(): Promise<void> {
    try {
      const report = await this.sweep();
      if (report.claimed > 0) {
        this.logger.log(`sweep: ${report.removed} removed, ${report.deferred} deferred`);
      }
    } catch (error) {
      this.logger.warn(`sweep failed: ${(error as Error).message}`);
    }
  }

  private async pass(staleSeconds: number): Promise<SweepReport> {
    const claimed = await this.files.claimForSweep(staleSeconds, BATCH);
    let removed = 0;
    for (const record of claimed) {
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
