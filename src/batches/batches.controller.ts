import { Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '../api-docs/decorators';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { InvalidRequestError } from '../common/errors/api-error';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import { clientGone } from '../common/http/client-gone';
import type { GatewayRequest } from '../common/http/request-context';
import type { ObjectRecord } from '../managed-objects/object-record';
import { Refs, UsesManagedRefs } from '../managed-refs/managed-refs.guard';
import type { RefField } from '../managed-refs/ref-field';
import type { ResolvedRefs } from '../managed-refs/resolved-refs';
import type { ObjectList, ProviderObject } from '../managed-objects/managed-objects.service';
import { BatchesService } from './batches.service';
import { ListObjectsQueryDto } from '../managed-objects/dto/list-objects-query.dto';

const INPUT_FILE: RefField = { in: 'body', path: 'input_file_id', kind: 'file' };
const BATCH_ID: RefField = { in: 'params', path: 'batch_id', kind: 'batch' };
const AFTER: RefField = {
  in: 'query',
  path: 'after',
  kind: 'batch',
  onInvalid: 'invalid_request',
  load: false,
};

@ApiTags('batches')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/batches')
export class BatchesController {
  constructor(private readonly batches: BatchesService) {}

  @Post()
  @HttpCode(200)
  @UsesManagedRefs(INPUT_FILE)
  @ApiOperation({
    summary: 'Create a batch on a deployment that holds the input file',
    operationId: 'createBatch',
  })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  create(
    @Req() request: GatewayRequest,
    @Res({ passthrough: true }) response: Response,
    @Refs() refs: ResolvedRefs,
    @CurrentCaller() caller: Caller,
  ): Promise<ProviderObject> {
    const input = refs.inBody('file')[0];
    if (!input) {
      return Promise.reject(missingInputFile());
    }
    return this.batches.create(
      request.body as Record<string, unknown>,
      input,
      caller,
      clientGone(response),
    );
  }

  @Get()
  @UsesManagedRefs(AFTER)
  @ApiOperation({
    summary: "List the caller's batches (from the store)",
    operationId: 'listBatches',
  })
  @ApiErrorResponses(400)
  list(
    @Query() query: ListObjectsQueryDto,
    @Refs() refs: ResolvedRefs,
    @CurrentCaller() caller: Caller,
  ): Promise<ObjectList> {
    return this.batches.list(caller, refs.at(AFTER.path)?.payload.uid ?? null, query.limit ?? 20);
  }

  @Get(':batch_id')
  @UsesManagedRefs(BATCH_ID)
  @ApiOperation({ summary: 'Retrieve a batch', operationId: 'retrieveBatch' })
  @ApiParam({ name: 'batch_id', type: String })
  @ApiErrorResponses(403, 404, 502, 504)
  retrieve(
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProviderObject> {
    return this.batches.retrieve(refs.recordOf<ObjectRecord>(BATCH_ID), clientGone(response));
  }

  @Post(':batch_id/cancel')
  @HttpCode(200)
  @UsesManagedRefs(BATCH_ID)
  @ApiOperation({ summary: 'Cancel a batch', operationId: 'cancelBatch' })
  @ApiParam({ name: 'batch_id', type: String })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  cancel(
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProviderObject> {
    return this.batches.cancel(refs.recordOf<ObjectRecord>(BATCH_ID), clientGone(response));
  }
}

function missingInputFile(): Error {
  return new InvalidRequestError("Missing required parameter: 'input_file_id'.", {
    param: 'input_file_id',
    code: 'missing_required_parameter',
  });
}
