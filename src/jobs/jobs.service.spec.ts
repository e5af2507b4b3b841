import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { JobsService } from './jobs.service';

/** A DataSource whose every statement answers `rows`: JobsService builds pg-boss over it. */
function dataSourceAnswering(rows: unknown[]): DataSource {
  const runner = {
    query: () => Promise.resolve({ records: rows }),
    release: () => Promise.resolve(),
  };
  return { createQueryRunner: () => runner } as unknown as DataSource;
}

function jobsService(rows: unknown[] = []): JobsService {
  return new JobsService(dataSourceAnswering(rows), { drainTimeoutMs: 1_000 } as AppConfig);
}

const noop = (): Promise<void> => Promise.resolve();

describe(JobsService.name, () => {
  it('should refuse options pg-boss could not honour, and a queue registered twice', () => {
    const jobs = jobsService();

    expect(() => jobs.schedule('p', 0, noop)).toThrow('everyMs must be positive');
    expect(() => jobs.schedule('p', 1_000, noop, { timeoutMs: 24 * 3_600_000 })).toThrow(
      'timeoutMs must be between 1 s and 23 h',
    );
    expect(() => jobs.work('w', noop, { concurrency: 0 })).toThrow('concurrency');
    expect(() => jobs.work('w', noop, { retryLimit: 1.5 })).toThrow('retryLimit');
    expect(() => jobs.work('w', noop, { pollIntervalMs: 10 })).toThrow('pollIntervalMs');
    jobs.work('w', noop);
    expect(() => jobs.schedule('w', 1_000, noop)).toThrow('registered twice');
  });

  it('should refuse to send to a queue not registered here, or to a periodic one', async () => {
    const jobs = jobsService();
    jobs.schedule('periodic', 1_000, noop);

    await expect(jobs.send('nowhere', {})).rejects.toThrow('no queue "nowhere" is registered');
    await expect(jobs.send('periodic', {})).rejects.toThrow('is periodic');
  });

  it('should count jobs by queue and state, with every state of every registered queue present', async () => {
    const jobs = jobsService([
      { name: 'w', state: 'completed', size: 4 },
      { name: 'w', state: 'retry', size: 1 },
      { name: 'other', state: 'failed', size: 2 },
      { name: 'w', state: 'bogus', size: 9 },
    ]);
    jobs.work('w', noop);
    jobs.schedule('p', 1_000, noop);

    await expect(jobs.counts()).resolves.toEqual({
      w: { created: 0, retry: 1, active: 0, completed: 4, cancelled: 0, failed: 0 },
      p: { created: 0, retry: 0, active: 0, completed: 0, cancelled: 0, failed: 0 },
      other: { created: 0, retry: 0, active: 0, completed: 0, cancelled: 0, failed: 2 },
    });
  });

  it('should not run before start-up, and shut down cleanly when it never started', async () => {
    const jobs = jobsService();
    jobs.schedule('p', 1_000, noop);

    expect(jobs.isRunning).toBe(false);
    await jobs.beforeApplicationShutdown();
    expect(jobs.isRunning).toBe(false);
    expect(() => jobs.work('late', noop)).toThrow('after shutdown began');
  });
});
