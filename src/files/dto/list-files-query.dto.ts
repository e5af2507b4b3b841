import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export class ListFilesQueryDto {
  @ApiPropertyOptional({ description: 'Only files with this purpose.' })
  @IsOptional()
  @IsString()
  purpose?: string;

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
