import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '../api-docs/decorators';
import type { Caller } from '../common/auth/caller';
import { CurrentCaller } from '../common/auth/current-caller.decorator';
import { ApiErrorResponses } from '../common/errors/error-response.dto';
import { ModelCatalogService, type ModelObject } from './model-catalog.service';

/** The models the caller may use, in OpenAI's shape (the SDKs' `models.list()`). */
@ApiTags('models')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly catalog: ModelCatalogService) {}

  @Get()
  @ApiOperation({
    summary: "List the models the caller may use (the config's, and the caller's fine-tuned ones)",
    operationId: 'listModels',
  })
  async list(@CurrentCaller() caller: Caller): Promise<{ object: 'list'; data: ModelObject[] }> {
    return { object: 'list', data: await this.catalog.list(caller) };
  }

  @Get(':model')
  @ApiOperation({ summary: 'Retrieve a model', operationId: 'retrieveModel' })
  @ApiErrorResponses(404)
  retrieve(@Param('model') model: string, @CurrentCaller() caller: Caller): Promise<ModelObject> {
    return this.catalog.retrieve(model, caller);
  }
}
