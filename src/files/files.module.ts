import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobsModule } from '../jobs/jobs.module';
import { ManagedObjectsStoreModule } from '../managed-objects/managed-objects-store.module';
import { FileSweeperService } from './file-sweeper.service';
import { FilesController } from './files.controller';
import { FilesRepository } from './files.repository';
import { FilesService } from './files.service';
import { ManagedFileCopy } from './managed-file-copy.entity';
import { ManagedFile } from './managed-file.entity';

/**
 * Files: upload once to every deployment of the target models, then retrieve, list, stream
 * and delete by one unified id. FilesService is the public API other modules (Batches,
 * FineTuning) use to resolve a unified file id to a deployment's own id.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([ManagedFile, ManagedFileCopy]),
    ManagedObjectsStoreModule,
    JobsModule,
  ],
  controllers: [FilesController],
  providers: [FilesService, FilesRepository, FileSweeperService],
  exports: [FilesService, FileSweeperService],
})
export class FilesModule {}
