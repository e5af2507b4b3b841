/**
 * Chat completions benchmark (bench/README.md): `POST /v1/chat/completions` with one managed
 * file part, through the gateway against the same call made straight to the simulated upstream.
 *
 *   npm run build
 *   npm run bench:chat [-- --seconds 5 --repeat 3 --database-url URL --redis-url URL]
 *   npm run bench:chat -- --cpu-prof DIR      # profile the gateway under load instead
 *
 * Direct: the body carries the simulator's own file id (uploaded to it directly) and model
 * `bench`. Through the gateway: model `bench-model` and the unified id of a file uploaded with
 * `target_model_names=bench-model`; the gateway must rewrite it to its copy's provider id, which
 * the simulator echoes (checked before anything is measured). The file record is in the cache
 * (warm) for every measured call. Cases: `file` (one file part), `nofile` (no file part: the
 * pass-through cost) and `stream` (`stream: true` with the file part). Each is measured at
 * concurrency 1 (latency; added = gateway − direct) and at N connections (throughput), direct
 * and gateway runs adjacent, repeated; the gateway's and the simulator's CPU time per request
 * come from /proc. At concurrency 1 the `file` case is also measured with other clients (an
 * undici keep-alive loop, the openai SDK, and curl), since the client's own cost moves ratios.
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { Pool } from 'undici';
import { formatProfile, summarizeProfile } from './cpu-profile';
import {
  GATEWAY_KEY,
  GATEWAY_MAIN,
  MODEL,
  SIMULATOR_MAIN,
  SIM_KEY,
  UPSTREAM_MODEL,
  cpuProfArgs,
  cpuStart,
  load,
  makeTempDir,
  median,
  parseFlags,
  pidsNamed,
  positiveInteger,
  progress,
  runBench,
  startListening,
  startSimulatorAndGateway,
  storeLabel,
  summarize,
  upload,
  type CpuSplit,
  type LoadResult,
  type Target,
} from './harness';

type Options = {
  seconds: number;
  repeat: number;
  connections: number;
  warmup: number;
  cases: string;
  clients: string;
  databaseUrl: string | null;
  redisUrl: string | null;
  cpuProf: string | null;
  floor: boolean;
  maxOtherCores: number;
  noisyRetries: number;
};

const USAGE = `Usage: npm run bench:chat -- [options]

  --seconds N        length of each measured run (default 5)
  --repeat N         runs per case, path and concurrency; tables show medians (default 3)
  --connections N    the throughput runs' connections (default 50)
  --warmup N         seconds of warm-up per case and path before measuring (default 3)
  --cases LIST       file,nofile,stream (default all three)
  --clients LIST     concurrency-1 clients for the file case besides autocannon:
                     undici,sdk,curl (default all; 'none' for autocannon only)
  --database-url URL the gateway uses this (empty, disposable) PostgreSQL, not embedded PGlite
  --redis-url URL    the gateway caches in this Redis, not in memory
  --floor            also measure bench/minimal-proxy.ts (node:http + undici, nothing else)
                     in the file case: the least any Node gateway pays per call
  --max-other-cores N  a pair during which other processes kept more than N cores busy is
                     measured again (default 0.15)
  --noisy-retries N  how many times (default 3); then it is kept and counted as noisy
  --cpu-prof DIR     instead of measuring: run the gateway with --cpu-prof under the file case
                     at N connections for --seconds, then summarise the profile written to DIR`;

const GOALS = { addedP50Ms: 0.5, addedP99Ms: 2, gatewayCpuMsPerRequest: 0.3 };

type CaseName = 'file' | 'nofile' | 'stream';
type ClientName = 'undici' | 'sdk' | 'curl';

interface Case {
  name: CaseName;
  label: string;
  direct: Target;
  gateway: Target;
}

/** The body of every call: one text part, and the file part unless `fileId` is null. */
function chatBody(model: string, fileId: string | null, stream: boolean): string {
  const content: unknown[] = [{ type: 'text', text: 'Summarise this file in one sentence.' }];
  if (fileId !== null) content.push({ type: 'file', file: { file_id: fileId } });
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: fileId === null ? 'Say hello.' : content }],
    ...(stream ? { stream: true } : {}),
  });
}

