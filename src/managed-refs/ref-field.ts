import type { IdKind } from '../id-codec/id-codec';

/**
 * Where a route carries a unified id. `path` is a parameter or query name, or for the body a
 * path through objects and arrays: `messages[*].content[*].file.file_id` visits every content
 * part of every message; parts without that field are skipped.
 */
export interface RefField {
  readonly in: 'params' | 'query' | 'body';
  readonly path: string;
  readonly kind: IdKind;
  /** A bad id that names the object of a call is "not found"; a bad cursor is a bad request. */
  readonly onInvalid?: 'not_found' | 'invalid_request';
  /** false: decode and verify only (a list cursor). Default: load, and apply the ownership rule. */
  readonly load?: boolean;
}

type Segment = { readonly key: string; readonly each: boolean };

/** One place in the request where a declared field holds a value. */
export interface RefLocation {
  readonly holder: Record<string, unknown>;
  readonly key: string;
  /** The concrete path (`messages[0].content[2].file.file_id`), for error messages. */
  readonly where: string;
}

const compiled = new Map<string, readonly Segment[]>();

function segments(path: string): readonly Segment[] {
  let parsed = compiled.get(path);
  if (!parsed) {
    parsed = path.split('.').map((part) => ({
      key: part.endsWith('[*]') ? part.slice(0, -3) : part,
      each: part.endsWith('[*]'),
    }));
    compiled.set(path, parsed);
  }
  return parsed;
}

/**
 * Every place under `root` where `path` holds a string. Walks only along the path (never the
 * whole body, which may carry megabytes of base64), and leaves what it does not reach alone.
 */
export function locate(root: unknown, path: string, prefix = ''): RefLocation[] {
  const found: RefLocation[] = [];
  const walk = (node: unknown, i: number, where: string): void => {
    if (!isObject(node)) return;
    const { key, each } = segments(path)[i];
    const here = where === '' ? key : `${where}.${key}`;
    const value = node[key];
    if (i === segments(path).length - 1 && !each) {
      if (value !== undefined && value !== null) found.push({ holder: node, key, where: here });
      return;
    }
    if (each) {
      if (!Array.isArray(value)) return;
      value.forEach((item: unknown, n) => {
        if (i === segments(path).length - 1) {
          if (typeof item === 'string') {
            found.push({
              holder: value as unknown as Record<string, unknown>,
              key: String(n),
              where: `${here}[${n}]`,
            });
          }
        } else {
          walk(item, i + 1, `${here}[${n}]`);
        }
      });
      return;
    }
    walk(value, i + 1, here);
  };
  walk(root, 0, prefix);
  return found;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
