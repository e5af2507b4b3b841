import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';

/** One upstream call made while serving a request, for its access line. */
export interface UpstreamCallNote {
  readonly deployment: string;
  readonly operation: string;
  readonly outcome: string;
  readonly ms: number;
}

/**
 * What the gateway learns about a request while serving it, for the one access line written
 * when it ends. One object per request, created by the HTTP observer; the rest of the code
 * reaches it through AsyncLocalStorage, so the ids and calls need no plumbing through services.
 */
export interface RequestStore {
  /** The request's logger: every line it writes carries the request id. */
  readonly log: Logger;
  /** Unified ids the request named (ManagedRefsGuard) or created (uploads, batches, jobs). */
  refs: readonly string[] | null;
  upstream: UpstreamCallNote[] | null;
}

const storage = new AsyncLocalStorage<RequestStore>();

export function runWithRequestStore<R>(store: RequestStore, fn: () => R): R {
  return storage.run(store, fn);
}

/** The store of the request being served; undefined in background work and at boot. */
export function currentRequestStore(): RequestStore | undefined {
  return storage.getStore();
}

/**
 * Notes unified ids on the request's store: the current one, or `store` taken earlier by code
 * that runs later outside the request's async context (a stream's events arrive in the
 * context of the pooled upstream socket, which may have been opened for another request).
 */
export function noteManagedRefs(
  ids: readonly string[],
  store: RequestStore | undefined = storage.getStore(),
): void {
  if (ids.length === 0) return;
  if (store) store.refs = store.refs ? [...store.refs, ...ids] : ids;
}

export function noteUpstreamCall(call: UpstreamCallNote): void {
  const store = storage.getStore();
  if (!store) return;
  if (store.upstream) store.upstream.push(call);
  else store.upstream = [call];
}
