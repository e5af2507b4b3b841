import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { canAccess } from '../common/auth/caller';
import { NotFoundError, PermissionDeniedError } from '../common/errors/api-error';
import type { GatewayRequest } from '../common/http/request-context';
import { decodedId, type IdField } from '../id-codec/decode-ids.interceptor';
import { IdCodecService } from '../id-codec/id-codec.service';
import type { FileRecord } from './file-record';
import { FilesService } from './files.service';

/** The `:file_id` route parameter: a unified file id, decoded once per request. */
export const FILE_ID_PARAM: IdField = {
  in: 'params',
  name: 'file_id',
  kind: 'file',
  onInvalid: 'not_found',
};
const RESOURCE_KEY = 'file';

/**
 * Ownership on retrieve, content and delete: the owner, the owner's team and admins pass;
 * anyone else gets 403. A forged id is 404 before any lookup; an unknown one is 404 after it.
 * The loaded record is kept on the request so the handler does not read it again.
 */
@Injectable()
export class FileAccessGuard implements CanActivate {
  constructor(
    private readonly ids: IdCodecService,
    private readonly files: FilesService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    const caller = request.caller;
    const rawId = String(request.params.file_id);
    const payload = decodedId(request, this.ids, FILE_ID_PARAM);
    const record = payload ? await this.files.findLive(payload.uid) : undefined;
    if (!record) {
      throw new NotFoundError(`No such file: '${rawId}'.`, { param: 'file_id' });
    }
    if (!caller || !canAccess(caller, { userId: record.ownerUserId, teamId: record.ownerTeamId })) {
      throw new PermissionDeniedError(
        `User ${caller?.userId ?? 'anonymous'} does not have access to the file ${rawId}`,
      );
    }
    (request.resources ??= {})[RESOURCE_KEY] = record;
    return true;
  }
}

export function accessedFile(request: GatewayRequest): FileRecord {
  const record = request.resources?.[RESOURCE_KEY];
  if (!record) {
    throw new Error('accessedFile() used on a route without FileAccessGuard');
  }
  return record as FileRecord;
}
