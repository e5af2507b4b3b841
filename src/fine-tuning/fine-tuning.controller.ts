import { Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '../api-docs/decorators';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { InvalidRequestError } from '../common/errors/api-error';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import { clientGone } from '../common/http/client-gone';
import type { GatewayRequest } from '../common/http/request-context';
import { ListObjectsQueryDto } from '../managed-objects/dto/list-objects-query.dto';
import type { ObjectList, ProviderObject } from '../managed-objects/managed-objects.service';
import type { ObjectRecord } from '../managed-objects/object-record';
import { fileIdRefs } from '../managed-refs/file-id-paths';
import { Refs, UsesManagedRefs } from '../managed-refs/managed-refs.guard';
import type { RefField } from '../managed-refs/ref-field';
import type { ResolvedRefs } from '../managed-refs/resolved-refs';
import { FineTuningService, JOB_FILE_FIELDS } from './fine-tuning.service';

const JOB_ID: RefField = { in: 'params', path: 'fine_tuning_job_id', kind: 'fine_tuning_job' };
const TRAINING_FILES: RefField[] = fileIdRefs(JOB_FILE_FIELDS);
const AFTER: RefField = {
  in: 'query',
  path: 'after',
  kind: 'fine_tuning_job',
  onInvalid: 'invalid_request',
  load: false,
};
const METADATA_KEY = /^metadata\[(.+)\]$/;
const PAGE_LIMIT = /^[1-9][0-9]{0,3}$/;

@ApiTags('fine-tuning')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/fine_tuning/jobs')
export class FineTuningController {
  constructor(private readonly jobs: FineTuningService) {}

  @Post()
  @HttpCode(200)
  @UsesManagedRefs(...TRAINING_FILES)
  @ApiOperation({
    summary: 'Create a fine-tuning job on a deployment of `model` that holds its files',
    operationId: 'createFineTuningJob',
  })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  create(
    @Req() request: GatewayRequest,
    @Res({ passthrough: true }) response: Response,
    @Refs() refs: ResolvedRefs,
    @CurrentCaller() caller: Caller,
  ): Promise<ProviderObject> {
    return this.jobs.create(
      request.body as Record<string, unknown>,
      refs,
      caller,
      clientGone(response),
    );
  }

  @Get()
  @UsesManagedRefs(AFTER)
  @ApiOperation({
    summary: "List the caller's fine-tuning jobs (from the store); `metadata[key]=value` filters",
    operationId: 'listPaginatedFineTuningJobs',
  })
  @ApiErrorResponses(400)
  list(
    @Req() request: GatewayRequest,
    @Query() query: ListObjectsQueryDto,
    @Refs() refs: ResolvedRefs,
    @CurrentCaller() caller: Caller,
  ): Promise<ObjectList> {
    const metadata: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.query)) {
      const name = METADATA_KEY.exec(key)?.[1];
      if (name !== undefined && typeof value === 'string') metadata[name] = value;
    }
    return this.jobs.list(caller, {
      after: refs.at(AFTER.path)?.payload.uid ?? null,
      limit: query.limit ?? 20,
      metadata,
    });
  }

  @Get(':fine_tuning_job_id')
  @UsesManagedRefs(JOB_ID)
  @ApiOperation({ summary: 'Retrieve a fine-tuning job', operationId: 'retrieveFineTuningJob' })
  @ApiParam({ name: 'fine_tuning_job_id', type: String })
  @ApiErrorResponses(403, 404, 502, 504)
  retrieve(
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProviderObject> {
    return this.jobs.retrieve(refs.recordOf<ObjectRecord>(JOB_ID), clientGone(response));
  }

  @Post(':fine_tuning_job_id/cancel')
  @HttpCode(200)
  @UsesManagedRefs(JOB_ID)
  @ApiOperation({ summary: 'Cancel a fine-tuning job', operationId: 'cancelFineTuningJob' })
  @ApiParam({ name: 'fine_tuning_job_id', type: String })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  cancel(
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProviderObject> {
    return this.jobs.act(
      refs.recordOf<ObjectRecord>(JOB_ID),
      'fine_tuning.jobs.cancel',
      clientGone(response),
    );
  }

  @Post(':fine_tuning_job_id/pause')
  @HttpCode(200)
  @UsesManagedRefs(JOB_ID)
  @ApiOperation({ summary: 'Pause a fine-tuning job', operationId: 'pauseFineTuningJob' })
  @ApiParam({ name: 'fine_tuning_job_id', type: String })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  pause(
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProviderObject> {
    return this.jobs.act(
      refs.recordOf<ObjectRecord>(JOB_ID),
      'fine_tuning.jobs.pause',
      clientGone(response),
    );
  }

  @Post(':fine_tuning_job_id/resume')
  @HttpCode(200)
  @UsesManagedRefs(JOB_ID)
  @ApiOperation({ summary: 'Resume a paused fine-tuning job', operationId: 'resumeFineTuningJob' })
  @ApiParam({ name: 'fine_tuning_job_id', type: String })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  resume(
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProviderObject> {
    return this.jobs.act(
      refs.recordOf<ObjectRecord>(JOB_ID),
      'fine_tuning.jobs.resume',
      clientGone(response),
    );
  }

  @Get(':fine_tuning_job_id/events')
  @UsesManagedRefs(JOB_ID)
  @ApiOperation({
    summary: "A fine-tuning job's events (from its deployment)",
    operationId: 'listFineTuningEvents',
  })
  @ApiParam({ name: 'fine_tuning_job_id', type: String })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  events(
    @Req() request: GatewayRequest,
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<unknown> {
    return this.jobs.page(
      refs.recordOf<ObjectRecord>(JOB_ID),
      'fine_tuning.jobs.list_events',
      pageQuery(request),
      clientGone(response),
    );
  }

  @Get(':fine_tuning_job_id/checkpoints')
  @UsesManagedRefs(JOB_ID)
  @ApiOperation({
    summary: "A fine-tuning job's checkpoints (from its deployment)",
    operationId: 'listFineTuningJobCheckpoints',
  })
  @ApiParam({ name: 'fine_tuning_job_id', type: String })
  @ApiErrorResponses(400, 403, 404, 502, 504)
  checkpoints(
    @Req() request: GatewayRequest,
    @Refs() refs: ResolvedRefs,
    @Res({ passthrough: true }) response: Response,
  ): Promise<unknown> {
    return this.jobs.page(
      refs.recordOf<ObjectRecord>(JOB_ID),
      'fine_tuning.jobs.checkpoints.list',
      pageQuery(request),
      clientGone(response),
    );
  }
}

/**
 * `after` and `limit` of an events or checkpoints page, passed to the provider: its event and
 * checkpoint ids are its own (they name nothing routable), so `after` is sent as given.
 */
function pageQuery(request: GatewayRequest): URLSearchParams {
  const query = new URLSearchParams();
  const { after, limit } = request.query;
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !PAGE_LIMIT.test(limit)) {
      throw new InvalidRequestError("Invalid 'limit': must be a positive integer.", {
        param: 'limit',
        code: 'invalid_value',
      });
    }
    query.set('limit', limit);
  }
  if (after !== undefined) {
    if (typeof after !== 'string' || after === '' || after.length > 256) {
      throw new InvalidRequestError("Invalid 'after': must be an event or checkpoint id.", {
        param: 'after',
        code: 'invalid_value',
      });
    }
    query.set('after', after);
  }
  return query;
}
