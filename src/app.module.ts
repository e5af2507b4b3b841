import { Module, ValidationPipe, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import type { ValidationError } from 'class-validator';
import { BatchesModule } from './batches/batches.module';
import { CacheModule } from './cache/cache.module';
import { AuthGuard } from './common/auth/auth.guard';
import { InvalidRequestError } from './common/errors/api-error';
import { OpenAIExceptionFilter } from './common/errors/openai-exception.filter';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import type { ResolvedDataSource } from './database/data-source-options';
import { DatabaseModule } from './database/database.module';
import { FilesModule } from './files/files.module';
import { FineTuningModule } from './fine-tuning/fine-tuning.module';
import { HealthModule } from './health/health.module';
import { IdCodecModule } from './id-codec/id-codec.module';
import { JobsModule } from './jobs/jobs.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { ManagedRefsModule } from './managed-refs/managed-refs.module';
import { ModelCallsModule } from './model-calls/model-calls.module';
import { ModelsModule } from './models/models.module';
import { ObservabilityModule } from './observability/observability.module';
import { TracingModule } from './observability/tracing.module';
import { ProviderRouterModule } from './provider-router/provider-router.module';

/** Query/body validation errors become a 400 naming the first offending field in `param`. */
function validationError(errors: ValidationError[]): InvalidRequestError {
  const first = errors[0];
  const message = first
    ? (Object.values(first.constraints ?? {})[0] ?? 'invalid value')
    : 'invalid request';
  return new InvalidRequestError(`Invalid '${first?.property ?? 'request'}': ${message}.`, {
    param: first?.property ?? null,
    code: 'invalid_value',
  });
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, database: ResolvedDataSource): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule,
        LifecycleModule,
        DatabaseModule.forRoot(database),
        CacheModule,
        JobsModule,
        IdCodecModule,
        ManagedRefsModule,
        ProviderRouterModule,
        FilesModule,
        ModelsModule,
        ModelCallsModule,
        BatchesModule,
        FineTuningModule,
        HealthModule,
        // Last: its shutdown hook exports the final spans after the other modules have stopped.
        TracingModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: OpenAIExceptionFilter },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            transform: true,
            whitelist: true,
            exceptionFactory: validationError,
          }),
        },
      ],
    };
  }
}
