import { createHash } from 'node:crypto';

/**
 * The custom_ids of one batch file seen so far → the line of first use, to refuse a duplicate.
 *
 * Kept as bytes, not strings: a Map of 50,000 strings cost the check more than any other step but
 * reading the lines (the strings are made, hashed and promoted to the old generation one by one,
 * and stay in the heap until a whole-heap collection after the upload). Here an id is the UTF-8
 * of its value, copied into one growing buffer, found through an open-addressing table of typed
 * arrays: no object per id, and memory the collector need not walk, freed with the check.
 *
 * Keys identify values exactly: the same value has one key however it was escaped in the line.
 * A value's key is its UTF-8 (which never holds the bytes 0xFE or 0xFF); a longer one than
 * RAW_MAX is 0xFE and the SHA-256 of its UTF-8, so 50,000 ids cost a few MB however long each is;
 * a value with a lone surrogate (from a `\ud800` escape: UTF-8 cannot hold it) is 0xFF and the
 * SHA-256 of its UTF-16.
 */
export class CustomIds {
  static readonly RAW_MAX = 64;
  /**
   * The open-addressing table: per slot, entry + 1 (0: empty) and the key's hash side by side, so
   * a probe reads one cache line (five parallel arrays cost 5-10x the insert in the gateway,
   * where the check's tables compete for the cache with three copies in flight). Slots are a
   * power of two, at most half full.
   */
  private table = new Int32Array(2 << 12);
  /** Per entry: the line of first use, and the key's offset and length in `keys`. */
  private entries = new Int32Array(3 << 11);
  private keys = Buffer.allocUnsafe(1 << 16);
  private keyBytes = 0;
  private count = 0;

  /** Records `id` on `line` unless already seen; returns the line of its first use. */
  add(id: string, line: number): number {
    if (LONE_SURROGATE.test(id)) return this.addKey(digest(0xff, Buffer.from(id, 'utf16le')), line);
    const utf8 = Buffer.from(id, 'utf8');
    return this.addBytes(utf8, 0, utf8.length, line);
  }

  /** The same, for a value given as its UTF-8, `bytes[from, to)` (a string token's content unescaped). */
  addBytes(bytes: Buffer, from: number, to: number, line: number): number {
    if (to - from > CustomIds.RAW_MAX)
      return this.addKey(digest(0xfe, bytes.subarray(from, to)), line);
    return this.insert(bytes, from, to, line);
  }

  private addKey(key: Buffer, line: number): number {
    return this.insert(key, 0, key.length, line);
  }

  private insert(bytes: Buffer, from: number, to: number, line: number): number {
    const hash = fnv1a(bytes, from, to);
    const table = this.table;
    const mask = (table.length >> 1) - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = table[slot * 2] - 1;
      if (entry < 0) {
        table[slot * 2] = this.append(bytes, from, to, line) + 1;
        table[slot * 2 + 1] = hash;
        if (this.count * 4 > table.length) this.grow();
        return line;
      }
      if (table[slot * 2 + 1] === hash && this.equals(entry, bytes, from, to)) {
        return this.entries[entry * 3];
      }
    }
  }

  private equals(entry: number, bytes: Buffer, from: number, to: number): boolean {
    const length = to - from;
    if (this.entries[entry * 3 + 2] !== length) return false;
    const at = this.entries[entry * 3 + 1];
    const keys = this.keys;
    for (let k = 0; k < length; k++) {
      if (keys[at + k] !== bytes[from + k]) return false;
    }
    return true;
  }

  private append(bytes: Buffer, from: number, to: number, line: number): number {
    const entry = this.count++;
    if (entry * 3 === this.entries.length) {
      const entries = new Int32Array(this.entries.length * 2);
      entries.set(this.entries);
      this.entries = entries;
    }
    const length = to - from;
    if (this.keyBytes + length > this.keys.length) {
      const keys = Buffer.allocUnsafe(Math.max(this.keys.length * 2, this.keyBytes + length));
      this.keys.copy(keys, 0, 0, this.keyBytes);
      this.keys = keys;
    }
    bytes.copy(this.keys, this.keyBytes, from, to);
    this.entries[entry * 3] = line;
    this.entries[entry * 3 + 1] = this.keyBytes;
    this.entries[entry * 3 + 2] = length;
    this.keyBytes += length;
    return entry;
  }

  /** Twice the slots, each entry placed again by the hash its slot kept. */
  private grow(): void {
    const old = this.table;
    const table = new Int32Array(old.length * 2);
    const mask = (table.length >> 1) - 1;
    for (let k = 0; k < old.length; k += 2) {
      if (old[k] === 0) continue;
      let slot = old[k + 1] & mask;
      while (table[slot * 2] !== 0) slot = (slot + 1) & mask;
      table[slot * 2] = old[k];
      table[slot * 2 + 1] = old[k + 1];
    }
    this.table = table;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function digest(marker: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.of(marker), createHash('sha256').update(bytes).digest()]);
}

/** 32-bit FNV-1a (as a signed 32-bit integer, as the table keeps it): ids are short. */
function fnv1a(bytes: Buffer, from: number, to: number): number {
  let hash = 0x811c9dc5 | 0;
  for (let k = from; k < to; k++) hash = Math.imul(hash ^ bytes[k], 0x01000193);
  return hash;
}
