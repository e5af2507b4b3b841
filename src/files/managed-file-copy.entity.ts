import {
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  type Relation,
} from 'typeorm';
import { ManagedFile } from './managed-file.entity';

/** One copy of a managed file on one deployment: {deployment id → provider file id}. */
@Entity({ name: 'managed_file_copies' })
@Index('uq_managed_file_copies_provider', ['deploymentId', 'providerFileId'], { unique: true })
export class ManagedFileCopy {
  @PrimaryColumn({ name: 'file_id', type: 'uuid' })
  fileId!: string;

  @PrimaryColumn({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  /** null until the upstream answered: the copy is then found by its filename tag instead. */
  @Column({ name: 'provider_file_id', type: 'text', nullable: true })
  providerFileId!: string | null;

  @ManyToOne(() => ManagedFile, (file) => file.copies, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'file_id', foreignKeyConstraintName: 'fk_managed_file_copies_file' })
  file!: Relation<ManagedFile>;
}
