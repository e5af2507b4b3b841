// Prints the Node flags the gateway is started with (npm start, npm run start:prod, the Docker
// image): `node $(node scripts/node-flags.js) dist/main.js`. They depend on the Node release and
// on whether the embedded database will be used, so they are computed where the gateway starts.
//
// On Node 22, AsyncLocalStorage (which carries each request's id to every log line written while
// serving it, and its upstream calls to its access line) is built on async_hooks: a hook runs on
// every promise. bench:chat measured that at +30-40 % of the gateway's CPU per chat call on Node
// 22, and nothing measurable on Node 24, where the store rides in the async context frame. Node 22
// has that implementation behind this flag (from 24 it is the default and the flag is gone; Node
// 24 and later reject it, so it is printed for 22 only).
//
// Without DATABASE_URL the gateway runs PostgreSQL compiled to WASM (PGlite) in its own process.
// V8 first compiles WASM with its baseline compiler (Liftoff) and recompiles hot functions with
// its optimizing one (TurboFan); on Node 24 that recompilation during boot took the process to
// 720-800 MB resident for a moment (PostgreSQL's functions are large), against 229 MB without it
// (rest 242 -> 194 MB). Baseline code only costs the embedded database 8-28 % of its speed on
// lists, a fair price for the default a new user meets first; external PostgreSQL loads no WASM.
'use strict';
const major = Number(process.versions.node.split('.')[0]);
const flags = [];
if (major === 22) flags.push('--experimental-async-context-frame');
if (!process.env.DATABASE_URL) flags.push('--no-wasm-tier-up', '--no-wasm-dynamic-tiering');
process.stdout.write(flags.join(' '));
