import {
  Injectable,
  SetMetadata,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { InvalidRequestError } from '../common/errors/api-error';
import type { GatewayRequest } from '../common/http/request-context';
import type { IdKind, UnifiedIdPayload } from './id-codec';
import { IdCodecService } from './id-codec.service';

const DECODES = 'gateway:decodesIds';

export interface IdField {
  readonly in: 'params' | 'query';
  readonly name: string;
  readonly kind: IdKind;
  /** A bad id in a route path is "not found"; a bad cursor in a query is a bad request. */
  readonly onInvalid: 'not_found' | 'invalid_request';
}

/** Declares which request fields of a route carry unified ids. */
export const DecodesIds = (...fields: IdField[]): MethodDecorator => SetMetadata(DECODES, fields);

type DecodedRequest = GatewayRequest & { decodedIds?: Map<string, UnifiedIdPayload> };

/**
 * Decodes and verifies the unified ids a route declares, so services only ever see internal
 * ids. Guards run before interceptors, so an ownership guard that needs an id first calls
 * `decodedId()`, which decodes once per request and remembers the result for this interceptor.
 */
@Injectable()
export class DecodeIdsInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly ids: IdCodecService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const fields = this.reflector.get<IdField[] | undefined>(DECODES, context.getHandler()) ?? [];
    const request = context.switchToHttp().getRequest<DecodedRequest>();
    for (const field of fields) {
      decodedId(request, this.ids, field);
    }
    return next.handle();
  }
}

/** The decoded payload of one declared id field (undefined when the optional field is absent). */
export function decodedId(
  request: GatewayRequest,
  ids: IdCodecService,
  field: IdField,
): UnifiedIdPayload | undefined {
  const req = request as DecodedRequest;
  const key = `${field.in}.${field.name}`;
  const cached = req.decodedIds?.get(key);
  if (cached) {
    return cached;
  }
  const source = (field.in === 'params' ? req.params : req.query) as Record<string, unknown>;
  const raw = source[field.name];
  if (raw === undefined || raw === '') {
    return undefined;
  }
  const payload =
    typeof raw === 'string'
      ? field.onInvalid === 'not_found'
        ? ids.decodeOrNotFound(raw, field.kind)
        : ids.decode(raw, field.kind)
      : null;
  if (!payload) {
    throw invalidCursor(field.name);
  }
  (req.decodedIds ??= new Map()).set(key, payload);
  return payload;
}

function invalidCursor(name: string): Error {
  return new InvalidRequestError(`Invalid '${name}': not an id this gateway issued.`, {
    param: name,
    code: 'invalid_cursor',
  });
}
