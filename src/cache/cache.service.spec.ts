import { createServer, type Server } from 'node:net';
import { CacheService, CACHE_CALL_TIMEOUT_MS } from './cache.service';
import { createCacheStore } from './cache-store.factory';

/** A TCP server that accepts connections and never answers: Redis hanging mid-outage. */
async function blackHole(): Promise<{ url: string; server: Server }> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `redis://127.0.0.1:${address.port}`, server };
}

describe(CacheService.name, () => {
  it('should round-trip values in the in-memory store', async () => {
    const cache = new CacheService(createCacheStore(null));
    await cache.set('k', { a: 1 }, 10_000);
    await expect(cache.get('k')).resolves.toEqual({ a: 1 });
    await cache.del('k');
    await expect(cache.get('k')).resolves.toBeUndefined();
  });

  it('should round-trip values through real Redis', async () => {
    const cache = new CacheService(
      createCacheStore(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'),
    );
    const key = `mfg:test:${Date.now()}`;
    await cache.set(key, { bytes: 42 }, 10_000);
    await expect(cache.get(key)).resolves.toEqual({ bytes: 42 });
    await expect(cache.ping()).resolves.toBe(true);
    // One mget for both keys; the loader sees only the miss.
    const seen: string[][] = [];
    const both = await cache.getOrLoadMany(
      [key, `${key}:2`],
      (id) => id,
      10_000,
      (missing) => {
        seen.push([...missing]);
        return Promise.resolve(new Map(missing.map((id) => [id, { bytes: 7 }])));
      },
    );
    expect(seen).toEqual([[`${key}:2`]]);
    expect([...both.entries()]).toEqual([
      [key, { bytes: 42 }],
      [`${key}:2`, { bytes: 7 }],
    ]);
    await cache.onModuleDestroy();
  });

  it('should answer a miss at once, and load from the source, when Redis refuses connections', async () => {
    const cache = new CacheService(createCacheStore('redis://127.0.0.1:1'));
    const started = Date.now();
    const value = await cache.getOrLoadMany(
      ['k'],
      (id) => id,
      1_000,
      (missing) => Promise.resolve(new Map(missing.map((id) => [id, 'from-db']))),
    );
    expect(value.get('k')).toBe('from-db');
    await expect(cache.ping()).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    await cache.onModuleDestroy();
  });

  it('should treat a Redis that accepts but never answers as a miss within the bound', async () => {
    const { url, server } = await blackHole();
    const cache = new CacheService(createCacheStore(url));
    const started = Date.now();
    await expect(cache.get('k')).resolves.toBeUndefined();
    await cache.set('k', 'v', 1_000);
    await cache.del('k');
    // Three calls, each bounded; nothing waits for the socket.
    expect(Date.now() - started).toBeLessThan(3 * CACHE_CALL_TIMEOUT_MS + 500);
    await cache.onModuleDestroy();
    server.close();
  });
});
