import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class FilePublicId1796116940968 implements MigrationInterface {
  name = 'FilePublicId1796116940968';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "managed_files" ADD "public_id" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "managed_files" DROP COLUMN "public_id"`);
  }
}
