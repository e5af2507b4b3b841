import { Module } from '@nestjs/common';
import { ManagedObjectsModule } from '../managed-objects/managed-objects.module';
import { ModelsModule } from '../models/models.module';
import { FineTuningController } from './fine-tuning.controller';
import { FineTuningService } from './fine-tuning.service';

/**
 * Fine-tuning jobs on managed files, routed by unified job ids; result files registered for the
 * owner; a succeeded job's model registered in Models, routable for its owner.
 */
@Module({
  imports: [ManagedObjectsModule, ModelsModule],
  controllers: [FineTuningController],
  providers: [FineTuningService],
})
export class FineTuningModule {}
