#!/usr/bin/env bash
# The one test command (`npm test`): static checks, migration drift, unit tests, then e2e tests
# against real PostgreSQL and Redis. Needs them running (see README); .ci/run starts them.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "typecheck (src, test, bench)"
npx tsc --noEmit -p tsconfig.check.json

step "lint + format"
npx eslint . --max-warnings 0
npx prettier --check . >/dev/null

step "docker-compose.yml (validated without a Docker daemon)"
bash scripts/check-compose.sh

step "build; migrations: the image's entry point (dist/database/migrate.js) on an empty database, then fail on any drift from the entities"
npm run -s build
node scripts/with-scratch-db.js "node dist/database/migrate.js && npm run -s migration:check"

step "unit tests"
timeout 900 node --experimental-vm-modules node_modules/jest/bin/jest.js --config jest.config.js \
  --json --outputFile="$results/unit.json"

step "e2e tests (PostgreSQL + Redis + simulated deployments over HTTP)"
timeout 900 node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/jest-e2e.config.js \
  --runInBand --json --outputFile="$results/e2e.json"

node -e '
  const r = ["unit", "e2e"].map((n) => require(process.argv[1] + "/" + n + ".json"));
  const passed = r.reduce((s, x) => s + x.numPassedTests, 0);
  const failed = r.reduce((s, x) => s + x.numFailedTests, 0);
  console.log(`\ntests: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
' "$results"
