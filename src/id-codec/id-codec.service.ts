import { Injectable } from '@nestjs/common';
import { NotFoundError } from '../common/errors/api-error';
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

  /**
   * Decodes or answers 404 — before any database or upstream call, so a forged or tampered
   * id costs one HMAC and tells the caller nothing.
   */
  decodeOrNotFound(id: string, kind: IdKind, param: string | null = null): UnifiedIdPayload {
    const payload = this.codec.decode(id, kind);
    if (!payload) {
      throw new NotFoundError(`No such ${NOUN[kind]}: '${truncate(id)}'.`, { param });
    }
    return payload;
  }

  static prefixOf(kind: IdKind): string {
    return ID_PREFIXES[kind];
  }
}

function truncate(id: string): string {
  return id.length > 80 ? `${id.slice(0, 80)}…` : id;
}
