import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * List indexes for a store of millions of files (issue 12, BENCHMARKS.md "store scale"): partial
 * indexes over live files, one per visibility branch and one for the admin order, each keyed by
 * the list's sort key (created_at, id); one for the sweeper's expired files; the admin order of
 * batches and fine-tuning jobs.
 */
export class StoreScaleIndexes1796210000000 implements MigrationInterface {
  name = 'StoreScaleIndexes1796210000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_owner_team_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_owner_user_created"`);
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_live_expires" ON "managed_files"  ("expires_at") WHERE status = 'ready' AND expires_at IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_live_purpose_created" ON "managed_files"  ("purpose", "created_at", "id") WHERE status = 'ready'`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_live_created" ON "managed_files"  ("created_at", "id") WHERE status = 'ready'`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_live_owner_team_created" ON "managed_files"  ("owner_team_id", "created_at", "id") WHERE status = 'ready'`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_live_owner_user_created" ON "managed_files"  ("owner_user_id", "created_at", "id") WHERE status = 'ready'`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_objects_kind_created" ON "managed_objects"  ("kind", "created_at", "id") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_managed_objects_kind_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_live_owner_user_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_live_owner_team_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_live_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_live_purpose_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_live_expires"`);
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_owner_team_created" ON "managed_files"  ("owner_team_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_owner_user_created" ON "managed_files"  ("owner_user_id", "created_at", "id") `,
    );
  }
}
