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
  // Every suite closes its app, simulators and clients in afterAll; this only guarantees that
  // a handle left open by a failing test (a reconnecting client, a keep-alive socket) cannot
  // keep CI waiting after the results are in.
  forceExit: true,
};
