import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class FineTunedModels1796200000000 implements MigrationInterface {
  name = 'FineTunedModels1796200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "fine_tuned_models" ("name" text NOT NULL, "deployment_id" text NOT NULL, "job_id" uuid NOT NULL, "owner_user_id" text NOT NULL, "owner_team_id" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_fine_tuned_models_name" PRIMARY KEY ("name"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_fine_tuned_models_owner_created" ON "fine_tuned_models" ("owner_user_id", "created_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_fine_tuned_models_team_created" ON "fine_tuned_models" ("owner_team_id", "created_at") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_fine_tuned_models_team_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_fine_tuned_models_owner_created"`);
    await queryRunner.query(`DROP TABLE "fine_tuned_models"`);
  }
}
