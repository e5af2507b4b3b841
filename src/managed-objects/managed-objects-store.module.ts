import { Module } from '@nestjs/common';
import { ManagedObjectsRepository } from './managed-objects.repository';

/**
 * The table of provider-minted objects, on its own so Files can ask it "is this file in use?"
 * before a delete without depending on the service that registers result files through Files.
 */
@Module({
  providers: [ManagedObjectsRepository],
  exports: [ManagedObjectsRepository],
})
export class ManagedObjectsStoreModule {}
