import { ApiProperty, ApiPropertyOptional } from '../../api-docs/decorators';
import { FILE_OBJECT_PURPOSES } from '../upload/create-file-fields';

/** OpenAI's `OpenAIFile`. */
export class FileObjectDto {
  @ApiProperty({ example: 'file-AQEBz2Yb7L0mS0KnZC3v7b3aHwnSbLIYbM1vQm7bW4cN3bA' })
  id!: string;

  @ApiProperty({ enum: ['file'] })
  object!: 'file';

  @ApiProperty({ type: 'integer', description: 'Size of the file in bytes.' })
  bytes!: number;

  @ApiProperty({ type: 'integer', description: 'Unix time (seconds) the file was created.' })
  created_at!: number;

  @ApiPropertyOptional({ type: 'integer', description: 'Unix time (seconds) the file expires.' })
  expires_at?: number;

  @ApiProperty()
  filename!: string;

  /**
   * OpenAI's response enum, plus `evals`: OpenAI accepts `evals` on upload but its spec leaves it
   * out of the file object; the gateway reports the purpose the file was uploaded with.
   */
  @ApiProperty({ enum: FILE_OBJECT_PURPOSES })
  purpose!: string;

  @ApiProperty({ enum: ['uploaded', 'processed', 'error'], deprecated: true })
  status!: 'uploaded' | 'processed' | 'error';
}

export class FileListDto {
  @ApiProperty({ enum: ['list'] })
  object!: 'list';

  @ApiProperty({ type: [FileObjectDto] })
  data!: FileObjectDto[];

  @ApiProperty({ nullable: true, type: String })
  first_id!: string | null;

  @ApiProperty({ nullable: true, type: String })
  last_id!: string | null;

  @ApiProperty()
  has_more!: boolean;
}

export class DeleteFileResponseDto {
  @ApiProperty()
  id!: string;

  @ApiProperty({ enum: ['file'] })
  object!: 'file';

  @ApiProperty()
  deleted!: boolean;
}
