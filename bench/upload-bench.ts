/**
 * Upload benchmark for `POST /v1/files` (see bench/README.md).
 *
 *   npm run build
 *   npm run bench:upload -- --scenario all --sizes 100MiB,1GiB
 *
 * Starts three simulated upstreams (dist/simulator/main.js; OpenAI or Azure dialect, see
 * --deployments) and the gateway (dist/main.js) as separate processes, then for every size and
 * client (undici, curl) compares
 *   direct   the client uploads straight to ONE simulator, and
 *   gateway  the client uploads once to the gateway, which copies to all THREE simulators,
 * while sampling the gateway's RSS every 50 ms. Every run is verified: the gateway must answer
 * 200 and every simulator must hold exactly one file with the right byte count (and sha256,
 * unless the simulators only count: --provider count).
 * It only talks HTTP to the processes it starts; nothing from src/ is imported but types.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type { CallRecord, StoredFile } from '../src/simulator/types';
import {
  GATEWAY_KEY,
  GATEWAY_MAIN,
  MODEL,
  SIMULATOR_MAIN,
  SIM_KEY,
  cpuProfArgs,
  cpuStart,
  makeTempDir,
  median,
  progress,
  resetSims,
  readPeakRss,
  readRss,
  RssSampler,
  runBench,
  startGateway,
  startSimulator,
  type Child,
  type CpuSplit,
  type RssSummary,
  type Sim,
  type SimDialect,
  curlTimed,
} from './harness';

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const GNU_TIME = '/usr/bin/time';

const SIM_COUNT = 3;
const PURPOSE = 'user_data';
const FILENAME = 'bench.bin';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Client write size: what fs.createReadStream (and so an SDK reading a file) hands out. */
const CHUNK_BYTES = 64 * KiB;
/** The payload is this many pseudo-random bytes, repeated; a multiple of CHUNK_BYTES. */
const PATTERN_BYTES = 1 * MiB;
/** One small upload each way before measuring, so JIT and connection set-up are not timed. */
const WARMUP_BYTES = 16 * MiB;

const GOALS = {
  /** capped: gateway wall time / direct wall time. */
  cappedMaxRatio: 1.15,
  /** uncapped: bytes delivered per second through the gateway / direct. */
  uncappedMinRatio: 0.85,
  /** Peak gateway RSS, decimal MB. */
  peakRssMaxBytes: 150_000_000,
  /** "Flat": the largest size's peak RSS within this fraction of the smallest size's. */
  flatTolerance: 0.1,
};

type Scenario = 'capped' | 'uncapped';
type FieldOrder = 'fields-first' | 'file-first';
/**
 * undici: this process streams a generated body, chunked (no Content-Length), 64 KiB writes.
 * curl: `curl -F … -F file=@FILE` reading the payload from disk, as a person at a shell does:
 * Content-Length known, `Expect: 100-continue`, libcurl's own write sizes, no JavaScript.
 */
type ClientName = 'undici' | 'curl';
const CLIENT_NAMES: readonly ClientName[] = ['undici', 'curl'];
/** hash: each simulator sha256-hashes what it receives; count: it only counts (busboy, dropped). */
type ProviderMode = 'hash' | 'count';

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

interface Options {
  sizes: number[];
  scenarios: Scenario[];
  bandwidth: number;
  repeat: number;
  sdkOrder: boolean;
  sdkOrderSize: number;
  timeV: boolean;
  cpuProfDir: string | null;
  /** External PostgreSQL for the gateway; null: the embedded default (PGlite in DATA_DIR). */
  databaseUrl: string | null;
  /** Redis for the gateway's cache (production's shape); null: the in-memory cache. */
  redisUrl: string | null;
  clients: ClientName[];
  /** The dialect of each of the SIM_COUNT simulators; the direct upload goes to the first. */
  deployments: SimDialect[];
  provider: ProviderMode;
}

const USAGE = `Usage: npm run bench:upload -- [options]

  --size SIZE            one payload size (default 1GiB); units B, KB, KiB, MB, MiB, GB, GiB
  --sizes A,B,...        several sizes, e.g. 100MiB,1GiB (peak RSS is compared across them)
  --scenario S           capped | uncapped | all (default all)
  --bandwidth N          bytes/s each simulator reads in 'capped' (default 200000000)
  --repeat N             runs per size and path; wall times are medians (default 1)
  --sdk-order-size SIZE  size of the fields-after-file run in 'uncapped' (default 1GiB)
  --no-sdk-order         skip the fields-after-file (SDK order) run
  --no-time-v            do not wrap the gateway in ${GNU_TIME} -v
  --cpu-prof DIR         run the gateway and simulators with --cpu-prof, writing to DIR
  --database-url URL     the gateway uses this (empty, dedicated) PostgreSQL instead of the
                         embedded default, to see the gateway's own footprint without PGlite
  --redis-url URL        the gateway caches in this Redis (with --database-url: production's
                         shape) instead of its in-memory cache
  --client LIST          undici, curl, or undici,curl (default undici): who uploads, direct
                         and through the gateway (curl -F reads the payload from a file)
  --deployments LIST     the ${SIM_COUNT} simulators' dialects, e.g. openai,openai,azure
                         (default openai,openai,openai); the direct upload goes to the first
  --provider MODE        hash: simulators sha256 what they receive (verified); count: they
                         only count it (busboy parses, bytes dropped; byte counts verified)
                         (default hash)
  --help`;

