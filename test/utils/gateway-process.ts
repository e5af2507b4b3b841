import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from './create-test-app';

const ROOT = join(__dirname, '..', '..');
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

/** A gateway running as a process of its own: src/main.ts, the production entry point. */
export interface GatewayProcess {
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /**
   * SIGTERM, as an orchestrator stops it; resolves once it has exited, with the signal or code
   * it exited with. SIGKILL if it has not exited in time (and rejects: a gateway that does not
   * stop is a failure).
   */
  stop(): Promise<string>;
}

/**
 * Starts another replica of `app` as a child process (same config file, database, Redis and
 * signing secret; `env` added on top): for what only a real process shows, such as modules
 * patched as they load (OpenTelemetry), which Jest's own module loader would hide. Resolves once
 * /health/ready answers 200.
 */
export async function startGatewayProcess(
  app: TestApp,
  env: Readonly<Record<string, string>>,
): Promise<GatewayProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mfg-gateway-'));
  const port = await freePort();
  const inherited: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    // The test process's own OTEL_* or database settings must not leak into the gateway.
    if (value !== undefined && !key.startsWith('OTEL_') && !MANAGED_VARS.has(key)) {
      inherited[key] = value;
    }
  }
  const database = new URL(TEST_DATABASE_URL);
  database.pathname = `/${app.databaseName}`;
  const child = spawn(process.execPath, ['-r', 'ts-node/register', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...inherited,
      TS_NODE_PROJECT: 'tsconfig.cli.json',
      CONFIG_PATH: app.configPath,
      DATABASE_URL: database.toString(),
      REDIS_URL: TEST_REDIS_URL,
      ID_SIGNING_SECRET: app.signingSecret,
      DATA_DIR: dataDir,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? `code ${String(code)}`));
  });
  let running = true;
  void exited.then(() => (running = false));
  const baseUrl = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<string> => {
    if (running) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      exited,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    await rm(dataDir, { recursive: true, force: true });
    if (outcome !== null) return outcome;
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the gateway did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${output}`);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!running) {
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`the gateway exited before it was ready (${await exited})\n${output}`);
    }
    const ready = await fetch(`${baseUrl}/health/ready`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop().catch(() => undefined);
      throw new Error(`the gateway was not ready after ${READY_TIMEOUT_MS} ms\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { baseUrl, output: () => output, stop };
}

/** Set by startGatewayProcess itself, whatever the test process has. */
const MANAGED_VARS = new Set([
  'CONFIG_PATH',
  'DATABASE_URL',
  'REDIS_URL',
  'ID_SIGNING_SECRET',
  'DATA_DIR',
  'PORT',
  'LOG_LEVEL',
  'NODE_ENV',
]);

/** A port nobody listens on right now (the OS's pick; the gateway takes it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
