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

  /** The provider's object as last seen, so terminal objects are answered without a provider call. */
  @Column({ name: 'provider_object', type: 'jsonb', default: () => "'{}'" })
  providerObject!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
