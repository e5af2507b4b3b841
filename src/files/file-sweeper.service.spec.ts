import { Logger } from '@nestjs/common';
import type { CacheService } from '../cache/cache.service';
import type { AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import type { JobContext, JobHandler, PeriodicData } from '../jobs/job';
import type { JobsService } from '../jobs/jobs.service';
import type { ProviderRouterService } from '../provider-router/provider-router.service';
import type { FileRecord } from './file-record';
import { FileSweeperService, SWEEP_QUEUE } from './file-sweeper.service';
import type { FilesRepository } from './files.repository';

function record(id: string): FileRecord {
  return {
    id,
    owner: { userId: 'alice', teamId: null },
    purpose: 'batch',
    filename: `${id}.jsonl`,
    bytes: 1,
    mimeType: 'application/jsonl',
    status: 'pending',
    createdAt: 0,
    expiresAt: null,
    copies: [{ deploymentId: 'd1', providerFileId: `provider-${id}` }],
  };
}

interface Fixture {
  readonly sweeper: FileSweeperService;
  readonly scheduled: Array<{ queue: string; everyMs: number; handler: JobHandler<PeriodicData> }>;
  readonly deleted: string[];
  claim: jest.Mock<Promise<FileRecord[]>, [number, number]>;
  deleteCopies: jest.Mock;
}

function fixture(claimed: readonly FileRecord[]): Fixture {
  const scheduled: Fixture['scheduled'] = [];
  const deleted: string[] = [];
  const claim = jest.fn((_stale: number, _limit: number) => Promise.resolve([...claimed]));
  const files = {
    claimForSweep: claim,
    delete: (id: string) => {
      deleted.push(id);
      return Promise.resolve();
    },
    removeCopy: () => Promise.resolve(),
  } as unknown as FilesRepository;
  const deleteCopies = jest.fn(() => Promise.resolve([]));
  const router = {
    deployment: (id: string) => ({ id }) as unknown as Deployment,
    deleteCopies,
    deleteMatching: () => Promise.resolve(true),
  } as unknown as ProviderRouterService;
  const cache = { del: () => Promise.resolve() } as unknown as CacheService;
  const jobs = {
    schedule: (queue: string, everyMs: number, handler: JobHandler<PeriodicData>) => {
      scheduled.push({ queue, everyMs, handler });
    },
  } as unknown as JobsService;
  const config = { sweepIntervalMs: 15_000, sweepStaleAfterMs: 120_000 } as AppConfig;
  const sweeper = new FileSweeperService(files, router, cache, jobs, config);
  return { sweeper, scheduled, deleted, claim, deleteCopies };
}

function job(signal = new AbortController().signal): JobContext<PeriodicData> {
  return { id: 'job-1', queue: SWEEP_QUEUE, data: {}, retryCount: 0, signal };
}

describe(FileSweeperService.name, () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('should register one periodic job at SWEEP_INTERVAL_MS instead of a timer of its own', () => {
    const f = fixture([]);

    f.sweeper.onModuleInit();

    expect(f.scheduled.map(({ queue, everyMs }) => ({ queue, everyMs }))).toEqual([
      { queue: SWEEP_QUEUE, everyMs: 15_000 },
    ]);
  });

  it('should sweep with the configured staleness when the job runs', async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const f = fixture([record('a'), record('b')]);
    f.sweeper.onModuleInit();

    await f.scheduled[0].handler(job());

    expect(f.claim).toHaveBeenCalledWith(120, 50);
    expect(f.deleted).toEqual(['a', 'b']);
  });

  it("should stop a pass before the next file once the job's signal aborts", async () => {
    const f = fixture([record('a'), record('b'), record('c')]);
    const stop = new AbortController();
    f.deleteCopies.mockImplementationOnce(() => {
      stop.abort();
      return Promise.resolve([]);
    });

    const report = await f.sweeper.sweep(0, stop.signal);

    expect(f.deleted).toEqual(['a']);
    expect(report).toEqual({ claimed: 3, removed: 1, deferred: 2 });
  });

  it('should fail the scheduled pass when claiming fails, so that the job counts as failed', async () => {
    const f = fixture([]);
    f.claim.mockRejectedValueOnce(new Error('Connection terminated'));
    f.sweeper.onModuleInit();

    await expect(f.scheduled[0].handler(job())).rejects.toThrow('Connection terminated');
  });

  it('should end a pass under way at shutdown and start none after', async () => {
    const f = fixture([record('a'), record('b')]);
    let release: () => void = () => undefined;
    f.deleteCopies.mockImplementationOnce(
      () => new Promise((resolve) => (release = () => resolve([]))),
    );

    const pass = f.sweeper.sweep(0);
    await new Promise((resolve) => setImmediate(resolve));
    const shutdown = f.sweeper.beforeApplicationShutdown();
    release();
    await shutdown;

    await expect(pass).resolves.toEqual({ claimed: 2, removed: 1, deferred: 1 });
    await expect(f.sweeper.sweep(0)).resolves.toEqual({ claimed: 0, removed: 0, deferred: 0 });
  });
});