function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    sizes: [GiB],
    scenarios: ['capped', 'uncapped'],
    bandwidth: 200_000_000,
    repeat: 1,
    sdkOrder: true,
    sdkOrderSize: GiB,
    timeV: existsSync(GNU_TIME),
    cpuProfDir: null,
    databaseUrl: null,
    redisUrl: null,
    clients: ['undici'],
    deployments: Array.from({ length: SIM_COUNT }, (): SimDialect => 'openai'),
    provider: 'hash',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new Error(`${name} needs a value`);
      return next;
    };
    switch (name) {
      case '--size':
        options.sizes = [parseSize(value())];
        break;
      case '--sizes':
        options.sizes = value().split(',').map(parseSize);
        break;
      case '--scenario': {
        const v = value();
        if (v === 'all') options.scenarios = ['capped', 'uncapped'];
        else if (v === 'capped' || v === 'uncapped') options.scenarios = [v];
        else throw new Error(`--scenario must be capped, uncapped or all, got '${v}'`);
        break;
      }
      case '--bandwidth':
        options.bandwidth = positiveInteger(name, value());
        break;
      case '--repeat':
        options.repeat = positiveInteger(name, value());
        break;
      case '--sdk-order-size':
        options.sdkOrderSize = parseSize(value());
        break;
      case '--no-sdk-order':
        options.sdkOrder = false;
        break;
      case '--no-time-v':
        options.timeV = false;
        break;
      case '--cpu-prof':
        options.cpuProfDir = resolve(value());
        break;
      case '--database-url':
        options.databaseUrl = value();
        break;
      case '--redis-url':
        options.redisUrl = value();
        break;
      case '--client':
      case '--clients':
        options.clients = listOf(name, value(), CLIENT_NAMES);
        break;
      case '--deployments': {
        const dialects = listOf(name, value(), ['openai', 'azure'] as const, true);
        if (dialects.length !== SIM_COUNT || dialects[0] !== 'openai') {
          throw new Error(
            `--deployments names ${SIM_COUNT} dialects, the first openai (the direct upload's), got '${dialects.join(',')}'`,
          );
        }
        options.deployments = dialects;
        break;
      }
      case '--provider': {
        const v = value();
        if (v !== 'hash' && v !== 'count') throw new Error(`--provider must be hash or count`);
        options.provider = v;
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option '${arg}'\n\n${USAGE}`);
    }
  }
  options.sizes = [...new Set(options.sizes)].sort((a, b) => a - b);
  return options;
}

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: '${text}' (try 100MiB or 1GiB)`);
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: KiB,
    mb: 1e6,
    mib: MiB,
    gb: 1e9,
    gib: GiB,
  };
  const bytes = Math.round(Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]);
  if (!(bytes > 0)) throw new Error(`size must be positive: '${text}'`);
  return bytes;
}

