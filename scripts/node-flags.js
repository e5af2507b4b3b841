// Prints the Node flags the gateway is started with on the running Node release (npm start,
// npm run start:prod): `node $(node scripts/node-flags.js) dist/main.js`.
//
// On Node 22, AsyncLocalStorage (which carries each request's id to every log line written while
// serving it, and its upstream calls to its access line) is built on async_hooks: a hook runs on
// every promise. bench:chat measured that at +30-40 % of the gateway's CPU per chat call on Node
// 22, and nothing measurable on Node 24, where the store rides in the async context frame. Node 22
// has that implementation behind this flag (from 24 it is the default and the flag is gone; Node
// 24 and later reject it, so it is printed for 22 only).
'use strict';
const major = Number(process.versions.node.split('.')[0]);
process.stdout.write(major === 22 ? '--experimental-async-context-frame' : '');
