import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ResolvedDataSource } from './data-source-options';
import { DatabaseOutageService } from './database-outage.service';
import { runMigrations } from './run-migrations';

const RESOLVED = Symbol('RESOLVED_DATA_SOURCE');

/**
 * PostgreSQL at DATABASE_URL, or the embedded PGlite in DATA_DIR (opened before the app is
 * built, see create-app.ts). Migrations run at start-up (one replica at a time) — and via
 * `npm run migration:run` — with `synchronize` off in both modes.
 */
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(RESOLVED) private readonly resolved: ResolvedDataSource) {}

  static forRoot(resolved: ResolvedDataSource): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => resolved.options,
          dataSourceFactory: async () => {
            const dataSource = await new DataSource(resolved.options).initialize();
            try {
              await runMigrations(dataSource, resolved.embedded === null);
            } catch (error) {
              // Nest retries the factory: this attempt's pool must not outlive it.
              await dataSource.destroy();
              throw error;
            }
            return dataSource;
          },
        }),
      ],
      providers: [{ provide: RESOLVED, useValue: resolved }, DatabaseOutageService],
      exports: [DatabaseOutageService],
    };
  }

  /** Runs after TypeORM closed its pool: then the embedded database can close and unlock. */
  async onApplicationShutdown(): Promise<void> {
    await this.resolved.embedded?.close();
  }
}
