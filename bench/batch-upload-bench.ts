/**
 * Batch upload benchmark (bench/README.md, "Batch upload benchmark"): a batch input file of
 * `--lines` requests (default 50,000, the default line limit) and `--size-mib` MiB (default
 * 100) uploaded through the gateway to a model with three deployments, once as purpose
 * `batch` (every copy validated and rewritten line by line for its deployment) and once, the
 * same bytes, as purpose `user_data` (copied as they are).
 *
 *   npm run build
 *   npm run bench:batch-upload
 *   npm run bench:batch-upload -- --scenario uncapped --clients undici --repeat 5
 *
 * Every line is a ~2 KB chat request with a `file` part naming a managed file uploaded through
 * the gateway first, so every line has its `body.model` and its file id rewritten. Each
 * deployment has its own upstream model (`bench-1` …), so each copy differs. Every run is
 * verified: each simulator holds exactly one file, whose sha256 is that of the input with each
 * line's model and file id replaced by that deployment's (batch) or of the input itself
 * (user_data). It only talks HTTP to the processes it starts; nothing from src/ is imported but
 * types.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type { StoredFile } from '../src/simulator/types';
import {
  GATEWAY_KEY,
  GATEWAY_MAIN,
  MODEL,
  RssSampler,
  SIMULATOR_MAIN,
  cpuProfArgs,
  cpuStart,
  makeTempDir,
  median,
  parseFlags,
  positiveInteger,
  progress,
  resetSims,
  runBench,
  startGateway,
  startSimulator,
  upload,
  type CpuSplit,
  type Gateway,
  type RssSummary,
  type Sim,
  type SimDialect,
  curlTimed,
} from './harness';

const SIM_COUNT = 3;
const MiB = 1024 * 1024;
/** What fs.createReadStream (and so most clients reading a file) hands out. */
const CHUNK_BYTES = 64 * 1024;
/** Finer than the upload bench's 50 ms: a 100 MiB run lasts about a second. */
const RSS_SAMPLE_MS = 20;
const WARMUP_LINES = 5_000;
const GOALS = { maxWallRatio: 1.3 };

type Purpose = 'batch' | 'user_data';
type Scenario = 'capped' | 'uncapped';
type ClientName = 'undici' | 'curl';

const USAGE = `Usage: npm run bench:batch-upload -- [options]

  --lines N         requests in the file (default 50000)
  --size-mib N      file size in MiB (default 100)
  --repeat N        runs per purpose, client and scenario; wall times are medians (default 3)
  --scenario S      capped | uncapped | all (default all)
  --bandwidth N     bytes/s each simulator reads in 'capped' (default 200000000)
  --clients LIST    undici,curl (default both)
  --cpu-prof DIR    run the gateway with --cpu-prof, writing to DIR (timings are then slower)
  --database-url U  the gateway's PostgreSQL (an empty database; default: the embedded one)
  --deployments L   the ${SIM_COUNT} simulators' dialects, e.g. openai,openai,azure (default openai x3)
  --provider MODE   hash: simulators sha256 what they receive, and every copy is checked byte for
                    byte; count: they parse the multipart body and only count the file's bytes
                    (each copy's size is checked), as a provider that discards would (default hash)
  --help`;

/** A type, not an interface: parseFlags needs its index signature. */
type Options = {
  lines: number;
  sizeMib: number;
  repeat: number;
  scenario: string;
  bandwidth: number;
  clients: string;
  cpuProf: string | null;
  databaseUrl: string | null;
  deployments: string;
  provider: string;
};

// ---------------------------------------------------------------------------------------------
// The batch file
// ---------------------------------------------------------------------------------------------

const WORDS = (
  'the of and to in is for on that with as by this be are from at or an it not which ' +
  'invoice contract summary report total payment quarter customer revenue clause section'
).split(' ');

/**
 * Line `i` of the batch file with `model` and `fileId` as its values; `pad` characters of
 * prompt text make the line as long as wanted. The prompt depends on `i` only, so the copies
 * each deployment should receive are this with that deployment's values.
 */
