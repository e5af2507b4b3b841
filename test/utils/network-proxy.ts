import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the network between the gateway and one simulated deployment: it relays every
 * request to the simulator, and can be told to misbehave the way real networks do — hold an
 * answer back for a while, or lose it after the upstream already acted on the request.
 */
export interface NetworkProxy {
  /** `http://127.0.0.1:<port>`: put it in place of the simulator's origin. */
  readonly origin: string;
  /** Upstream answers received for requests that matched a rule. */
  readonly matchedAnswers: number;
  /** The next `times` matching answers are held `ms` before being relayed. */
  holdAnswers(match: RequestMatch, ms: number, times?: number): void;
  /** The next `times` matching answers are read from the upstream, then the connection is cut. */
  loseAnswers(match: RequestMatch, times?: number): void;
  /** Forgets the rules and the counter. */
  clear(): void;
  close(): Promise<void>;
}

export type RequestMatch = (method: string, path: string) => boolean;

/** `POST …/files` (either dialect). */
export const FILES_CREATE: RequestMatch = (method, path) =>
  method === 'POST' && /\/files(\?|$)/.test(path);

interface Rule {
  match: RequestMatch;
  action: { kind: 'hold'; ms: number } | { kind: 'lose' };
  left: number;
}

export async function startNetworkProxy(upstreamOrigin: string): Promise<NetworkProxy> {
  const upstream = new URL(upstreamOrigin);
  let rules: Rule[] = [];
  let matchedAnswers = 0;
  const timers = new Set<NodeJS.Timeout>();

  const takeRule = (method: string, path: string): Rule | undefined => {
    const rule = rules.find((r) => r.left > 0 && r.match(method, path));
    if (rule) rule.left -= 1;
    return rule;
  };

  const relay = (req: IncomingMessage, res: ServerResponse): void => {
    const rule = takeRule(req.method ?? 'GET', req.url ?? '/');
    const outgoing = httpRequest({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: upstream.host },
      agent: false,
    });
    outgoing.on('error', () => res.destroy());
    req.on('close', () => {
      if (!req.complete) outgoing.destroy();
    });
    outgoing.on('response', (answer) => {
      if (!rule) {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        matchedAnswers += 1;
        if (rule.action.kind === 'lose') {
          req.socket.destroy();
          return;
        }
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (res.destroyed) return;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(chunks));
        }, rule.action.ms);
        timers.add(timer);
      });
    });
    req.pipe(outgoing);
  };

  const server: Server = createServer(relay);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    get matchedAnswers() {
      return matchedAnswers;
    },
    holdAnswers: (match, ms, times = 1) => {
      rules.push({ match, action: { kind: 'hold', ms }, left: times });
    },
    loseAnswers: (match, times = 1) => {
      rules.push({ match, action: { kind: 'lose' }, left: times });
    },
    clear: () => {
      rules = [];
      matchedAnswers = 0;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
