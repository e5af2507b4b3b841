import { randomUUID } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { GatewayRequest } from './request-context';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Every response carries `x-request-id`: the API gateway's id when it sent a sane one, so logs
 * line up across hops, else a fresh one. The SDKs expose it as `error.requestID`.
 */
export function requestIdMiddleware(req: GatewayRequest, res: Response, next: NextFunction): void {
  const incoming = req.headers['x-request-id'];
  const id =
    typeof incoming === 'string' && SAFE_ID.test(incoming)
      ? incoming
      : `req_${randomUUID().replaceAll('-', '')}`;
  req.requestId = id;
  res.setHeader('x-request-id', id);
  next();
}
