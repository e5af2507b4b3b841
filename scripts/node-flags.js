// Prints the Node flags the gateway is started with (npm start, npm run start:prod, the Docker
// image): `node $(node scripts/node-flags.js) dist/main.js`. They depend on the Node release, so
// they are computed where the gateway starts.
// With `--env` it prints the environment those starts add instead (`NAME=value ...`, for `env`),
// glibc's allocator settings below; a value already set in the environment is kept.
//
// On Node 22, AsyncLocalStorage (which carries each request's id to every log line written while
// serving it, and its upstream calls to its access line) is built on async_hooks: a hook runs on
// every promise. bench:chat measured that at +30-40 % of the gateway's CPU per chat call on Node
// 22, and nothing measurable on Node 24, where the store rides in the async context frame. Node 22
// has that implementation behind this flag (from 24 it is the default and the flag is gone; Node
// 24 and later reject it, so it is printed for 22 only).
//
// WebAssembly without tier-up: V8 first compiles WASM with its baseline compiler (Liftoff) and
// recompiles hot functions with its optimizing one (TurboFan); the flags keep the baseline code.
// - Without DATABASE_URL the gateway runs PostgreSQL compiled to WASM (PGlite) in its own
//   process; on Node 24 that recompilation during boot took the process to 720-800 MB resident
//   for a moment (PostgreSQL's functions are large), against 229 MB without it (rest 242 -> 194
//   MB). Baseline code only costs the embedded database 8-28 % of its speed on lists, a fair
//   price for the default a new user meets first.
// - On PostgreSQL the WASM is undici's HTTP parser (llhttp): recompiling it on the first upload
//   allocated 22 MB at once and left glibc's heap 8 MB larger for good, the highest point of a
//   gateway's first 1 GiB upload (warm-up peak 153 -> 131 MB). Baseline llhttp costs nothing
//   measurable: an undici client reading 21-event SSE responses used 234-242 us of CPU per
//   response either way, and bench:chat's file and stream cases moved within their run-to-run
//   noise (BENCHMARKS.md).
// - The one module that runs per byte, the batch line reader (src/files/upload/batch-line.wat),
//   is compiled with the optimizing compiler all the same: batch-line-wasm.ts sets the two flags
//   that decide the tier for its own compile only (baseline, it read a batch file 35-60 % slower).
//
// MALLOC_ARENA_MAX: glibc gives every thread that allocates (libuv's file I/O pool, V8's compiler
// and GC workers) an arena of its own, which keeps what it once held; two arenas in all took
// 10-15 MB off the gateway's peak during a 1 GiB upload to three deployments (BENCHMARKS.md).
// MALLOC_MMAP_THRESHOLD_: glibc raises its mmap threshold to the size of any mapped block freed,
// so after the first 1 MiB upload buffer is freed the others come from the main heap, which
// fragments and grows upload after upload; a fixed 256 KiB keeps them in mappings of their own,
// returned when freed (peak 159-161 MB against 161-180 MB over four 1 GiB uploads).
'use strict';
const ALLOCATOR_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '262144' };

if (process.argv[2] === '--env') {
  const env = Object.entries(ALLOCATOR_ENV).map(([name, value]) => {
    return `${name}=${process.env[name] || value}`;
  });
  process.stdout.write(env.join(' '));
} else {
  const major = Number(process.versions.node.split('.')[0]);
  const flags = [];
  if (major === 22) flags.push('--experimental-async-context-frame');
  flags.push('--no-wasm-tier-up', '--no-wasm-dynamic-tiering');
  process.stdout.write(flags.join(' '));
}
