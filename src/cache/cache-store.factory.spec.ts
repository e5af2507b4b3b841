import { packagesLoaded } from '../common/testing/packages-loaded';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PACKAGES = ['@keyv/redis', '@redis/client'];

describe('createCacheStore: what it loads', () => {
  it('should not load the Redis client for the in-process cache (no REDIS_URL)', () => {
    const loaded = packagesLoaded(`
      const { createCacheStore } = require('./src/cache/cache-store.factory');
      const store = createCacheStore(null);
      await store.cache.set('k', 1);
      if ((await store.cache.get('k')) !== 1) throw new Error('the memory cache lost a value');
    `);
    expect(loaded).toContain('cache-manager');
    expect(loaded.filter((name) => REDIS_PACKAGES.includes(name))).toEqual([]);
  }, 30_000);

  it('should load it when a Redis URL is given', () => {
    const loaded = packagesLoaded(`
      const { createCacheStore } = require('./src/cache/cache-store.factory');
      const store = createCacheStore(${JSON.stringify(REDIS_URL)});
      await store.close();
    `);
    expect(loaded).toEqual(expect.arrayContaining(REDIS_PACKAGES));
  }, 30_000);
});
