import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { createCacheStore } from './cache-store.factory';
import { CACHE_STORE, CacheService } from './cache.service';

@Global()
@Module({
  providers: [
    {
      provide: CACHE_STORE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        createCacheStore(config.redisUrl, {
          sharedDatabase: config.database.kind === 'postgres',
        }),
    },
    CacheService,
  ],
  exports: [CacheService],
})
export class CacheModule {}
