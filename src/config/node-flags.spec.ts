import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'node-flags.js');

/** What `node scripts/node-flags.js` prints (npm start's flags) for this environment. */
function flagsFor(env: NodeJS.ProcessEnv): string[] {
  const out = execFileSync(process.execPath, [SCRIPT], { env, encoding: 'utf8' });
  return out.split(' ').filter(Boolean);
}

describe('scripts/node-flags.js', () => {
  const base = { PATH: process.env.PATH };
  const major = Number(process.versions.node.split('.')[0]);
  const releaseFlags = major === 22 ? ['--experimental-async-context-frame'] : [];

  it('should keep WebAssembly on baseline code, on the embedded database and on PostgreSQL', () => {
    const baseline = [...releaseFlags, '--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];
    expect(flagsFor(base)).toEqual(baseline);
    expect(flagsFor({ ...base, DATABASE_URL: 'postgres://db/gateway' })).toEqual(baseline);
  });

  it('should print glibc allocator settings with --env, keeping a value already set', () => {
    const envFor = (env: NodeJS.ProcessEnv): string =>
      execFileSync(process.execPath, [SCRIPT, '--env'], { env, encoding: 'utf8' });
    expect(envFor(base)).toBe('MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=262144');
    expect(envFor({ ...base, MALLOC_ARENA_MAX: '4' })).toBe(
      'MALLOC_ARENA_MAX=4 MALLOC_MMAP_THRESHOLD_=262144',
    );
  });

  it('should print flags this Node release accepts', () => {
    const flags = flagsFor(base);
    expect(execFileSync(process.execPath, [...flags, '-p', '1'], { encoding: 'utf8' })).toBe('1\n');
  });
});
