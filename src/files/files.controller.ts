import { pipeline } from 'node:stream/promises';
import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import type { GatewayRequest } from '../common/http/request-context';
import { DecodeIdsInterceptor, DecodesIds, decodedId } from '../id-codec/decode-ids.interceptor';
import { EncodeIdsInterceptor } from '../id-codec/encode-ids.interceptor';
import { IdCodecService } from '../id-codec/id-codec.service';
import { InternalRef } from '../id-codec/internal-ref';
import { AccessedFile } from './accessed-file.decorator';
import { CreateFileDto } from './dto/create-file.dto';
import { DeleteFileResponseDto, FileListDto, FileObjectDto } from './dto/file-object.dto';
import { ListFilesQueryDto } from './dto/list-files-query.dto';
import { FileAccessGuard } from './file-access.guard';
import type { FileRecord } from './file-record';
import { FilesService, type FileList, type FileObject } from './files.service';

const AFTER_CURSOR = {
  in: 'query',
  name: 'after',
  kind: 'file',
  onInvalid: 'invalid_request',
} as const;

@ApiTags('files')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/files')
@UseInterceptors(DecodeIdsInterceptor, EncodeIdsInterceptor)
export class FilesController {
  constructor(
    private readonly files: FilesService,
    private readonly ids: IdCodecService,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Upload a file once; every deployment of the target models gets a copy',
    operationId: 'createFile',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: CreateFileDto })
  @ApiOkResponse({ type: FileObjectDto })
  @ApiErrorResponses(400, 413, 502, 504)
  create(@Req() request: GatewayRequest, @CurrentCaller() caller: Caller): Promise<FileObject> {
    return this.files.create(request, caller);
  }

  @Get()
  @DecodesIds(AFTER_CURSOR)
  @ApiOperation({
    summary: 'List the files the caller may see (from the gateway store)',
    operationId: 'listFiles',
  })
  @ApiOkResponse({ type: FileListDto })
  @ApiErrorResponses(400)
  list(
    @Query() query: ListFilesQueryDto,
    @Req() request: GatewayRequest,
    @CurrentCaller() caller: Caller,
  ): Promise<FileList> {
    const after = decodedId(request, this.ids, AFTER_CURSOR);
    return this.files.list(caller, { ...query, after: after?.uid ?? null });
  }

  @Get(':file_id')
  @UseGuards(FileAccessGuard)
  @ApiOperation({ summary: 'Retrieve a file object', operationId: 'retrieveFile' })
  @ApiParam({ name: 'file_id', type: String, description: 'A unified file id (file-…)' })
  @ApiOkResponse({ type: FileObjectDto })
  @ApiErrorResponses(403, 404)
  retrieve(@AccessedFile() file: FileRecord): FileObject {
    return this.files.toFileObject(file);
  }

  @Get(':file_id/content')
  @UseGuards(FileAccessGuard)
  @ApiOperation({
    summary: 'Stream the file content from the first deployment that answers',
    operationId: 'downloadFile',
  })
  @ApiParam({ name: 'file_id', type: String, description: 'A unified file id (file-…)' })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  @ApiErrorResponses(403, 404, 502, 504)
  async content(
    @AccessedFile() file: FileRecord,
    @Req() request: GatewayRequest,
    @Res() response: Response,
  ): Promise<void> {
    const abort = new AbortController();
    response.on('close', () => abort.abort());
    const { content } = await this.files.content(file, abort.signal);
    response.status(200).setHeader('content-type', content.contentType);
    if (content.contentLength) {
      response.setHeader('content-length', content.contentLength);
    }
    try {
      await pipeline(content.body, response);
    } catch {
      // Headers are out: cutting the connection is the only way left to say the body is short.
      request.socket.destroy();
    }
  }

  @Delete(':file_id')
  @UseGuards(FileAccessGuard)
  @ApiOperation({ summary: 'Delete a file and every copy of it', operationId: 'deleteFile' })
  @ApiParam({ name: 'file_id', type: String, description: 'A unified file id (file-…)' })
  @ApiOkResponse({ type: DeleteFileResponseDto })
  @ApiErrorResponses(403, 404)
  async delete(
    @AccessedFile() file: FileRecord,
  ): Promise<{ id: InternalRef; object: 'file'; deleted: true }> {
    await this.files.delete(file);
    return { id: this.files.toFileObject(file).id, object: 'file', deleted: true };
  }
}
