import type { IdKind, UnifiedIdPayload } from '../id-codec/id-codec';
import type { OwnedRecord } from './ref-loader';
import type { RefField, RefLocation } from './ref-field';

/** One unified id found in a request, decoded, and (unless the field says not to) loaded. */
export interface ResolvedRef<R extends OwnedRecord = OwnedRecord> {
  readonly field: RefField;
  readonly location: RefLocation;
  /** The id as the caller sent it. */
  readonly id: string;
  readonly payload: UnifiedIdPayload;
  /** Absent for fields declared `load: false`. */
  readonly record?: R;
}

/** Every managed reference of a request, as ManagedRefsGuard resolved them. */
export class ResolvedRefs {
  constructor(readonly refs: readonly ResolvedRef[]) {}

  /** The one reference at a param or query field (undefined when the optional field is absent). */
  at<R extends OwnedRecord>(path: string): ResolvedRef<R> | undefined {
    return this.refs.find((r) => r.field.path === path && r.field.in !== 'body') as
      ResolvedRef<R> | undefined;
  }

  /**
   * The record of a route's required param (`:file_id`, `:batch_id`): the guard has loaded it
   * or refused the request, so its absence is a wiring mistake, not a caller's.
   */
  recordOf<R extends OwnedRecord>(field: RefField): R {
    const record = this.at<R>(field.path)?.record;
    if (!record) throw new Error(`a :${field.path} route without its managed reference`);
    return record;
  }

  /** The records of one kind, each once, in the order the request first names them. */
  records<R extends OwnedRecord>(kind: IdKind): R[] {
    const seen = new Map<string, R>();
    for (const ref of this.refs) {
      if (ref.field.kind === kind && ref.record && !seen.has(ref.payload.uid)) {
        seen.set(ref.payload.uid, ref.record as R);
      }
    }
    return [...seen.values()];
  }

  /** The references held in the body, for rewriting. */
  inBody(kind?: IdKind): ResolvedRef[] {
    return this.refs.filter((r) => r.field.in === 'body' && (!kind || r.field.kind === kind));
  }

  /**
   * Rewrites every body reference of `kind` in place to `to(ref)` (e.g. the chosen deployment's
   * provider id). Called once per attempt: a retry on another deployment writes over the last.
   */
  rewrite(kind: IdKind, to: (ref: ResolvedRef) => string): void {
    for (const ref of this.inBody(kind)) {
      ref.location.holder[ref.location.key] = to(ref);
    }
  }
}
