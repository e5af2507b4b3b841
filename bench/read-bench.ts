// Read-path benchmark: `GET /v1/files/{id}` and `GET /v1/files?limit=20` through the gateway
// against the same calls made straight to one simulated upstream, with autocannon.
//
//   npm run build && npm run bench:read [-- --seconds 10 --connections 16 --database-url URL --redis-url URL]
//
// The gateway answers these from its store (cache first) without calling the upstream, so the
// ratio says what the gateway's own request path (auth, id decoding, ownership, cache, JSON)
// costs a caller compared with talking to a provider that sits on the same machine.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';

const ROOT = resolve(__dirname, '..');
const SIM_KEY = 'bench-sim-key';
const GATEWAY_KEY = 'sk-bench';

interface Options {
  seconds: number;
  connections: number;
  databaseUrl: string | null;
  redisUrl: string | null;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { seconds: 10, connections: 16, databaseUrl: null, redisUrl: null };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--seconds':
        options.seconds = Number(value);
        i++;
        break;
      case '--connections':
        options.connections = Number(value);
        i++;
        break;
      case '--database-url':
        options.databaseUrl = value;
        i++;
        break;
      case '--redis-url':
        options.redisUrl = value;
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

const children: ChildProcess[] = [];

function start(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

async function startSimulator(): Promise<string> {
  const child = start([
    join(ROOT, 'dist/simulator/main.js'),
    '--dialect',
    'openai',
    '--api-key',
    SIM_KEY,
  ]);
  if (!child.stdout) throw new Error('no stdout');
  for await (const line of createInterface({ input: child.stdout })) {
    const parsed = JSON.parse(line) as { event?: string; apiBase?: string };
    if (parsed.event === 'listening' && parsed.apiBase) return parsed.apiBase;
  }
  throw new Error('the simulator exited before listening');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startGateway(apiBase: string, options: Options, dir: string): Promise<string> {
  const configPath = join(dir, 'gateway.yaml');
  writeFileSync(
    configPath,
    `model_list:\n  - model_name: bench-model\n` +
      `    litellm_params: { model: openai/bench, api_base: ${JSON.stringify(apiBase)}, api_key: ${SIM_KEY} }\n` +
      `gateway:\n  api_keys:\n    - { key: ${GATEWAY_KEY}, user_id: bench }\n`,
  );
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONFIG_PATH: configPath,
    PORT: String(port),
    DATA_DIR: join(dir, 'data'),
    LOG_LEVEL: 'warn',
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  if (options.databaseUrl) {
    env.DATABASE_URL = options.databaseUrl;
    env.ID_SIGNING_SECRET = randomBytes(32).toString('hex');
  }
  if (options.redisUrl) env.REDIS_URL = options.redisUrl;
  start([join(ROOT, 'dist/main.js')], env);
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 480; i++) {
    try {
      if ((await fetch(`${origin}/health/ready`)).ok) return origin;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error('the gateway did not become ready');
}

async function upload(url: string, key: string, extra: Record<string, string>): Promise<string> {
  const form = new FormData();
  form.set('purpose', 'batch');
  for (const [name, value] of Object.entries(extra)) form.set(name, value);
  form.set('file', new Blob(['{"custom_id":"1"}\n']), 'bench.jsonl');
  const res = await fetch(`${url}/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  if (!res.ok) throw new Error(`upload to ${url} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(url: string, key: string, options: Options): Promise<Measured> {
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.seconds,
    headers: { authorization: `Bearer ${key}` },
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'mfg-read-bench-'));
  try {
    const apiBase = await startSimulator();
    const gateway = await startGateway(apiBase, options, dir);
    // Enough files that a list page is full on both sides.
    const directIds: string[] = [];
    const unifiedIds: string[] = [];
    for (let i = 0; i < 25; i++) {
      directIds.push(await upload(apiBase, SIM_KEY, {}));
      unifiedIds.push(
        await upload(`${gateway}/v1`, GATEWAY_KEY, { target_model_names: 'bench-model' }),
      );
    }
    const cases = [
      ['retrieve', `${apiBase}/files/${directIds[0]}`, `${gateway}/v1/files/${unifiedIds[0]}`],
      ['list (limit 20)', `${apiBase}/files?limit=20`, `${gateway}/v1/files?limit=20`],
    ] as const;
    const rows: string[] = [];
    for (const [name, directUrl, gatewayUrl] of cases) {
      // Warm both paths (JIT, connection pools, cache) before measuring.
      await measure(directUrl, SIM_KEY, { ...options, seconds: 2 });
      await measure(gatewayUrl, GATEWAY_KEY, { ...options, seconds: 2 });
      const direct = await measure(directUrl, SIM_KEY, options);
      const viaGateway = await measure(gatewayUrl, GATEWAY_KEY, options);
      rows.push(
        `| ${name} | ${direct.rps.toFixed(0)} req/s, p50 ${direct.p50} ms, p99 ${direct.p99} ms | ` +
          `${viaGateway.rps.toFixed(0)} req/s, p50 ${viaGateway.p50} ms, p99 ${viaGateway.p99} ms | ` +
          `${(viaGateway.rps / direct.rps).toFixed(2)}× | ${direct.errors} / ${viaGateway.errors} |`,
      );
    }
    const store = `${options.databaseUrl ? 'PostgreSQL' : 'embedded PGlite'}, ${options.redisUrl ? 'Redis' : 'in-memory'} cache`;
    process.stdout.write(
      `\n${options.connections} connections, ${options.seconds} s per run; gateway on ${store}\n\n` +
        `| call | direct to the upstream | through the gateway | throughput ratio | errors (direct / gateway) |\n` +
        `| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n`,
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
});
