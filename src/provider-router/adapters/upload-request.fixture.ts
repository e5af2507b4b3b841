// Test fixture (not built: see tsconfig.json): an UploadRequest for adapter specs.
import { Readable } from 'node:stream';
import type { UploadRequest } from '../provider-client';

/** An upload of `content` (in one chunk unless `openBody` is overridden). */
export function uploadOf(content: Buffer, overrides: Partial<UploadRequest> = {}): UploadRequest {
  return {
    purpose: 'assistants',
    filename: 'mfg_0a1b2c__notes.txt',
    mimeType: 'text/plain',
    expiresAfterSeconds: null,
    openBody: () => Readable.from([content]),
    ...overrides,
  };
}
