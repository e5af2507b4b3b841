import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTryIt, shownPattern, type TryIt } from '../utils/readme-snippets';

const ROOT = join(__dirname, '..', '..');
const README_ADDRESS = 'localhost:4000';
const run = promisify(execFile);

/**
 * The README's front door, pasted: `npm start`'s gateway (dist/main.js on the demo config and
 * the embedded database, in a fresh DATA_DIR on a free port), then the Try-it shell block and
 * the Node SDK snippets exactly as written, only the address changed.
 */
describe('README Try it', () => {
  let tryIt: TryIt;
  let gateway: ChildProcess;
  let gatewayLog = '';
  let dataDir: string;
  let workDir: string;
  let address: string;
  let results: { command: string; status: number; output: string }[];

  beforeAll(async () => {
    const main = join(ROOT, 'dist', 'main.js');
    if (!existsSync(main)) throw new Error('dist/main.js is missing: run `npm run build` first');
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    tryIt = readTryIt(readme);

    dataDir = await mkdtemp(join(tmpdir(), 'mfg-readme-data-'));
    // Inside the checkout, so that the snippets' `import 'openai'` resolves as it does for a
    // reader who installed it.
    await mkdir(join(ROOT, 'node_modules', '.cache'), { recursive: true });
    workDir = await mkdtemp(join(ROOT, 'node_modules', '.cache', 'readme-try-it-'));
    const port = await freePort();
    address = `localhost:${port}`;
    gateway = spawn(process.execPath, [main], {
      cwd: ROOT,
      env: demoEnvironment({ PORT: String(port), DATA_DIR: dataDir }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => (gatewayLog = (gatewayLog + chunk.toString()).slice(-20_000));
    gateway.stdout?.on('data', keep);
    gateway.stderr?.on('data', keep);
    await waitUntilReady(gateway, `http://${address}/health/ready`, () => gatewayLog);

    results = await runShellSteps(tryIt, address, workDir);
  }, 180_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((resolve) => gateway.once('exit', resolve));
      gateway.kill('SIGTERM');
      await exited;
    }
    await Promise.all(
      [dataDir, workDir].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })),
    );
  });

  it('should show a shell block that targets the address npm start listens on', () => {
    expect(tryIt.shell.length).toBeGreaterThanOrEqual(5);
    expect(tryIt.shell.filter((s) => s.command.includes(README_ADDRESS)).length).toBe(
      tryIt.shell.filter((s) => s.command.startsWith('curl')).length,
    );
  });

  it('should run every command of the shell block, each printing the output shown', () => {
    expect(results.map((r) => r.command)).toEqual(tryIt.shell.map((s) => s.command));
    tryIt.shell.forEach((step, i) => {
      const { status, output } = results[i];
      expect({ command: step.command, status }).toEqual({ command: step.command, status: 0 });
      if (step.shown.length > 0) expect(output).toMatch(shownPattern(step.shown.join('\n')));
    });
  });

  it('should run the Node SDK snippets as one ES module beside input.jsonl', async () => {
    const script = join(workDir, 'try.mjs');
    await writeFile(script, tryIt.moduleSource.replaceAll(README_ADDRESS, address));
    const { stdout } = await run(process.execPath, [script], { cwd: workDir, timeout: 60_000 });
    const lines = stdout.trim().split('\n');
    // The listing (auto-paginated), then the chat answer naming the deployment's own file id
    // and the id of the follow-up response.
    expect(lines.slice(0, -1).length).toBeGreaterThanOrEqual(1);
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^file-\S+ input\.jsonl$/);
    expect(lines.at(-1)).toMatch(
      /^\{"sim":"demo-[a-z-]+","model":"gpt-4o-mini","file_ids":\["file-[^"]+"\]\} resp_\S+$/,
    );
  });
});

/** The environment `npm start` sees on a clean machine: no config, no external services. */
function demoEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of [
    'CONFIG_PATH',
    'NODE_ENV',
    'DATABASE_URL',
    'REDIS_URL',
    'ID_SIGNING_SECRET',
  ]) {
    delete env[name];
  }
  return env;
}

/**
 * Runs the steps in one bash process (so `ID=…` carries to the next command), each between
 * markers that carry its exit status, and splits the output by step.
 */
async function runShellSteps(
  tryIt: TryIt,
  address: string,
  cwd: string,
): Promise<{ command: string; status: number; output: string }[]> {
  const script = tryIt.shell
    .map(
      (step, i) =>
        `printf '\\n@@step %d\\n' ${i}\n${step.command.replaceAll(README_ADDRESS, address)}\n` +
        `printf '\\n@@status %d %d\\n' ${i} $?`,
    )
    .join('\n');
  const { stdout } = await run('bash', ['-c', script], { cwd, timeout: 120_000 });
  return tryIt.shell.map((step, i) => {
    const match = new RegExp(`\\n@@step ${i}\\n([\\s\\S]*?)\\n@@status ${i} (\\d+)\\n`).exec(
      stdout,
    );
    if (!match) return { command: step.command, status: -1, output: stdout };
    return { command: step.command, status: Number(match[2]), output: match[1].trim() };
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(child: ChildProcess, url: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 150_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the gateway exited (${child.exitCode}):\n${log()}`);
    const status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      (error: Error) => error.message,
    );
    if (status === 200) return;
    last = String(status);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the gateway was not ready within 150 s (last: ${last}):\n${log()}`);
}
