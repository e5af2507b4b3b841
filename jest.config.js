// Unit tests live beside the code (*.spec.ts). @nestjs 12 and a few of its dependencies ship
// ES modules only, so @swc/jest transforms them to CommonJS along with our TypeScript.
/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  // Nest decorators read design-time metadata; the app gets this from main.ts.
  setupFiles: ['reflect-metadata'],
  roots: ['<rootDir>/src'],
  testRegex: '.*\\.spec\\.ts$',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: {
    '^.+\\.(t|m?j)s$': ['@swc/jest', require('./swc.jest.json')],
  },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|uid|file-type|strtok3|token-types|@tokenizer|uint8array-extras|load-esm)/)',
  ],
};
