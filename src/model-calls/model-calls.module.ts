import { Module } from '@nestjs/common';
import { ChatCompletionsController } from './chat-completions.controller';
import { ModelCallsService } from './model-calls.service';
import { ModelsController } from './models.controller';
import { ResponseRefs } from './response-refs';
import { ResponsesController } from './responses.controller';

/**
 * Model calls that use managed files: chat completions and the Responses API on one
 * deployment each, chosen among those that hold every referenced file; plus the model list.
 */
@Module({
  controllers: [ChatCompletionsController, ResponsesController, ModelsController],
  providers: [ModelCallsService, ResponseRefs],
})
export class ModelCallsModule {}
