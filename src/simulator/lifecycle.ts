// Batches and fine-tuning jobs advance through their statuses on a clock instead of timers: the
// status is computed from timestamps whenever the object is read. Nothing is scheduled, so
// closing a simulator can never leave a timer behind.

import { notFound } from './http-errors';

/** What every timed object keeps: when it began, how it ended, and the work that ends it. */
export interface TimedRecord {
  readonly id: string;
  readonly createdMs: number;
  outcome: unknown;
  /** Set while the outcome is being produced, so concurrent reads wait for the same work. */
  finishing: Promise<void> | null;
}

/**
 * The part batches and fine-tuning jobs share: a store of records, reads that first bring a
 * record up to date, and the one-time work (`finish`) once `doneStep` steps have passed.
 */
export abstract class TimedEngine<R extends TimedRecord> {
  protected readonly records = new Map<string, R>();

  protected constructor(
    protected readonly stepMs: number,
    private readonly doneStep: number,
    private readonly objectName: string,
  ) {}

  /** The object as the API shows it at `now`. */
  protected abstract render(record: R, now: number): Record<string, unknown>;
  /** Produces the outcome (output files and the like). */
  protected abstract finish(record: R): Promise<void>;
  /** Records a failure of `finish` as the outcome. */
  protected abstract failed(record: R, reason: string): void;
  /** True when a cancel has stopped the record's progress. */
  protected abstract stopped(record: R): boolean;

  async retrieve(id: string): Promise<Record<string, unknown>> {
    const record = this.require(id);
    await this.refresh(record);
    return this.render(record, Date.now());
  }

  /** Brings every record up to date (listing files must show outputs of finished work). */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.records.values()].map((record) => this.refresh(record)));
  }

  reset(): void {
    this.records.clear();
  }

  protected add(record: R): Record<string, unknown> {
    this.records.set(record.id, record);
    return this.render(record, Date.now());
  }

  /** A page of rendered records, newest first, after refreshing them all. */
  protected async page(
    after: string | undefined,
    limit: number,
  ): Promise<{ data: Record<string, unknown>[]; records: R[]; hasMore: boolean }> {
    await this.refreshAll();
    const now = Date.now();
    const page = pageAfter([...this.records.values()].reverse(), after, limit);
    return {
      data: page.data.map((record) => this.render(record, now)),
      records: page.data,
      hasMore: page.hasMore,
    };
  }

  /** False once the record was reset away while its work ran: that work must not store. */
  protected isCurrent(record: R): boolean {
    return this.records.get(record.id) === record;
  }

  protected require(id: string): R {
    const record = this.records.get(id);
    if (!record) throw notFound(this.objectName, id);
    return record;
  }

  protected async refresh(record: R): Promise<void> {
    if (record.outcome || this.stopped(record)) return;
    if (stepsElapsed(record.createdMs, this.stepMs, Date.now()) < this.doneStep) return;
    record.finishing ??= this.finish(record).catch((error: unknown) => {
      this.failed(record, error instanceof Error ? error.message : String(error));
    });
    await record.finishing;
  }
}

/** How many whole status steps have passed between `startMs` and `atMs`. */
export function stepsElapsed(startMs: number, stepMs: number, atMs: number): number {
  if (atMs < startMs) return 0;
  if (stepMs <= 0) return Number.POSITIVE_INFINITY;
  return Math.floor((atMs - startMs) / stepMs);
}

/** When step `n` begins (step 0 is the creation time). */
export function stepStart(startMs: number, stepMs: number, n: number): number {
  return startMs + n * Math.max(0, stepMs);
}

/** Cursor pagination over newest-first objects; `after` is the id of the last item seen. */
export function pageAfter<T extends { id: string }>(
  newestFirst: readonly T[],
  after: string | undefined,
  limit: number,
): { data: T[]; hasMore: boolean } {
  let items = [...newestFirst];
  if (after !== undefined) {
    const index = items.findIndex((item) => item.id === after);
    items = index >= 0 ? items.slice(index + 1) : [];
  }
  return { data: items.slice(0, limit), hasMore: items.length > limit };
}
