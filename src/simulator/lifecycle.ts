// Batches and fine-tuning jobs advance through their statuses on a clock instead of timers: the
// status is computed from timestamps whenever the object is read. Nothing is scheduled, so
// closing a simulator can never leave a timer behind.

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
