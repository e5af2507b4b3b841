import { Module } from '@nestjs/common';
import { FilesModule } from '../files/files.module';
import { JobsModule } from '../jobs/jobs.module';
import { ManagedObjectsStoreModule } from './managed-objects-store.module';
import { ManagedObjectsService } from './managed-objects.service';

/**
 * Provider-minted objects that live on one deployment (batches, fine-tuning jobs): one table,
 * one lifecycle (create on a deployment holding the inputs, route by unified id, answer
 * terminal objects from the store, register result files once, refresh in the background).
 * Batches and FineTuning each define their kind on it.
 */
@Module({
  imports: [ManagedObjectsStoreModule, FilesModule, JobsModule],
  providers: [ManagedObjectsService],
  exports: [ManagedObjectsService, ManagedObjectsStoreModule],
})
export class ManagedObjectsModule {}
