import type * as SwaggerPackage from '@nestjs/swagger';

/*
 * The OpenAPI decorators of @nestjs/swagger, applied when the API document is first asked for
 * (api-docs.ts) instead of when the classes load.
 *
 * Why: @nestjs/swagger is an ES module graph of ~1,300 modules (its `es-toolkit/compat` import
 * alone is 1,142) that only /docs and /docs-json need. Loaded at start it cost every gateway
 * ~5.5 MB at rest, ~9 MB of start-up peak and ~10 MB of the peak during a 1 GiB upload to three
 * deployments (BENCHMARKS.md, 2026-12-02 evening), and a few hundred ms of start-up.
 *
 * How: each decorator here records its arguments and its target (class, prototype and key,
 * descriptor) and does nothing else; `applyDocDecorators` replays the records, in the order the
 * decorators ran, through the real ones, which only write reflect-metadata (a property's design
 * type is on its prototype whenever it is read). A class that loads after that is decorated at
 * once. Controllers and DTOs import decorators from here; ESLint keeps @nestjs/swagger out of
 * the rest of src/.
 */

export type Swagger = typeof SwaggerPackage;

/** A decorator's call as TypeScript emits it: class, (prototype, key) or (prototype, key, descriptor). */
type Decorate = (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => unknown;

const waiting: Array<(swagger: Swagger) => void> = [];
let loaded: Swagger | null = null;

/**
 * A decorator that is `make(swagger)` once @nestjs/swagger is loaded; typed as what `make`
 * returns. Returning nothing at decoration time keeps the class and the descriptor as they are.
 */
export function docDecorator<D>(make: (swagger: Swagger) => D): D {
  const record: Decorate = (target, key, descriptor) => {
    const apply = (swagger: Swagger): void => {
      (make(swagger) as unknown as Decorate)(target, key, descriptor);
    };
    if (loaded !== null) apply(loaded);
    else waiting.push(apply);
  };
  return record as unknown as D;
}

/** Applies every decorator recorded so far with the loaded package, and later ones at once. */
export function applyDocDecorators(swagger: Swagger): void {
  loaded = swagger;
  for (const apply of waiting.splice(0)) apply(swagger);
}

type Args<K extends keyof Swagger> = Swagger[K] extends (...args: infer A) => unknown ? A : never;
type Made<K extends keyof Swagger> = Swagger[K] extends (...args: never[]) => infer D ? D : never;

/** `@nestjs/swagger`'s decorator factory `name`, deferred. */
function deferred<K extends keyof Swagger>(name: K): (...args: Args<K>) => Made<K> {
  return (...args) =>
    docDecorator((swagger) => (swagger[name] as (...a: Args<K>) => Made<K>)(...args));
}

export const ApiBearerAuth = deferred('ApiBearerAuth');
export const ApiBody = deferred('ApiBody');
export const ApiConsumes = deferred('ApiConsumes');
export const ApiExcludeController = deferred('ApiExcludeController');
export const ApiOkResponse = deferred('ApiOkResponse');
export const ApiOperation = deferred('ApiOperation');
export const ApiParam = deferred('ApiParam');
export const ApiProduces = deferred('ApiProduces');
export const ApiProperty = deferred('ApiProperty');
export const ApiPropertyOptional = deferred('ApiPropertyOptional');
export const ApiServiceUnavailableResponse = deferred('ApiServiceUnavailableResponse');
export const ApiTags = deferred('ApiTags');
