import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { GatewayRequest } from '../http/request-context';
import type { Caller } from './caller';

/** The caller established by AuthGuard. */
export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const caller = ctx.switchToHttp().getRequest<GatewayRequest>().caller;
  if (!caller) {
    // Only reachable on a @Public() route, where asking for a caller is a programming error.
    throw new Error('CurrentCaller used on a route without authentication');
  }
  return caller;
});
