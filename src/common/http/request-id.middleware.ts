import { randomBytes } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { GatewayRequest } from './request-context';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * This process's random half of every request id it makes; the other half counts. Unique
 * across replicas and restarts (64 random bits each), as long as OpenAI's (`req_` + 32 hex),
 * and about a tenth of the cost of a UUID per request. Request ids name, they do not authorise:
 * that the next one can be guessed gives nothing away.
 */
const PROCESS_PART = randomBytes(8).toString('hex');
let sequence = 0;

export function newRequestId(): string {
  sequence = sequence === Number.MAX_SAFE_INTEGER ? 1 : sequence + 1;
  return `req_${PROCESS_PART}${sequence.toString(16).padStart(16, '0')}`;
}

/**
 * Every response carries `x-request-id`: the API gateway's id when it sent a sane one, so logs
 * line up across hops, else a fresh one. The SDKs expose it as `error.requestID`. Installed as
 * the first Express middleware (http-edge.ts), so body-parser errors, unknown paths and /docs
 * carry it too.
 */
export function requestIdMiddleware(req: GatewayRequest, res: Response, next: NextFunction): void {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : newRequestId();
  req.requestId = id;
  res.setHeader('x-request-id', id);
  next();
}
