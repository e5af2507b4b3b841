import { Module } from '@nestjs/common';
import { FilesModule } from '../files/files.module';
import { JobsModule } from '../jobs/jobs.module';
import { ManagedObjectsModule } from '../managed-objects/managed-objects.module';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';

/** Batches on managed files: routed by unified batch ids, result files registered for the owner. */
@Module({
  imports: [FilesModule, ManagedObjectsModule, JobsModule],
  controllers: [BatchesController],
  providers: [BatchesService],
  exports: [BatchesService],
})
export class BatchesModule {}
