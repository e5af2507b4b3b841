import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Managed Files Gateway')
    .setDescription(
      'OpenAI-compatible: point the official SDKs at `<gateway>/v1`. Upload a file once with ' +
        '`target_model_names`; every deployment of those models gets a copy, and one unified id ' +
        'works everywhere. Errors use the OpenAI envelope `{"error":{"message","type","param","code"}}`.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A gateway API key' })
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Swagger UI at /docs, the document at /docs-json; both public. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
  });
}
