/**
 * Upload benchmark for `POST /v1/files` (see bench/README.md).
 *
 *   npm run build
 *   npm run bench:upload -- --scenario all --sizes 100MiB,1GiB
 *
 * Starts three simulated OpenAI upstreams (dist/simulator/main.js) and the gateway (dist/main.js)
 * as separate processes, then for every size compares
 *   direct   the client uploads straight to ONE simulator, and
 *   gateway  the client uploads once to the gateway, which copies to all THREE simulators,
 * while sampling the gateway's RSS every 50 ms. Every run is verified: the gateway must answer
 * 200 and every simulator must hold exactly one file with the right byte count and sha256.
 * It only talks HTTP to the processes it starts; nothing from src/ is imported but types.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { CallRecord, StoredFile } from '../src/simulator/types';

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const ROOT = resolve(__dirname, '..');
const GATEWAY_MAIN = join(ROOT, 'dist', 'main.js');
const SIMULATOR_MAIN = join(ROOT, 'dist', 'simulator', 'main.js');
const GNU_TIME = '/usr/bin/time';

const SIM_COUNT = 3;
const SIM_KEY = 'bench-sim-key';
const GATEWAY_KEY = 'sk-bench';
const MODEL = 'bench-model';
const PURPOSE = 'user_data';
const FILENAME = 'bench.bin';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Client write size: what fs.createReadStream (and so an SDK reading a file) hands out. */
const CHUNK_BYTES = 64 * KiB;
/** The payload is this many pseudo-random bytes, repeated; a multiple of CHUNK_BYTES. */
const PATTERN_BYTES = 1 * MiB;
const RSS_SAMPLE_MS = 50;
/** One small upload each way before measuring, so JIT and connection set-up are not timed. */
const WARMUP_BYTES = 16 * MiB;
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;

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

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup
// ---------------------------------------------------------------------------------------------

/** A started process: its output is kept (last lines) for error messages. */
class Child {
  readonly exited: Promise<number | null>;
  private readonly tail: string[] = [];
  private readonly stdoutListeners = new Set<(line: string) => void>();
  private running = true;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolveExit) => {
      proc.once('exit', (code, signal) => {
        this.running = false;
        this.remember(`[exited: code ${String(code)}, signal ${String(signal)}]`);
        resolveExit(code);
      });
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue;
      const fromStdout = stream === proc.stdout;
      createInterface({ input: stream }).on('line', (line) => {
        this.remember(line);
        if (fromStdout) for (const listener of [...this.stdoutListeners]) listener(line);
      });
    }
  }

  get alive(): boolean {
    return this.running;
  }

  /** Resolves with the first stdout line `match` accepts; rejects if the process exits first. */
  waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolveLine, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.stdoutListeners.delete(listener);
      };
      const listener = (line: string): void => {
        const found = match(line);
        if (found !== undefined) {
          finish();
          resolveLine(found);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: not ready after ${timeoutMs} ms\n${this.lastLines()}`));
      }, timeoutMs);
      this.stdoutListeners.add(listener);
      void this.exited.then(() => {
        finish();
        reject(new Error(`${this.name} exited before it was ready\n${this.lastLines()}`));
      });
    });
  }

  lastLines(n = 30): string {
    return this.tail
      .slice(-n)
      .map((l) => `    ${this.name}| ${l}`)
      .join('\n');
  }

  /** SIGTERM to `pid` (default: the process itself), SIGKILL if it has not exited in time. */
  async stop(pid: number | undefined = this.proc.pid): Promise<void> {
    if (!this.running || pid === undefined) return;
    signal(pid, 'SIGTERM');
    const done = await Promise.race([
      this.exited.then(() => true),
      sleep(STOP_TIMEOUT_MS, false, { ref: false }),
    ]);
    if (!done) {
      process.stderr.write(`${this.name} did not stop in ${STOP_TIMEOUT_MS} ms; killing it\n`);
      signal(pid, 'SIGKILL');
      if (this.proc.pid !== undefined && this.proc.pid !== pid) signal(this.proc.pid, 'SIGKILL');
      await this.exited;
    }
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.splice(0, this.tail.length - 200);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

const children: Child[] = [];
const tempDirs: string[] = [];

function startChild(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Child {
  const proc = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const child = new Child(name, proc);
  children.push(child);
  return child;
}

async function stopAllChildren(): Promise<void> {
  await Promise.all(children.map((c) => c.stop()));
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Last resort when the process exits some other way: nothing is left running or on disk. */
process.on('exit', () => {
  for (const child of children) {
    if (child.alive && child.proc.pid !== undefined) signal(child.proc.pid, 'SIGKILL');
  }
  removeTempDirs();
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping the simulators and the gateway…\n`);
    void stopAllChildren().finally(() => {
      removeTempDirs();
      process.exit(130);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// /proc readings: RSS and CPU time of a process
// ---------------------------------------------------------------------------------------------

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Resident set size in bytes (VmRSS), or null when the process is gone. */
function readRss(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    try {
      const kb = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' });
      return Number(kb.trim()) * 1024 || null;
    } catch {
      return null;
    }
  }
}

/** User + system CPU seconds the process has used so far (0 when unreadable). */
function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

interface RssSummary {
  startBytes: number;
  peakBytes: number;
  samples: number;
}

/** Samples a process's RSS every RSS_SAMPLE_MS until stopped. */
class RssSampler {
  private startBytes: number | null = null;
  private peakBytes = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS);
  }

  stop(): RssSummary {
    clearInterval(this.timer);
    this.sample();
    return { startBytes: this.startBytes ?? 0, peakBytes: this.peakBytes, samples: this.samples };
  }

  private sample(): void {
    const rss = readRss(this.pid);
    if (rss === null) return;
    this.startBytes ??= rss;
    this.peakBytes = Math.max(this.peakBytes, rss);
    this.samples++;
  }
}

