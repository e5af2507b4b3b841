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
  /** Table slot → entry + 1 (0: empty); a power of two, at most half full. */
  private slots = new Int32Array(1 << 12);
  private hashes = new Uint32Array(1 << 11);
  private lines = new Int32Array(1 << 11);
  private starts = new Int32Array(1 << 11);
  private lengths = new Int32Array(1 << 11);
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
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot] - 1;
      if (entry < 0) {
        this.slots[slot] = this.append(hash, bytes, from, to, line) + 1;
        if (this.count * 2 > this.slots.length) this.grow();
        return line;
      }
      if (this.hashes[entry] === hash && this.equals(entry, bytes, from, to))
        return this.lines[entry];
    }
  }

  private equals(entry: number, bytes: Buffer, from: number, to: number): boolean {
    const length = to - from;
    if (this.lengths[entry] !== length) return false;
    const at = this.starts[entry];
    const keys = this.keys;
    for (let k = 0; k < length; k++) {
      if (keys[at + k] !== bytes[from + k]) return false;
    }
    return true;
  }

  private append(hash: number, bytes: Buffer, from: number, to: number, line: number): number {
    const entry = this.count++;
    if (entry === this.hashes.length) {
      this.hashes = grown(this.hashes, new Uint32Array(entry * 2));
      this.lines = grown(this.lines, new Int32Array(entry * 2));
      this.starts = grown(this.starts, new Int32Array(entry * 2));
      this.lengths = grown(this.lengths, new Int32Array(entry * 2));
    }
    const length = to - from;
    if (this.keyBytes + length > this.keys.length) {
      const keys = Buffer.allocUnsafe(Math.max(this.keys.length * 2, this.keyBytes + length));
      this.keys.copy(keys, 0, 0, this.keyBytes);
      this.keys = keys;
    }
    bytes.copy(this.keys, this.keyBytes, from, to);
    this.hashes[entry] = hash;
    this.lines[entry] = line;
    this.starts[entry] = this.keyBytes;
    this.lengths[entry] = length;
    this.keyBytes += length;
    return entry;
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = this.hashes[entry] & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = entry + 1;
    }
    this.slots = slots;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function digest(marker: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.of(marker), createHash('sha256').update(bytes).digest()]);
}

/** 32-bit FNV-1a: a few operations per byte, and ids are short. */
function fnv1a(bytes: Buffer, from: number, to: number): number {
  let hash = 0x811c9dc5;
  for (let k = from; k < to; k++) hash = Math.imul(hash ^ bytes[k], 0x01000193);
  return hash >>> 0;
}

function grown<T extends Uint32Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
