/**
 * Summary of a `node --cpu-prof` profile (.cpuprofile, the Chrome DevTools format): where the
 * main thread's time went, by package (the gateway's own code in dist/, each node_modules
 * package, node internals, GC, idle) and by function (self time, and inclusive time: samples
 * with the function anywhere on the stack).
 *
 *   npm run bench:chat -- --cpu-prof DIR   writes and summarises one
 *   TS_NODE_PROJECT=tsconfig.cli.json npx ts-node bench/cpu-profile.ts FILE [--top 25]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionCost {
  /** `name (package file:line)` */
  label: string;
  pkg: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  wallMs: number;
  /** Sampled time that was not idle. */
  busyMs: number;
  byPackage: Array<{ pkg: string; selfMs: number }>;
  functions: FunctionCost[];
  /**
   * Every sample charged to the innermost gateway function on its stack (what the gateway's own
   * code caused, callees in libraries included); samples with no gateway frame are charged to
   * the outermost library package below node's internals (the framework, or undici's socket
   * callbacks).
   */
  attributed: Array<{ label: string; ms: number }>;
}

const GATEWAY = 'gateway (dist/)';

/** Where a frame's code lives: gateway (dist/), a node_modules package, node:…, or a VM entry. */
function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return '(program: native, not attributed)';
    return `(native) ${functionName}`;
  }
  if (url.startsWith('node:')) return 'node internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/')) return GATEWAY;
  return url;
}

function labelOf(frame: CallFrame, pkg: string): string {
  const file = frame.url.split('/').slice(-1)[0] ?? '';
  const where =
    frame.url === ''
      ? ''
      : ` (${pkg === 'gateway (dist/)' ? '' : `${pkg} `}${file}:${frame.lineNumber + 1})`;
  return `${frame.functionName || '(anonymous)'}${where}`;
}

export interface SummaryOptions {
  /** Functions listed (by self time). */
  top?: number;
  /** Only samples taken in [from, to], in the profile's clock (CLOCK_MONOTONIC µs). */
  window?: readonly [number, number];
}

export function summarizeProfile(path: string, options: SummaryOptions = {}): ProfileSummary {
  const top = options.top ?? 25;
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const pkgSelf = new Map<string, number>();
  const pkgOfLabel = new Map<string, string>();
  const attributed = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number): void => {
    map.set(key, (map.get(key) ?? 0) + us);
  };
  let idleUs = 0;
  let sampledUs = 0;
  const [from, to] = options.window ?? [-Infinity, Infinity];
  if (options.window && (profile.startTime > from || profile.endTime < to)) {
    throw new Error(
      `the profile (${profile.startTime}–${profile.endTime} µs) does not cover the window ${from}–${to}`,
    );
  }
  let at = profile.startTime;
  // timeDeltas[i] is the time since the previous sample; it is charged to sample i.
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (at < from || at > to) continue;
    sampledUs += us;
    const leaf = byId.get(profile.samples[i]);
    if (!leaf) continue;
    const leafPkg = packageOf(leaf.callFrame);
    if (leafPkg === 'idle') {
      idleUs += us;
      continue;
    }
    add(pkgSelf, leafPkg, us);
    const leafLabel = labelOf(leaf.callFrame, leafPkg);
    add(self, leafLabel, us);
    pkgOfLabel.set(leafLabel, leafPkg);
    const seen = new Set<string>();
    let owner: string | null = null;
    let outerLibrary: string | null = null;
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame || frame.functionName === '(root)') continue;
      const pkg = packageOf(frame);
      const label = labelOf(frame, pkg);
      if (owner === null && pkg === GATEWAY) owner = label;
      if (frame.url.includes('/node_modules/')) outerLibrary = pkg;
      if (seen.has(label)) continue;
      seen.add(label);
      pkgOfLabel.set(label, pkg);
      add(total, label, us);
    }
    add(attributed, owner ?? `(no gateway frame) ${outerLibrary ?? leafPkg}`, us);
  }
  const ms = (us: number): number => us / 1000;
  const functions = [...total.keys()]
    .map((label) => ({
      label,
      pkg: pkgOfLabel.get(label) ?? '?',
      selfMs: ms(self.get(label) ?? 0),
      totalMs: ms(total.get(label) ?? 0),
    }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return {
    wallMs: ms(Math.min(to, profile.endTime) - Math.max(from, profile.startTime)),
    busyMs: ms(sampledUs - idleUs),
    byPackage: [...pkgSelf]
      .map(([pkg, us]) => ({ pkg, selfMs: ms(us) }))
      .sort((a, b) => b.selfMs - a.selfMs),
    functions: functions.slice(0, top),
    attributed: [...attributed]
      .map(([label, us]) => ({ label, ms: ms(us) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
  };
}

/** Markdown tables of a summary; `requests` (served while profiling) gives a per-request cost. */
export function formatProfile(summary: ProfileSummary, requests: number | null): string {
  const pct = (value: number): string => `${((100 * value) / summary.busyMs).toFixed(1)}%`;
  const perRequest = (value: number): string =>
    requests ? ` | ${((1000 * value) / requests).toFixed(1)}` : '';
  const unit = requests ? ' | µs/request' : '';
  const rule = requests ? ' | ---' : '';
  const lines = [
    `Main thread busy ${(summary.busyMs / 1000).toFixed(2)} s of ${(summary.wallMs / 1000).toFixed(2)} s` +
      (requests
        ? ` for ${requests} requests (${((1000 * summary.busyMs) / requests).toFixed(0)} µs each)`
        : ''),
    '',
    `| package (self time) | share of busy${unit} |`,
    `| --- | ---${rule} |`,
    ...summary.byPackage
      .slice(0, 15)
      .map((p) => `| ${p.pkg} | ${pct(p.selfMs)}${perRequest(p.selfMs)} |`),
    '',
    `| function | package | self | inclusive${unit} (self) |`,
    `| --- | --- | --- | ---${rule} |`,
    ...summary.functions.map(
      (f) =>
        `| \`${f.label.replaceAll('|', '\\|')}\` | ${f.pkg} | ${pct(f.selfMs)} | ${pct(f.totalMs)}${perRequest(f.selfMs)} |`,
    ),
    '',
    `| innermost gateway function on the stack (callees included) | share of busy${unit} |`,
    `| --- | ---${rule} |`,
    ...summary.attributed.map(
      (a) => `| \`${a.label.replaceAll('|', '\\|')}\` | ${pct(a.ms)}${perRequest(a.ms)} |`,
    ),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const [file, flag, value] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('Usage: ts-node bench/cpu-profile.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const top = flag === '--top' ? Number(value) : 25;
  process.stdout.write(`${formatProfile(summarizeProfile(file, { top }), null)}\n`);
}