interface CpuSplit {
  gateway: number;
  sims: number;
  client: number;
  /**
   * Busy CPU seconds of the whole machine not charged to the processes above: other
   * processes, and kernel softirq work (loopback TCP delivery is partly accounted there).
   */
  other: number;
  /** CPU seconds the hypervisor gave to someone else (a VM's "steal"). */
  steal: number;
}

/** Machine-wide busy and steal CPU seconds since boot, from the first line of /proc/stat. */
function readMachineCpu(): { busy: number; steal: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
    const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
    return {
      busy: (user + nice + system + irq + softirq) / CLOCK_TICKS,
      steal: steal / CLOCK_TICKS,
    };
  } catch {
    return { busy: 0, steal: 0 };
  }
}

/** CPU seconds each party spent between `cpuStart()` and calling the returned function. */
function cpuStart(gatewayPid: number, simPids: readonly number[]): () => CpuSplit {
  const gateway = readCpuSeconds(gatewayPid);
  const sims = simPids.reduce((n, pid) => n + readCpuSeconds(pid), 0);
  const client = process.cpuUsage();
  const machine = readMachineCpu();
  return () => {
    const used = process.cpuUsage(client);
    const machineNow = readMachineCpu();
    const split = {
      gateway: readCpuSeconds(gatewayPid) - gateway,
      sims: simPids.reduce((n, pid) => n + readCpuSeconds(pid), 0) - sims,
      client: (used.user + used.system) / 1e6,
    };
    const ours = split.gateway + split.sims + split.client;
    return {
      ...split,
      other: Math.max(0, machineNow.busy - machine.busy - ours),
      steal: machineNow.steal - machine.steal,
    };
  };
}

// ---------------------------------------------------------------------------------------------
// The stack: three simulators and a gateway
// ---------------------------------------------------------------------------------------------

interface Sim {
  child: Child;
  pid: number;
  /** `http://127.0.0.1:PORT/v1`: where the OpenAI API lives. */
  apiBase: string;
  /** `http://127.0.0.1:PORT`: where the control API (/__sim/…) lives. */
  origin: string;
}

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

