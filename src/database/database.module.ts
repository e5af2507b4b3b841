import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { ResolvedDataSource } from './data-source-options';

const RESOLVED = Symbol('RESOLVED_DATA_SOURCE');

/**
 * PostgreSQL at DATABASE_URL, or the embedded PGlite in DATA_DIR (opened before the app is
 * built, see create-app.ts). Migrations run at start-up — and via `npm run migration:run` —
 * with `synchronize` off in both modes.
 */
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(RESOLVED) private readonly resolved: ResolvedDataSource) {}

  static forRoot(resolved: ResolvedDataSource): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [TypeOrmModule.forRoot({ ...resolved.options, migrationsRun: true })],
      providers: [{ provide: RESOLVED, useValue: resolved }],
    };
  }

  /** Runs after TypeORM closed its pool: then the embedded database can close and unlock. */
  async onApplicationShutdown(): Promise<void> {
    await this.resolved.embedded?.close();
  }
}