/** A comma list of known names; without `repeats`, each at most once. */
function listOf<T extends string>(
  flag: string,
  text: string,
  known: readonly T[],
  repeats = false,
): T[] {
  const names = text.split(',').map((n) => n.trim());
  for (const n of names) {
    if (!(known as readonly string[]).includes(n)) {
      throw new Error(`${flag}: '${n}' is not one of ${known.join(', ')}`);
    }
  }
  return (repeats ? names : [...new Set(names)]) as T[];
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// The stack: three simulators and a gateway
// ---------------------------------------------------------------------------------------------

interface Gateway {
  child: Child;
  /** The node process (not /usr/bin/time wrapping it). */
  pid: number;
  url: string;
  timeReportPath: string | null;
}

interface Stack {
  scenario: Scenario;
  sims: Sim[];
  gateway: Gateway;
}

/** Children of `pid` (Linux): how the node process under /usr/bin/time is found. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    try {
      return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
        .trim()
        .split(/\s+/)
        .map(Number);
    } catch {
      return [];
    }
  }
}

/** The gateway's store: the embedded database or the given PostgreSQL, and Redis if given. */
function storeOf(options: Options): { databaseUrl: string | null; redisUrl: string | null } {
  return { databaseUrl: options.databaseUrl, redisUrl: options.redisUrl };
}

/**
 * The embedded database is created (initdb, in the gateway process) the first time a data dir
 * is opened, which leaves that process hundreds of MB larger for a while. A deployed gateway
 * does that once in its life, so the data dir is created by a throw-away boot first and every
 * measured gateway opens an existing one. Returns the throw-away gateway's RSS once ready.
 */
async function initDataDir(workDir: string, options: Options): Promise<number | null> {
  if (options.databaseUrl !== null) return null;
  // Nothing is uploaded during this boot, so the deployments need not exist.
  const gateway = await startGateway({
    name: 'gateway-init',
    workDir,
    apiBases: Array.from({ length: SIM_COUNT }, () => 'http://127.0.0.1:9/v1'),
    store: storeOf(options),
    gatewayLines: [`max_upload_bytes: ${2 * GiB}`],
  });
  const rss = readRss(gateway.pid);
  await gateway.child.stop();
  return rss;
}

async function startScenarioGateway(
  workDir: string,
  scenario: Scenario,
  sims: readonly Sim[],
  options: Options,
): Promise<Gateway> {
  const maxUpload = Math.max(2 * GiB, ...options.sizes, options.sdkOrderSize);
  const timeReportPath = options.timeV ? join(workDir, `gateway-${scenario}.time-v.txt`) : null;
  const gateway = await startGateway({
    name: `gateway-${scenario}`,
    workDir,
    apiBases: sims.map((s) => s.apiBase),
    dialects: options.deployments,
    store: storeOf(options),
    gatewayLines: [`max_upload_bytes: ${maxUpload}`],
    nodeArgs: cpuProfArgs(options.cpuProfDir, `gateway-${scenario}`),
    ...(timeReportPath === null
      ? {}
      : {
          wrapper: [GNU_TIME, '-v', '-o', timeReportPath],
          innerPid: (pid: number): number => {
            const inner = childPids(pid);
            if (inner.length !== 1) {
              throw new Error(`cannot find the gateway under ${GNU_TIME} (pid ${pid})`);
            }
            return inner[0];
          },
        }),
  });
  return { ...gateway, timeReportPath };
}

async function startStack(workDir: string, scenario: Scenario, options: Options): Promise<Stack> {
  const bandwidth = scenario === 'capped' ? ['--bandwidth', String(options.bandwidth)] : [];
  const mode = options.provider === 'count' ? ['--count-only'] : [];
  const sims: Sim[] = [];
  for (let i = 0; i < SIM_COUNT; i++) {
    sims.push(
      await startSimulator(
        `sim-${i + 1}`,
        ['--discard-content', ...mode, ...bandwidth],
        options.cpuProfDir,
        options.deployments[i],
      ),
    );
  }
  const gateway = await startScenarioGateway(workDir, scenario, sims, options);
  return { scenario, sims, gateway };
}

/** Stops the stack; returns the gateway's lifetime max RSS from `time -v` when available. */
async function stopStack(stack: Stack): Promise<number | null> {
  await stack.gateway.child.stop(stack.gateway.pid);
  await Promise.all(stack.sims.map((s) => s.child.stop()));
  const path = stack.gateway.timeReportPath;
  if (path === null || !existsSync(path)) return null;
  const match = /Maximum resident set size \(kbytes\):\s*(\d+)/.exec(readFileSync(path, 'utf8'));
  return match ? Number(match[1]) * 1024 : null;
}

// ---------------------------------------------------------------------------------------------
// Payload and uploads
// ---------------------------------------------------------------------------------------------

/** Deterministic pseudo-random bytes (xorshift32): incompressible, no accidental boundaries. */
const PATTERN = ((): Buffer => {
  const buffer = Buffer.alloc(PATTERN_BYTES);
  let x = 0x9e3779b9;
  for (let i = 0; i < buffer.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buffer.writeUInt32LE(x >>> 0, i);
  }
  return buffer;
})();

/** `size` payload bytes as CHUNK_BYTES slices of PATTERN (views, not copies). */
function* payloadChunks(size: number): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    const start = offset % PATTERN_BYTES;
    yield PATTERN.subarray(start, start + Math.min(CHUNK_BYTES, size - offset));
  }
}

const digests = new Map<number, string>();
function expectedSha256(size: number): string {
  let digest = digests.get(size);
  if (digest === undefined) {
    const hash = createHash('sha256');
    for (const chunk of payloadChunks(size)) hash.update(chunk);
    digest = hash.digest('hex');
    digests.set(size, digest);
  }
  return digest;
}

/**
 * A streaming multipart body (sent chunked: no Content-Length). The text fields go before the
 * file part (`fields-first`, so the gateway can start its copies at once) or after it
 * (`file-first`, the order the OpenAI Node SDK uses).
 */
