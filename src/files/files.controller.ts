import { pipeline } from 'node:stream/promises';
import { Controller, Delete, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '../api-docs/decorators';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import { clientGone } from '../common/http/client-gone';
import type { GatewayRequest } from '../common/http/request-context';
import { Refs, UsesManagedRefs } from '../managed-refs/managed-refs.guard';
import type { RefField } from '../managed-refs/ref-field';
import type { ResolvedRefs } from '../managed-refs/resolved-refs';
import { CreateFileDto } from './dto/create-file.dto';
import { DeleteFileResponseDto, FileListDto, FileObjectDto } from './dto/file-object.dto';
import { ListFilesQueryDto } from './dto/list-files-query.dto';
import type { FileRecord } from './file-record';
import { FilesService, type FileList, type FileObject } from './files.service';

/** The `:file_id` of a route: a unified file id the caller may use. */
const FILE_ID: RefField = { in: 'params', path: 'file_id', kind: 'file' };
/** A list cursor is checked for being an id we issued; the page query finds where it stands. */
const AFTER_CURSOR: RefField = {
  in: 'query',
  path: 'after',
  kind: 'file',
  onInvalid: 'invalid_request',
  load: false,
};

@ApiTags('files')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

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
  @UsesManagedRefs(AFTER_CURSOR)
  @ApiOperation({
    summary: 'List the files the caller may see (from the gateway store)',
    operationId: 'listFiles',
  })
  @ApiOkResponse({ type: FileListDto })
  @ApiErrorResponses(400)
  list(
    @Query() query: ListFilesQueryDto,
    @Refs() refs: ResolvedRefs,
    @CurrentCaller() caller: Caller,
  ): Promise<FileList> {
    const after = refs.at(AFTER_CURSOR.path);
    return this.files.list(caller, { ...query, after: after?.payload.uid ?? null });
  }

  @Get(':file_id')
  @UsesManagedRefs(FILE_ID)
  @ApiOperation({ summary: 'Retrieve a file object', operationId: 'retrieveFile' })
  @ApiParam({ name: 'file_id', type: String, description: 'A unified file id (file-…)' })
  @ApiOkResponse({ type: FileObjectDto })
  @ApiErrorResponses(403, 404)
  retrieve(@Refs() refs: ResolvedRefs): FileObject {
    return this.files.toFileObject(refs.recordOf<FileRecord>(FILE_ID));
  }

  @Get(':file_id/content')
  @UsesManagedRefs(FILE_ID)
  @ApiOperation({
    summary: 'Stream the file content from the first deployment that answers',
    operationId: 'downloadFile',
  })
  @ApiParam({ name: 'file_id', type: String, description: 'A unified file id (file-…)' })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  @ApiErrorResponses(403, 404, 502, 504)
  async content(
    @Refs() refs: ResolvedRefs,
    @Req() request: GatewayRequest,
    @Res() response: Response,
  ): Promise<void> {
    const file = refs.recordOf<FileRecord>(FILE_ID);
    const { content } = await this.files.content(file, clientGone(response));
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
  @UsesManagedRefs(FILE_ID)
  @ApiOperation({ summary: 'Delete a file and every copy of it', operationId: 'deleteFile' })
  @ApiParam({ name: 'file_id', type: String, description: 'A unified file id (file-…)' })
  @ApiOkResponse({ type: DeleteFileResponseDto })
  @ApiErrorResponses(403, 404)
  async delete(@Refs() refs: ResolvedRefs): Promise<{ id: string; object: 'file'; deleted: true }> {
    const file = refs.recordOf<FileRecord>(FILE_ID);
    await this.files.delete(file);
    return { id: this.files.toFileObject(file).id, object: 'file', deleted: true };
  }
}
