// e2e tests boot the real AppModule on real PostgreSQL + Redis, with simulated upstream
// deployments on loopback ports. See test/utils/create-test-app.ts.
const base = require('../jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  rootDir: '..',
  roots: ['<rootDir>/test'],
  testRegex: '.*\\.e2e-spec\\.ts$',
  testTimeout: 60_000,
};
