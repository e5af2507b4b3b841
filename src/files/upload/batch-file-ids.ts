import { Transform, type TransformCallback } from 'node:stream';
import type { Caller } from '../../common/auth/caller';
import { canAccess } from '../../common/auth/ownership';
import { ID_PREFIXES, type UnifiedIdPayload } from '../../id-codec/id-codec';
import type { IdCodecService } from '../../id-codec/id-codec.service';
import type { FileRecord } from '../file-record';

/** Unified file ids as they appear in JSON text (base64url after the prefix). */
const FILE_ID_TOKEN = new RegExp(`${ID_PREFIXES.file}[A-Za-z0-9_-]{20,}`, 'g');
/** Longer than any id, so an id split across two chunks is seen whole in the carried tail. */
const CARRY_CHARS = 4096;

/**
 * The managed files a batch input file names inside its lines, resolved for the uploading
 * caller while the file streams. The rewriter (batch-jsonl.ts) looks ids up synchronously, so
 * each deployment's stream passes a gate first: it spots `file-…` tokens in the bytes about to
 * pass, starts their lookup (once per id for the whole upload, whatever the number of
 * deployments) and lets the bytes through once those lookups are done. An id the caller may not
 * use, or that we never issued, resolves to nothing and the rewriter refuses its line.
 */
export class BatchFileIds {
  private readonly lookups = new Map<string, Promise<FileRecord | null>>();
  private readonly resolved = new Map<string, FileRecord | null>();

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

  /** A pass-through that holds each chunk until the ids in it are resolved. */
  gate(): Transform {
    let carry = '';
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        const text = carry + chunk.toString('latin1');
        carry = text.slice(-CARRY_CHARS);
        const waits: Array<Promise<unknown>> = [];
        for (const [token] of text.matchAll(FILE_ID_TOKEN)) {
          if (!this.resolved.has(token)) waits.push(this.lookup(token));
        }
        if (waits.length === 0) {
          callback(null, chunk);
          return;
        }
        Promise.all(waits).then(
          () => callback(null, chunk),
          (error: unknown) => callback(error as Error),
        );
      },
    });
  }

  private lookup(token: string): Promise<FileRecord | null> {
    let pending = this.lookups.get(token);
    if (!pending) {
      pending = this.resolve(token).then((record) => {
        this.resolved.set(token, record);
        return record;
      });
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
