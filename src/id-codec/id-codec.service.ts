import { Injectable } from '@nestjs/common';
import { ID_PREFIXES, IdCodec, type IdKind, type UnifiedIdPayload } from './id-codec';

const NOUN: Readonly<Record<IdKind, string>> = {
  file: 'file',
  batch: 'batch',
  fine_tuning_job: 'fine-tuning job',
  response: 'response',
};

/** The codec bound to this deployment's signing secret (provided by IdCodecModule). */
@Injectable()
export class IdCodecService {
  constructor(private readonly codec: IdCodec) {}

  encode(payload: UnifiedIdPayload): string {
    return this.codec.encode(payload);
  }

  decode(id: string, kind: IdKind): UnifiedIdPayload | null {
    return this.codec.decode(id, kind);
  }

  /** How messages name a kind ('fine-tuning job'). */
  noun(kind: IdKind): string {
    return NOUN[kind];
  }

  static prefixOf(kind: IdKind): string {
    return ID_PREFIXES[kind];
  }
}
