import type { Owner } from '../common/auth/ownership';
import type { OwnedRecord } from '../managed-refs/ref-loader';
import type { ManagedObjectKind } from './managed-object.entity';

/** A batch or fine-tuning job as the services work with it. */
export interface ObjectRecord extends OwnedRecord {
  readonly id: string;
  readonly kind: ManagedObjectKind;
  readonly deploymentId: string;
  readonly providerObjectId: string;
  readonly owner: Owner;
  readonly status: string;
  readonly providerObject: Record<string, unknown>;
  readonly fileIds: readonly string[];
  /** Provider file id → the unified file id callers see (inputs, and results once registered). */
  readonly fileMap: Readonly<Record<string, string>>;
  readonly createdAt: number;
}

/** Statuses after which a batch or job no longer uses its files (OpenAI's, after adapters). */
export const TERMINAL_STATUSES: readonly string[] = [
  'completed',
  'failed',
  'expired',
  'cancelled',
  'succeeded',
];
