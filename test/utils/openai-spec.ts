// OpenAI's OpenAPI document (the subset in test/fixtures/, openai/openai-openapi at the commit
// named in its `info.x-source`) loaded into ajv, so any suite can check a live answer against the
// schema OpenAI declares for it, the way a black-box conformance checker would.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020';

export type JsonObject = Record<string, unknown>;

export const SPEC_FILE = join(__dirname, '..', 'fixtures', 'openai-openapi-subset.json');
/** The base URI the spec is registered under in ajv; its local `#/...` refs resolve against it. */
export const SPEC_ID = 'https://openai.test/openai-openapi-subset.json';
export const SPEC: unknown = toJsonSchema2020(JSON.parse(readFileSync(SPEC_FILE, 'utf8')));

/**
 * OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` (beside `minimum`/`maximum`),
 * which some of OpenAI's fine-tuning schemas still use, in JSON Schema 2020-12's numeric form;
 * ajv refuses to compile the boolean one.
 */
function toJsonSchema2020(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema2020);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = toJsonSchema2020(value);
  for (const [exclusive, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (typeof out[exclusive] !== 'boolean') continue;
    if (out[exclusive] === true && typeof out[bound] === 'number') {
      out[exclusive] = out[bound];
      delete out[bound];
    } else {
      delete out[exclusive];
    }
  }
  return out;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asObject(value: unknown, what: string): JsonObject {
  if (!isObject(value))
    throw new Error(`${what}: expected an object, got ${JSON.stringify(value)}`);
  return value;
}

/** An RFC 6901 JSON pointer, as a URI fragment (`#/paths/~1files/post`). */
export function pointer(...tokens: string[]): string {
  return `#${tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')}`;
}

/** The node a local pointer (`#/a/b`) names, or undefined. */
export function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) throw new Error(`not a local reference: ${ref}`);
  const path = ref.slice(1);
  if (path === '') return document;
  let node = document;
  for (const raw of path.slice(1).split('/')) {
    const token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(token)) {
      node = node[Number(token)] as unknown;
    } else if (isObject(node) && Object.hasOwn(node, token)) {
      node = node[token];
    } else {
      return undefined;
    }
  }
  return node;
}

/** Follows `$ref`s (local to `document`) until a schema without one. */
export function deref(document: unknown, schema: unknown): JsonObject {
  let node = asObject(schema, 'schema');
  for (let hops = 0; typeof node.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`$ref cycle at ${node.$ref}`);
    node = asObject(resolvePointer(document, node.$ref), `$ref ${node.$ref}`);
  }
  return node;
}

/** Every `$ref` in a document, with where it sits. */
export function refsIn(node: unknown, at = '#'): Array<{ at: string; ref: string }> {
  if (Array.isArray(node)) return node.flatMap((v, i) => refsIn(v, `${at}/${i}`));
  if (!isObject(node)) return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string'
      ? [{ at, ref: value }]
      : refsIn(value, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`),
  );
}

export function specSchema(name: string): JsonObject {
  return asObject(resolvePointer(SPEC, pointer('components', 'schemas', name)), name);
}

/** The enum of one property of a component schema in OpenAI's spec. */
export function specEnum(schema: string, property: string): string[] {
  const prop = asObject(asObject(specSchema(schema).properties, schema)[property], property);
  return (prop.enum as unknown[]).map(String);
}

/** Where OpenAI's spec declares the 200 JSON body of an operation. */
export function okSchemaPointer(path: string, method: string): string {
  return pointer(
    'paths',
    path,
    method,
    'responses',
    '200',
    'content',
    'application/json',
    'schema',
  );
}

/** ajv over OpenAI's document: strict:false so OpenAPI-only keywords (example, x-…) pass. */
export function buildAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // OpenAI's own format for Unix timestamps; `type: integer` beside it does the real work.
  ajv.addFormat('unixtime', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= 0,
  });
  ajv.addSchema(SPEC as object, SPEC_ID);
  return ajv;
}

export const ajv = buildAjv();

/**
 * A validator for the schema at `ref` in OpenAI's document. `type: object` is added because
 * `OpenAIFile` does not say it (a bare string would otherwise pass); it only makes the check
 * stricter.
 */
export function validatorFor(ref: string): ValidateFunction {
  return ajv.compile({ type: 'object', $ref: `${SPEC_ID}${ref}` });
}

/** Schema violations as readable lines: `<path> <message> <params> (actual: <value>)`. */
export function violations(validator: ValidateFunction, body: unknown): string[] {
  if (validator(body)) return [];
  return (validator.errors ?? []).map((e) => {
    const actual = resolvePointer(body, `#${e.instancePath}`);
    return `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)} (actual: ${JSON.stringify(actual) ?? 'undefined'})`;
  });
}

export type Check = readonly [route: string, validator: ValidateFunction, body: unknown];

/** Fails with each route and every violation of every body that does not match its schema. */
export function expectAllValid(checks: readonly Check[]): void {
  expect(
    checks.map(([route, validator, body]) => ({ route, violations: violations(validator, body) })),
  ).toEqual(checks.map(([route]) => ({ route, violations: [] })));
}

export function expectValid(route: string, validator: ValidateFunction, body: unknown): void {
  expectAllValid([[route, validator, body]]);
}
