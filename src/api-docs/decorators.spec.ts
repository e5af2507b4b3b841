import 'reflect-metadata';
import * as swagger from '@nestjs/swagger';
import { packagesLoaded } from '../common/testing/packages-loaded';
import {
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
  applyDocDecorators,
} from './decorators';

/**
 * Every reflect-metadata entry swagger's decorators left on a class, its prototype, a method and
 * the properties named.
 */
function docMetadata(
  cls: { prototype: object },
  method: string,
  properties: string[],
): Record<string, unknown> {
  const read = (target: object, property?: string): Record<string, unknown> =>
    Object.fromEntries(
      (property === undefined
        ? Reflect.getMetadataKeys(target)
        : Reflect.getMetadataKeys(target, property)
      )
        .filter((key): key is string => typeof key === 'string' && key.startsWith('swagger/'))
        .map((key) => [
          key,
          (property === undefined
            ? Reflect.getMetadata(key, target)
            : Reflect.getMetadata(key, target, property)) as unknown,
        ]),
    );
  const fn = (cls.prototype as Record<string, object>)[method];
  return {
    class: read(cls),
    prototype: read(cls.prototype),
    method: read(fn),
    ...Object.fromEntries(properties.map((p) => [p, read(cls.prototype, p)])),
  };
}

describe('OpenAPI decorators (applied on the first docs request)', () => {
  it('should leave no OpenAPI metadata until applied, then exactly what @nestjs/swagger would', () => {
    @ApiTags('things')
    class Deferred {
      @ApiProperty({ example: 'a' })
      name!: string;

      @ApiPropertyOptional({ type: Number, nullable: true })
      size?: number | null;

      @ApiOperation({ summary: 'Make a thing', operationId: 'makeThing' })
      make(): void {}
    }

    @swagger.ApiTags('things')
    class Direct {
      @swagger.ApiProperty({ example: 'a' })
      name!: string;

      @swagger.ApiPropertyOptional({ type: Number, nullable: true })
      size?: number | null;

      @swagger.ApiOperation({ summary: 'Make a thing', operationId: 'makeThing' })
      make(): void {}
    }

    expect(docMetadata(Deferred, 'make', ['name', 'size'])).toEqual({
      class: {},
      prototype: {},
      method: {},
      name: {},
      size: {},
    });

    applyDocDecorators(swagger);

    const applied = docMetadata(Deferred, 'make', ['name', 'size']);
    expect(applied).toEqual(docMetadata(Direct, 'make', ['name', 'size']));
    expect(applied.name).toEqual({
      'swagger/apiModelProperties': { example: 'a', type: String },
    });
    expect(applied.prototype).toEqual({ 'swagger/apiModelPropertiesArray': [':name', ':size'] });
    expect(applied.class).toHaveProperty(['swagger/apiUseTags'], ['things']);

    // A class that loads once the docs were built is decorated at once.
    class Later {
      @ApiProperty()
      label!: string;
    }
    expect(Reflect.getMetadata('swagger/apiModelPropertiesArray', Later.prototype)).toEqual([
      ':label',
    ]);
  });

  it('should not load @nestjs/swagger when the application, its controllers and its DTOs load', () => {
    const loaded = packagesLoaded(`require('./src/create-app');`);

    expect(loaded).toEqual(expect.arrayContaining(['@nestjs/core', '@nestjs/platform-express']));
    expect(loaded).not.toContain('@nestjs/swagger');
  }, 60_000);
});
