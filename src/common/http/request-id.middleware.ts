import { randomUUID } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { GatewayRequest } from './request-context';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function newRequestId(): string {
  return `req_${randomUUID().replaceAll('-', '')}`;
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
