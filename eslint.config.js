// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.broker-data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['bin/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // core/ is pure: no AWS SDK, no environment, no logging. The import rule enforces the first part.
    files: ['lambdas/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['@aws-sdk/*', '@aws-lambda-powertools/*', '../adapters/*', '../handlers/*', '../../lib/*'] }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'core/ takes configuration as arguments' }],
    },
  },
  {
    // lambdas/ never imports lib/ (the operator side).
    files: ['lambdas/**/*.ts'],
    ignores: ['lambdas/core/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/lib/**', '../../lib/*'] }],
    },
  },
);
