import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { userAgentFor } from '../../lambdas/core/broker-engine.js';
import { BROKER_VERSION } from '../../lambdas/core/version.js';
import { cleanEnv, runCli } from '../cli/run-cli.js';

describe('BROKER_VERSION', () => {
  it('matches the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(BROKER_VERSION).toBe(pkg.version);
  });

  it('is what the CLI prints for --version', async () => {
    const run = await runCli(['--version'], { env: cleanEnv({}) });
    expect(run).toMatchObject({ code: 0, stdout: `${BROKER_VERSION}\n` });
  });

  it('is in the User-Agent every runtime sends to Genesys', () => {
    expect(userAgentFor('lambda')).toBe(`genesys-token-broker/${BROKER_VERSION}`);
    expect(userAgentFor('local')).toBe(`genesys-token-broker/${BROKER_VERSION} (local)`);
    expect(userAgentFor('cli')).toBe(`genesys-token-broker/${BROKER_VERSION} (cli)`);
  });
});
