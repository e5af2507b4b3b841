import { Module } from '@nestjs/common';
import { ModelCatalogService } from './model-catalog.service';
import { ModelsController } from './models.controller';

/**
 * Models: the public model names of the config, and fine-tuned models routable for their
 * owners. Model calls and FineTuning resolve `model` here; FineTuning registers what its jobs
 * produce.
 */
@Module({
  controllers: [ModelsController],
  providers: [ModelCatalogService],
  exports: [ModelCatalogService],
})
export class ModelsModule {}
