import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { DrainService } from '../../lifecycle/drain.service';
import { httpObserver } from '../../observability/http-observer';
import { MetricsService } from '../../observability/metrics.service';
import { ApiError, InvalidRequestError } from '../errors/api-error';
import { envelope, writeErrorEnvelope } from '../errors/openai-exception.filter';
import { newRequestId, requestIdMiddleware } from './request-id.middleware';

/**
 * What every request meets before any route: a request id, its access line and metrics (and
 * the store that carries the id to every log line written for it), the drain gate, the body parsers
 * (JSON bodies of real model calls carry base64 images and documents, so the limit is
 * configurable), and envelope answers for what Node itself refuses before Express runs.
 * Order matters: anything registered before the request id would answer without one.
 */
export function installHttpEdge(
  app: NestExpressApplication,
  config: AppConfig,
  logger: Logger,
): void {
  app.use(requestIdMiddleware);
  app.use(httpObserver(logger, app.get(MetricsService)));
  app.use(app.get(DrainService).middleware);
  app.useBodyParser('json', { limit: config.maxJsonBodyBytes });
  app.useBodyParser('urlencoded', { limit: config.maxJsonBodyBytes, extended: true });

  const server: Server = app.getHttpServer();
  setClientTimeouts(server, config);
  server.on('clientError', answerClientError);
  // With a listener, Node no longer answers an unmet `Expect` with a bare 417 of its own.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('x-request-id', newRequestId());
    res.setHeader('connection', 'close');
    writeErrorEnvelope(
      res,
      new ApiError(
        417,
        'invalid_request_error',
        `Unsupported Expect header '${String(req.headers.expect)}'; only '100-continue' is understood.`,
        { param: 'expect', code: 'expectation_failed' },
      ),
    );
  });
}

/**
 * Node's defaults suit a server that faces its clients directly, not one behind a load balancer
 * that takes large uploads:
 * - keep-alive: Node closes an idle connection after 5 s, while load balancers keep theirs to
 *   the backend open longer (AWS ALB 60 s) and reuse them; a request the balancer sends just as
 *   Node closes is lost, and the caller gets a 502 from the balancer. Staying open longer than
 *   the balancer means it is always the one that closes. `headersTimeout` (how long Node waits
 *   for a request's headers) stays above it: older Node releases counted a reused connection's
 *   idle time against it, and the usual advice for Node behind a balancer still sets it so.
 * - request: Node gives a client 5 min to send a whole request, body included, which cuts off a
 *   512 MiB upload slower than 1.8 MB/s; an upload that runs out of time is refused with 408
 *   (answerClientError) and its copies removed, as when the client goes away.
 */
function setClientTimeouts(server: Server, config: AppConfig): void {
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = Math.max(server.headersTimeout, config.keepAliveTimeoutMs + 1000);
  server.requestTimeout = config.requestTimeoutMs;
  if (config.requestTimeoutMs > 0) {
    server.headersTimeout = Math.min(server.headersTimeout, config.requestTimeoutMs);
    // Node checks both limits on this interval (30 s by default; a public property that its
    // types only know as a createServer option, read when the server starts listening, which
    // is later): a short limit is then enforced within a quarter of itself.
    const checked = server as Server & { connectionsCheckingInterval: number };
    checked.connectionsCheckingInterval = Math.min(
      checked.connectionsCheckingInterval,
      Math.max(250, Math.floor(config.requestTimeoutMs / 4)),
    );
  }
}

/**
 * Node's parser refused the request (oversized headers, Transfer-Encoding with Content-Length,
 * garbage): there is no request object, so the answer is written to the socket by hand.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // A reset or a socket that cannot be written is a client gone: nobody to answer.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : 400;
  const message =
    status === 431
      ? 'Request headers are too large.'
      : status === 408
        ? 'The request did not arrive in time.'
        : `Malformed HTTP request (${error.code ?? 'parse error'}).`;
  const refused = new InvalidRequestError(message, { code: 'invalid_http_request' });
  const body = JSON.stringify(envelope(refused.message, refused.type, null, refused.code));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${newRequestId()}\r\n` +
      'connection: close\r\n\r\n' +
      body,
  );
}
