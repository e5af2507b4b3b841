// Read-path benchmark: `GET /v1/files/{id}` and `GET /v1/files?limit=20` through the gateway
// against the same calls made straight to one simulated upstream, with autocannon.
//
//   npm run build && npm run bench:read [-- --seconds 10 --connections 16 --database-url URL --redis-url URL]
//
// The gateway answers these from its store (cache first) without calling the upstream, so the
// ratio says what the gateway's own request path (auth, id decoding, ownership, cache, JSON)
// costs a caller compared with talking to a provider that sits on the same machine.
import {
  GATEWAY_KEY,
  MODEL,
  SIM_KEY,
  load,
  makeTempDir,
  parseFlags,
  runBench,
  startSimulatorAndGateway,
  storeLabel,
  upload,
  type Target,
} from './harness';

type Options = {
  seconds: number;
  connections: number;
  databaseUrl: string | null;
  redisUrl: string | null;
};

const USAGE = `Usage: npm run bench:read -- [--seconds 10] [--connections 16] [--database-url URL] [--redis-url URL]`;

async function main(): Promise<void> {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    { seconds: 10, connections: 16, databaseUrl: null, redisUrl: null },
    USAGE,
  );
  const workDir = makeTempDir('mfg-read-bench-');
  const { sim, gateway } = await startSimulatorAndGateway(workDir, options);
  // Enough files that a list page is full on both sides.
  const directIds: string[] = [];
  const unifiedIds: string[] = [];
  for (let i = 0; i < 25; i++) {
    directIds.push(await upload(sim.apiBase, SIM_KEY));
    unifiedIds.push(await upload(`${gateway.url}/v1`, GATEWAY_KEY, { target_model_names: MODEL }));
  }
  const direct = (path: string): Target => ({ url: `${sim.apiBase}${path}`, key: SIM_KEY });
  const viaGateway = (path: string): Target => ({
    url: `${gateway.url}/v1${path}`,
    key: GATEWAY_KEY,
  });
  const cases = [
    ['retrieve', direct(`/files/${directIds[0]}`), viaGateway(`/files/${unifiedIds[0]}`)],
    ['list (limit 20)', direct('/files?limit=20'), viaGateway('/files?limit=20')],
  ] as const;
  const ms = (n: number): string => n.toFixed(2);
  const rows: string[] = [];
  for (const [name, directTarget, gatewayTarget] of cases) {
    // Warm both paths (JIT, connection pools, cache) before measuring.
    await load(directTarget, options.connections, 2);
    await load(gatewayTarget, options.connections, 2);
    const d = await load(directTarget, options.connections, options.seconds);
    const g = await load(gatewayTarget, options.connections, options.seconds);
    rows.push(
      `| ${name} | ${d.rps.toFixed(0)} req/s, p50 ${ms(d.p50)} ms, p99 ${ms(d.p99)} ms | ` +
        `${g.rps.toFixed(0)} req/s, p50 ${ms(g.p50)} ms, p99 ${ms(g.p99)} ms | ` +
        `${(g.rps / d.rps).toFixed(2)}× | ${d.failures} / ${g.failures} |`,
    );
  }
  process.stdout.write(
    `\n${options.connections} connections, ${options.seconds} s per run; gateway on ${storeLabel(options)}\n\n` +
      `| call | direct to the upstream | through the gateway | throughput ratio | errors (direct / gateway) |\n` +
      `| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n`,
  );
}

runBench(main);
