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
 * each deployment's stream passes a gate first: the bytes are searched for `file-…` tokens, their
 * lookups start (once per id for the whole upload, whatever the number of deployments) and the
 * bytes pass once those lookups are done. The search, too, runs once per upload: every gate
 * reads the same spooled bytes from the start, so a gate behind the furthest one only waits for
 * the lookups in flight. An id the caller may not use, or that we never issued, resolves to
 * nothing and the rewriter refuses its line.
 */
export class BatchFileIds {
  private readonly lookups = new Map<string, Promise<FileRecord | null>>();
  private readonly resolved = new Map<string, FileRecord | null>();
  private readonly inFlight = new Set<Promise<FileRecord | null>>();
  /** How far into the upload's bytes some gate has searched for ids. */
  private searchedThrough = 0;

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

  /**
   * A pass-through over the upload's bytes from the start that holds each chunk until the ids
   * in it are resolved. Every gate of one upload must see the same bytes (the spool's).
   */
  gate(): Transform {
    /** Bytes this gate passed, and the last CARRY_CHARS of them. */
    let offset = 0;
    let carry: Buffer = Buffer.alloc(0);
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        const end = offset + chunk.length;
        if (end > this.searchedThrough) {
          // The carried tail, so an id split across two chunks is seen whole.
          const text = carry.toString('latin1') + chunk.toString('latin1');
          for (const [token] of text.matchAll(FILE_ID_TOKEN)) {
            if (!this.resolved.has(token)) void this.lookup(token);
          }
          this.searchedThrough = end;
        }
        carry = tail(carry, chunk);
        offset = end;
        // Every id in the chunk is resolved or in flight; in flight may be more (ids further
        // on, found by a gate ahead): waiting for them too costs a little time, never a wrong id.
        if (this.inFlight.size === 0) {
          callback(null, chunk);
          return;
        }
        Promise.all(this.inFlight).then(
          () => callback(null, chunk),
          (error: unknown) => callback(error as Error),
        );
      },
    });
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
      // A failed lookup stays in flight: every gate waiting from now on fails with it.
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

/** The last CARRY_CHARS bytes of `carry` followed by `chunk`, copied (not a view of the chunk). */
function tail(carry: Buffer, chunk: Buffer): Buffer {
  if (chunk.length >= CARRY_CHARS) return Buffer.from(chunk.subarray(chunk.length - CARRY_CHARS));
  return Buffer.concat([carry, chunk]).subarray(-CARRY_CHARS);
}
