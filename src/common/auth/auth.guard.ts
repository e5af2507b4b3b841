import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import type { GatewayRequest } from '../http/request-context';
import { CredentialResolver } from './credential-resolver';
import { IS_PUBLIC } from './public.decorator';

/** Global guard: establishes the caller on every route not marked @Public(). Ownership is checked later, per object. */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly resolver: CredentialResolver;

  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.resolver = new CredentialResolver(config.apiKeys, config.trustedHeaders);
  }

  canActivate(context: ExecutionContext): boolean {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) {
      return true;
    }
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    request.caller = this.resolver.resolve(request.headers);
    return true;
  }
}
