import { Logger, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { installHttpEdge } from './common/http/http-edge';
import { PrototypedExpressAdapter } from './common/http/prototyped-express-adapter';
import type { AppConfig } from './config/app-config';
import { buildDataSourceOptions } from './database/data-source-options';
import { createRootLogger } from './observability/logger';
import { PinoLoggerService } from './observability/pino-logger.service';
import { installApiDocs } from './api-docs/api-docs';

export interface CreateAppOptions {
  /** Where log lines go instead of stdout (the e2e tests read them). */
  readonly logDestination?: DestinationStream;
}

/**
 * Builds the application from a validated config: used by main.ts and by the e2e tests, so
 * tests boot exactly what production runs.
 */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<INestApplication> {
  const database = await buildDataSourceOptions(config.database);
  try {
    const rootLogger = createRootLogger(config, options.logDestination);
    const app = await NestFactory.create<NestExpressApplication>(
      AppModule.forRoot(config, database),
      new PrototypedExpressAdapter(),
      {
        // Every line, Nest's own while it builds the app included, is a pino line.
        logger: new PinoLoggerService(rootLogger),
        // Parsers are installed by installHttpEdge, after the request id (multipart uploads are
        // parsed as streams by the Files module).
        bodyParser: false,
      },
    );
    app.set('x-powered-by', false);
    app.enableShutdownHooks();
    installHttpEdge(app, config, rootLogger);
    if (config.corsOrigins.length > 0) {
      // After the request id, so preflights are answered (204) with one and logged. Bearer keys
      // travel in a header, never in cookies: no credentials mode. A request from any other
      // origin gets no Access-Control-* header at all (the cors package's array form would
      // still send the allowed methods and headers), and the browser refuses the call.
      const anyOrigin = config.corsOrigins.includes('*');
      app.enableCors({
        origin: (origin, allow) =>
          allow(
            null,
            anyOrigin ? '*' : origin && config.corsOrigins.includes(origin) ? origin : false,
          ),
        exposedHeaders: ['x-request-id', 'retry-after'],
        maxAge: 600,
      });
    }
    installApiDocs(app);
    return app;
  } catch (error) {
    await database.embedded?.close();
    throw error;
  }
}

export const bootLogger = new Logger('Gateway');
