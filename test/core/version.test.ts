import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BROKER_VERSION } from '../../lambdas/core/version.js';

describe('BROKER_VERSION', () => {
  it('matches the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(BROKER_VERSION).toBe(pkg.version);
  });
});
