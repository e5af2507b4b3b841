import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class ManagedObjectFiles1796117288424 implements MigrationInterface {
  name = 'ManagedObjectFiles1796117288424';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "managed_objects" ADD "file_ids" uuid array NOT NULL DEFAULT '{}'`,
    );
    await queryRunner.query(
      `ALTER TABLE "managed_objects" ADD "file_map" jsonb NOT NULL DEFAULT '{}'`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "managed_objects" DROP COLUMN "file_map"`);
    await queryRunner.query(`ALTER TABLE "managed_objects" DROP COLUMN "file_ids"`);
  }
}
