import { Inject, Injectable, Logger, Optional, type OnModuleDestroy } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { MetricsService } from '../observability/metrics.service';
import type { CacheStore } from './cache-store.factory';

export const CACHE_STORE = Symbol('CACHE_STORE');
/** A cache call slower than this counts as a miss: the database is the source of truth. */
export const CACHE_CALL_TIMEOUT_MS = 150;
const ERROR_LOG_INTERVAL_MS = 10_000;
const DELETE_RETRY_MS = 500;

const TIMED_OUT = Symbol('timed out');

/**
 * Read-through cache above the repositories. It never throws and never stalls a request:
 * errors and slow answers are logged (at most once every few seconds) and count as a miss.
 */
@Injectable()
export class CacheService implements OnModuleDestroy {
  private readonly logger = new Logger(CacheService.name);
  private lastErrorLogAt = 0;
  private readonly unconfirmedDeletes = new Set<string>();
  private retryTimer: NodeJS.Timeout | null = null;

  private readonly cache: Cache;

  constructor(
    @Inject(CACHE_STORE) private readonly store: CacheStore,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    this.cache = store.cache;
  }

  async get<T>(key: string): Promise<T | undefined> {
    if (this.store.kind === 'none') return undefined;
    if (this.unconfirmedDeletes.has(key)) {
      // The entry may still hold what a write replaced: not to be trusted until it is gone.
      this.metrics?.cacheLookup(0, 1);
      return undefined;
    }
    const value = await this.bounded('get', () => this.cache.get<T>(key));
    const hit = value !== TIMED_OUT && value !== null && value !== undefined;
    this.metrics?.cacheLookup(hit ? 1 : 0, hit ? 0 : 1);
    return hit ? value : undefined;
  }

  async set<T>(key: string, value: T, ttlMs: number): Promise<void> {
    if (this.store.kind === 'none' || this.unconfirmedDeletes.has(key)) return;
    await this.bounded('set', () => this.cache.set(key, value, ttlMs));
  }

  /**
   * Invalidates a key. A delete that cannot reach the store (Redis down) is remembered: reads of
   * the key count as misses and the delete is retried until it lands, so a stale entry cannot
   * come back when Redis does.
   */
  async del(key: string): Promise<void> {
    if (this.store.kind === 'none') return;
    if (!(await this.tryDel(key))) {
      this.unconfirmedDeletes.add(key);
      this.retryTimer ??= setInterval(() => void this.retryDeletes(), DELETE_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  /**
   * The cached values of many keys in one round trip (an `mget`), then the loader's for the
   * misses in one call — never a round trip per key. What the loader returns is cached (not
   * awaited: the caller has its answer, a slow cache must not delay it); what it leaves out is
   * not, so a missing or unsettled record is looked up again next time.
   */
  async getOrLoadMany<T>(
    ids: readonly string[],
    keyOf: (id: string) => string,
    ttlMs: number,
    load: (missing: readonly string[]) => Promise<ReadonlyMap<string, T>>,
  ): Promise<Map<string, T>> {
    const found = new Map<string, T>();
    if (ids.length === 0) return found;
    const keys = ids.map(keyOf);
    const cached = await this.getMany<T>(keys);
    const missing = ids.filter((id, i) => {
      const value = cached[i];
      if (value === undefined) return true;
      found.set(id, value);
      return false;
    });
    if (missing.length === 0) return found;
    const loaded = await load(missing);
    for (const [id, value] of loaded) {
      found.set(id, value);
      void this.set(keyOf(id), value, ttlMs);
    }
    return found;
  }

  private async getMany<T>(keys: readonly string[]): Promise<Array<T | undefined>> {
    if (this.store.kind === 'none') return keys.map(() => undefined);
    const values = await this.bounded('mget', () => this.cache.mget<T>([...keys]));
    // An entry whose delete has not landed may still hold what a write replaced.
    const found = keys.map((key, i) =>
      values === TIMED_OUT || this.unconfirmedDeletes.has(key)
        ? undefined
        : (values[i] ?? undefined),
    );
    const hits = found.reduce((n, value) => (value === undefined ? n : n + 1), 0);
    this.metrics?.cacheLookup(hits, keys.length - hits);
    return found;
  }

  /** Which store is in use (see CacheStore.kind). */
  get kind(): CacheStore['kind'] {
    return this.store.kind;
  }

  /** For readiness: true when a round trip succeeds within the bound. */
  async ping(): Promise<boolean> {
    const key = 'mfg:ping';
    const wrote = await this.bounded('ping', async () => {
      await this.cache.set(key, 1, 5_000);
      return (await this.cache.get<number>(key)) === 1;
    });
    return wrote === true;
  }

  async onModuleDestroy(): Promise<void> {
    if (this.retryTimer) clearInterval(this.retryTimer);
    await this.store.close();
  }

  /**
   * True only when the delete reached the store. The call is made even when disconnected: it is
   * what makes a lazily connecting client connect.
   */
  private async tryDel(key: string): Promise<boolean> {
    const wasConnected = this.store.connected();
    const result = await this.bounded('del', () => this.cache.del(key));
    return wasConnected && result !== TIMED_OUT && this.store.connected();
  }

  private async retryDeletes(): Promise<void> {
    for (const key of [...this.unconfirmedDeletes]) {
      if (await this.tryDel(key)) this.unconfirmedDeletes.delete(key);
    }
    if (this.unconfirmedDeletes.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private async bounded<T>(op: string, call: () => Promise<T>): Promise<T | typeof TIMED_OUT> {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.store.kind !== 'redis') {
        // In-process: nothing to wait for, so no timer on the request path.
        return await call();
      }
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), CACHE_CALL_TIMEOUT_MS);
      });
      const result = await Promise.race([call(), timeout]);
      if (result === TIMED_OUT) {
        this.metrics?.cacheFailure(op, 'timeout');
        this.logThrottled(`cache ${op} took over ${CACHE_CALL_TIMEOUT_MS} ms; treated as a miss`);
      }
      return result;
    } catch (error) {
      this.metrics?.cacheFailure(op, 'error');
      this.logThrottled(`cache ${op} failed; treated as a miss: ${(error as Error).message}`);
      return TIMED_OUT;
    } finally {
      clearTimeout(timer);
    }
  }

  private logThrottled(message: string): void {
    const now = Date.now();
    if (now - this.lastErrorLogAt >= ERROR_LOG_INTERVAL_MS) {
      this.lastErrorLogAt = now;
      this.logger.warn(message);
    }
  }
}
