# syntax=docker/dockerfile:1
# Multi-stage build: compile with dev dependencies, run with production dependencies only, as
# the unprivileged `node` user. Node 24 is an LTS line (supported to April 2028), the one CI runs
# the whole suite on; package.json `engines` admits ^22.22.3 || ^24.15.0 || >=26 (what the
# dependencies require). Override with --build-arg NODE_IMAGE=node:<version>-bookworm-slim.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY nest-cli.json tsconfig.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=4000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY scripts/node-flags.js ./scripts/
# DATA_DIR holds the embedded database and the generated id-signing secret when DATABASE_URL
# and ID_SIGNING_SECRET are not set; mount a volume there to keep them.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Migrations run at start-up, one replica at a time (an advisory lock), the same ones on embedded
# and external PostgreSQL; `node dist/database/migrate.js` runs them alone, as a one-off job
# before a rolling deployment. Mount the gateway config and point CONFIG_PATH at it (see
# config/example.yaml; docker-compose.yml does both). The Node flags and glibc's allocator
# settings are npm start's, printed by the one script that holds them and says why
# (scripts/node-flags.js), so the image and npm start cannot drift apart.
CMD ["sh", "-c", "exec env $(node scripts/node-flags.js --env) node $(node scripts/node-flags.js) dist/main.js"]
