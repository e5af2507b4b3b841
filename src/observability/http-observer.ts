import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Response } from 'express';
import type { Level, Logger } from 'pino';
import type { GatewayRequest } from '../common/http/request-context';
import { newRequestId } from '../common/http/request-id.middleware';
import { type MetricsService, UNMATCHED_ROUTE } from './metrics.service';
import { runWithRequestStore, type RequestStore, type UpstreamCallNote } from './request-store';

/** Routes an orchestrator and Prometheus call every few seconds: logged at debug when 2xx. */
const PROBE_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * An answer that never ended: the client went away first. 499 is nginx's "client closed
 * request", the status operators already read that way.
 */
const CLIENT_CLOSED = 499;

/** The access line's fields, chosen one by one: no headers, no bodies, no raw paths. */
interface AccessLine {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly user_id: string | null;
  readonly unified_ids?: readonly string[];
  readonly upstream?: RequestStore['upstream'];
}

/**
 * The observability of one HTTP request, done once when it ends: one access line and the
 * request series of /metrics. (Not pino-http: it makes two child loggers per request, which
 * cost more than everything else here on the chat path; see BENCHMARKS.md.) It also opens the request's AsyncLocalStorage store, so
 * that log lines written while the request is served carry its id and the guard and router can
 * note the unified ids and upstream calls for the access line. Installed right after the
 * request id (http-edge.ts), so every answer is counted, those of the drain gate included.
 */
export function httpObserver(
  root: Logger,
  metrics: MetricsService,
): (req: GatewayRequest, res: Response, next: NextFunction) => void {
  const finish = (req: GatewayRequest, res: ServerResponse, store: LazyRequestStore): void => {
    const seconds = (performance.now() - store.startedAt) / 1000;
    const route = routeOf(req);
    const ended = res.writableFinished;
    const status = ended || res.headersSent ? res.statusCode : CLIENT_CLOSED;
    metrics.httpRequest(req.method, route, status, seconds);
    const level: Level =
      status >= 500 ? 'error' : PROBE_ROUTES.has(route) && status < 300 ? 'debug' : 'info';
    if (!root.isLevelEnabled(level)) return;
    const line: AccessLine & { request_id: string } = {
      request_id: store.requestId,
      method: req.method,
      route,
      status,
      ms: Math.round(seconds * 10_000) / 10,
      user_id: req.caller?.userId ?? null,
      ...(store.refs ? { unified_ids: store.refs } : {}),
      ...(store.upstream ? { upstream: store.upstream } : {}),
    };
    root[level](
      line,
      status >= 500 ? 'request failed' : ended ? 'request completed' : 'request aborted',
    );
  };

  return (req, res, next) => {
    const store = new LazyRequestStore(root, req.requestId ?? newRequestId());
    // 'close' comes last whether the response ended or the client went away: one listener.
    res.once('close', () => finish(req, res, store));
    runWithRequestStore(store, next);
  };
}

/**
 * The request's store. Its logger (a pino child binding the request id) is made on first use:
 * most requests write no line but the access line, which the root logger writes with the id,
 * and a child per request was the largest cost of logging on the chat path.
 */
class LazyRequestStore implements RequestStore {
  readonly startedAt = performance.now();
  refs: readonly string[] | null = null;
  upstream: UpstreamCallNote[] | null = null;
  private child: Logger | null = null;

  constructor(
    private readonly root: Logger,
    readonly requestId: string,
  ) {}

  get log(): Logger {
    return (this.child ??= this.root.child({ request_id: this.requestId }));
  }
}

/**
 * The matched route's template (`/v1/files/:file_id`), never the raw path: ids would make
 * every request a series of its own and put ids in the metrics.
 */
function routeOf(req: GatewayRequest): string {
  const route: unknown = req.route;
  const path =
    typeof route === 'object' && route !== null ? (route as { path?: unknown }).path : undefined;
  return typeof path === 'string' ? path : UNMATCHED_ROUTE;
}