interface ListeningLine {
  event: 'listening';
  apiBase: string;
  port: number;
}

function parseListening(line: string): ListeningLine | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (
      typeof value === 'object' &&
      value !== null &&
      'event' in value &&
      value.event === 'listening' &&
      'apiBase' in value &&
      typeof value.apiBase === 'string' &&
      'port' in value &&
      typeof value.port === 'number'
    ) {
      return { event: 'listening', apiBase: value.apiBase, port: value.port };
    }
  } catch {
    // Not a JSON line.
  }
  return undefined;
}

async function startSim(
  index: number,
  bandwidth: number | null,
  cpuProfDir: string | null,
): Promise<Sim> {
  const name = `sim-${index + 1}`;
  const args = [...cpuProfArgs(cpuProfDir, name), SIMULATOR_MAIN];
  args.push('--dialect', 'openai', '--api-key', SIM_KEY, '--discard-content');
  args.push('--name', `bench-${name}`);
  if (bandwidth !== null) args.push('--bandwidth', String(bandwidth));
  const child = startChild(name, process.execPath, args);
  const listening = await child.waitForLine(parseListening, 15_000);
  return {
    child,
    pid: child.proc.pid ?? 0,
    apiBase: listening.apiBase,
    origin: `http://127.0.0.1:${listening.port}`,
  };
}

function cpuProfArgs(dir: string | null, name: string): string[] {
  if (dir === null) return [];
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`,
  ];
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** LiteLLM model_list YAML (JSON scalars are valid YAML, so values are JSON-quoted). */
function gatewayConfig(apiBases: readonly string[], maxUploadBytes: number): string {
  const q = (s: string): string => JSON.stringify(s);
  const deployments = apiBases.map(
    (apiBase, i) =>
      `  - model_name: ${q(MODEL)}\n` +
      `    litellm_params: { model: ${q('openai/bench')}, api_base: ${q(apiBase)}, api_key: ${q(SIM_KEY)} }\n` +
      `    model_info: { id: ${q(`bench-sim-${i + 1}`)} }\n`,
  );
  return (
    `# Written by bench/upload-bench.ts\nmodel_list:\n${deployments.join('')}` +
    `gateway:\n  api_keys:\n    - { key: ${q(GATEWAY_KEY)}, user_id: ${q('bench')} }\n` +
    `  max_upload_bytes: ${maxUploadBytes}\n`
  );
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

/** Environment of a gateway process; the embedded database lives in `dataDir`. */
function gatewayEnv(
  configPath: string,
  port: number,
  dataDir: string,
  options: Options,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONFIG_PATH: configPath,
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL; // The in-memory cache: nothing outside this run is touched.
  if (options.databaseUrl !== null) {
    env.DATABASE_URL = options.databaseUrl;
    env.ID_SIGNING_SECRET = randomBytes(32).toString('hex');
  }
  return env;
}

async function waitReady(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!child.alive) throw new Error(`the gateway exited during start-up\n${child.lastLines()}`);
    if (Date.now() > deadline) {
      throw new Error(
        `the gateway was not ready after ${READY_TIMEOUT_MS} ms\n${child.lastLines()}`,
      );
    }
    try {
      const res = await request(`${url}/health/ready`);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(250);
  }
}

/**
 * The embedded database is created (initdb, in the gateway process) the first time a data dir
 * is opened, which leaves that process hundreds of MB larger for a while. A deployed gateway
 * does that once in its life, so the data dir is created by a throw-away boot first and every
 * measured gateway opens an existing one. Returns the throw-away gateway's RSS once ready.
 */
