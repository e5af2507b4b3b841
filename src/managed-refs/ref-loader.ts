import type { Owner } from '../common/auth/ownership';
import type { IdKind, UnifiedIdPayload } from '../id-codec/id-codec';

/** What every managed record offers the shared layer: who owns it. */
export interface OwnedRecord {
  readonly owner: Owner;
}

/**
 * Loads the records of one kind that a request names, all at once (a cache multi-get, then one
 * query for the misses). Feature modules register theirs with RefLoaders; a record left out of
 * the answer is "not found".
 */
export interface RefLoader<R extends OwnedRecord = OwnedRecord> {
  readonly kind: IdKind;
  loadMany(payloads: readonly UnifiedIdPayload[]): Promise<ReadonlyMap<string, R>>;
}
