import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  OneToMany,
  PrimaryColumn,
  type Relation,
} from 'typeorm';
import { ManagedFileCopy } from './managed-file-copy.entity';

/**
 * `pending`: recorded before the fan-out, not visible; `ready`: every copy exists; `deleting`:
 * hidden from callers while the sweeper removes copies that could not be deleted at once.
 */
export type ManagedFileStatus = 'pending' | 'ready' | 'deleting';

const bigintAsNumber = {
  to: (value: number): number => value,
  from: (value: string | null): number => (value === null ? 0 : Number(value)),
};

@Entity({ name: 'managed_files' })
// Lists read live files only, newest or oldest first, one ordered scan per visibility branch
// (FilesRepository.listVisible): partial indexes on `status = 'ready'` hold no pending or
// deleting rows, and their (…, created_at, id) keys are the list's sort key.
@Index('idx_managed_files_live_owner_user_created', ['ownerUserId', 'createdAt', 'id'], {
  where: `status = 'ready'`,
})
@Index('idx_managed_files_live_owner_team_created', ['ownerTeamId', 'createdAt', 'id'], {
  where: `status = 'ready'`,
})
@Index('idx_managed_files_live_created', ['createdAt', 'id'], { where: `status = 'ready'` })
@Index('idx_managed_files_live_purpose_created', ['purpose', 'createdAt', 'id'], {
  where: `status = 'ready'`,
})
// The sweeper's expired files, without reading every live one.
@Index('idx_managed_files_live_expires', ['expiresAt'], {
  where: `status = 'ready' AND expires_at IS NOT NULL`,
})
@Index('idx_managed_files_status_heartbeat', ['status', 'heartbeatAt'])
export class ManagedFile {
  /** The random part of the unified id: the id is derived from this row, never stored. */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'owner_user_id', type: 'text' })
  ownerUserId!: string;

  @Column({ name: 'owner_team_id', type: 'text', nullable: true })
  ownerTeamId!: string | null;

  @Column({ type: 'text' })
  purpose!: string;

  @Column({ type: 'text' })
  filename!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  bytes!: number;

  @Column({ name: 'mime_type', type: 'text' })
  mimeType!: string;

  /**
   * The unified id, derived from this row and the signing secret at upload and kept so that a
   * list page of 10,000 files costs no HMAC at all. Null on rows written before it existed
   * (encoded on the way out). Rotating ID_SIGNING_SECRET invalidates every issued id; clear this
   * column with it (`UPDATE managed_files SET public_id = NULL`).
   */
  @Column({ name: 'public_id', type: 'text', nullable: true })
  publicId!: string | null;

  @Column({ type: 'text' })
  status!: ManagedFileStatus;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  /** Refreshed while an upload runs; a pending row whose heartbeat stopped belongs to a dead process. */
  @Column({ name: 'heartbeat_at', type: 'timestamptz', default: () => 'now()' })
  heartbeatAt!: Date;

  @OneToMany(() => ManagedFileCopy, (copy) => copy.file, { cascade: ['insert'] })
  copies!: Relation<ManagedFileCopy>[];
}
