import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Kinds of provider-minted objects that live on exactly one deployment. */
export type ManagedObjectKind = 'batch' | 'fine_tuning_job';

/**
 * A batch or fine-tuning job: created on one deployment, owned by the caller who created it.
 * Registered at first sight with an upsert on (deployment, provider id), so concurrent
 * registrations converge on one row.
 */
@Entity({ name: 'managed_objects' })
@Index('uq_managed_objects_provider', ['deploymentId', 'providerObjectId'], { unique: true })
@Index('idx_managed_objects_owner_kind_created', ['ownerUserId', 'kind', 'createdAt', 'id'])
@Index('idx_managed_objects_team_kind_created', ['ownerTeamId', 'kind', 'createdAt', 'id'])
// An admin's list: every owner, one kind, in the list's order.
@Index('idx_managed_objects_kind_created', ['kind', 'createdAt', 'id'])
export class ManagedObject {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ type: 'text' })
  kind!: ManagedObjectKind;

  @Column({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  @Column({ name: 'provider_object_id', type: 'text' })
  providerObjectId!: string;

  @Column({ name: 'owner_user_id', type: 'text' })
  ownerUserId!: string;

  @Column({ name: 'owner_team_id', type: 'text', nullable: true })
  ownerTeamId!: string | null;

  @Column({ type: 'text' })
  status!: string;

  /**
   * Managed files the object uses (a batch's input file, a job's training files): a file still
   * in use by an object in progress cannot be deleted.
   */
  @Column({ name: 'file_ids', type: 'uuid', array: true, default: () => "'{}'" })
  fileIds!: string[];

  /**
   * Every provider file id the object's answers name → the unified file id callers see: its
   * input files, and result files once registered. A result file is registered once, so one
   * its owner deleted is not brought back by the next retrieve.
   */
  @Column({ name: 'file_map', type: 'jsonb', default: () => "'{}'" })
  fileMap!: Record<string, string>;

  /** The provider's object as last seen, so terminal objects are answered without a provider call. */
  @Column({ name: 'provider_object', type: 'jsonb', default: () => "'{}'" })
  providerObject!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
