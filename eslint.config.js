// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The shape of the house (README "Layout"), enforced on every import. Tests are exempt: they reach
// into every layer on purpose.
const AWS_SDK = { group: ['@aws-sdk/*'], message: 'only lambdas/adapters/aws/ talks to the AWS SDK: add or use an adapter there' };
const LIB = { regex: '^(\\.\\./)+lib/', message: 'lambdas/ never imports lib/ (the operator side)' };
const HANDLERS = { regex: '^(\\.\\./)+lambdas/handlers/', message: 'lib/cli never imports the Lambda handlers: use the composition roots in lambdas/adapters' };
const CORE_ONLY = { regex: '^(?!zod$|zod/|\\./)', message: 'core/ imports only core/ and zod' };
/** Packages only tests use: the client library takes the Genesys SDK's ApiClient by its shape, so consumers never bundle it. */
const DEV_ONLY = {
  group: ['purecloud-platform-client-v2', 'purecloud-platform-client-v2/*', 'genesys-cloud-service-discovery-web', 'genesys-cloud-service-discovery-web/*'],
  message: 'a devDependency for tests only: product code must not load it (the client takes the SDK ApiClient by a structural type, lambdas/client/genesys-sdk.ts)',
};
/** Dynamic import() escapes no-restricted-imports, so these rules cover it separately. */
const DYNAMIC = new Map([
  [AWS_SDK, { selector: 'ImportExpression[source.value=/^@aws-sdk\\//]', message: AWS_SDK.message }],
  [DEV_ONLY, { selector: 'ImportExpression[source.value=/^(purecloud-platform-client-v2|genesys-cloud-service-discovery-web)(\\/|$)/]', message: DEV_ONLY.message }],
]);

const restrict = (...patterns) => {
  const dynamic = patterns.flatMap((p) => (DYNAMIC.has(p) ? [DYNAMIC.get(p)] : []));
  return {
    'no-restricted-imports': ['error', { patterns }],
    'no-restricted-syntax': dynamic.length > 0 ? ['error', ...dynamic] : 'off',
  };
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'cdk.out/', '.broker-data/', 'coverage/', 'reports/', '.stryker-tmp/'] },
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
    rules: restrict(AWS_SDK),
  },
  {
    // core/ is pure: nothing of ours outside core/, no AWS SDK, no environment, no logging.
    files: ['lambdas/core/**/*.ts'],
    rules: {
      ...restrict(CORE_ONLY),
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'core/ takes configuration as arguments' }],
    },
  },
  { files: ['lambdas/**/*.ts'], ignores: ['lambdas/core/**', 'lambdas/adapters/aws/**'], rules: restrict(AWS_SDK, LIB, DEV_ONLY) },
  { files: ['lambdas/adapters/aws/**/*.ts'], rules: restrict(LIB, DEV_ONLY) },
  { files: ['lib/**/*.ts'], ignores: ['lib/cli/**'], rules: restrict(AWS_SDK, DEV_ONLY) },
  { files: ['lib/cli/**/*.ts'], rules: restrict(AWS_SDK, HANDLERS, DEV_ONLY) },
);
