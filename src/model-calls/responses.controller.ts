import { randomUUID } from 'node:crypto';
import { Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '../api-docs/decorators';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { InvalidRequestError } from '../common/errors/api-error';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import type { GatewayRequest } from '../common/http/request-context';
import type { Deployment } from '../config/deployment';
import { IdCodecService } from '../id-codec/id-codec.service';
import { FILE_ID_PATHS, fileIdRefs } from '../managed-refs/file-id-paths';
import { Refs, UsesManagedRefs } from '../managed-refs/managed-refs.guard';
import type { RefField } from '../managed-refs/ref-field';
import type { ResolvedRef, ResolvedRefs } from '../managed-refs/resolved-refs';
import type { JsonObject, ProviderCall } from '../provider-router/provider-client';
import { ProviderRouterService } from '../provider-router/provider-router.service';
import { replaceAll } from '../common/text/replace-all';
import { currentRequestStore, noteManagedRefs } from '../observability/request-store';
import { ModelCallsService, type ReplyRewrite } from './model-calls.service';
import type { ResponseRecord } from './response-refs';

const RESPONSE_ID: RefField = { in: 'params', path: 'response_id', kind: 'response' };
const PREVIOUS: RefField = { in: 'body', path: 'previous_response_id', kind: 'response' };
// `input_file` and `input_image` items, at the top of `input` and inside message content.
const INPUT_FILES: RefField[] = fileIdRefs(FILE_ID_PATHS.responses);
const PROVIDER_RESPONSE_ID = /"id":"(resp_[A-Za-z0-9_-]+)"/;

/**
 * The Responses API. A response is stateful at the provider, so its id comes back sealed: it
 * routes retrieve, delete, input_items, cancel and `previous_response_id` to the deployment
 * that holds it, for its owner (team, admins) only, and reveals no provider id.
 */
@ApiTags('responses')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/responses')
export class ResponsesController {
  constructor(
    private readonly calls: ModelCallsService,
    private readonly router: ProviderRouterService,
    private readonly ids: IdCodecService,
  ) {}

  @Post()
  @HttpCode(200)
  @UsesManagedRefs(...INPUT_FILES, PREVIOUS)
  @ApiOperation({
    summary: 'Create a model response, with managed files',
    operationId: 'createResponse',
  })
  @ApiErrorResponses(400, 403, 404, 429, 502, 504)
  async create(
    @Req() request: GatewayRequest,
    @Res() response: Response,
    @Refs() refs: ResolvedRefs,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    const body = request.body as JsonObject & Record<string, unknown>;
    const { model, deployments } = await this.calls.deploymentsOfModel(body, caller);
    let candidates = this.calls.eligible(model, deployments, refs);
    const previous = refs.inBody('response')[0] as ResolvedRef<ResponseRecord> | undefined;
    if (previous?.record) {
      // A conversation continues where its state lives.
      const home = previous.record.deploymentId;
      candidates = candidates.filter((d) => d.id === home);
      if (candidates.length === 0) {
        throw new InvalidRequestError(
          `'previous_response_id' belongs to a deployment of another model than '${model}' (or one that lacks a referenced file).`,
          { param: 'previous_response_id', code: 'invalid_value' },
        );
      }
      refs.rewrite('response', (ref) => (ref.record as ResponseRecord).providerId);
    }
    const result = await this.calls.call(
      candidates,
      refs,
      (deployment) => {
        body.model = deployment.upstreamModel;
        return { operation: 'responses.create', body };
      },
      response,
    );
    const back = new Map<string, string>();
    if (previous?.record) back.set(previous.record.providerId, previous.id);
    await this.calls.relay(result, response, () => this.sealer(result.deployment, caller, back));
  }

  @Get(':response_id')
  @UsesManagedRefs(RESPONSE_ID)
  @ApiOperation({ summary: 'Retrieve a response', operationId: 'getResponse' })
  @ApiParam({ name: 'response_id', type: String })
  @ApiErrorResponses(403, 404, 502, 504)
  retrieve(
    @Req() request: GatewayRequest,
    @Res() response: Response,
    @Refs() refs: ResolvedRefs,
  ): Promise<void> {
    return this.onResponse(response, refs, (id) => ({
      operation: 'responses.retrieve',
      id,
      query: queryOf(request),
    }));
  }

  @Delete(':response_id')
  @UsesManagedRefs(RESPONSE_ID)
  @ApiOperation({ summary: 'Delete a response', operationId: 'deleteResponse' })
  @ApiParam({ name: 'response_id', type: String })
  @ApiErrorResponses(403, 404, 502, 504)
  delete(@Res() response: Response, @Refs() refs: ResolvedRefs): Promise<void> {
    return this.onResponse(response, refs, (id) => ({
      operation: 'responses.delete',
      id,
    }));
  }

  @Get(':response_id/input_items')
  @UsesManagedRefs(RESPONSE_ID)
  @ApiOperation({ summary: 'List the input items of a response', operationId: 'listInputItems' })
  @ApiParam({ name: 'response_id', type: String })
  @ApiErrorResponses(403, 404, 502, 504)
  inputItems(
    @Req() request: GatewayRequest,
    @Res() response: Response,
    @Refs() refs: ResolvedRefs,
  ): Promise<void> {
    return this.onResponse(response, refs, (id) => ({
      operation: 'responses.input_items',
      id,
      query: queryOf(request),
    }));
  }

  @Post(':response_id/cancel')
  @HttpCode(200)
  @UsesManagedRefs(RESPONSE_ID)
  @ApiOperation({ summary: 'Cancel a background response', operationId: 'cancelResponse' })
  @ApiParam({ name: 'response_id', type: String })
  @ApiErrorResponses(403, 404, 502, 504)
  cancel(@Res() response: Response, @Refs() refs: ResolvedRefs): Promise<void> {
    return this.onResponse(response, refs, (id) => ({
      operation: 'responses.cancel',
      id,
    }));
  }

  /** A call about one existing response: to its deployment alone, its id mapped both ways. */
  private async onResponse(
    response: Response,
    refs: ResolvedRefs,
    build: (providerId: string) => ProviderCall,
  ): Promise<void> {
    const ref = refs.at<ResponseRecord>(RESPONSE_ID.path);
    const record = ref?.record;
    const deployment = record ? this.router.deployment(record.deploymentId) : undefined;
    if (!ref || !record || !deployment) {
      throw new InvalidRequestError('This response lives on a deployment no longer configured.', {
        param: 'response_id',
        code: 'deployment_gone',
      });
    }
    const result = await this.calls.call(
      [deployment],
      refs,
      () => build(record.providerId),
      response,
    );
    const back = new Map([[record.providerId, ref.id]]);
    await this.calls.relay(result, response, () => (text) => replaceAll(text, back));
  }

  /**
   * Seals the provider's response id (learnt from the reply, or from the first event of a
   * stream) into a unified id owned by the caller, and maps known ids back.
   */
  private sealer(deployment: Deployment, caller: Caller, back: Map<string, string>): ReplyRewrite {
    let sealedFor: string | null = null;
    // Taken now: a stream's events are rewritten outside this request's async context.
    const store = currentRequestStore();
    return (text) => {
      if (sealedFor === null) {
        const providerId = PROVIDER_RESPONSE_ID.exec(text)?.[1];
        if (providerId && !back.has(providerId)) {
          sealedFor = providerId;
          const sealed = this.ids.encode({
            kind: 'response',
            uid: randomUUID(),
            deploymentId: deployment.id,
            providerId,
            ownerUserId: caller.userId,
            ...(caller.teamId === null ? {} : { ownerTeamId: caller.teamId }),
          });
          back.set(providerId, sealed);
          noteManagedRefs([sealed], store);
        }
      }
      return replaceAll(text, back);
    };
  }
}

function queryOf(request: GatewayRequest): URLSearchParams {
  const url = request.originalUrl;
  const at = url.indexOf('?');
  return new URLSearchParams(at === -1 ? '' : url.slice(at + 1));
}