/** The file ids the simulator echoed (its answer's content is `{sim, model, file_ids}`). */
function echoedFileIds(status: number, text: string, stream: boolean): string[] {
  if (status !== 200) throw new Error(`HTTP ${status}: ${text}`);
  let content: unknown;
  if (stream) {
    // The second chunk carries the whole content as one delta.
    const chunks = text
      .split('\n\n')
      .map((frame) => frame.replace(/^data: /, ''))
      .filter((data) => data.startsWith('{'))
      .map(
        (data) =>
          JSON.parse(data) as { choices: Array<{ delta: { content?: string } }> | undefined },
      );
    content = chunks.map((c) => c.choices?.[0]?.delta.content ?? '').join('');
    if (!text.trimEnd().endsWith('data: [DONE]')) throw new Error(`stream without [DONE]: ${text}`);
  } else {
    content = (JSON.parse(text) as { choices: Array<{ message: { content: string } }> }).choices[0]
      .message.content;
  }
  return (JSON.parse(String(content)) as { file_ids: string[] }).file_ids;
}

async function call(target: Target): Promise<{ status: number; text: string }> {
  const res = await fetch(target.url, {
    method: target.method ?? 'GET',
    headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
    body: target.body,
  });
  return { status: res.status, text: await res.text() };
}

