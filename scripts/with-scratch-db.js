// Runs a shell command with DATABASE_URL pointing at a fresh, empty database on the server at
// TEST_DATABASE_URL, and drops it afterwards (used for the migration drift check).
const { execSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { Client } = require('pg');

async function main() {
  const adminUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const name = `mfg_scratch_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let code = 0;
  try {
    execSync(process.argv[2], {
      stdio: 'inherit',
      env: { ...process.env, DATABASE_URL: url.toString() },
    });
  } catch (error) {
    code = error.status || 1;
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
  process.exit(code);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
