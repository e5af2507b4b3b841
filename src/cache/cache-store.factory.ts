import { Logger } from '@nestjs/common';
import type KeyvRedis from '@keyv/redis';
import { createKeyv } from '@keyv/redis';
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
  readonly cache: Cache;
  /** Closes at once: a graceful QUIT would wait forever on a Redis that is down. */
  close(): Promise<void>;
}

export function createCacheStore(redisUrl: string | null): CacheStore {
  if (!redisUrl) {
    return { cache: createCache({ stores: [new Keyv()] }), close: () => Promise.resolve() };
  }
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
    cache: createCache({ stores: [keyv] }),
    close: async () => {
      try {
        await redis.disconnect(true);
      } catch (error) {
        logger.debug(`redis close: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
}
