import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against mutants of lambdas/core and lambdas/client (`npm run mutation`): the
 * unit and over-the-wire tests of those two folders and the handlers that wire them. The infra,
 * CLI and local-mode suites exercise the same code through child processes Stryker cannot attribute.
 */
export default defineConfig({
  test: {
    include: ['test/core/**/*.test.ts', 'test/client/**/*.test.ts', 'test/handlers/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
