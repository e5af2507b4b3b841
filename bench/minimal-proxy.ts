/**
 * The floor for the chat benchmark (bench/chat-bench.ts `--floor`): the least a Node gateway
 * does for `POST /v1/chat/completions` — node:http in, the JSON body parsed, `model` and file
 * ids rewritten, one undici call on a keep-alive pool, the answer written back. No auth, no id
 * decoding, no cache, no framework, no request id. Its CPU time per request is what any
 * Node gateway built on node:http and undici pays on this machine before its own work.
 *
 *   node -r ts-node/register/transpile-only bench/minimal-proxy.ts UPSTREAM_BASE UPSTREAM_KEY MODEL FILE_MAP_JSON
 *
 * Prints `{"event":"listening","apiBase":…,"port":…}` once listening on a port the OS picks.
 */
import { createServer } from 'node:http';
import { Agent, request } from 'undici';

const [upstreamBase, upstreamKey, upstreamModel, fileMapJson] = process.argv.slice(2);
const fileMap = JSON.parse(fileMapJson ?? '{}') as Record<string, string>;
const pool = new Agent({ keepAliveTimeout: 30_000 });
const upstreamUrl = `${upstreamBase}/chat/completions`;

interface ChatBody {
  model?: string;
  messages?: Array<{ content?: unknown }>;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    void (async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
        body.model = upstreamModel;
        for (const message of body.messages ?? []) {
          if (!Array.isArray(message.content)) continue;
          for (const part of message.content as Array<{ file?: { file_id?: string } }>) {
            const id = part.file?.file_id;
            if (part.file && id !== undefined) part.file.file_id = fileMap[id] ?? id;
          }
        }
        const upstream = await request(upstreamUrl, {
          method: 'POST',
          dispatcher: pool,
          headers: { authorization: `Bearer ${upstreamKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const text = await upstream.body.text();
        res.writeHead(upstream.statusCode, {
          'content-type': String(upstream.headers['content-type'] ?? 'application/json'),
        });
        res.end(text);
      } catch (error) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      }
    })();
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(
    `${JSON.stringify({ event: 'listening', apiBase: `http://127.0.0.1:${port}/v1`, port })}\n`,
  );
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