function batchLine(i: number, model: string, fileId: string, pad: number): string {
  let text = '';
  let x = (i + 1) * 2654435761;
  while (text.length < pad) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    // Prompts have line breaks and quotes: escapes, as real files have.
    text += x % 29 === 0 ? '\\n' : x % 31 === 0 ? ' \\"quoted\\" ' : `${WORDS[x % WORDS.length]} `;
  }
  text = text.slice(0, pad);
  if (text.endsWith('\\')) text = `${text.slice(0, -1)}x`;
  return (
    `{"custom_id":"request-${i + 1}","method":"POST","url":"/v1/chat/completions","body":` +
    `{"model":${JSON.stringify(model)},"messages":[{"role":"system","content":"You are a careful assistant.\\nAnswer briefly."},` +
    `{"role":"user","content":[{"type":"text","text":"${text}"},` +
    `{"type":"file","file":{"file_id":${JSON.stringify(fileId)}}}]}],"max_tokens":256,"temperature":0.2}}\n`
  );
}

/** Prompt lengths that make `lines` lines with these values exactly `size` bytes. */
function pads(lines: number, size: number, model: string, fileId: string): number[] {
  const fixed = Buffer.byteLength(batchLine(0, model, fileId, 0)) - String(1).length;
  let left = size;
  const result: number[] = [];
  for (let i = 0; i < lines; i++) {
    const share = Math.floor(left / (lines - i));
    const pad = share - fixed - String(i + 1).length;
    if (pad < 0) throw new Error(`--size is too small for ${lines} lines`);
    result.push(pad);
    left -= share;
  }
  return result;
}

function batchFile(model: string, fileId: string, padding: readonly number[]): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < padding.length; i++) parts.push(batchLine(i, model, fileId, padding[i]));
  return Buffer.from(parts.join(''), 'latin1');
}

function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

interface Upload {
  url: string;
  purpose: Purpose;
  payload: Buffer;
  /** The same bytes on disk, for clients that read a file (curl -F file=@…). */
  path: string;
  filename: string;
}

interface Answer {
  status: number;
  body: string;
  wallMs: number;
}

/** undici with a streamed multipart body (chunked, no Content-Length), fields before the file. */
async function viaUndici(u: Upload): Promise<Answer> {
  const boundary = `bench-${randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string): string =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  function* parts(): Generator<Buffer> {
    yield Buffer.from(
      field('purpose', u.purpose) +
        field('target_model_names', MODEL) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${u.filename}"\r\n` +
        'Content-Type: application/jsonl\r\n\r\n',
    );
    for (let at = 0; at < u.payload.length; at += CHUNK_BYTES) {
      yield u.payload.subarray(at, at + CHUNK_BYTES);
    }
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  const started = performance.now();
  const res = await request(u.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${GATEWAY_KEY}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    },
    body: Readable.from(parts(), { objectMode: false }),
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const body = await res.body.text();
  return { status: res.statusCode, body, wallMs: performance.now() - started };
}

/** `curl -F` reading the file from disk (Content-Length known, `Expect: 100-continue`). */
function viaCurl(u: Upload): Promise<Answer> {
  return curlTimed(
    [
      '-H',
      `Authorization: Bearer ${GATEWAY_KEY}`,
      '-F',
      `purpose=${u.purpose}`,
      '-F',
      `target_model_names=${MODEL}`,
      '-F',
      `file=@${u.path};filename=${u.filename};type=application/jsonl`,
    ],
    u.url,
  );
}

const CLIENTS: Record<ClientName, (u: Upload) => Promise<Answer>> = {
  undici: viaUndici,
  curl: viaCurl,
};

// ---------------------------------------------------------------------------------------------
// Stack and runs
// ---------------------------------------------------------------------------------------------

