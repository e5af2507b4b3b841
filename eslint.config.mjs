// Strict type-checked lint. `any` is banned: narrow `unknown` instead. process.env is read only
// in config/ (and the entry points main.ts and database/migrate.ts, which hand it to the config
// loader).
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs', '.data/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.check.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/unbound-method': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through AppConfig (src/config), not process.env.',
        },
      ],
    },
  },
  {
    files: [
      'src/config/**',
      'src/main.ts',
      'src/database/migrate.ts',
      'ormconfig.ts',
      'test/**',
      '**/*.spec.ts',
      'src/common/testing/**',
      'bench/**',
      'src/simulator/main.ts',
      'src/simulator/cli-options.ts',
    ],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // The gateway's modules never depend on the simulator; only the demo launcher does. None
    // loads @nestjs/swagger (src/api-docs/decorators.ts says why).
    files: ['src/**/*.ts'],
    ignores: ['src/simulator/**', 'src/demo-upstreams.ts', 'src/**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/simulator/*'], message: 'Only demo-upstreams.ts may start simulators.' },
            {
              // Types are free; the package itself loads on the first /docs request.
              group: ['@nestjs/swagger'],
              allowTypeImports: true,
              message: 'Import OpenAPI decorators from src/api-docs/decorators.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', 'test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  prettier,
);
