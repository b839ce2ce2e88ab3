import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'data/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(fs|path|http|https|url|os|crypto|stream|util|events|worker_threads|child_process)(/.*)?$',
              message: 'use node: imports',
            },
          ],
        },
      ],
    },
  },
  {
    // CommonJS scripts that Node starts as they are (the wasm thread worker of the bundled model).
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', __filename: 'readonly', URL: 'writable' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