interface Stack {
  sims: Sim[];
  gateway: Gateway;
  /** What each simulator must hold after a run, by purpose: sha256 and size. */
  expected: Record<Purpose, Array<{ sha256: string; bytes: number }>>;
  warmup: Record<Purpose, Array<{ sha256: string; bytes: number }>>;
  /** Whether the simulators sha256 what they receive (`--provider hash`). */
  hashed: boolean;
  /** The purpose simulator `i` is sent: Azure takes only assistants, batch and fine-tune. */
  upstreamPurpose(i: number, purpose: Purpose): string;
}

interface Files {
  padding: number[];
  warmupPadding: number[];
  /** The file as the client sends it, with the managed file id. */
  payload: Buffer;
  warmupPayload: Buffer;
  path: string;
  warmupPath: string;
}

async function getJson(url: string): Promise<unknown> {
  const res = await request(url);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}: ${text}`);
  return JSON.parse(text) as unknown;
}

async function simFiles(sim: Sim): Promise<StoredFile[]> {
  return ((await getJson(`${sim.origin}/__sim/state`)) as { files: StoredFile[] }).files;
}

const upstreamModel = (i: number): string => `bench-${i + 1}`;

async function startStack(
  workDir: string,
  scenario: Scenario,
  options: Options,
  files: (managedId: string) => Files,
): Promise<{ stack: Stack; files: Files }> {
  const capped = scenario === 'capped' ? ['--bandwidth', String(options.bandwidth)] : [];
  const mode = options.provider === 'count' ? ['--count-only'] : [];
  const dialects = options.deployments.split(',') as SimDialect[];
  const sims: Sim[] = [];
  for (let i = 0; i < SIM_COUNT; i++) {
    const args = ['--discard-content', ...mode, ...capped];
    sims.push(await startSimulator(`sim-${i + 1}`, args, null, dialects[i]));
  }
  const gateway = await startGateway({
    name: `gateway-${scenario}`,
    workDir,
    apiBases: sims.map((s) => s.apiBase),
    upstreamModels: sims.map((_s, i) => upstreamModel(i)),
    dialects,
    store: { databaseUrl: options.databaseUrl, redisUrl: null },
    nodeArgs: cpuProfArgs(options.cpuProf, `gateway-${scenario}`),
  });
  // The managed file every line names: one copy per deployment, each with its own provider id.
  const managedId = await upload(`${gateway.url}/v1`, GATEWAY_KEY, { target_model_names: MODEL });
  const providerIds = await Promise.all(
    sims.map(async (sim) => {
      const held = await simFiles(sim);
      if (held.length !== 1) throw new Error(`${sim.child.name} holds ${held.length} files`);
      return held[0].id;
    }),
  );
  const f = files(managedId);
  const expect = (padding: number[], payload: Buffer): Stack['expected'] => {
    const plain = { sha256: sha256(payload), bytes: payload.length };
    return {
      user_data: sims.map(() => plain),
      batch: sims.map((_s, i) => {
        const copy = batchFile(upstreamModel(i), providerIds[i], padding);
        return { sha256: sha256(copy), bytes: copy.length };
      }),
    };
  };
  writeFileSync(f.path, f.payload);
  writeFileSync(f.warmupPath, f.warmupPayload);
  return {
    stack: {
      sims,
      gateway,
      expected: expect(f.padding, f.payload),
      warmup: expect(f.warmupPadding, f.warmupPayload),
      hashed: options.provider === 'hash',
      upstreamPurpose: (i, purpose) =>
        dialects[i] === 'azure' && purpose === 'user_data' ? 'assistants' : purpose,
    },
    files: f,
  };
}

interface Measurement {
  wallMs: number;
  cpu: CpuSplit;
  rss: RssSummary;
}

async function runOnce(
  stack: Stack,
  client: ClientName,
  purpose: Purpose,
  payload: Buffer,
  path: string,
  expected: Stack['expected'],
): Promise<Measurement> {
  await resetSims(stack.sims);
  const filename = `bench-${purpose}.jsonl`;
  const sampler = new RssSampler(stack.gateway.pid, RSS_SAMPLE_MS);
  const cpu = cpuStart(
    stack.gateway.pid,
    stack.sims.map((s) => s.pid),
  );
  let answer: Answer;
  let rss: RssSummary;
  try {
    answer = await CLIENTS[client]({
      url: `${stack.gateway.url}/v1/files`,
      purpose,
      payload,
      path,
      filename,
    });
  } finally {
    rss = sampler.stop();
  }
  const cpuSplit = cpu();
  const what = `${client} ${purpose}`;
  if (answer.status !== 200) throw new Error(`${what}: HTTP ${answer.status}: ${answer.body}`);
  const bytes = (JSON.parse(answer.body) as { bytes?: unknown }).bytes;
  if (bytes !== payload.length) throw new Error(`${what}: answered bytes=${String(bytes)}`);
  for (const [i, sim] of stack.sims.entries()) {
    const held = await simFiles(sim);
    const want = expected[purpose][i];
    const ok =
      held.length === 1 &&
      held[0].purpose === stack.upstreamPurpose(i, purpose) &&
      held[0].bytes === want.bytes &&
      // A counting simulator keeps no digest ('').
      held[0].sha256 === (stack.hashed ? want.sha256 : '');
    if (!ok) {
      const seen = held.map((h) => `${h.purpose} ${h.bytes} B ${h.sha256.slice(0, 12)}`);
      throw new Error(
        `${what}: ${sim.child.name} should hold ${want.bytes} B sha256 ${want.sha256.slice(0, 12)}…` +
          `, holds [${seen.join('; ')}]`,
      );
    }
  }
  return { wallMs: answer.wallMs, cpu: cpuSplit, rss };
}

interface Row {
  scenario: Scenario;
  client: ClientName;
  runs: Record<Purpose, Measurement[]>;
}

async function runScenario(
  workDir: string,
  scenario: Scenario,
  clients: readonly ClientName[],
  options: Options,
  files: (managedId: string) => Files,
): Promise<Row[]> {
  progress(`[${scenario}] starting ${SIM_COUNT} simulators and the gateway`);
  const { stack, files: f } = await startStack(workDir, scenario, options, files);
  const rows: Row[] = [];
  try {
    for (const purpose of ['user_data', 'batch'] as const) {
      await runOnce(stack, 'undici', purpose, f.warmupPayload, f.warmupPath, stack.warmup);
    }
    for (const client of clients) {
      const row: Row = { scenario, client, runs: { batch: [], user_data: [] } };
      for (let i = 0; i < options.repeat; i++) {
        // Alternating the order, so neither purpose always runs on a heap the other grew.
        const order: Purpose[] = i % 2 === 0 ? ['user_data', 'batch'] : ['batch', 'user_data'];
        for (const purpose of order) {
          const m = await runOnce(stack, client, purpose, f.payload, f.path, stack.expected);
          row.runs[purpose].push(m);
          progress(
            `[${scenario}] ${client} ${purpose} run ${i + 1}/${options.repeat}: ` +
              `${(m.wallMs / 1000).toFixed(2)} s, RSS ${mb(m.rss.startBytes)} → ${mb(m.rss.peakBytes)}, ` +
              `CPU s gw ${m.cpu.gateway.toFixed(2)} (sys ${m.cpu.gatewaySystem.toFixed(2)}, ${m.cpu.gatewayFaults} faults) / sims ${m.cpu.sims.toFixed(2)} / other ${m.cpu.other.toFixed(2)}`,
          );
        }
      }
      rows.push(row);
    }
  } catch (error) {
    const logs = [stack.gateway.child, ...stack.sims.map((s) => s.child)].map((c) =>
      c.lastLines(15),
    );
    progress(`[${scenario}] FAILED; last output of the processes:\n${logs.join('\n')}`);
    throw error;
  } finally {
    await stack.gateway.child.stop(stack.gateway.pid);
    await Promise.all(stack.sims.map((s) => s.child.stop()));
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function mb(n: number): string {
  return `${(n / 1e6).toFixed(0)} MB`;
}

function wall(runs: readonly Measurement[]): string {
  const s = runs.map((m) => m.wallMs / 1000);
  const range = s.length > 1 ? ` (${Math.min(...s).toFixed(2)}–${Math.max(...s).toFixed(2)})` : '';
  return `${median(s).toFixed(2)} s${range}`;
}

const peak = (runs: readonly Measurement[]): number =>
  Math.max(...runs.map((m) => m.rss.peakBytes));
const medianOf = (runs: readonly Measurement[], f: (m: Measurement) => number): number =>
  median(runs.map(f));

/**
 * The shortest wall the machine's CPU allows a run: everything busy during it (the gateway, the
 * simulators, the client) spread perfectly over every core. On a machine whose cores the
 * simulators share with the gateway, this bounds the ratio from below whatever the gateway does
 * with its CPU: what the batch path adds is paid in wall time at `1 / cores` at the least.
 */
const cpuFloorS = (m: Measurement): number =>
  (m.cpu.gateway + m.cpu.sims + m.cpu.other) / cpus().length;

function report(rows: readonly Row[], options: Options, size: number): string {
  const lines = [
    '| Scenario | Client | user_data wall | batch wall | Ratio (goal ≤ 1.3×) | Gateway peak RSS user_data → batch (goal: not higher) | Gateway CPU s user_data → batch | Sims CPU s user_data → batch | Other CPU s user_data → batch | CPU floor of the wall user_data → batch (ratio) |',
    `|${'---|'.repeat(10)}`,
  ];
  for (const r of rows) {
    const plain = r.runs.user_data;
    const batch = r.runs.batch;
    const ratio = medianOf(batch, (m) => m.wallMs) / medianOf(plain, (m) => m.wallMs);
    const rssMet = peak(batch) <= peak(plain);
    lines.push(
      `| ${r.scenario} | ${r.client} | ${wall(plain)} | ${wall(batch)} | ` +
        `${ratio.toFixed(2)}× ${ratio <= GOALS.maxWallRatio ? 'met' : '**MISSED**'} | ` +
        `${mb(peak(plain))} → ${mb(peak(batch))} ${rssMet ? 'met' : '**MISSED**'} | ` +
        `${medianOf(plain, (m) => m.cpu.gateway).toFixed(2)} → ${medianOf(batch, (m) => m.cpu.gateway).toFixed(2)} | ` +
        `${medianOf(plain, (m) => m.cpu.sims).toFixed(2)} → ${medianOf(batch, (m) => m.cpu.sims).toFixed(2)} | ` +
        `${medianOf(plain, (m) => m.cpu.other).toFixed(2)} → ${medianOf(batch, (m) => m.cpu.other).toFixed(2)} | ` +
        `${medianOf(plain, cpuFloorS).toFixed(2)} s → ${medianOf(batch, cpuFloorS).toFixed(2)} s ` +
        `(${(medianOf(batch, cpuFloorS) / medianOf(plain, cpuFloorS)).toFixed(2)}×) |`,
    );
  }
  lines.push(
    '',
    `${options.lines} lines, ${size} bytes (${(size / options.lines).toFixed(0)} B per line), ` +
      `${SIM_COUNT} deployments (${options.deployments}), simulators that ` +
      `${options.provider === 'hash' ? 'sha256 what they receive' : 'only count the bytes'}; wall: median (min–max) of ${options.repeat} runs; peak RSS: highest of ` +
      `the runs (sampled every ${RSS_SAMPLE_MS} ms); CPU: medians; other: the rest of the machine's busy ` +
      `time (the client, other processes); CPU floor: all of it spread over ${cpus().length} cores, the shortest wall ` +
      `that CPU allows (medians). Capped: each simulator reads at most ` +
      `${(options.bandwidth / 1e6).toFixed(0)} MB/s. MB = 10^6 bytes.`,
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    {
      lines: 50_000,
      sizeMib: 100,
      repeat: 3,
      scenario: 'all',
      bandwidth: 200_000_000,
      clients: 'undici,curl',
      cpuProf: null,
      databaseUrl: null,
      deployments: Array.from({ length: SIM_COUNT }, () => 'openai').join(','),
      provider: 'hash',
    },
    USAGE,
  );
  positiveInteger('--lines', options.lines);
  positiveInteger('--repeat', options.repeat);
  const scenarios: Scenario[] =
    options.scenario === 'all' ? ['capped', 'uncapped'] : [options.scenario as Scenario];
  if (!scenarios.every((s) => s === 'capped' || s === 'uncapped')) {
    throw new Error(`--scenario must be capped, uncapped or all\n\n${USAGE}`);
  }
  const clients = options.clients.split(',') as ClientName[];
  if (!clients.every((c) => c in CLIENTS)) throw new Error(`--clients: undici,curl\n\n${USAGE}`);
  const dialects = options.deployments.split(',') as SimDialect[];
  if (dialects.length !== SIM_COUNT || !dialects.every((d) => d === 'openai' || d === 'azure')) {
    throw new Error(`--deployments: ${SIM_COUNT} of openai, azure\n\n${USAGE}`);
  }
  if (options.provider !== 'hash' && options.provider !== 'count') {
    throw new Error(`--provider: hash or count\n\n${USAGE}`);
  }
  if (options.cpuProf !== null) options.cpuProf = resolve(options.cpuProf);
  for (const file of [GATEWAY_MAIN, SIMULATOR_MAIN]) {
    if (!existsSync(file)) throw new Error(`${file} does not exist: run \`npm run build\` first.`);
  }
  const size = Math.round(options.sizeMib * MiB);
  const workDir = makeTempDir('mfg-batch-bench-');
  const load = loadavg().map((l) => l.toFixed(2));
  progress(
    `node ${process.version}, ${cpus().length} CPUs, load ${load.join(' ')}; ${options.lines} lines, ` +
      `${size} bytes; scenarios ${scenarios.join(', ')}; clients ${clients.join(', ')}; repeat ${options.repeat}`,
  );
  const files = (managedId: string): Files => {
    const padding = pads(options.lines, size, MODEL, managedId);
    const warmupSize = Math.round((size * WARMUP_LINES) / options.lines);
    const warmupPadding = pads(WARMUP_LINES, warmupSize, MODEL, managedId);
    return {
      padding,
      warmupPadding,
      payload: batchFile(MODEL, managedId, padding),
      warmupPayload: batchFile(MODEL, managedId, warmupPadding),
      path: join(workDir, 'batch.jsonl'),
      warmupPath: join(workDir, 'warmup.jsonl'),
    };
  };
  if (options.databaseUrl === null) {
    // The first boot on an empty data dir runs initdb in the gateway, which leaves it hundreds
    // of MB larger for a while (bench/README.md): a throw-away boot creates the database first.
    progress('creating the embedded database (a throw-away gateway boot; not measured)');
    const init = await startGateway({
      name: 'gateway-init',
      workDir,
      apiBases: Array.from({ length: SIM_COUNT }, () => 'http://127.0.0.1:9/v1'),
      store: { databaseUrl: null, redisUrl: null },
    });
    await init.child.stop(init.pid);
  }
  const started = new Date();
  const rows: Row[] = [];
  for (const scenario of scenarios) {
    rows.push(...(await runScenario(workDir, scenario, clients, options, files)));
  }
  process.stdout.write(
    `\n## Batch upload benchmark — ${started.toISOString()}\n\n` +
      `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ` +
      `${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, load average at start ${load.join(' ')}; ` +
      `gateway database: ${options.databaseUrl === null ? 'embedded (PGlite)' : 'PostgreSQL'}\n\n${report(rows, options, size)}\n`,
  );
}

runBench(main);
