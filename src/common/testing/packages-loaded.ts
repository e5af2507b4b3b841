import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Runs `script` (CommonJS; `require('./src/…')` loads the TypeScript sources through ts-node) in
 * a fresh Node process at the repository root with exactly `env`, awaits it, and returns the npm
 * packages the process then has loaded, sorted (`@scope/name` or `name`). Jest's module
 * registry is not Node's, so only a real process can tell what a start would load: what a
 * gateway never uses should not cost it memory (V8 keeps every loaded module's source).
 */
export function packagesLoaded(script: string, env: Record<string, string> = {}): string[] {
  const wrapped = `
    (async () => { ${script} })().then(() => {
      const loaded = new Set();
      for (const file of Object.keys(require.cache)) {
        const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
        if (m) loaded.add(m[1]);
      }
      process.stdout.write(JSON.stringify([...loaded].sort()));
      process.exit(0);
    }, (error) => { console.error(error); process.exit(1); });
  `;
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register', '-e', wrapped], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: 'tsconfig.cli.json', ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out) as string[];
}
