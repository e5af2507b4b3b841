import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { GatewayRequest } from '../common/http/request-context';
import { accessedFile } from './file-access.guard';
import type { FileRecord } from './file-record';

/** The file FileAccessGuard loaded and authorized for this request. */
export const AccessedFile = createParamDecorator((_: unknown, ctx: ExecutionContext): FileRecord =>
  accessedFile(ctx.switchToHttp().getRequest<GatewayRequest>()),
);
