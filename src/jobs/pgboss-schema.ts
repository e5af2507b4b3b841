/**
 * pg-boss creates and migrates its own tables in this schema of the app database; TypeORM never
 * looks outside its entities. The embedded database's template is made with it already created
 * (database/build-embedded-template.ts).
 */
export const PGBOSS_SCHEMA = 'pgboss';
