import { Injectable } from '@nestjs/common';
import { ID_PREFIXES, IdCodec, type IdKind, type UnifiedIdPayload } from './id-codec';

const NOUN: Readonly<Record<IdKind, string>> = {
  file: 'file',
  batch: 'batch',
  fine_tuning_job: 'fine-tuning job',
  response: 'response',
};

/** Verified ids remembered (about 200 bytes each). */
const MAX_VERIFIED = 10_000;

/** The codec bound to this deployment's signing secret (provided by IdCodecModule). */
@Injectable()
export class IdCodecService {
  private readonly verified = new Map<string, Readonly<UnifiedIdPayload>>();

  constructor(private readonly codec: IdCodec) {}

  encode(payload: UnifiedIdPayload): string {
    return this.codec.encode(payload);
  }

  /**
   * Decodes and verifies an id. Ids a client sends again and again (the file of every chat
   * call) are remembered once verified, bounded: a repeat skips base64, the MAC and the
   * canonical check. Only verified ids are kept, so a forged id is verified every time.
   */
  decode(id: string, kind: IdKind): UnifiedIdPayload | null {
    const key = `${kind}:${id}`;
    const known = this.verified.get(key);
    if (known) return { ...known };
    const payload = this.codec.decode(id, kind);
    if (payload) {
      if (this.verified.size >= MAX_VERIFIED) {
        // Oldest first: a Map iterates in insertion order.
        this.verified.delete(this.verified.keys().next().value as string);
      }
      this.verified.set(key, Object.freeze({ ...payload }));
    }
    return payload;
  }

  /** How messages name a kind ('fine-tuning job'). */
  noun(kind: IdKind): string {
    return NOUN[kind];
  }

  static prefixOf(kind: IdKind): string {
    return ID_PREFIXES[kind];
  }
}
