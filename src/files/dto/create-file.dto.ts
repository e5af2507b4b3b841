import { ApiProperty, ApiPropertyOptional } from '../../api-docs/decorators';
import { UPLOAD_PURPOSES } from '../upload/create-file-fields';

/**
 * The multipart form of `POST /v1/files`, for the OpenAPI document. The body is parsed as a
 * stream (upload/incoming-upload.ts), not through a DTO, so that no file is ever buffered.
 */
export class CreateFileDto {
  @ApiProperty({
    type: 'string',
    format: 'binary',
    description: 'The file. Up to the configured limit (default 512 MB).',
  })
  file!: unknown;

  @ApiProperty({ enum: UPLOAD_PURPOSES })
  purpose!: string;

  @ApiPropertyOptional({
    description:
      'Gateway extension: comma-separated model names; every deployment of each gets a copy. ' +
      'Also accepted as repeated `target_model_names[]` fields. Defaults to the configured default_target_models. ' +
      'Send it (and purpose) before `file` and the copies start while the body is still arriving.',
    example: 'gpt-4o-mini, gpt-4o',
  })
  target_model_names?: string;

  @ApiPropertyOptional({ name: 'expires_after[anchor]', enum: ['created_at'] })
  'expires_after[anchor]'?: string;

  @ApiPropertyOptional({ name: 'expires_after[seconds]', minimum: 3600, maximum: 2592000 })
  'expires_after[seconds]'?: number;
}
