import { Module } from '@nestjs/common';
import { ManagedObjectsModule } from '../managed-objects/managed-objects.module';
import { ModelsModule } from '../models/models.module';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';

/** Batches on managed files: routed by unified batch ids, result files registered for the owner. */
@Module({
  imports: [ManagedObjectsModule, ModelsModule],
  controllers: [BatchesController],
  providers: [BatchesService],
})
export class BatchesModule {}
