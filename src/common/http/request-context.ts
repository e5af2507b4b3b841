import type { Request } from 'express';
import type { Caller } from '../auth/caller';

/** What the gateway attaches to an incoming request as it passes guards and interceptors. */
export interface GatewayRequest extends Request {
  requestId?: string;
  caller?: Caller;
  /** Resources loaded by ownership guards, so handlers do not read them a second time. */
  resources?: Record<string, unknown>;
}
