import { Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '../api-docs/decorators';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import type { GatewayRequest } from '../common/http/request-context';
import { FILE_ID_PATHS, fileIdRefs } from '../managed-refs/file-id-paths';
import { Refs, UsesManagedRefs } from '../managed-refs/managed-refs.guard';
import type { ResolvedRefs } from '../managed-refs/resolved-refs';
import type { JsonObject } from '../provider-router/provider-client';
import { ModelCallsService } from './model-calls.service';

@ApiTags('chat')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/chat')
export class ChatCompletionsController {
  constructor(private readonly calls: ModelCallsService) {}

  /**
   * OpenAI's chat completions, on one deployment of `model` that holds every referenced file;
   * `file` parts name unified ids, rewritten to that deployment's own. Everything else passes
   * through as sent; `stream: true` relays the events as they arrive.
   */
  @Post('completions')
  @HttpCode(200)
  @UsesManagedRefs(...fileIdRefs(FILE_ID_PATHS.chatCompletions))
  @ApiOperation({
    summary: 'Chat completion, with managed files',
    operationId: 'createChatCompletion',
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
    const candidates = this.calls.eligible(model, deployments, refs);
    const result = await this.calls.call(
      candidates,
      refs,
      (deployment) => {
        body.model = deployment.upstreamModel;
        return { operation: 'chat.completions', body };
      },
      response,
    );
    await this.calls.relay(result, response);
  }
}
