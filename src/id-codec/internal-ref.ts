import type { UnifiedIdPayload } from './id-codec';

/**
 * An id as services know it. Services put InternalRef objects wherever a response carries an id;
 * EncodeIdsInterceptor turns each one into the public unified id on the way out. The type is the
 * marker, so nothing is guessed from field names.
 */
export class InternalRef {
  constructor(readonly payload: UnifiedIdPayload) {}
}
