import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type PgBoss from 'pg-boss';
import type { JobContext, JobHandler } from './job';
import { QueueWorker, type WorkerBoss } from './queue-worker';

type Data = { readonly name: string };

/** pg-boss as the worker sees it: a list of due jobs, and what was recorded for each. */
class FakeBoss implements WorkerBoss {
  readonly due: Array<PgBoss.JobWithMetadata<Data>> = [];
  readonly outcomes: string[] = [];
  fetches = 0;
  failRecording = false;

  add(name: string, retryCount = 0): void {
    this.due.push({ id: name, name: 'q', data: { name }, retryCount, retryLimit: 2 } as never);
  }

  fetch = (() => {
    this.fetches++;
    const job = this.due.shift();
    return Promise.resolve(job ? [job] : []);
  }) as unknown as WorkerBoss['fetch'];

  complete = ((_queue: string, id: string) => this.record(`completed ${id}`)) as never;

  fail = ((_queue: string, id: string, data: { message: string }) =>
    this.record(`failed ${id}: ${data.message}`)) as never;

  private record(outcome: string): Promise<unknown> {
    if (this.failRecording) return Promise.reject(new Error('Connection terminated'));
    this.outcomes.push(outcome);
    return Promise.resolve({});
  }
}

function worker(
  boss: FakeBoss,
  handler: JobHandler<Data>,
  options: { timeoutMs?: number; pollIntervalMs?: number } = {},
): QueueWorker<Data> {
  const logger = new Logger('test');
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  return new QueueWorker(
    boss,
    {
      queue: 'q',
      handler,
      pollIntervalMs: options.pollIntervalMs ?? 20,
      timeoutMs: options.timeoutMs ?? 5_000,
      concurrency: 1,
    },
    logger,
  );
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  expect(condition()).toBe(true);
}

describe(QueueWorker.name, () => {
  it('should complete a job whose handler resolves, fail one that throws, and go on with the next', async () => {
    const boss = new FakeBoss();
    boss.add('a');
    boss.add('b');
    boss.add('c');
    const w = worker(boss, async ({ data }) => {
      await Promise.resolve();
      if (data.name === 'b') throw new Error('b is broken');
    });

    w.start();
    await until(() => boss.outcomes.length === 3);
    await w.stop(1_000);

    expect(boss.outcomes).toEqual(['completed a', 'failed b: b is broken', 'completed c']);
  });

  it('should count a handler that throws before its first await as failed', async () => {
    const boss = new FakeBoss();
    boss.add('a');
    const w = worker(boss, () => {
      throw new Error('at once');
    });

    w.start();
    await until(() => boss.outcomes.length === 1);
    await w.stop(1_000);

    expect(boss.outcomes).toEqual(['failed a: at once']);
  });

  it('should keep working when an outcome cannot be recorded (the job is left to expire and be retried)', async () => {
    const boss = new FakeBoss();
    boss.failRecording = true;
    boss.add('a');
    const ran: string[] = [];
    const w = worker(boss, ({ data }) => {
      ran.push(data.name);
      return Promise.resolve();
    });

    w.start();
    await until(() => ran.length === 1);
    boss.failRecording = false;
    boss.add('b');
    await until(() => boss.outcomes.length === 1);
    await w.stop(1_000);

    expect(ran).toEqual(['a', 'b']);
    expect(boss.outcomes).toEqual(['completed b']);
  });

  it('should fail a job that runs past its timeout and abort its signal', async () => {
    const boss = new FakeBoss();
    boss.add('slow');
    let signal: AbortSignal | undefined;
    const w = worker(
      boss,
      (job) => {
        signal = job.signal;
        return sleep(5_000, undefined, { signal: job.signal });
      },
      { timeoutMs: 50 },
    );

    w.start();
    await until(() => boss.outcomes.length === 1);
    await w.stop(1_000);

    expect(boss.outcomes).toEqual(['failed slow: timed out after 50 ms']);
    expect(signal?.aborted).toBe(true);
  });

  it('should let the running job end on stop(), its signal aborted, and claim nothing after', async () => {
    const boss = new FakeBoss();
    boss.add('running');
    boss.add('next');
    let started = false;
    const w = worker(boss, async (job: JobContext<Data>) => {
      started = true;
      await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
      await sleep(20);
    });

    w.start();
    await until(() => started);
    await w.stop(1_000);

    expect(boss.outcomes).toEqual(['completed running']);
    expect(boss.due.map((j) => j.id)).toEqual(['next']);
  });

  it('should look for a job at once when notified instead of at the next poll', async () => {
    const boss = new FakeBoss();
    const ran: string[] = [];
    const w = worker(
      boss,
      ({ data }) => {
        ran.push(data.name);
        return Promise.resolve();
      },
      { pollIntervalMs: 60_000 },
    );

    w.start();
    await until(() => boss.fetches === 1);
    boss.add('sent');
    w.notify();
    await until(() => ran.length === 1);
    await w.stop(1_000);

    expect(ran).toEqual(['sent']);
  });
});
