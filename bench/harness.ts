/**
 * What the benchmarks share (bench/README.md): child processes that are always cleaned up, the
 * simulator and the gateway started from dist/ with a bench config, uploads, /proc readings of
 * CPU time and RSS, a small flag parser, and an autocannon run that keeps every latency.
 *
 * It only talks HTTP to the processes it starts; nothing from src/ is imported but types.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { request } from 'undici';

export const ROOT = resolve(__dirname, '..');
export const GATEWAY_MAIN = join(ROOT, 'dist', 'main.js');
/** What `node scripts/node-flags.js [--env]` prints, split: npm start's flags, or its environment. */
function npmStartSettings(...args: string[]): string[] {
  const script = join(ROOT, 'scripts', 'node-flags.js');
  return execFileSync(process.execPath, [script, ...args], { encoding: 'utf8' })
    .split(' ')
    .filter(Boolean);
}

/** The flags `npm start` gives the gateway on this Node release, so benchmarks run what users run. */
const GATEWAY_NODE_FLAGS = npmStartSettings();
/** The environment `npm start` adds (glibc's allocator settings), likewise. */
const GATEWAY_START_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  npmStartSettings('--env').map((pair): [string, string] => {
    const at = pair.indexOf('=');
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);

/**
 * Node flags to try on the gateway in every benchmark (e.g. `--max-semi-space-size=8`, or
 * `-r ./gc-counter.js`), space-separated, from BENCH_GATEWAY_NODE_ARGS: a heap setting is a
 * trade between benchmarks, so it is tried on all of them before it goes into npm start.
 */
const TRIAL_NODE_FLAGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * Node's arguments for the gateway: `npm start`'s flags, BENCH_GATEWAY_NODE_ARGS, then
 * `nodeArgs`, then dist/main.js.
 */
export function gatewayArgs(nodeArgs: readonly string[] = []): string[] {
  return [...GATEWAY_NODE_FLAGS, ...TRIAL_NODE_FLAGS, ...nodeArgs, GATEWAY_MAIN];
}
export const SIMULATOR_MAIN = join(ROOT, 'dist', 'simulator', 'main.js');
export const SIM_KEY = 'bench-sim-key';
export const GATEWAY_KEY = 'sk-bench';
/** The gateway's one model; its deployments call the simulator's model `bench`. */
export const MODEL = 'bench-model';
export const UPSTREAM_MODEL = 'bench';

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

export type FlagValue = number | string | boolean | null;

/**
 * `--kebab-name value` (or `--kebab-name=value`) into the camelCase key of `defaults`; the
 * default's type decides the parsing: a number must be a finite number, a boolean takes no value
 * (`--no-kebab-name` sets it false), anything else (a string, or null for "unset") is a string.
 * `--help` prints `usage` and exits.
 */
export function parseFlags<T extends Record<string, FlagValue>>(
  argv: readonly string[],
  defaults: T,
  usage: string,
): T {
  const options: Record<string, FlagValue> = { ...defaults };
  const fail = (message: string): never => {
    throw new Error(`${message}\n\n${usage}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!flag.startsWith('--')) fail(`unexpected argument '${arg}'`);
    const camel = (name: string): string =>
      name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    const key = camel(flag.slice(2));
    const negated = flag.startsWith('--no-') ? camel(flag.slice(5)) : null;
    if (negated !== null && typeof defaults[negated] === 'boolean') {
      options[negated] = false;
      continue;
    }
    if (!(key in defaults)) fail(`unknown option '${flag}'`);
    if (typeof defaults[key] === 'boolean') {
      options[key] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) fail(`${flag} needs a value`);
    if (typeof defaults[key] === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) fail(`${flag} must be a number, got '${value}'`);
      options[key] = n;
    } else {
      options[key] = value;
    }
  }
  return options as T;
}

export function positiveInteger(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup
// ---------------------------------------------------------------------------------------------

/** A started process: its output is kept (last lines) for error messages. */
export class Child {
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

export function startChild(
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

export async function stopAllChildren(): Promise<void> {
  await Promise.all(children.map((c) => c.stop()));
}

/** A temp directory removed when the benchmark ends, however it ends. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs a benchmark's main: a failure is printed and exits 1; whatever happens (Ctrl-C
 * included), every process it started is stopped and its temp directories are removed.
 */
export function runBench(main: () => Promise<void>): void {
  process.on('exit', () => {
    for (const child of children) {
      if (child.alive && child.proc.pid !== undefined) signal(child.proc.pid, 'SIGKILL');
    }
    removeTempDirs();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping what the benchmark started…\n`);
      void stopAllChildren().finally(() => {
        removeTempDirs();
        process.exit(130);
      });
    });
  }
  main()
    .catch((error: unknown) => {
      process.stderr.write(
        `\nbenchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    })
    .finally(async () => {
      await stopAllChildren();
      removeTempDirs();
    });
}

export function progress(text: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
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
export function readRss(pid: number): number | null {
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

/**
 * The kernel's high-water mark of the process's RSS (VmHWM) in bytes, or null when unreadable.
 * Exact where sampling is not: a spike shorter than the sampling interval (a compiler's
 * scratch memory, a burst of buffers) counts, and so does time the process spent in one long
 * synchronous step, as its start-up does.
 */
export function readPeakRss(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Resets the process's VmHWM to its current RSS (`5` to /proc/PID/clear_refs, Linux 4.0+), so
 * the next readPeakRss is the peak since now. False where that is not allowed (another user's
 * process, no procfs): then VmHWM is the whole life's and says nothing about a phase.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssSummary {
  startBytes: number;
  /** The kernel's peak (VmHWM) since the sampler started where it could be reset, else sampled. */
  peakBytes: number;
  samples: number;
}

/**
 * Samples a process's RSS (VmRSS) every `intervalMs` until stopped: start and peak. The peak is
 * the kernel's (VmHWM, reset when the sampler starts) when it can be read that way, because a
 * 50 ms sampler missed spikes: runs reported 141-149 MB peaks while `time -v` put the same
 * gateway's life at 161 MB.
 */
export class RssSampler {
  private startBytes: number | null = null;
  private peakBytes = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly exactPeak: boolean;

  constructor(
    private readonly pid: number,
    intervalMs = 50,
  ) {
    this.exactPeak = resetPeakRss(pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): RssSummary {
    clearInterval(this.timer);
    this.sample();
    const hwm = this.exactPeak ? readPeakRss(this.pid) : null;
    const peakBytes = Math.max(this.peakBytes, hwm ?? 0);
    return { startBytes: this.startBytes ?? 0, peakBytes, samples: this.samples };
  }

  private sample(): void {
    const rss = readRss(this.pid);
    if (rss === null) return;
    this.startBytes ??= rss;
    this.peakBytes = Math.max(this.peakBytes, rss);
    this.samples++;
  }
}

/**
 * User + system CPU seconds the process has used so far (0 when unreadable); with
 * `reapedChildren`, plus that of its children that have exited and been waited for.
 */
export function readCpuSeconds(pid: number | 'self', reapedChildren = false): number {
  const stat = readStat(pid);
  if (stat === null) return 0;
  const { utime, stime, cutime, cstime } = stat;
  return (utime + stime + (reapedChildren ? cutime + cstime : 0)) / CLOCK_TICKS;
}

/** CPU ticks and minor page faults from /proc/PID/stat; null when unreadable. */
function readStat(
  pid: number | 'self',
): { utime: number; stime: number; cutime: number; cstime: number; minflt: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
    return { utime, stime, cutime, cstime, minflt: Number(fields[7]) };
  } catch {
    return null;
  }
}

/**
 * CPU seconds (all, and the kernel's share) and minor page faults of a process so far (zeros
 * when unreadable): one read of its /proc/PID/stat for all three.
 */
function readUsage(pid: number): { cpu: number; system: number; faults: number } {
  const stat = readStat(pid);
  return stat === null
    ? { cpu: 0, system: 0, faults: 0 }
    : {
        cpu: (stat.utime + stat.stime) / CLOCK_TICKS,
        system: stat.stime / CLOCK_TICKS,
        faults: stat.minflt,
      };
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

/** Pids of the running processes named exactly `name` (`pgrep -x`), e.g. redis-server. */
export function pidsNamed(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

export interface CpuSplit {
  gateway: number;
  /**
   * Of `gateway`, the kernel's share, and the minor page faults it took: memory the process
   * touches for the first time (fresh buffers) shows here.
   */
  gatewaySystem: number;
  gatewayFaults: number;
  sims: number;
  /** The benchmark process, and the client processes it ran (curl) that have exited. */
  client: number;
  /** Processes passed as `services` (PostgreSQL, Redis), summed. */
  services: number;
  /**
   * Busy CPU seconds of the whole machine not charged to the processes above: other
   * processes, and kernel softirq work (loopback TCP delivery is partly accounted there).
   */
  other: number;
  /** CPU seconds the hypervisor gave to someone else (a VM's "steal"). */
  steal: number;
}

/** CPU seconds each party spent between `cpuStart()` and calling the returned function. */
export function cpuStart(
  gatewayPid: number,
  simPids: readonly number[],
  servicePids: readonly number[] = [],
): () => CpuSplit {
  const sum = (pids: readonly number[]): number =>
    pids.reduce((n, pid) => n + readCpuSeconds(pid), 0);
  const gateway = readUsage(gatewayPid);
  const sims = sum(simPids);
  const services = sum(servicePids);
  const client = readCpuSeconds('self', true);
  const machine = readMachineCpu();
  return () => {
    const machineNow = readMachineCpu();
    const gatewayNow = readUsage(gatewayPid);
    const split = {
      gateway: gatewayNow.cpu - gateway.cpu,
      sims: sum(simPids) - sims,
      client: readCpuSeconds('self', true) - client,
      services: sum(servicePids) - services,
    };
    const ours = split.gateway + split.sims + split.client + split.services;
    return {
      ...split,
      gatewaySystem: gatewayNow.system - gateway.system,
      gatewayFaults: gatewayNow.faults - gateway.faults,
      other: Math.max(0, machineNow.busy - machine.busy - ours),
      steal: machineNow.steal - machine.steal,
    };
  };
}

// ---------------------------------------------------------------------------------------------
// The simulator and the gateway
// ---------------------------------------------------------------------------------------------

export function freePort(): Promise<number> {
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

/** `node --cpu-prof` arguments writing `<name>-<time>.cpuprofile` into `dir`; none for null. */
export function cpuProfArgs(dir: string | null, name: string): string[] {
  if (dir === null) return [];
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`,
  ];
}

/** A server process the benchmark started: a simulator, or another listening helper. */
export interface ServerProcess {
  child: Child;
  pid: number;
  /** `http://127.0.0.1:PORT/v1`: where the OpenAI API lives. */
  apiBase: string;
  /** `http://127.0.0.1:PORT`: where the control API (/__sim/…) lives. */
  origin: string;
}

export type Sim = ServerProcess;

/** Empties every simulator (files, calls) between runs. */
export async function resetSims(sims: readonly Sim[]): Promise<void> {
  await Promise.all(
    sims.map(async (sim) => {
      const res = await request(`${sim.origin}/__sim/reset`, { method: 'POST' });
      await res.body.dump();
      if (res.statusCode !== 200)
        throw new Error(`${sim.child.name}: reset answered ${res.statusCode}`);
    }),
  );
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

/**
 * A node process (`nodeArgs`: flags, script, its arguments) that prints a `listening` JSON line
 * ({"event":"listening","apiBase":…,"port":…}) once it serves, as the simulator does.
 */
export async function startListening(
  name: string,
  nodeArgs: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerProcess> {
  const child = startChild(name, process.execPath, [...nodeArgs], env);
  const listening = await child.waitForLine(parseListening, 30_000);
  return {
    child,
    pid: child.proc.pid ?? 0,
    apiBase: listening.apiBase,
    origin: `http://127.0.0.1:${listening.port}`,
  };
}

export type SimDialect = 'openai' | 'azure';
/** The api-version Azure-dialect simulators insist on and the gateway config names. */
export const AZURE_API_VERSION = '2024-10-21';

/**
 * One simulated upstream (`--dialect openai --api-key SIM_KEY`, or Azure's dated API with
 * `dialect` azure), plus `args` (e.g. `--discard-content`, `--bandwidth N`), on a port the OS
 * picks. An Azure simulator's apiBase is its resource endpoint, as the gateway config wants it.
 */
export function startSimulator(
  name: string,
  args: readonly string[] = [],
  cpuProfDir: string | null = null,
  dialect: SimDialect = 'openai',
): Promise<Sim> {
  return startListening(name, [
    ...cpuProfArgs(cpuProfDir, name),
    SIMULATOR_MAIN,
    '--dialect',
    dialect,
    ...(dialect === 'azure' ? ['--api-version', AZURE_API_VERSION] : []),
    '--api-key',
    SIM_KEY,
    '--name',
    `bench-${name}`,
    ...args,
  ]);
}

/** Where the gateway keeps its records; nulls are the defaults (embedded PGlite, in-memory). */
export interface StoreOptions {
  /** External PostgreSQL (an empty, disposable database); null: embedded PGlite in DATA_DIR. */
  databaseUrl: string | null;
  /** Redis for the cache; null: the in-memory cache. */
  redisUrl: string | null;
}

export function storeLabel(store: StoreOptions): string {
  return `${store.databaseUrl ? 'PostgreSQL' : 'embedded PGlite'}, ${store.redisUrl ? 'Redis' : 'in-memory'} cache`;
}

/**
 * LiteLLM model_list YAML: one deployment of MODEL per api base, the bench API key, and
 * `gateway:` settings given as YAML lines (JSON scalars are valid YAML, so values are quoted).
 * `upstreamModels[i]` is deployment i's upstream model (default UPSTREAM_MODEL): distinct ones
 * let a benchmark check that each copy of a batch file was rewritten for its own deployment.
 */
export function gatewayConfig(
  apiBases: readonly string[],
  gatewayLines: string[] = [],
  upstreamModels: readonly string[] = [],
  dialects: readonly SimDialect[] = [],
): string {
  const q = (s: string): string => JSON.stringify(s);
  const deployments = apiBases.map((apiBase, i) => {
    const azure = dialects[i] === 'azure';
    const model = `${azure ? 'azure' : 'openai'}/${upstreamModels[i] ?? UPSTREAM_MODEL}`;
    const version = azure ? `, api_version: ${q(AZURE_API_VERSION)}` : '';
    return (
      `  - model_name: ${q(MODEL)}\n` +
      `    litellm_params: { model: ${q(model)}, api_base: ${q(apiBase)}, api_key: ${q(SIM_KEY)}${version} }\n` +
      `    model_info: { id: ${q(`bench-sim-${i + 1}`)} }\n`
    );
  });
  return (
    `# Written by bench/harness.ts\nmodel_list:\n${deployments.join('')}` +
    `gateway:\n  api_keys:\n    - { key: ${q(GATEWAY_KEY)}, user_id: ${q('bench')} }\n` +
    gatewayLines.map((line) => `  ${line}\n`).join('')
  );
}

/** Environment of a gateway process; the embedded database lives in `dataDir`. */
export function gatewayEnv(
  configPath: string,
  port: number,
  dataDir: string,
  store: StoreOptions,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONFIG_PATH: configPath,
    PORT: String(port),
    DATA_DIR: dataDir,
    // warn by default: the benchmarks measure serving, and the access lines (info) are built
    // either way; GATEWAY_LOG_LEVEL=info writes them too (to the harness's pipe, as a container
    // runtime reads stdout).
    LOG_LEVEL: process.env.GATEWAY_LOG_LEVEL ?? 'warn',
    // What `npm start` and the image add (scripts/node-flags.js), so the figures are theirs.
    ...GATEWAY_START_ENV,
  };
  // Only what the benchmark asks for: nothing outside this run is touched by default.
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  if (store.databaseUrl !== null) {
    env.DATABASE_URL = store.databaseUrl;
    env.ID_SIGNING_SECRET = randomBytes(32).toString('hex');
  }
  if (store.redisUrl !== null) env.REDIS_URL = store.redisUrl;
  return env;
}

export async function waitReady(child: Child, url: string): Promise<void> {
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

export interface Gateway {
  child: Child;
  /** The node process (not a wrapper such as /usr/bin/time). */
  pid: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
}

export interface GatewayLaunch {
  name: string;
  /** Where the config file goes, and the embedded database (`data/`). */
  workDir: string;
  apiBases: readonly string[];
  store: StoreOptions;
  /** Extra `gateway:` config lines, e.g. `max_upload_bytes: 2147483648`. */
  gatewayLines?: string[];
  /** Each deployment's upstream model, in `apiBases` order (see gatewayConfig). */
  upstreamModels?: readonly string[];
  /** Each deployment's dialect, in `apiBases` order (default openai). */
  dialects?: readonly SimDialect[];
  /** Node flags before dist/main.js (e.g. from cpuProfArgs). */
  nodeArgs?: string[];
  /** Runs `wrapper[0] ...wrapper[1..] node …` (e.g. `/usr/bin/time -v -o FILE`). */
  wrapper?: string[];
  /** The node pid under the wrapper, given the wrapper's pid. */
  innerPid?: (wrapperPid: number) => number;
}

/** The gateway (dist/main.js) with a bench config, once `/health/ready` answers 200. */
export async function startGateway(launch: GatewayLaunch): Promise<Gateway> {
  const configPath = join(launch.workDir, `${launch.name}.yaml`);
  writeFileSync(
    configPath,
    gatewayConfig(launch.apiBases, launch.gatewayLines, launch.upstreamModels, launch.dialects),
  );
  const port = await freePort();
  const env = gatewayEnv(configPath, port, join(launch.workDir, 'data'), launch.store);
  const nodeArgs = gatewayArgs(launch.nodeArgs);
  const [command, ...args] = [...(launch.wrapper ?? []), process.execPath, ...nodeArgs];
  const child = startChild(launch.name, command, args, env);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(child, url);
  const pid = child.proc.pid ?? 0;
  return { child, pid: launch.innerPid ? launch.innerPid(pid) : pid, url };
}

/** One simulator, and a gateway whose one deployment (of MODEL) is that simulator. */
export async function startSimulatorAndGateway(
  workDir: string,
  store: StoreOptions,
  gatewayNodeArgs: string[] = [],
): Promise<{ sim: Sim; gateway: Gateway }> {
  const sim = await startSimulator('sim');
  const gateway = await startGateway({
    name: 'gateway',
    workDir,
    apiBases: [sim.apiBase],
    store,
    nodeArgs: gatewayNodeArgs,
  });
  return { sim, gateway };
}

/**
 * `POST {apiBase}/files` of a small `user_data` file; returns the answer's id. (A `batch`
 * upload would have to be valid batch JSONL: the gateway checks and rewrites every line.)
 */
export async function upload(
  apiBase: string,
  key: string,
  fields: Record<string, string> = {},
): Promise<string> {
  const form = new FormData();
  form.set('purpose', 'user_data');
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set('file', new Blob(['{"custom_id":"1"}\n']), 'bench.jsonl');
  const res = await fetch(`${apiBase}/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  if (!res.ok) throw new Error(`upload to ${apiBase} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

// ---------------------------------------------------------------------------------------------
// Load and statistics
// ---------------------------------------------------------------------------------------------

/** One HTTP call to repeat. */
export interface Target {
  url: string;
  key: string;
  method?: 'GET' | 'POST';
  /** A JSON body (sent with content-type application/json). */
  body?: string;
  /**
   * Paths on `url`'s origin taken in turn, one per request, instead of `url`'s own (e.g. a
   * different file each time, so that no answer comes from the cache).
   */
  paths?: readonly string[];
}

export interface LoadResult {
  /** Answers received (any status). */
  completed: number;
  /** Non-2xx answers plus transport errors and timeouts. */
  failures: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in ms, from every 2xx answer (not autocannon's 1 ms histogram). */
  p50: number;
  p99: number;
  mean: number;
}

/**
 * autocannon at `connections` for `seconds`. autocannon's own latency histogram has 1 ms
 * buckets, too coarse for sub-millisecond differences, so every response time (float ms, from
 * its 'response' event) is kept and the percentiles are computed here.
 */
export async function load(
  target: Target,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const instance = autocannon(
      {
        url: target.url,
        method: target.method ?? 'GET',
        connections,
        duration: seconds,
        headers: {
          authorization: `Bearer ${target.key}`,
          ...(target.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: target.body,
        ...(target.paths === undefined
          ? {}
          : { requests: [{ setupRequest: rotate(target.paths) }] }),
      },
      (error, finished) => (error ? fail(error as Error) : done(finished)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const elapsed = (performance.now() - started) / 1000;
  // autocannon counts a timeout in `errors` too.
  const failures = result.non2xx + result.errors;
  return summarize(latencies, failures, elapsed);
}

/** An autocannon setupRequest that gives each request the next of `paths`. */
function rotate(paths: readonly string[]): (request: autocannon.Request) => autocannon.Request {
  let next = 0;
  return (request) => ({ ...request, path: paths[next++ % paths.length] });
}

/** Percentiles and rate of a run, from its latencies (ms) and wall time (s). */
export function summarize(latencies: number[], failures: number, seconds: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  const completed = sorted.length + failures;
  return {
    completed,
    failures,
    seconds,
    rps: completed / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
  };
}

/** Nearest-rank percentile of sorted values (NaN when empty). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** An answer read whole, timed by the client that made it. */
export interface TimedAnswer {
  readonly status: number;
  readonly body: string;
  readonly wallMs: number;
}

/**
 * One curl run (`-sS`, `args`, then `url`). Timed by curl's own clock (`time_total`: from its
 * connect to the last byte of the answer), so process start-up is not counted.
 */
export async function curlTimed(args: readonly string[], url: string): Promise<TimedAnswer> {
  const curl = spawn('curl', ['-sS', ...args, '-w', '\n%{http_code} %{time_total}', url]);
  let out = '';
  let err = '';
  curl.stdout.on('data', (d: Buffer) => (out += d.toString()));
  curl.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((done) => curl.once('close', done));
  if (code !== 0) throw new Error(`curl exited with ${String(code)}: ${err}`);
  const cut = out.lastIndexOf('\n');
  const [status, seconds] = out.slice(cut + 1).split(' ');
  return { status: Number(status), body: out.slice(0, cut), wallMs: Number(seconds) * 1000 };
}