async function initDataDir(workDir: string, options: Options): Promise<number | null> {
  const dataDir = join(workDir, 'data');
  const configPath = join(workDir, 'gateway-init.yaml');
  if (options.databaseUrl !== null) return null;
  // Nothing is uploaded during this boot, so the deployments need not exist.
  const unused = Array.from({ length: SIM_COUNT }, () => 'http://127.0.0.1:9/v1');
  writeFileSync(configPath, gatewayConfig(unused, 2 * GiB));
  const port = await freePort();
  const child = startChild(
    'gateway-init',
    process.execPath,
    [GATEWAY_MAIN],
    gatewayEnv(configPath, port, dataDir, options),
  );
  await waitReady(child, `http://127.0.0.1:${port}`);
  const rss = child.proc.pid === undefined ? null : readRss(child.proc.pid);
  await child.stop();
  return rss;
}

async function startGateway(
  workDir: string,
  scenario: Scenario,
  sims: readonly Sim[],
  options: Options,
): Promise<Gateway> {
  const configPath = join(workDir, `gateway-${scenario}.yaml`);
  const maxUpload = Math.max(2 * GiB, ...options.sizes, options.sdkOrderSize);
  writeFileSync(
    configPath,
    gatewayConfig(
      sims.map((s) => s.apiBase),
      maxUpload,
    ),
  );
  const port = await freePort();
  const env = gatewayEnv(configPath, port, join(workDir, 'data'), options);
  const nodeArgs = [...cpuProfArgs(options.cpuProfDir, `gateway-${scenario}`), GATEWAY_MAIN];
  const timeReportPath = options.timeV ? join(workDir, `gateway-${scenario}.time-v.txt`) : null;
  const child =
    timeReportPath !== null
      ? startChild(
          'gateway',
          GNU_TIME,
          ['-v', '-o', timeReportPath, process.execPath, ...nodeArgs],
          env,
        )
      : startChild('gateway', process.execPath, nodeArgs, env);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(child, url);
  let pid = child.proc.pid ?? 0;
  if (timeReportPath !== null) {
    const inner = childPids(pid);
    if (inner.length !== 1)
      throw new Error(`cannot find the gateway under ${GNU_TIME} (pid ${pid})`);
    pid = inner[0];
  }
  return { child, pid, url, timeReportPath };
}