function multipartBody(
  fields: ReadonlyArray<readonly [string, string]>,
  size: number,
  order: FieldOrder,
): { contentType: string; body: Readable } {
  const boundary = `bench-${randomBytes(12).toString('hex')}`;
  const fieldBytes = Buffer.from(
    fields
      .map(
        ([n, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`,
      )
      .join(''),
  );
  function* parts(): Generator<Buffer> {
    if (order === 'fields-first') yield fieldBytes;
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${FILENAME}"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    );
    yield* payloadChunks(size);
    yield Buffer.from('\r\n');
    if (order === 'file-first') yield fieldBytes;
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Readable.from(parts(), { objectMode: false, highWaterMark: CHUNK_BYTES }),
  };
}

/** The payload of `size` bytes as a file, for curl; written once per size and run. */
const payloadFiles = new Map<number, string>();
async function payloadFile(workDir: string, size: number): Promise<string> {
  let path = payloadFiles.get(size);
  if (path === undefined) {
    path = join(workDir, `payload-${size}.bin`);
    const out = createWriteStream(path);
    for (const chunk of payloadChunks(size)) {
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    payloadFiles.set(size, path);
  }
  return path;
}

interface UploadOutcome {
  status: number;
  body: string;
  wallMs: number;
}

interface UploadCall {
  client: ClientName;
  workDir: string;
  url: string;
  authorization: string;
  fields: ReadonlyArray<readonly [string, string]>;
  size: number;
  order: FieldOrder;
}

function postMultipart(call: UploadCall): Promise<UploadOutcome> {
  return call.client === 'curl' ? postWithCurl(call) : postWithUndici(call);
}

/** POSTs the form and reads the whole answer; wall time is from sending to the last byte back. */
async function postWithUndici({
  url,
  authorization,
  fields,
  size,
  order,
}: UploadCall): Promise<UploadOutcome> {
  const form = multipartBody(fields, size, order);
  const started = performance.now();
  const res = await request(url, {
    method: 'POST',
    headers: { authorization, 'content-type': form.contentType },
    body: form.body,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const body = await res.body.text();
  return { status: res.statusCode, body, wallMs: performance.now() - started };
}

/**
 * `curl -F name=value … -F file=@PATH` in the form's order. Wall time is curl's own
 * `time_total` (connect to the last byte of the answer), without the process start-up.
 */
async function postWithCurl(call: UploadCall): Promise<UploadOutcome> {
  const path = await payloadFile(call.workDir, call.size);
  const fieldArgs = call.fields.flatMap(([n, v]) => ['-F', `${n}=${v}`]);
  const fileArgs = ['-F', `file=@${path};filename=${FILENAME};type=application/octet-stream`];
  const form =
    call.order === 'fields-first' ? [...fieldArgs, ...fileArgs] : [...fileArgs, ...fieldArgs];
  return curlTimed(['-H', `Authorization: ${call.authorization}`, ...form], call.url);
}

async function getJson(url: string): Promise<unknown> {
  const res = await request(url);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}: ${text}`);
  return JSON.parse(text) as unknown;
}

/**
 * Each simulator must hold exactly one file: `size` bytes with the payload's sha256 (only the
 * size when the simulators merely count: `hashed` false). Returns how many extra upload
 * attempts the simulators saw (the gateway retries a failed copy once, from the start: the run
 * then moved more bytes than it reports, which the table flags).
 */
async function verifySims(
  sims: readonly Sim[],
  size: number,
  what: string,
  hashed: boolean,
): Promise<number> {
  let extraAttempts = 0;
  const sha = hashed ? expectedSha256(size) : '';
  for (const sim of sims) {
    const state = (await getJson(`${sim.origin}/__sim/state`)) as {
      files: StoredFile[];
      calls: CallRecord[];
    };
    const uploads = state.files;
    const ok =
      uploads.length === 1 &&
      uploads[0].bytes === size &&
      uploads[0].sha256 === sha &&
      uploads[0].filename.endsWith(FILENAME);
    if (!ok) {
      const seen = uploads.map(
        (f) => `${f.filename}: ${f.bytes} B, sha256 ${f.sha256.slice(0, 12)}…`,
      );
      throw new Error(
        `${what}: ${sim.child.name} should hold one ${size}-byte copy (sha256 ${sha.slice(0, 12)}…), ` +
          `holds [${seen.join('; ')}]`,
      );
    }
    const attempts = state.calls.filter((c) => c.route === 'files.create').length;
    extraAttempts += Math.max(0, attempts - 1);
  }
  return extraAttempts;
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

interface Measurement {
  wallMs: number;
  /** Upload attempts beyond one per simulator (retried copies). */
  retries: number;
  /**
   * Seconds the gateway's spool spent writing the file (its /metrics counter, read before and
   * after): near the wall time, the spool's disk is what paced the upload. Null for direct runs.
   */
  spoolWriteSeconds: number | null;
  cpu: CpuSplit;
  rss: RssSummary;
}

/** Runs `upload` with the gateway's RSS sampled and everyone's CPU time counted. */
async function measured(stack: Stack, upload: () => Promise<number>): Promise<Measurement> {
  const sampler = new RssSampler(stack.gateway.pid);
  const cpu = cpuStart(
    stack.gateway.pid,
    stack.sims.map((s) => s.pid),
  );
  let wallMs: number;
  let rss: RssSummary;
  try {
    wallMs = await upload();
  } finally {
    rss = sampler.stop();
  }
  return { wallMs, retries: 0, spoolWriteSeconds: null, cpu: cpu(), rss };
}

interface RunContext {
  stack: Stack;
  client: ClientName;
  workDir: string;
  hashed: boolean;
}

async function runDirect(run: RunContext, size: number): Promise<Measurement> {
  const { stack } = run;
  const sim = stack.sims[0];
  await resetSims(stack.sims);
  const m = await measured(stack, async () => {
    const out = await postMultipart({
      client: run.client,
      workDir: run.workDir,
      url: `${sim.apiBase}/files`,
      authorization: `Bearer ${SIM_KEY}`,
      fields: [['purpose', PURPOSE]],
      size,
      order: 'fields-first',
    });
    if (out.status !== 200) throw new Error(`direct upload: HTTP ${out.status}: ${out.body}`);
    return out.wallMs;
  });
  m.retries = await verifySims([sim], size, 'direct upload', run.hashed);
  return m;
}

async function runGateway(run: RunContext, size: number, order: FieldOrder): Promise<Measurement> {
  const { stack } = run;
  await resetSims(stack.sims);
  const spoolBefore = await spoolWriteSeconds(stack.gateway.url);
  const m = await measured(stack, async () => {
    const out = await postMultipart({
      client: run.client,
      workDir: run.workDir,
      url: `${stack.gateway.url}/v1/files`,
      authorization: `Bearer ${GATEWAY_KEY}`,
      fields: [
        ['purpose', PURPOSE],
        ['target_model_names', MODEL],
      ],
      size,
      order,
    });
    if (out.status !== 200) {
      throw new Error(`gateway upload (${order}): HTTP ${out.status}: ${out.body}`);
    }
    const answer = JSON.parse(out.body) as { bytes?: unknown };
    if (answer.bytes !== size) {
      throw new Error(
        `gateway upload (${order}): answered bytes=${String(answer.bytes)}, sent ${size}`,
      );
    }
    return out.wallMs;
  });
  m.retries = await verifySims(stack.sims, size, `gateway upload (${order})`, run.hashed);
  m.spoolWriteSeconds = (await spoolWriteSeconds(stack.gateway.url)) - spoolBefore;
  return m;
}

/** The gateway's `gateway_upload_spool_write_seconds_total`, from its Prometheus endpoint. */
async function spoolWriteSeconds(gatewayUrl: string): Promise<number> {
  const res = await request(`${gatewayUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics: HTTP ${res.statusCode}: ${text}`);
  const match = /^gateway_upload_spool_write_seconds_total (\S+)$/m.exec(text);
  if (!match) throw new Error('GET /metrics: no gateway_upload_spool_write_seconds_total');
  return Number(match[1]);
}

interface SizeResult {
  scenario: Scenario;
  client: ClientName;
  size: number;
  direct: Measurement[];
  gateway: Measurement[];
}

interface SdkOrderResult {
  client: ClientName;
  size: number;
  directWallMs: number;
  gateway: Measurement;
}

interface ScenarioResult {
  scenario: Scenario;
  sizes: SizeResult[];
  sdkOrder: SdkOrderResult[];
  lifetimeMaxRss: number | null;
  /** The gateway's peak RSS (VmHWM) from its start until ready, and over the warm-up uploads. */
  bootPeakRss: number | null;
  warmupPeakRss: number | null;
}

/** The spool's writing time as a share of the upload's wall time, in per cent. */
function spoolShare(m: Measurement): string {
  return `${Math.round(((m.spoolWriteSeconds ?? 0) * 1000 * 100) / m.wallMs)} %`;
}

function describe(m: Measurement): string {
  return (
    `${(m.wallMs / 1000).toFixed(2)} s, gateway RSS ${mb(m.rss.startBytes)} → ${mb(m.rss.peakBytes)}, ` +
    `CPU s gw ${m.cpu.gateway.toFixed(1)} / sims ${m.cpu.sims.toFixed(1)} / client ${m.cpu.client.toFixed(1)} ` +
    `/ other ${m.cpu.other.toFixed(1)} (steal ${m.cpu.steal.toFixed(1)})` +
    (m.spoolWriteSeconds === null
      ? ''
      : `, spool writing ${m.spoolWriteSeconds.toFixed(1)} s (${spoolShare(m)} of the wall)`) +
    (m.retries > 0 ? `; ${m.retries} RETRIED upload(s)` : '')
  );
}

async function runScenario(
  workDir: string,
  scenario: Scenario,
  options: Options,
): Promise<ScenarioResult> {
  const capped =
    scenario === 'capped' ? ` (each simulator capped at ${rate(options.bandwidth)})` : '';
  progress(`[${scenario}] starting ${SIM_COUNT} simulators and the gateway${capped}`);
  const stack = await startStack(workDir, scenario, options);
  const result: ScenarioResult = {
    scenario,
    sizes: [],
    sdkOrder: [],
    lifetimeMaxRss: null,
    // Read before any sampler resets it: until now VmHWM is the start-up's.
    bootPeakRss: readPeakRss(stack.gateway.pid),
    warmupPeakRss: null,
  };
  const hashed = options.provider === 'hash';
  const runs = options.clients.map((client): RunContext => ({ stack, client, workDir, hashed }));
  try {
    progress(
      `[${scenario}] gateway pid ${stack.gateway.pid} ready at ${stack.gateway.url}; warming up`,
    );
    for (const run of runs) {
      const warmups = [
        await runDirect(run, WARMUP_BYTES),
        await runGateway(run, WARMUP_BYTES, 'fields-first'),
      ];
      for (const m of warmups) {
        result.warmupPeakRss = Math.max(result.warmupPeakRss ?? 0, m.rss.peakBytes);
      }
    }
    for (const size of options.sizes) {
      const bySize = runs.map((run): SizeResult => ({
        scenario,
        client: run.client,
        size,
        direct: [],
        gateway: [],
      }));
      // Clients take turns within each repetition, so a noisy minute hits both alike.
      for (let i = 1; i <= options.repeat; i++) {
        for (const [k, run] of runs.entries()) {
          const tag = `[${scenario}] ${run.client} ${bytes(size)} run ${i}/${options.repeat}`;
          const direct = await runDirect(run, size);
          progress(`${tag} direct:  ${describe(direct)}`);
          bySize[k].direct.push(direct);
          const viaGateway = await runGateway(run, size, 'fields-first');
          progress(`${tag} gateway: ${describe(viaGateway)}`);
          bySize[k].gateway.push(viaGateway);
        }
      }
      result.sizes.push(...bySize);
    }
    if (scenario === 'uncapped' && options.sdkOrder) {
      const size = options.sdkOrderSize;
      for (const run of runs) {
        const measuredDirect =
          result.sizes.find((s) => s.size === size && s.client === run.client)?.direct ?? [];
        let directWallMs = median(measuredDirect.map((m) => m.wallMs));
        if (measuredDirect.length === 0) {
          const direct = await runDirect(run, size);
          progress(
            `[${scenario}] ${run.client} ${bytes(size)} SDK-order baseline, direct: ${describe(direct)}`,
          );
          directWallMs = direct.wallMs;
        }
        const gateway = await runGateway(run, size, 'file-first');
        progress(
          `[${scenario}] ${run.client} ${bytes(size)} SDK order (file first), gateway: ${describe(gateway)}`,
        );
        result.sdkOrder.push({ client: run.client, size, directWallMs, gateway });
      }
    }
  } catch (error) {
    const logs = [stack.gateway.child, ...stack.sims.map((s) => s.child)].map((c) =>
      c.lastLines(15),
    );
    progress(`[${scenario}] FAILED; last output of the processes:\n${logs.join('\n')}`);
    throw error;
  } finally {
    // time -v reports the kernel's high-water mark at exit, which each sampler's reset lowered
    // to its own phase's: the life's peak is the highest of the phases' and of that last one.
    const phases = [
      await stopStack(stack),
      result.bootPeakRss,
      result.warmupPeakRss,
      ...result.sizes.flatMap((s) => [...s.direct, ...s.gateway].map((m) => m.rss.peakBytes)),
      ...result.sdkOrder.map((s) => s.gateway.rss.peakBytes),
    ].filter((peak): peak is number => peak !== null);
    result.lifetimeMaxRss = phases.length > 0 ? Math.max(...phases) : null;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function bytes(n: number): string {
  if (n % GiB === 0) return `${n / GiB} GiB`;
  if (n % MiB === 0) return `${n / MiB} MiB`;
  return `${n} B`;
}

/** Decimal megabytes, as the goals are stated. */
function mb(n: number): string {
  return `${(n / 1e6).toFixed(0)} MB`;
}

function rate(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(0)} MB/s`;
}

function verdict(pass: boolean): string {
  return pass ? 'met' : '**MISSED**';
}

function cpuCell(m: Measurement): string {
  const c = m.cpu;
  const total = c.gateway + c.sims + c.client + c.other;
  return (
    `${c.gateway.toFixed(1)} / ${c.sims.toFixed(1)} / ${c.client.toFixed(1)} / ${c.other.toFixed(1)} ` +
    `(${(total / (m.wallMs / 1000)).toFixed(2)} cores)`
  );
}

/** ` (min–max)` of the wall times when there were several runs. */
function spread(runs: readonly Measurement[]): string {
  if (runs.length < 2) return '';
  const walls = runs.map((m) => m.wallMs / 1000);
  return ` (${Math.min(...walls).toFixed(2)}–${Math.max(...walls).toFixed(2)})`;
}

function retried(runs: readonly Measurement[]): string {
  const n = runs.reduce((sum, m) => sum + m.retries, 0);
  return n > 0 ? ` ⚠ ${n} copy attempt(s) retried` : '';
}

/** The run whose wall time is the median (or the lower middle): its other figures go with it. */
function medianRun(runs: readonly Measurement[]): Measurement {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function report(
  results: readonly ScenarioResult[],
  options: Options,
  firstBootRss: number | null,
): string {
  const lines: string[] = [];
  const head =
    '| Scenario | Client | Size | Direct → 1 sim: wall, MB/s | Gateway → 3 sims: wall, MB/s delivered | ' +
    'Ratio (goal) | Gateway RSS start → peak (goal ≤ 150 MB) | RSS growth | CPU s direct: sims / client | ' +
    'CPU s gateway run: gw / sims / client / other (cores busy) |';
  lines.push(head, `|${'---|'.repeat(10)}`);
  const peaks: string[] = [];
  for (const r of results) {
    for (const s of r.sizes) {
      const directWall = median(s.direct.map((m) => m.wallMs)) / 1000;
      const gatewayWall = median(s.gateway.map((m) => m.wallMs)) / 1000;
      const directRate = s.size / directWall;
      const deliveredRate = (SIM_COUNT * s.size) / gatewayWall;
      const peak = Math.max(...s.gateway.map((m) => m.rss.peakBytes));
      const start = s.gateway[0].rss.startBytes;
      let ratioCell: string;
      if (r.scenario === 'capped') {
        const ratio = gatewayWall / directWall;
        ratioCell = `wall ${ratio.toFixed(2)}× (≤ ${GOALS.cappedMaxRatio}×) ${verdict(ratio <= GOALS.cappedMaxRatio)}`;
      } else {
        const ratio = deliveredRate / directRate;
        ratioCell = `rate ${ratio.toFixed(2)}× (≥ ${GOALS.uncappedMinRatio}×) ${verdict(ratio >= GOALS.uncappedMinRatio)}`;
      }
      const d = medianRun(s.direct);
      const g = medianRun(s.gateway);
      lines.push(
        `| ${r.scenario} | ${s.client} | ${bytes(s.size)} | ${directWall.toFixed(2)} s${spread(s.direct)}, ${rate(directRate)} | ` +
          `${gatewayWall.toFixed(2)} s${spread(s.gateway)}, ${rate(deliveredRate)}${retried(s.gateway)} | ${ratioCell} | ` +
          `${mb(start)} → ${mb(peak)} ${verdict(peak <= GOALS.peakRssMaxBytes)} | +${mb(peak - start)} | ` +
          `${d.cpu.sims.toFixed(1)} / ${d.cpu.client.toFixed(1)} | ${cpuCell(g)} |`,
      );
      const shares = s.gateway.map(spoolShare).join(', ');
      peaks.push(
        `- ${r.scenario}, ${s.client}, ${bytes(s.size)}: the gateway's spool was writing the file for ${shares} ` +
          "of each run's wall time (near 100 %: its disk or page cache paced the upload)",
      );
    }
    for (const s of r.sdkOrder) {
      const wall = s.gateway.wallMs / 1000;
      const directRate = s.size / (s.directWallMs / 1000);
      const deliveredRate = (SIM_COUNT * s.size) / wall;
      const ratio = deliveredRate / directRate;
      lines.push(
        `| ${r.scenario}, **SDK order** (file before fields: spooled, then fanned out) | ${s.client} | ${bytes(s.size)} | ` +
          `${(s.directWallMs / 1000).toFixed(2)} s, ${rate(directRate)} | ` +
          `${wall.toFixed(2)} s, ${rate(deliveredRate)}${retried([s.gateway])} | ` +
          `rate ${ratio.toFixed(2)}× (no goal; fields-first goal is ≥ ${GOALS.uncappedMinRatio}×) | ` +
          `${mb(s.gateway.rss.startBytes)} → ${mb(s.gateway.rss.peakBytes)} ${verdict(s.gateway.rss.peakBytes <= GOALS.peakRssMaxBytes)} | ` +
          `+${mb(s.gateway.rss.peakBytes - s.gateway.rss.startBytes)} | – | ` +
          `${cpuCell(s.gateway)} |`,
      );
    }
    const sizes = [...new Set(r.sizes.map((s) => s.size))];
    if (sizes.length >= 2) {
      const [first, last] = [sizes[0], sizes[sizes.length - 1]];
      const peakAt = (size: number): number =>
        Math.max(
          ...r.sizes
            .filter((s) => s.size === size)
            .flatMap((s) => s.gateway.map((m) => m.rss.peakBytes)),
        );
      const [p0, p1] = [peakAt(first), peakAt(last)];
      const flat = p1 <= p0 * (1 + GOALS.flatTolerance);
      peaks.push(
        `- ${r.scenario}: peak RSS ${mb(p0)} at ${bytes(first)} vs ${mb(p1)} at ${bytes(last)} ` +
          `(${p1 >= p0 ? '+' : ''}${((p1 / p0 - 1) * 100).toFixed(1)} %) — flat (within ${GOALS.flatTolerance * 100} %): ${verdict(flat)}`,
      );
    }
    if (r.bootPeakRss !== null && r.warmupPeakRss !== null) {
      peaks.push(
        `- ${r.scenario}: gateway peak RSS (kernel VmHWM) from start until ready ${mb(r.bootPeakRss)}, ` +
          `over the warm-up uploads ${mb(r.warmupPeakRss)}`,
      );
    }
    if (r.lifetimeMaxRss !== null) {
      peaks.push(
        `- ${r.scenario}: gateway max RSS over its whole life (start-up, warm-up and every run): ${mb(r.lifetimeMaxRss)}`,
      );
    }
  }
  const runs =
    options.repeat > 1
      ? `median (min–max) of ${options.repeat} runs; peak RSS: highest of the runs; the SDK-order row is 1 run`
      : '1 run each';
  lines.push(
    '',
    `Wall times: ${runs}. MB = 10^6 bytes. Capped: each simulator reads at most ${rate(options.bandwidth)}. ` +
      `Direct MB/s = size / wall; gateway MB/s delivered = ${SIM_COUNT} × size / wall. ` +
      `CPU s = user+system CPU seconds used during the upload; other = the rest of the machine's busy ` +
      `time (other processes, kernel softirq); cores busy = all busy CPU seconds / wall (${cpus().length} cores).`,
  );
  if (firstBootRss !== null) {
    peaks.push(
      `- Not measured above: a gateway that creates its embedded database (first boot, initdb) ` +
        `was ${mb(firstBootRss)} RSS once ready; the measured gateways opened the existing one.`,
    );
  }
  if (peaks.length > 0) lines.push('', ...peaks);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  for (const file of [GATEWAY_MAIN, SIMULATOR_MAIN]) {
    if (!existsSync(file)) {
      throw new Error(`${file} does not exist: run \`npm run build\` first, then this benchmark.`);
    }
  }
  const workDir = makeTempDir('mfg-bench-');
  const started = new Date();
  const load = loadavg().map((l) => l.toFixed(2));
  progress(
    `node ${process.version}, ${cpus().length} CPUs, ${(totalmem() / GiB).toFixed(0)} GiB RAM, ` +
      `load average ${load.join(' ')}; sizes ${options.sizes.map(bytes).join(', ')}; ` +
      `scenarios ${options.scenarios.join(', ')}; repeat ${options.repeat}`,
  );
  for (const size of new Set([...options.sizes, options.sdkOrderSize])) expectedSha256(size);

  let firstBootRss: number | null = null;
  if (options.databaseUrl === null) {
    progress('creating the embedded database (a throw-away gateway boot; not measured)');
    firstBootRss = await initDataDir(workDir, options);
  }
  const results: ScenarioResult[] = [];
  for (const scenario of options.scenarios) {
    results.push(await runScenario(workDir, scenario, options));
  }
  process.stdout.write(
    `\n## Upload benchmark — ${started.toISOString()}\n\n` +
      `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ` +
      `${(totalmem() / GiB).toFixed(0)} GiB RAM, load average at start ${load.join(' ')}; ` +
      `gateway database: ${options.databaseUrl === null ? 'embedded (PGlite)' : 'external PostgreSQL'}, ` +
      `${options.redisUrl === null ? 'in-memory cache' : 'Redis cache'}; ` +
      `deployments ${options.deployments.join(', ')}; simulators ${options.provider === 'hash' ? 'sha256-hash' : 'only count'} what they receive\n\n` +
      `${report(results, options, firstBootRss)}\n`,
  );
}

runBench(main);
