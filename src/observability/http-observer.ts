import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Response } from 'express';
import type { Level, Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import type { GatewayRequest } from '../common/http/request-context';
import { newRequestId } from '../common/http/request-id.middleware';
import { type MetricsService, UNMATCHED_ROUTE } from './metrics.service';
import { runWithRequestStore, type RequestStore } from './request-store';

/** Where the observer keeps a request's store and start time on the request itself. */
const OBSERVED = Symbol('observed');

type ObservedRequest = GatewayRequest & {
  [OBSERVED]?: { readonly store: RequestStore; readonly startedAt: number };
};

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
 * The observability of one HTTP request, done once when it ends: one access line (pino-http)
 * and the request series of /metrics. It also opens the request's AsyncLocalStorage store, so
 * that log lines written while the request is served carry its id and the guard and router can
 * note the unified ids and upstream calls for the access line. Installed right after the
 * request id (http-edge.ts), so every answer is counted, those of the drain gate included.
 */
export function httpObserver(
  root: Logger,
  metrics: MetricsService,
): (req: GatewayRequest, res: Response, next: NextFunction) => void {
  const access = (req: IncomingMessage, res: ServerResponse): AccessLine => {
    const request = req as ObservedRequest;
    const observed = request[OBSERVED];
    const seconds = observed ? (performance.now() - observed.startedAt) / 1000 : 0;
    const route = routeOf(request);
    const status = res.writableFinished || res.headersSent ? res.statusCode : CLIENT_CLOSED;
    metrics.httpRequest(request.method, route, status, seconds);
    const store = observed?.store;
    return {
      method: request.method,
      route,
      status,
      ms: Math.round(seconds * 10_000) / 10,
      user_id: request.caller?.userId ?? null,
      ...(store?.refs ? { unified_ids: store.refs } : {}),
      ...(store?.upstream ? { upstream: store.upstream } : {}),
    };
  };

  const logger: HttpLogger<IncomingMessage, ServerResponse> = pinoHttp({
    logger: root,
    genReqId: (req) => (req as GatewayRequest).requestId ?? newRequestId(),
    // The request's logger binds only its id; the access line is built by `access` alone.
    quietReqLogger: true,
    quietResLogger: true,
    customAttributeKeys: { reqId: 'request_id' },
    // pino-http would also bind a serialised request to a child logger: nothing of it is kept.
    wrapSerializers: false,
    serializers: { req: () => undefined },
    customLogLevel: (req, res, error): Level => {
      if (error !== undefined || res.statusCode >= 500) return 'error';
      const route = routeOf(req as GatewayRequest);
      return PROBE_ROUTES.has(route) && res.statusCode < 300 ? 'debug' : 'info';
    },
    customSuccessObject: (req, res) => access(req, res),
    // The stack of a failure is logged where it happened (OpenAIExceptionFilter), with the id.
    customErrorObject: (req, res) => access(req, res),
    customSuccessMessage: (_req, res) =>
      res.writableFinished ? 'request completed' : 'request aborted',
    customErrorMessage: () => 'request failed',
  });

  return (req, res, next) => {
    logger(req, res);
    const store: RequestStore = {
      log: (req as GatewayRequest & { log: Logger }).log,
      refs: null,
      upstream: null,
    };
    (req as ObservedRequest)[OBSERVED] = { store, startedAt: performance.now() };
    runWithRequestStore(store, next);
  };
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