async function startStack(workDir: string, scenario: Scenario, options: Options): Promise<Stack> {
  const bandwidth = scenario === 'capped' ? options.bandwidth : null;
  const sims: Sim[] = [];
  for (let i = 0; i < SIM_COUNT; i++) sims.push(await startSim(i, bandwidth, options.cpuProfDir));
  const gateway = await startGateway(workDir, scenario, sims, options);
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

interface UploadOutcome {
  status: number;
  body: string;
  wallMs: number;
}

/** POSTs the form and reads the whole answer; wall time is from sending to the last byte back. */
async function postMultipart(
  url: string,
  authorization: string,
  fields: ReadonlyArray<readonly [string, string]>,
  size: number,
  order: FieldOrder,
): Promise<UploadOutcome> {
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

async function getJson(url: string): Promise<unknown> {
  const res = await request(url);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}: ${text}`);
  return JSON.parse(text) as unknown;
}

async function resetSims(sims: readonly Sim[]): Promise<void> {
  await Promise.all(
    sims.map(async (sim) => {
      const res = await request(`${sim.origin}/__sim/reset`, { method: 'POST' });
      await res.body.dump();
      if (res.statusCode !== 200)
        throw new Error(`${sim.child.name}: reset answered ${res.statusCode}`);
    }),
  );
}

/**
 * Each simulator must hold exactly one file: `size` bytes with the payload's sha256. Returns how
 * many extra upload attempts the simulators saw (the gateway retries a failed copy once, from
 * the start: the run then moved more bytes than it reports, which the table flags).
 */
async function verifySims(sims: readonly Sim[], size: number, what: string): Promise<number> {
  let extraAttempts = 0;
  const sha = expectedSha256(size);
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
  return { wallMs, retries: 0, cpu: cpu(), rss };
}

async function runDirect(stack: Stack, size: number): Promise<Measurement> {
  const sim = stack.sims[0];
  await resetSims(stack.sims);
  const m = await measured(stack, async () => {
    const out = await postMultipart(
      `${sim.apiBase}/files`,
      `Bearer ${SIM_KEY}`,
      [['purpose', PURPOSE]],
      size,
      'fields-first',
    );
    if (out.status !== 200) throw new Error(`direct upload: HTTP ${out.status}: ${out.body}`);
    return out.wallMs;
  });
  m.retries = await verifySims([sim], size, 'direct upload');
  return m;
}

async function runGateway(stack: Stack, size: number, order: FieldOrder): Promise<Measurement> {
  await resetSims(stack.sims);
  const m = await measured(stack, async () => {
    const out = await postMultipart(
      `${stack.gateway.url}/v1/files`,
      `Bearer ${GATEWAY_KEY}`,
      [
        ['purpose', PURPOSE],
        ['target_model_names', MODEL],
      ],
      size,
      order,
    );
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
  m.retries = await verifySims(stack.sims, size, `gateway upload (${order})`);
  return m;
}

interface SizeResult {
  scenario: Scenario;
  size: number;
  direct: Measurement[];
  gateway: Measurement[];
}

interface SdkOrderResult {
  size: number;
  directWallMs: number;
  gateway: Measurement;
}

interface ScenarioResult {
  scenario: Scenario;
  sizes: SizeResult[];
  sdkOrder: SdkOrderResult | null;
  lifetimeMaxRss: number | null;
}

function progress(text: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
}

function describe(m: Measurement): string {
  return (
    `${(m.wallMs / 1000).toFixed(2)} s, gateway RSS ${mb(m.rss.startBytes)} → ${mb(m.rss.peakBytes)}, ` +
    `CPU s gw ${m.cpu.gateway.toFixed(1)} / sims ${m.cpu.sims.toFixed(1)} / client ${m.cpu.client.toFixed(1)} ` +
    `/ other ${m.cpu.other.toFixed(1)} (steal ${m.cpu.steal.toFixed(1)})` +
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
  const result: ScenarioResult = { scenario, sizes: [], sdkOrder: null, lifetimeMaxRss: null };
  try {
    progress(
      `[${scenario}] gateway pid ${stack.gateway.pid} ready at ${stack.gateway.url}; warming up`,
    );
    await runDirect(stack, WARMUP_BYTES);
    await runGateway(stack, WARMUP_BYTES, 'fields-first');
    for (const size of options.sizes) {
      const sizeResult: SizeResult = { scenario, size, direct: [], gateway: [] };
      for (let i = 1; i <= options.repeat; i++) {
        const tag = `[${scenario}] ${bytes(size)} run ${i}/${options.repeat}`;
        const direct = await runDirect(stack, size);
        progress(`${tag} direct:  ${describe(direct)}`);
        sizeResult.direct.push(direct);
        const viaGateway = await runGateway(stack, size, 'fields-first');
        progress(`${tag} gateway: ${describe(viaGateway)}`);
        sizeResult.gateway.push(viaGateway);
      }
      result.sizes.push(sizeResult);
    }
    if (scenario === 'uncapped' && options.sdkOrder) {
      const size = options.sdkOrderSize;
      const measuredDirect = result.sizes.find((s) => s.size === size)?.direct ?? [];
      let directWallMs = median(measuredDirect.map((m) => m.wallMs));
      if (measuredDirect.length === 0) {
        const direct = await runDirect(stack, size);
        progress(`[${scenario}] ${bytes(size)} SDK-order baseline, direct: ${describe(direct)}`);
        directWallMs = direct.wallMs;
      }
      const gateway = await runGateway(stack, size, 'file-first');
      progress(
        `[${scenario}] ${bytes(size)} SDK order (file first), gateway: ${describe(gateway)}`,
      );
      result.sdkOrder = { size, directWallMs, gateway };
    }
  } catch (error) {
    const logs = [stack.gateway.child, ...stack.sims.map((s) => s.child)].map((c) =>
      c.lastLines(15),
    );
    progress(`[${scenario}] FAILED; last output of the processes:\n${logs.join('\n')}`);
    throw error;
  } finally {
    result.lifetimeMaxRss = await stopStack(stack);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

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
    '| Scenario | Size | Direct → 1 sim: wall, MB/s | Gateway → 3 sims: wall, MB/s delivered | ' +
    'Ratio (goal) | Gateway RSS start → peak (goal ≤ 150 MB) | RSS growth | CPU s direct: sims / client | ' +
    'CPU s gateway run: gw / sims / client / other (cores busy) |';
  lines.push(head, `|${'---|'.repeat(9)}`);
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
        `| ${r.scenario} | ${bytes(s.size)} | ${directWall.toFixed(2)} s${spread(s.direct)}, ${rate(directRate)} | ` +
          `${gatewayWall.toFixed(2)} s${spread(s.gateway)}, ${rate(deliveredRate)}${retried(s.gateway)} | ${ratioCell} | ` +
          `${mb(start)} → ${mb(peak)} ${verdict(peak <= GOALS.peakRssMaxBytes)} | +${mb(peak - start)} | ` +
          `${d.cpu.sims.toFixed(1)} / ${d.cpu.client.toFixed(1)} | ${cpuCell(g)} |`,
      );
    }
    if (r.sdkOrder) {
      const s = r.sdkOrder;
      const wall = s.gateway.wallMs / 1000;
      const directRate = s.size / (s.directWallMs / 1000);
      const deliveredRate = (SIM_COUNT * s.size) / wall;
      const ratio = deliveredRate / directRate;
      lines.push(
        `| ${r.scenario}, **SDK order** (file before fields: spooled, then fanned out) | ${bytes(s.size)} | ` +
          `${(s.directWallMs / 1000).toFixed(2)} s, ${rate(directRate)} | ` +
          `${wall.toFixed(2)} s, ${rate(deliveredRate)}${retried([s.gateway])} | ` +
          `rate ${ratio.toFixed(2)}× (no goal; fields-first goal is ≥ ${GOALS.uncappedMinRatio}×) | ` +
          `${mb(s.gateway.rss.startBytes)} → ${mb(s.gateway.rss.peakBytes)} ${verdict(s.gateway.rss.peakBytes <= GOALS.peakRssMaxBytes)} | ` +
          `+${mb(s.gateway.rss.peakBytes - s.gateway.rss.startBytes)} | – | ` +
          `${cpuCell(s.gateway)} |`,
      );
    }
    if (r.sizes.length >= 2) {
      const first = r.sizes[0];
      const last = r.sizes[r.sizes.length - 1];
      const p0 = Math.max(...first.gateway.map((m) => m.rss.peakBytes));
      const p1 = Math.max(...last.gateway.map((m) => m.rss.peakBytes));
      const flat = p1 <= p0 * (1 + GOALS.flatTolerance);
      peaks.push(
        `- ${r.scenario}: peak RSS ${mb(p0)} at ${bytes(first.size)} vs ${mb(p1)} at ${bytes(last.size)} ` +
          `(${p1 >= p0 ? '+' : ''}${((p1 / p0 - 1) * 100).toFixed(1)} %) — flat (within ${GOALS.flatTolerance * 100} %): ${verdict(flat)}`,
      );
    }
    if (r.lifetimeMaxRss !== null) {
      peaks.push(
        `- ${r.scenario}: gateway max RSS over its whole life (GNU time -v; start-up, warm-up and every run): ${mb(r.lifetimeMaxRss)}`,
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
  const workDir = mkdtempSync(join(tmpdir(), 'mfg-bench-'));
  tempDirs.push(workDir);
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
      `gateway database: ${options.databaseUrl === null ? 'embedded (PGlite)' : 'external PostgreSQL'}\n\n` +
      `${report(results, options, firstBootRss)}\n`,
  );
}

main()
  .catch(async (error: unknown) => {
    process.stderr.write(
      `\nbenchmark failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
    await stopAllChildren();
  })
  .finally(() => {
    removeTempDirs();
  });
