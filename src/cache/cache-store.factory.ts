import { Logger } from '@nestjs/common';
import type * as KeyvRedisModule from '@keyv/redis';
import type KeyvRedis from '@keyv/redis';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';

const logger = new Logger('CacheStore');

/**
 * cache-manager over Keyv: Redis when REDIS_URL is set, in-process memory otherwise.
 *
 * The Redis client options are what keeps an outage from hanging requests: without
 * `disableOfflineQueue` a command waits for as long as Redis is down (forever if it was down at
 * start). With it, commands fail at once while disconnected, and the reconnect strategy brings
 * the client back about a second after Redis returns.
 */
export interface CacheStore {
  /** `none`: caching is off on purpose (a shared database with no shared cache). */
  readonly kind: 'redis' | 'memory' | 'none';
  readonly cache: Cache;
  /** True while writes reach the store (always, in memory; while connected, for Redis). */
  connected(): boolean;
  /** Closes at once: a graceful QUIT would wait forever on a Redis that is down. */
  close(): Promise<void>;
}

/**
 * `redisUrl` null: an in-process cache, which is right only when one process owns the data
 * (the embedded database, locked to one process). With a shared database and no Redis, other
 * replicas would keep serving records this one deleted, so nothing is cached (`shared: true`).
 */
export function createCacheStore(
  redisUrl: string | null,
  options: { sharedDatabase: boolean } = { sharedDatabase: false },
): CacheStore {
  if (!redisUrl) {
    if (options.sharedDatabase) {
      logger.warn(
        'DATABASE_URL without REDIS_URL: file records are not cached, so that replicas never ' +
          'serve a record another replica changed. Set REDIS_URL to cache them.',
      );
    }
    return {
      // With `none`, CacheService makes no cache calls at all.
      kind: options.sharedDatabase ? 'none' : 'memory',
      // In process there is nothing to serialise for: no JSON round trip per read (about 30 µs
      // on the chat path). Cached records are plain data that nobody mutates.
      cache: createCache({ stores: [new Keyv({ serialize: undefined, deserialize: undefined })] }),
      connected: () => true,
      close: () => Promise.resolve(),
    };
  }
  // Required here, not imported: the Redis client is ~420 modules that a gateway without
  // REDIS_URL would load and never use (measured: 2 MB of heap at rest, 8 MB of boot peak).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createKeyv } = require('@keyv/redis') as typeof KeyvRedisModule;
  const keyv = createKeyv(
    {
      url: redisUrl,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 1_000,
        reconnectStrategy: (attempts: number) => Math.min(100 * 2 ** attempts, 1_000),
      },
    },
    { throwOnConnectError: false, throwOnErrors: false, namespace: undefined },
  );
  keyv.on('error', (error: unknown) => {
    logger.debug(`redis: ${error instanceof Error ? error.message : String(error)}`);
  });
  const redis = keyv.store as KeyvRedis<unknown>;
  return {
    kind: 'redis',
    cache: createCache({ stores: [keyv] }),
    // A single client (not a cluster) is what createKeyv builds from a URL.
    connected: () => {
      const client = redis.client;
      return 'isReady' in client && client.isReady === true;
    },
    close: async () => {
      try {
        await redis.disconnect(true);
      } catch (error) {
        logger.debug(`redis close: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
}
