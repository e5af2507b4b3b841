import { CustomIds } from './custom-ids';

describe('CustomIds', () => {
  it('should report the line of first use for a repeated id, and each new id as new', () => {
    const ids = new CustomIds();
    // Enough ids to grow the table and the key buffer several times.
    const firstUses = Array.from({ length: 100_000 }, (_, k) => ids.add(`request-${k + 1}`, k + 1));
    expect(firstUses.every((first, k) => first === k + 1)).toBe(true);
    expect(ids.add('request-1', 100_001)).toBe(1);
    expect(ids.add('request-77777', 100_002)).toBe(77_777);
    expect(ids.add('request-100001', 100_003)).toBe(100_003);
  });

  it('should take a value as a string or as its UTF-8 bytes alike', () => {
    const ids = new CustomIds();
    const line = Buffer.from('{"custom_id":"naïve-1"}');
    const from = line.indexOf('n');
    const to = line.lastIndexOf('"');
    expect(ids.addBytes(line, from, to, 1)).toBe(1);
    expect(ids.add('naïve-1', 2)).toBe(1);
    expect(ids.add('naive-1', 3)).toBe(3);
  });

  it('should tell long ids apart by their digest and find a long one again', () => {
    const ids = new CustomIds();
    const long = 'x'.repeat(CustomIds.RAW_MAX * 10);
    expect(ids.add(long, 1)).toBe(1);
    expect(ids.add(`${long}y`, 2)).toBe(2);
    const bytes = Buffer.from(long);
    expect(ids.addBytes(bytes, 0, bytes.length, 3)).toBe(1);
  });

  it('should keep ids with lone surrogates apart from each other and from U+FFFD', () => {
    const ids = new CustomIds();
    expect(ids.add('a\uD800', 1)).toBe(1);
    expect(ids.add('a\uD801', 2)).toBe(2);
    expect(ids.add('a\uFFFD', 3)).toBe(3);
    expect(ids.add('a\uD800', 4)).toBe(1);
  });
});
