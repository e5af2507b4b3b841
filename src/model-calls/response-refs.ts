import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Owner } from '../common/auth/ownership';
import type { UnifiedIdPayload } from '../id-codec/id-codec';
import type { OwnedRecord, RefLoader } from '../managed-refs/ref-loader';
import { RefLoaders } from '../managed-refs/ref-loaders';

/** A response at a provider, as its sealed unified id describes it. */
export interface ResponseRecord extends OwnedRecord {
  readonly owner: Owner;
  readonly deploymentId: string;
  readonly providerId: string;
}

/**
 * Response ids are sealed and carry their deployment, provider id and owner, so resolving one
 * reads nothing: a Responses call costs the store no write and no read.
 */
@Injectable()
export class ResponseRefs implements RefLoader<ResponseRecord>, OnModuleInit {
  readonly kind = 'response' as const;

  constructor(private readonly loaders: RefLoaders) {}

  onModuleInit(): void {
    this.loaders.register(this);
  }

  loadMany(payloads: readonly UnifiedIdPayload[]): Promise<ReadonlyMap<string, ResponseRecord>> {
    const records = new Map<string, ResponseRecord>();
    for (const p of payloads) {
      if (
        p.deploymentId === undefined ||
        p.providerId === undefined ||
        p.ownerUserId === undefined
      ) {
        continue;
      }
      records.set(p.uid, {
        owner: { userId: p.ownerUserId, teamId: p.ownerTeamId ?? null },
        deploymentId: p.deploymentId,
        providerId: p.providerId,
      });
    }
    return Promise.resolve(records);
  }
}
