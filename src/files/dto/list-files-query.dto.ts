import { ApiPropertyOptional } from '../../api-docs/decorators';
import { Transform, Type } from 'class-transformer';
import { ArrayNotEmpty, IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { FILE_OBJECT_PURPOSES } from '../upload/create-file-fields';

export class ListFilesQueryDto {
  @ApiPropertyOptional({ enum: FILE_OBJECT_PURPOSES, description: 'Only files with this purpose.' })
  @IsOptional()
  @IsIn(FILE_OBJECT_PURPOSES, {
    message: `purpose must be one of: ${FILE_OBJECT_PURPOSES.join(', ')}`,
  })
  purpose?: string;

  @ApiPropertyOptional({
    type: String,
    description:
      'Gateway extension: only files with a copy on a deployment of these models (comma-separated).',
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    (Array.isArray(value) ? value : [value])
      .flatMap((v) => String(v).split(','))
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  )
  @ArrayNotEmpty({ message: 'target_model_names must name at least one model' })
  @IsString({ each: true })
  target_model_names?: string[];

  @ApiPropertyOptional({ minimum: 1, maximum: 10000, default: 10000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer between 1 and 10000' })
  @Min(1, { message: 'limit must be an integer between 1 and 10000' })
  @Max(10000, { message: 'limit must be an integer between 1 and 10000' })
  limit?: number;

  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc' })
  @IsOptional()
  @IsIn(['asc', 'desc'], { message: "order must be 'asc' or 'desc'" })
  order?: 'asc' | 'desc';

  @ApiPropertyOptional({ description: 'Cursor: the id of the last file of the previous page.' })
  @IsOptional()
  @IsString()
  after?: string;
}