/** Both paths answer 200 and the simulator saw the file id each should carry. */
async function verify(c: Case, directFileId: string, providerFileId: string): Promise<void> {
  const stream = c.name === 'stream';
  const expect = (path: 'direct' | 'gateway', want: string[], got: string[]): void => {
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      throw new Error(
        `${c.label} via ${path}: the simulator saw file ids ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
      );
    }
  };
  const direct = await call(c.direct);
  expect(
    'direct',
    c.name === 'nofile' ? [] : [directFileId],
    echoedFileIds(direct.status, direct.text, stream),
  );
  const viaGateway = await call(c.gateway);
  expect(
    'gateway',
    c.name === 'nofile' ? [] : [providerFileId],
    echoedFileIds(viaGateway.status, viaGateway.text, stream),
  );
}

// ---------------------------------------------------------------------------------------------
// Second clients (concurrency 1)
// ---------------------------------------------------------------------------------------------

/** Sequential calls over one keep-alive connection (undici Pool), each body read whole. */
async function undiciLoop(target: Target, seconds: number): Promise<LoadResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: 1 });
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  try {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await pool.request({
        path: url.pathname,
        method: target.method ?? 'GET',
        headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
        body: target.body,
      });
      await res.body.text();
      if (res.statusCode === 200) latencies.push(performance.now() - t0);
      else failures++;
    }
  } finally {
    await pool.close();
  }
  return summarize(latencies, failures, (performance.now() - started) / 1000);
}

/** The openai SDK (v6: global fetch, keep-alive), no retries. */
async function sdkLoop(target: Target, seconds: number): Promise<LoadResult> {
  const baseURL = target.url.replace(/\/chat\/completions$/, '');
  const client = new OpenAI({ baseURL, apiKey: target.key, maxRetries: 0 });
  const body = JSON.parse(
    target.body ?? '{}',
  ) as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    await client.chat.completions.create(body);
    latencies.push(performance.now() - t0);
  }
  return summarize(latencies, 0, (performance.now() - started) / 1000);
}

/**
 * curl (libcurl, no JavaScript on the client side): batches of CURL_BATCH calls in one curl
 * process, which reuses its connection; `%{time_total}` of each call. The first call of a batch
 * opens the connection and is left out.
 */
const CURL_BATCH = 500;
async function curlLoop(target: Target, seconds: number, dir: string): Promise<LoadResult> {
  const bodyPath = join(dir, 'curl-body.json');
  const configPath = join(dir, 'curl.conf');
  writeFileSync(bodyPath, target.body ?? '');
  writeFileSync(configPath, `url = "${target.url}"\noutput = "/dev/null"\n`.repeat(CURL_BATCH));
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  while (performance.now() < started + seconds * 1000) {
    const curl = spawn('curl', [
      '-s',
      '-H',
      `authorization: Bearer ${target.key}`,
      '-H',
      'content-type: application/json',
      '--data-binary',
      `@${bodyPath}`,
      '-w',
      '%{http_code} %{time_total}\\n',
      '-K',
      configPath,
    ]);
    let first = true;
    for await (const line of createInterface({ input: curl.stdout })) {
      const [code, time] = line.trim().split(' ');
      if (code !== '200') failures++;
      else if (!first) latencies.push(Number(time) * 1000);
      first = false;
    }
    const exit = await new Promise<number | null>((done) => curl.once('close', done));
    if (exit !== 0) throw new Error(`curl exited with ${String(exit)}`);
  }
  return summarize(latencies, failures, (performance.now() - started) / 1000);
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

interface Run {
  result: LoadResult;
  cpu: CpuSplit;
}

interface Pair {
  direct: Run;
  gateway: Run;
  /** Busy cores of the rest of the machine (max of the two runs): other processes' load. */
  otherCores: number;
}

interface Stack {
  simPid: number;
  gatewayPid: number;
  /** PostgreSQL and Redis server processes, when the gateway uses them. */
  servicePids: number[];
  /** A pair during which the rest of the machine was busier than this (cores) is run again. */
  maxOtherCores: number;
  /** How many times a noisy pair is run again before it is kept (and counted as noisy). */
  noisyRetries: number;
  noise: { retried: number; kept: number };
}

async function measured(stack: Stack, run: () => Promise<LoadResult>): Promise<Run> {
  const cpu = cpuStart(stack.gatewayPid, [stack.simPid], stack.servicePids);
  const result = await run();
  const split = cpu();
  if (result.failures > 0) {
    throw new Error(`${result.failures} of ${result.completed} calls failed during a measured run`);
  }
  return { result, cpu: split };
}

/** Waits (up to 30 s) for a second in which other processes keep at most maxOtherCores busy. */
async function quietMachine(stack: Stack): Promise<void> {
  for (let waited = 0; waited < 30; waited++) {
    const cpu = cpuStart(stack.gatewayPid, [stack.simPid], stack.servicePids);
    await sleep(1000);
    if (cpu().other <= stack.maxOtherCores) return;
  }
}

/**
 * Direct then gateway, back to back. The machine is shared: when other processes took more than
 * `maxOtherCores` during either run, the pair is measured again (up to `noisyRetries` times).
 */
async function pair(
  stack: Stack,
  c: Case,
  runner: (target: Target) => Promise<LoadResult>,
  warmUp = false,
): Promise<Pair> {
  for (let attempt = 0; ; attempt++) {
    if (!warmUp) await quietMachine(stack);
    const direct = await measured(stack, () => runner(c.direct));
    const gateway = await measured(stack, () => runner(c.gateway));
    const otherCores = Math.max(...[direct, gateway].map((r) => r.cpu.other / r.result.seconds));
    const p = { direct, gateway, otherCores };
    if (warmUp || otherCores <= stack.maxOtherCores) return p;
    if (attempt >= stack.noisyRetries) {
      stack.noise.kept++;
      progress(`${c.name}: kept a noisy pair (rest of the machine ${f2(otherCores)} cores)`);
      return p;
    }
    stack.noise.retried++;
    progress(`${c.name}: rest of the machine busy ${f2(otherCores)} cores; measuring again`);
  }
}

function describe(tag: string, p: Pair): string {
  const one = (r: Run): string =>
    `${r.result.rps.toFixed(0)} req/s p50 ${r.result.p50.toFixed(3)} p99 ${r.result.p99.toFixed(3)} ms`;
  return (
    `${tag}: direct ${one(p.direct)} | gateway ${one(p.gateway)} | ` +
    `gw CPU ${cpuMs(p.gateway, 'gateway').toFixed(3)} ms/req, sim ${cpuMs(p.direct, 'sims').toFixed(3)} / ${cpuMs(p.gateway, 'sims').toFixed(3)}, ` +
    `rest of machine ${f2(p.otherCores)} cores, steal ${p.gateway.cpu.steal.toFixed(2)} s`
  );
}

/** CPU ms per completed request of one party in a run. */
function cpuMs(run: Run, party: keyof CpuSplit): number {
  return (1000 * run.cpu[party]) / run.result.completed;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const f2 = (n: number): string => n.toFixed(2);
const f3 = (n: number): string => n.toFixed(3);

/** `median (min–max)` of a figure across pairs. */
function spread(pairs: readonly Pair[], pick: (p: Pair) => number, fmt = f3): string {
  const values = pairs.map(pick);
  if (values.length === 1) return fmt(values[0]);
  return `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

function verdict(value: number, goal: number): string {
  return value <= goal ? 'met' : '**missed**';
}

interface Results {
  cases: Case[];
  c1: Map<CaseName, Pair[]>;
  cN: Map<CaseName, Pair[]>;
  clients: Map<ClientName | 'autocannon', Pair[]>;
  /** The file case against bench/minimal-proxy.ts instead of the gateway (`--floor`). */
  floor: { c1: Pair[]; cN: Pair[] } | null;
}

function report(results: Results, options: Options, noise: Stack['noise']): string {
  const { c1, cN } = results;
  const lines: string[] = [
    `Pairs measured again because other processes kept more than ${options.maxOtherCores} cores busy: ` +
      `${noise.retried}; kept although noisy (after ${options.noisyRetries} retries): ${noise.kept}.`,
    '',
  ];
  const addedP50 = (p: Pair): number => p.gateway.result.p50 - p.direct.result.p50;
  const addedP99 = (p: Pair): number => p.gateway.result.p99 - p.direct.result.p99;
  lines.push(
    `Concurrency 1 (autocannon, 1 connection), latency in ms, median of ${options.repeat} (min–max):`,
    '',
    '| case | direct p50 | direct p99 | gateway p50 | gateway p99 | **added p50** | **added p99** |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const c of results.cases) {
    const pairs = c1.get(c.name) ?? [];
    lines.push(
      `| ${c.label} | ${spread(pairs, (p) => p.direct.result.p50)} | ${spread(pairs, (p) => p.direct.result.p99)} | ` +
        `${spread(pairs, (p) => p.gateway.result.p50)} | ${spread(pairs, (p) => p.gateway.result.p99)} | ` +
        `${spread(pairs, addedP50)} | ${spread(pairs, addedP99)} |`,
    );
  }
  const n = options.connections;
  const rps = (r: Run): number => r.result.rps;
  lines.push(
    '',
    `${n} connections (autocannon), median of ${options.repeat} (min–max):`,
    '',
    '| case | direct req/s | gateway req/s | ratio | gateway p50 / p99 ms |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const c of results.cases) {
    const pairs = cN.get(c.name) ?? [];
    const f0 = (v: number): string => v.toFixed(0);
    lines.push(
      `| ${c.label} | ${spread(pairs, (p) => rps(p.direct), f0)} | ${spread(pairs, (p) => rps(p.gateway), f0)} | ` +
        `${spread(pairs, (p) => rps(p.gateway) / rps(p.direct), f2)}× | ` +
        `${f2(median(pairs.map((p) => p.gateway.result.p50)))} / ${f2(median(pairs.map((p) => p.gateway.result.p99)))} |`,
    );
  }
  lines.push(
    '',
    `CPU time per request (user+system from /proc), ms, median of ${options.repeat} (min–max):`,
    '',
    `| case | gateway at ${n} conns | gateway at 1 conn | simulator, direct run | simulator, gateway run | client (autocannon), gateway run at ${n} | PostgreSQL+Redis at ${n} | rest of the machine at ${n}, cores busy |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const c of results.cases) {
    const pairs = cN.get(c.name) ?? [];
    const ones = c1.get(c.name) ?? [];
    lines.push(
      `| ${c.label} | **${spread(pairs, (p) => cpuMs(p.gateway, 'gateway'))}** | ${spread(ones, (p) => cpuMs(p.gateway, 'gateway'))} | ` +
        `${spread(pairs, (p) => cpuMs(p.direct, 'sims'))} | ${spread(pairs, (p) => cpuMs(p.gateway, 'sims'))} | ` +
        `${spread(pairs, (p) => cpuMs(p.gateway, 'client'))} | ${spread(pairs, (p) => cpuMs(p.gateway, 'services'))} | ` +
        `${spread(pairs, (p) => p.otherCores, f2)} |`,
    );
  }
  if (results.clients.size > 0) {
    lines.push(
      '',
      `Concurrency 1, case "${results.cases.find((c) => c.name === 'file')?.label ?? 'file'}", by client, ms, median of ${options.repeat} (min–max):`,
      '',
      '| client | direct p50 | gateway p50 | **added p50** | direct p99 | gateway p99 | **added p99** | ratio of req/s |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const [client, pairs] of results.clients) {
      lines.push(
        `| ${client} | ${spread(pairs, (p) => p.direct.result.p50)} | ${spread(pairs, (p) => p.gateway.result.p50)} | ${spread(pairs, addedP50)} | ` +
          `${spread(pairs, (p) => p.direct.result.p99)} | ${spread(pairs, (p) => p.gateway.result.p99)} | ${spread(pairs, addedP99)} | ` +
          `${spread(pairs, (p) => rps(p.gateway) / rps(p.direct), f2)}× |`,
      );
    }
  }
  if (results.floor) {
    const { c1: ones, cN: lots } = results.floor;
    lines.push(
      '',
      `Floor: the file case through bench/minimal-proxy.ts (node:http + undici + JSON, no auth, ids, cache or framework), median of ${options.repeat} (min–max):`,
      '',
      `| path | added p50 ms (c=1) | added p99 ms (c=1) | req/s at ${n} (ratio) | CPU ms/request at ${n} | CPU ms/request at 1 |`,
      '| --- | --- | --- | --- | --- | --- |',
      `| minimal Node proxy | ${spread(ones, addedP50)} | ${spread(ones, addedP99)} | ` +
        `${median(lots.map((p) => rps(p.gateway))).toFixed(0)} (${spread(lots, (p) => rps(p.gateway) / rps(p.direct), f2)}×) | ` +
        `${spread(lots, (p) => cpuMs(p.gateway, 'gateway'))} | ${spread(ones, (p) => cpuMs(p.gateway, 'gateway'))} |`,
    );
  }
  const file = c1.get('file');
  const fileN = cN.get('file');
  if (file && fileN) {
    const p50 = median(file.map(addedP50));
    const p99 = median(file.map(addedP99));
    const cpu = median(fileN.map((p) => cpuMs(p.gateway, 'gateway')));
    lines.push(
      '',
      '| goal (file case) | measured (median) | verdict |',
      '| --- | --- | --- |',
      `| added p50 ≤ ${GOALS.addedP50Ms} ms | ${f3(p50)} ms | ${verdict(p50, GOALS.addedP50Ms)} |`,
      `| added p99 ≤ ${GOALS.addedP99Ms} ms | ${f3(p99)} ms | ${verdict(p99, GOALS.addedP99Ms)} |`,
      `| gateway CPU ≤ ${GOALS.gatewayCpuMsPerRequest} ms/request (${n} conns) | ${f3(cpu)} ms | ${verdict(cpu, GOALS.gatewayCpuMsPerRequest)} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

function listOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  if (text === 'none') return [];
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new Error(`${flag}: '${item}' is not one of ${allowed.join(', ')}`);
    }
  }
  return items as T[];
}

async function main(): Promise<void> {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    {
      seconds: 5,
      repeat: 3,
      connections: 50,
      warmup: 3,
      cases: 'file,nofile,stream',
      clients: 'undici,sdk,curl',
      databaseUrl: null,
      redisUrl: null,
      cpuProf: null,
      floor: false,
      maxOtherCores: 0.15,
      noisyRetries: 3,
    },
    USAGE,
  );
  positiveInteger('--repeat', options.repeat);
  positiveInteger('--connections', options.connections);
  const caseNames = listOf('--cases', options.cases, ['file', 'nofile', 'stream'] as const);
  const clientNames = listOf('--clients', options.clients, ['undici', 'sdk', 'curl'] as const);
  const profileDir = options.cpuProf === null ? null : resolve(options.cpuProf);
  const workDir = makeTempDir('mfg-chat-bench-');
  const startedAt = new Date();
  const load0 = loadavg().map((l) => l.toFixed(2));
  progress(
    `node ${process.version}, ${cpus().length} CPUs, load average ${load0.join(' ')}; ` +
      `gateway on ${storeLabel(options)}; ${GATEWAY_MAIN}, ${SIMULATOR_MAIN}`,
  );

  const { sim, gateway } = await startSimulatorAndGateway(
    workDir,
    options,
    cpuProfArgs(profileDir, 'gateway'),
  );
  const servicePids = [
    ...(options.databaseUrl ? pidsNamed('postgres') : []),
    ...(options.redisUrl ? pidsNamed('redis-server') : []),
  ];
  const stack: Stack = {
    simPid: sim.pid,
    gatewayPid: gateway.pid,
    servicePids,
    maxOtherCores: options.maxOtherCores,
    noisyRetries: options.noisyRetries,
    noise: { retried: 0, kept: 0 },
  };

  // The direct path's file lives on the simulator under its own id; the gateway's copy under
  // another provider id, which is the one the gateway must send.
  const directFileId = await upload(sim.apiBase, SIM_KEY);
  const unifiedId = await upload(`${gateway.url}/v1`, GATEWAY_KEY, { target_model_names: MODEL });
  const listed = await call({ url: `${sim.apiBase}/files?limit=100`, key: SIM_KEY });
  const copies = (JSON.parse(listed.text) as { data: Array<{ id: string }> }).data
    .map((f) => f.id)
    .filter((id) => id !== directFileId);
  if (copies.length !== 1)
    throw new Error(`expected one gateway copy, the simulator holds ${JSON.stringify(copies)}`);
  const providerFileId = copies[0];
  progress(`files: direct ${directFileId}; unified ${unifiedId} → provider ${providerFileId}`);

  const chatUrl = (base: string): string => `${base}/chat/completions`;
  const target = (
    base: string,
    key: string,
    model: string,
    fileId: string | null,
    stream: boolean,
  ): Target => ({
    url: chatUrl(base),
    key,
    method: 'POST',
    body: chatBody(model, fileId, stream),
  });
  const makeCase = (name: CaseName, label: string, withFile: boolean, stream: boolean): Case => ({
    name,
    label,
    direct: target(sim.apiBase, SIM_KEY, UPSTREAM_MODEL, withFile ? directFileId : null, stream),
    gateway: target(`${gateway.url}/v1`, GATEWAY_KEY, MODEL, withFile ? unifiedId : null, stream),
  });
  const all: Record<CaseName, Case> = {
    file: makeCase('file', 'one managed file', true, false),
    nofile: makeCase('nofile', 'no file part', false, false),
    stream: makeCase('stream', 'one managed file, stream: true', true, true),
  };
  const cases = caseNames.map((name) => all[name]);
  for (const c of cases) await verify(c, directFileId, providerFileId);
  progress('every case answers 200 on both paths, and the gateway sent the provider file id');

  const n = options.connections;
  const warm = async (c: Case): Promise<void> => {
    for (const t of [c.direct, c.gateway]) {
      await load(t, n, options.warmup);
      await load(t, 1, 1);
    }
  };

  if (profileDir !== null) {
    const c = all.file;
    await warm(c);
    progress(
      `profiling: ${c.label} through the gateway at ${n} connections for ${options.seconds} s`,
    );
    // The profile covers the gateway's whole life; only the measured window is summarised
    // (V8's profile clock and hrtime are both CLOCK_MONOTONIC, in µs here).
    const from = monotonicMicros();
    const run = await measured(stack, () => load(c.gateway, n, options.seconds));
    const to = monotonicMicros();
    await gateway.child.stop();
    const written = readdirSync(profileDir)
      .filter((name) => name.startsWith('gateway-'))
      .sort();
    if (written.length === 0) throw new Error(`the gateway wrote no profile into ${profileDir}`);
    const path = join(profileDir, written[written.length - 1]);
    process.stdout.write(
      `\n## Gateway CPU profile — ${startedAt.toISOString()}, ${storeLabel(options)}\n\n` +
        `${c.label}, ${n} connections, ${options.seconds} s: ${run.result.rps.toFixed(0)} req/s, ` +
        `gateway CPU ${cpuMs(run, 'gateway').toFixed(3)} ms/request under the profiler (/proc). ` +
        `Profile: ${path}, summarised over the measured window only.\n\n` +
        `${formatProfile(summarizeProfile(path, { window: [from, to] }), run.result.completed)}\n`,
    );
    return;
  }

  const results: Results = {
    cases,
    c1: new Map(),
    cN: new Map(),
    clients: new Map(),
    floor: null,
  };
  for (const c of cases) {
    progress(`[${c.name}] warming up`);
    await warm(c);
    const ones: Pair[] = [];
    const many: Pair[] = [];
    for (let i = 1; i <= options.repeat; i++) {
      const one = await pair(stack, c, (t) => load(t, 1, options.seconds));
      progress(describe(`[${c.name}] ${i}/${options.repeat} c=1 `, one));
      ones.push(one);
      const lots = await pair(stack, c, (t) => load(t, n, options.seconds));
      progress(describe(`[${c.name}] ${i}/${options.repeat} c=${n}`, lots));
      many.push(lots);
    }
    results.c1.set(c.name, ones);
    results.cN.set(c.name, many);
  }
  if (clientNames.length > 0) {
    const c = all.file;
    const autocannonPairs = results.c1.get('file');
    if (autocannonPairs) results.clients.set('autocannon', autocannonPairs);
    const runners: Record<ClientName, (t: Target) => Promise<LoadResult>> = {
      undici: (t) => undiciLoop(t, options.seconds),
      sdk: (t) => sdkLoop(t, options.seconds),
      curl: (t) => curlLoop(t, options.seconds, workDir),
    };
    for (const client of clientNames) {
      await pair(stack, c, runners[client], true); // warm-up, not kept
      const pairs: Pair[] = [];
      for (let i = 1; i <= options.repeat; i++) {
        const p = await pair(stack, c, runners[client]);
        progress(describe(`[file/${client}] ${i}/${options.repeat} c=1`, p));
        pairs.push(p);
      }
      results.clients.set(client, pairs);
    }
  }
  if (options.floor) {
    const proxy = await startListening(
      'minimal-proxy',
      [
        '-r',
        'ts-node/register/transpile-only',
        join(__dirname, 'minimal-proxy.ts'),
        sim.apiBase,
        SIM_KEY,
        UPSTREAM_MODEL,
        JSON.stringify({ [unifiedId]: providerFileId }),
      ],
      { ...process.env, TS_NODE_PROJECT: join(__dirname, '..', 'tsconfig.cli.json') },
    );
    const c: Case = {
      ...all.file,
      label: 'one managed file, minimal Node proxy',
      gateway: { ...all.file.gateway, url: `${proxy.apiBase}/chat/completions` },
    };
    await verify(c, directFileId, providerFileId);
    // `noise` is the same object: the floor's pairs are counted with the rest.
    const floorStack: Stack = { ...stack, gatewayPid: proxy.pid, servicePids: [] };
    progress('[floor] warming up');
    await warm(c);
    const floor = { c1: [] as Pair[], cN: [] as Pair[] };
    for (let i = 1; i <= options.repeat; i++) {
      const one = await pair(floorStack, c, (t) => load(t, 1, options.seconds));
      progress(describe(`[floor] ${i}/${options.repeat} c=1 `, one));
      floor.c1.push(one);
      const lots = await pair(floorStack, c, (t) => load(t, n, options.seconds));
      progress(describe(`[floor] ${i}/${options.repeat} c=${n}`, lots));
      floor.cN.push(lots);
    }
    results.floor = floor;
    await proxy.child.stop();
  }
  process.stdout.write(
    `\n## Chat completions benchmark — ${startedAt.toISOString()}\n\n` +
      `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average at start ${load0.join(' ')}; ` +
      `gateway on ${storeLabel(options)}; ${options.seconds} s per run, ${options.warmup} s warm-up per path and case\n\n` +
      `${report(results, options, stack.noise)}\n`,
  );
}

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

runBench(main);
