import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A model a fine-tuning job produced: it exists only on the deployment that trained it, and
 * only its owner, the owner's team and admins may call it. Registered once, when the gateway
 * first sees the job succeed (a retrieve or the background refresh).
 */
@Entity({ name: 'fine_tuned_models' })
@Index('idx_fine_tuned_models_owner_created', ['ownerUserId', 'createdAt'])
@Index('idx_fine_tuned_models_team_created', ['ownerTeamId', 'createdAt'])
export class FineTunedModel {
  /** The provider's `fine_tuned_model`: the name callers put in `model`. */
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'PK_fine_tuned_models_name' })
  name!: string;

  @Column({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  /** The managed fine-tuning job that produced it. */
  @Column({ name: 'job_id', type: 'uuid' })
  jobId!: string;

  @Column({ name: 'owner_user_id', type: 'text' })
  ownerUserId!: string;

  @Column({ name: 'owner_team_id', type: 'text', nullable: true })
  ownerTeamId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
