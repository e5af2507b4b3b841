import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { ChatCompletionsController } from './chat-completions.controller';
import { ModelCallsService } from './model-calls.service';
import { ResponseRefs } from './response-refs';
import { ResponsesController } from './responses.controller';

/**
 * Model calls that use managed files: chat completions and the Responses API on one
 * deployment each, chosen among those that hold every referenced file.
 */
@Module({
  imports: [ModelsModule],
  controllers: [ChatCompletionsController, ResponsesController],
  providers: [ModelCallsService, ResponseRefs],
})
export class ModelCallsModule {}
