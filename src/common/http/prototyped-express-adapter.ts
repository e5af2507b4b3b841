import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import { ExpressAdapter } from '@nestjs/platform-express';

/**
 * Express gives every request and response its own prototype with `Object.setPrototypeOf`,
 * which makes V8 keep each request's objects alive through young-generation collections: under
 * load the gateway ran 4–15 ms scavenges five times a second (expressjs/express#5998,
 * nodejs/node#37457), which is where its p99 came from. Here node:http builds `req` and `res`
 * on Express's prototypes from the start, so Express's call changes nothing. Measured on the
 * chat path: 0.73 → 0.57 ms of CPU per request, added p99 5.3 → 4.1 ms (BENCHMARKS.md).
 */
export class PrototypedExpressAdapter extends ExpressAdapter {
  override initHttpServer(): void {
    const app = this.getInstance<{ request: object; response: object }>();
    function Request(this: IncomingMessage, socket: never): void {
      IncomingMessage.call(this, socket);
    }
    Request.prototype = app.request;
    function Response(this: ServerResponse, req: IncomingMessage, options: unknown): void {
      (ServerResponse as unknown as (this: ServerResponse, ...args: unknown[]) => void).call(
        this,
        req,
        options,
      );
    }
    Response.prototype = app.response;
    this.httpServer = createServer(
      {
        IncomingMessage: Request as unknown as typeof IncomingMessage,
        ServerResponse: Response as unknown as typeof ServerResponse,
      },
      app as never,
    );
  }
}
