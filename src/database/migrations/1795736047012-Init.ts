import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class Init1795736047012 implements MigrationInterface {
  name = 'Init1795736047012';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "managed_files" ("id" uuid NOT NULL, "owner_user_id" text NOT NULL, "owner_team_id" text, "purpose" text NOT NULL, "filename" text NOT NULL, "bytes" bigint NOT NULL, "mime_type" text NOT NULL, "status" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE, "heartbeat_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_25f4d5c9f833082d214a4db5741" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_status_heartbeat" ON "managed_files"  ("status", "heartbeat_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_owner_team_created" ON "managed_files"  ("owner_team_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_files_owner_user_created" ON "managed_files"  ("owner_user_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "managed_file_copies" ("file_id" uuid NOT NULL, "deployment_id" text NOT NULL, "provider_file_id" text, CONSTRAINT "PK_346348af84b7eeb7f660bbcd8ff" PRIMARY KEY ("file_id", "deployment_id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_managed_file_copies_provider" ON "managed_file_copies"  ("deployment_id", "provider_file_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "managed_objects" ("id" uuid NOT NULL, "kind" text NOT NULL, "deployment_id" text NOT NULL, "provider_object_id" text NOT NULL, "owner_user_id" text NOT NULL, "owner_team_id" text, "status" text NOT NULL, "provider_object" jsonb NOT NULL DEFAULT '{}', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_c5a649b70907c3d2b4fae5ac0ef" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_objects_team_kind_created" ON "managed_objects"  ("owner_team_id", "kind", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_managed_objects_owner_kind_created" ON "managed_objects"  ("owner_user_id", "kind", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_managed_objects_provider" ON "managed_objects"  ("deployment_id", "provider_object_id") `,
    );
    await queryRunner.query(
      `ALTER TABLE "managed_file_copies" ADD CONSTRAINT "fk_managed_file_copies_file" FOREIGN KEY ("file_id") REFERENCES "managed_files"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "managed_file_copies" DROP CONSTRAINT "fk_managed_file_copies_file"`,
    );
    await queryRunner.query(`DROP INDEX "public"."uq_managed_objects_provider"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_objects_owner_kind_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_objects_team_kind_created"`);
    await queryRunner.query(`DROP TABLE "managed_objects"`);
    await queryRunner.query(`DROP INDEX "public"."uq_managed_file_copies_provider"`);
    await queryRunner.query(`DROP TABLE "managed_file_copies"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_owner_user_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_owner_team_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_managed_files_status_heartbeat"`);
    await queryRunner.query(`DROP TABLE "managed_files"`);
  }
}
