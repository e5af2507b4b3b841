import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { OpenAPIObject } from '@nestjs/swagger';
import { applyDocDecorators, type Swagger } from './decorators';

/** Where the docs are served: Swagger UI and its assets under it, the document (JSON, YAML) beside it. */
const UI_PATH = 'docs';
const JSON_PATH = 'docs-json';
const YAML_PATH = 'docs-yaml';

/**
 * Swagger UI at /docs and the OpenAPI document at /docs-json and /docs-yaml, all public. The routes are
 * registered now, with the others; @nestjs/swagger is loaded, the recorded decorators applied
 * (decorators.ts says why) and the document built on the first request to one of them, and
 * SwaggerModule serves from then on — from an Express app of its own, since routes added to
 * the gateway's after start-up would come after its 404 handler.
 */
export function installApiDocs(app: INestApplication): void {
  let docs: Promise<RequestHandler> | null = null;
  const serve = (req: Request, res: Response, next: NextFunction): void => {
    docs ??= loadApiDocs(app);
    docs.then(
      (handle) => {
        // What Express does for an app mounted in another: the docs app sets its own
        // prototypes on req and res, and whatever it passes on must meet the gateway's again.
        const prototypes = [req, res].map((r) => Object.getPrototypeOf(r) as object | null);
        void handle(req, res, (error?: unknown) => {
          Object.setPrototypeOf(req, prototypes[0]);
          Object.setPrototypeOf(res, prototypes[1]);
          next(error);
        });
      },
      (error: unknown) => {
        docs = null; // a failed load is tried again on the next request
        next(error);
      },
    );
  };
  const express = app.getHttpAdapter().getInstance() as Express;
  for (const path of [`/${UI_PATH}`, `/${UI_PATH}/*asset`, `/${JSON_PATH}`, `/${YAML_PATH}`])
    express.get(path, serve);
}

async function loadApiDocs(app: INestApplication): Promise<RequestHandler> {
  const swagger: Swagger = await import('@nestjs/swagger');
  applyDocDecorators(swagger);
  const adapter = new ExpressAdapter();
  // SwaggerModule.setup uses only these of the application it is given.
  const host = {
    getHttpAdapter: () => adapter,
    useStaticAssets: (path: string, options: object): void => {
      adapter.useStaticAssets(path, options);
    },
  } as unknown as INestApplication;
  swagger.SwaggerModule.setup(UI_PATH, host, () => buildOpenApiDocument(swagger, app), {
    jsonDocumentUrl: JSON_PATH,
    yamlDocumentUrl: YAML_PATH,
  });
  return adapter.getInstance<RequestHandler>();
}

/** The gateway's OpenAPI document, from the decorators on its controllers and DTOs. */
function buildOpenApiDocument(swagger: Swagger, app: INestApplication): OpenAPIObject {
  const config = new swagger.DocumentBuilder()
    .setTitle('Managed Files Gateway')
    .setDescription(
      'OpenAI-compatible: point the official SDKs at `<gateway>/v1`. Upload a file once with ' +
        '`target_model_names`; every deployment of those models gets a copy, and one unified id ' +
        'works everywhere. Errors use the OpenAI envelope `{"error":{"message","type","param","code"}}`.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A gateway API key' })
    .build();
  return swagger.SwaggerModule.createDocument(app, config);
}
