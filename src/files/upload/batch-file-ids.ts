import type { Caller } from '../../common/auth/caller';
import { canAccess } from '../../common/auth/ownership';
import type { UnifiedIdPayload } from '../../id-codec/id-codec';
import type { IdCodecService } from '../../id-codec/id-codec.service';
import type { FileRecord } from '../file-record';

/**
 * The managed files a batch input file names inside its lines, resolved for the uploading
 * caller while the file streams. The line check (batch-jsonl.ts) finds every managed id once per
 * upload, whatever the number of deployments, and hands it to `want`, which starts its lookup;
 * the rewriters look ids up synchronously, so each waits for `settled()` before writing the lines
 * it has. An id the caller may not use, or that we never issued, resolves to nothing and the
 * rewriter refuses its line.
 */
export class BatchFileIds {
  private readonly lookups = new Map<string, Promise<FileRecord | null>>();
  private readonly resolved = new Map<string, FileRecord | null>();
  private readonly inFlight = new Set<Promise<FileRecord | null>>();

  constructor(
    private readonly caller: Caller,
    private readonly ids: IdCodecService,
    private readonly load: (
      payloads: readonly UnifiedIdPayload[],
    ) => Promise<ReadonlyMap<string, FileRecord>>,
  ) {}

  /** This deployment's provider id of a managed file the caller may use, if it has a copy. */
  providerIdFor(deploymentId: string, unifiedId: string): string | undefined {
    const record = this.resolved.get(unifiedId);
    const copy = record?.copies.find((c) => c.deploymentId === deploymentId);
    return copy?.providerFileId ?? undefined;
  }

  /** Starts resolving a managed file id a line names (once per id for the whole upload). */
  want(unifiedId: string): void {
    if (!this.resolved.has(unifiedId)) void this.lookup(unifiedId);
  }

  /**
   * Null when every id wanted so far is resolved; otherwise a promise of that. It may wait for
   * more than the caller needs (ids found for a copy further ahead): that costs a little time,
   * never a wrong id. A failed lookup stays in flight, so every wait from then on fails with it.
   */
  settled(): Promise<void> | null {
    if (this.inFlight.size === 0) return null;
    return Promise.all(this.inFlight).then(() => undefined);
  }

  private lookup(token: string): Promise<FileRecord | null> {
    let pending = this.lookups.get(token);
    if (!pending) {
      const started = this.resolve(token).then((record) => {
        this.resolved.set(token, record);
        return record;
      });
      this.inFlight.add(started);
      const settled = (): void => void this.inFlight.delete(started);
      // A failed lookup stays in flight: every wait from now on fails with it.
      started.then(settled, () => undefined);
      pending = started;
      this.lookups.set(token, pending);
    }
    return pending;
  }

  private async resolve(token: string): Promise<FileRecord | null> {
    const payload = this.ids.decode(token, 'file');
    if (!payload) return null;
    const record = (await this.load([payload])).get(payload.uid) ?? null;
    return record && canAccess(this.caller, record.owner) ? record : null;
  }
}
