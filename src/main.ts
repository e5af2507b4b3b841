// First: the young generation is held small while the app loads (see holdYoungGeneration).
import { releaseStartupHold } from './common/memory/hold-young-generation';
// Then tracing (when OTEL_* asks for it) must patch http, express and pg before they load.
import './observability/start-tracing';
import 'reflect-metadata';
import { releaseGarbage, setHeapGrowth } from './common/memory/gc';
import { ConfigError } from './config/config-error';
import { databaseConfigFromEnv } from './config/database-config';
import { loadAppConfig, usesDemoConfig } from './config/load-app-config';
import { bootLogger, createApp } from './create-app';
import { startDemoUpstreams } from './demo-upstreams';

async function bootstrap(): Promise<void> {
  setHeapGrowth();
  // Asked first: in production the demo is refused, and its upstreams must not start at all.
  const demo = usesDemoConfig(process.env)
    ? await startDemoUpstreams(databaseConfigFromEnv(process.env).dataDir)
    : null;
  const config = loadAppConfig({ ...process.env, ...demo?.env });
  const app = await createApp(config);
  // After createApp, so that they go through the logger LOG_LEVEL configured.
  for (const warning of config.warnings) bootLogger.warn(warning);
  if (demo) {
    app.enableShutdownHooks();
    process.once('beforeExit', () => void Promise.all(demo.upstreams.map((u) => u.close())));
  }
  releaseGarbage();
  releaseStartupHold();
  await app.listen(config.port);
  const database =
    config.database.kind === 'embedded' ? `embedded PostgreSQL in ${config.dataDir}` : 'PostgreSQL';
  bootLogger.log(
    `listening on :${config.port} — ${config.deployments.length} deployment(s), ${database}, ` +
      `${config.redisUrl ? 'Redis' : 'in-memory'} cache. API at /v1, docs at /docs`,
  );
}

bootstrap().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    bootLogger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  process.exit(1);
});
