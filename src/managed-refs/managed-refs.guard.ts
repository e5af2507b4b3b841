import {
  Injectable,
  SetMetadata,
  UseGuards,
  applyDecorators,
  createParamDecorator,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { canAccess } from '../common/auth/ownership';
import {
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
} from '../common/errors/api-error';
import type { GatewayRequest } from '../common/http/request-context';
import type { IdKind, UnifiedIdPayload } from '../id-codec/id-codec';
import { IdCodecService } from '../id-codec/id-codec.service';
import { noteManagedRefs } from '../observability/request-store';
import { locate, type RefField, type RefLocation } from './ref-field';
import type { OwnedRecord } from './ref-loader';
import { RefLoaders } from './ref-loaders';
import { ResolvedRefs, type ResolvedRef } from './resolved-refs';

const REF_FIELDS = 'gateway:refFields';

type RefRequest = GatewayRequest & { managedRefs?: ResolvedRefs };
/** A reference while it is being resolved: the record comes once its kind is loaded. */
type Resolving = { -readonly [K in keyof ResolvedRef]: ResolvedRef[K] };

/**
 * Declares where a route carries unified ids and guards it with the one pipeline for every
 * managed kind: decode and verify each id (a forged one is a 404 or 400 before any lookup),
 * load every record in one batched read per kind, apply the ownership rule (403 naming the id),
 * and hand the handler the resolved references (`@Refs()`).
 */
export const UsesManagedRefs = (...fields: RefField[]): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(REF_FIELDS, fields), UseGuards(ManagedRefsGuard));

/** The ResolvedRefs of the request. */
export const Refs = createParamDecorator(
  (_data: unknown, context: ExecutionContext): ResolvedRefs =>
    context.switchToHttp().getRequest<RefRequest>().managedRefs ?? new ResolvedRefs([]),
);

@Injectable()
export class ManagedRefsGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly ids: IdCodecService,
    private readonly loaders: RefLoaders,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const fields =
      this.reflector.getAllAndOverride<RefField[] | undefined>(REF_FIELDS, [
        context.getHandler(),
        context.getClass(),
      ]) ?? [];
    const request = context.switchToHttp().getRequest<RefRequest>();
    const found = fields.flatMap((field) => this.decodeField(request, field));
    // For the access line: the ids a request named, whether or not it may use them.
    noteManagedRefs(found.map((ref) => ref.id));
    await this.load(found);
    const caller = request.caller;
    for (const ref of found) {
      if (ref.record && (!caller || !canAccess(caller, ref.record.owner))) {
        throw new PermissionDeniedError(
          `User ${caller?.userId ?? 'anonymous'} does not have access to the ${this.ids.noun(ref.field.kind)} ${ref.id}`,
        );
      }
    }
    request.managedRefs = new ResolvedRefs(found);
    return true;
  }

  /** Every value of one field, decoded; throws on the first that is not an id we issued. */
  private decodeField(request: RefRequest, field: RefField): Resolving[] {
    return locationsOf(request, field).map((location) => {
      const raw = location.holder[location.key];
      const payload = typeof raw === 'string' ? this.ids.decode(raw, field.kind) : null;
      if (!payload) throw this.invalid(field, location, raw);
      return { field, location, id: raw as string, payload };
    });
  }

  /** One loader call per kind for everything the request names; a miss is a 404 naming the id. */
  private async load(
    found: Array<Omit<ResolvedRef, 'record'> & { record?: unknown }>,
  ): Promise<void> {
    const byKind = new Map<IdKind, UnifiedIdPayload[]>();
    for (const ref of found) {
      if (ref.field.load === false) continue;
      const list = byKind.get(ref.field.kind) ?? [];
      list.push(ref.payload);
      byKind.set(ref.field.kind, list);
    }
    const loaded = new Map<IdKind, ReadonlyMap<string, OwnedRecord>>();
    await Promise.all(
      [...byKind].map(async ([kind, payloads]) => {
        loaded.set(kind, await this.loaders.for(kind).loadMany(payloads));
      }),
    );
    for (const ref of found) {
      if (ref.field.load === false) continue;
      const record = loaded.get(ref.field.kind)?.get(ref.payload.uid);
      if (!record) {
        throw new NotFoundError(
          `No such ${this.ids.noun(ref.field.kind)}: '${truncate(ref.id)}'.`,
          {
            param: ref.location.where,
          },
        );
      }
      ref.record = record;
    }
  }

  private invalid(field: RefField, location: RefLocation, raw: unknown): Error {
    const shown = typeof raw === 'string' ? `'${truncate(raw)}'` : 'a non-string value';
    if ((field.onInvalid ?? 'not_found') === 'invalid_request') {
      return new InvalidRequestError(
        `Invalid '${location.where}': ${shown} is not an id this gateway issued.`,
        { param: location.where, code: 'invalid_cursor' },
      );
    }
    return new NotFoundError(`No such ${this.ids.noun(field.kind)}: ${shown}.`, {
      param: location.where,
    });
  }
}

function locationsOf(request: RefRequest, field: RefField): RefLocation[] {
  if (field.in === 'body') return locate(request.body, field.path);
  const source = (field.in === 'params' ? request.params : request.query) as Record<
    string,
    unknown
  >;
  const value = source[field.path];
  return value === undefined || value === ''
    ? []
    : [{ holder: source, key: field.path, where: field.path }];
}

function truncate(id: string): string {
  return id.length > 80 ? `${id.slice(0, 80)}…` : id;
}
