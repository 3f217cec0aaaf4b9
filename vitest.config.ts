import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every file: no Genesys simulator may see a spent refresh token presented again.
    // And the AWS SDK's NodeVersionSupportWarning shows at most once per worker process.
    setupFiles: ['test/support/no-refresh-token-reuse.ts', 'test/support/node-warnings.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
