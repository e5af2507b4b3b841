import { Logger, type INestApplication, type LogLevel as NestLogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { installHttpEdge } from './common/http/http-edge';
import { PrototypedExpressAdapter } from './common/http/prototyped-express-adapter';
import type { AppConfig } from './config/app-config';
import { LOG_LEVELS } from './config/env.schema';
import { buildDataSourceOptions } from './database/data-source-options';
import { setupSwagger } from './swagger';

/**
 * Builds the application from a validated config: used by main.ts and by the e2e tests, so
 * tests boot exactly what production runs.
 */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  const database = await buildDataSourceOptions(config.database);
  try {
    const app = await NestFactory.create<NestExpressApplication>(
      AppModule.forRoot(config, database),
      new PrototypedExpressAdapter(),
      {
        logger: LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(config.logLevel) + 1) as NestLogLevel[],
        // Parsers are installed by installHttpEdge, after the request id (multipart uploads are
        // parsed as streams by the Files module).
        bodyParser: false,
      },
    );
    app.set('x-powered-by', false);
    app.enableShutdownHooks();
    installHttpEdge(app, config);
    setupSwagger(app);
    return app;
  } catch (error) {
    await database.embedded?.close();
    throw error;
  }
}

export const bootLogger = new Logger('Gateway');
