import { applyDecorators } from '@nestjs/common';
import { ApiProperty, docDecorator } from '../../api-docs/decorators';

class ErrorDetailDto {
  @ApiProperty()
  message!: string;

  @ApiProperty({ example: 'invalid_request_error' })
  type!: string;

  @ApiProperty({ nullable: true, type: String })
  param!: string | null;

  @ApiProperty({ nullable: true, type: String })
  code!: string | null;
}

/** OpenAI's ErrorResponse: the one error body every route answers with. */
export class ErrorResponseDto {
  @ApiProperty({ type: ErrorDetailDto })
  error!: ErrorDetailDto;
}

const DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Invalid request (param names the field)',
  401: 'Missing or invalid credentials',
  403: 'The caller may not use this object',
  404: 'No such object (or a forged id)',
  413: 'File larger than the configured limit',
  502: 'An upstream deployment failed',
  504: 'An upstream deployment timed out',
};

/**
 * Documents the error statuses a route can answer, all with the shared envelope. The media type
 * is explicit: a route that streams content (`@ApiProduces`) still answers errors as JSON.
 */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return docDecorator((swagger) =>
    applyDecorators(
      swagger.ApiExtraModels(ErrorResponseDto),
      ...statuses.map((status) =>
        swagger.ApiResponse({
          status,
          description: DESCRIPTIONS[status] ?? 'Error',
          content: {
            'application/json': { schema: { $ref: swagger.getSchemaPath(ErrorResponseDto) } },
          },
        }),
      ),
    ),
  );
}
