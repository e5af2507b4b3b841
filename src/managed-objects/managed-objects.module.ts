import { Module } from '@nestjs/common';
import { ManagedObjectsRepository } from './managed-objects.repository';

/**
 * Provider-minted objects that live on one deployment (batches, fine-tuning jobs): one table,
 * one repository, used by Batches and FineTuning and asked by Files before a delete.
 */
@Module({
  providers: [ManagedObjectsRepository],
  exports: [ManagedObjectsRepository],
})
export class ManagedObjectsModule {}
