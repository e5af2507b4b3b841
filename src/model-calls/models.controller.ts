import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../common/errors/api-error';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import { ProviderRouterService } from '../provider-router/provider-router.service';

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** The public model names of the config, in OpenAI's shape (the SDKs' `models.list()`). */
@ApiTags('models')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/models')
export class ModelsController {
  /** Config models exist from boot on; OpenAI's `created` is a timestamp, so boot time it is. */
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(private readonly router: ProviderRouterService) {}

  @Get()
  @ApiOperation({ summary: 'List the models the caller may use', operationId: 'listModels' })
  list(): { object: 'list'; data: ModelObject[] } {
    return { object: 'list', data: this.router.modelNames.map((id) => this.model(id)) };
  }

  @Get(':model')
  @ApiOperation({ summary: 'Retrieve a model', operationId: 'retrieveModel' })
  @ApiErrorResponses(404)
  retrieve(@Param('model') model: string): ModelObject {
    if (this.router.deploymentsOf(model).length === 0) {
      throw new ApiError(404, 'invalid_request_error', `The model '${model}' does not exist.`, {
        param: 'model',
        code: 'model_not_found',
      });
    }
    return this.model(model);
  }

  private model(id: string): ModelObject {
    return { id, object: 'model', created: this.created, owned_by: 'managed-files-gateway' };
  }
}
