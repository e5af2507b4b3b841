import { MAX_MIME_TYPE_BYTES } from './id-codec';
import { DEFAULT_MIME_TYPE, normalizeMimeType } from './mime-types';

describe(normalizeMimeType.name, () => {
  it('should keep a well-formed type/subtype, lowercased and trimmed', () => {
    expect(normalizeMimeType('Application/JSONL')).toBe('application/jsonl');
    expect(normalizeMimeType(' text/x-python ')).toBe('text/x-python');
    expect(normalizeMimeType('application/vnd.ms-excel')).toBe('application/vnd.ms-excel');
  });

  it('should replace anything that is not type/subtype with application/octet-stream', () => {
    for (const bad of [
      undefined,
      null,
      '',
      'notamimetype',
      'text/',
      '/plain',
      'text/plain; charset=utf-8',
      'text/pl\u0000ain',
      'text/pl ain',
      `application/${'x'.repeat(250)}`,
      'ｔｅｘｔ/plain',
    ]) {
      expect(normalizeMimeType(bad)).toBe(DEFAULT_MIME_TYPE);
    }
  });

  it('should only ever produce types the id codec can carry', () => {
    const longest = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    expect(normalizeMimeType(longest)).toBe(longest);
    expect(Buffer.byteLength(longest)).toBeLessThanOrEqual(MAX_MIME_TYPE_BYTES);
    expect(normalizeMimeType(`${'a'.repeat(128)}/b`)).toBe(DEFAULT_MIME_TYPE);
  });
});
