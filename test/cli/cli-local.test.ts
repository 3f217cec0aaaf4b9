import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { type CliRun, cleanEnv, runCli, runInProcess } from './run-cli.js';

const ORG = 'a1b2c3d4-0000-4000-8000-000000000001';
const CLIENT = 'local-client';
const SECRET = 'local-secret-value-Zq9';

describe('genesys-token-broker --local', () => {
  let sim: GenesysSimulator;
  let dataDir: string;
  const env = cleanEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const runs: CliRun[] = [];
  const cli = async (args: string[], stdin?: string) => {
    const run = await runCli([...args, '--local', '--data-dir', dataDir, '--genesys-base-url', sim.baseUrl], { env, ...(stdin !== undefined ? { stdin } : {}) });
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    sim = await GenesysSimulator.start();
    sim.addOrg({ orgId: ORG, region: 'eu-central-1', name: 'Local Org' });
    sim.addClient({ clientId: CLIENT, clientSecret: SECRET, orgId: ORG });
    dataDir = mkdtempSync(join(tmpdir(), 'broker-cli-local-'));
  });

  afterAll(async () => {
    await sim.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('onboards, reports, refreshes, prints the token and removes an org in the file store', async () => {
    const add = await cli(['orgs', 'add', '--org-id', ORG, '--region', 'eu-central-1', '--client-id', CLIENT, '--client-secret-stdin', '--label', 'Local'], `${SECRET}\n`);
    expect(add.stderr).not.toMatch(/error/);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain(`Verified client ${CLIENT} for org ${ORG} (Local Org) in eu-central-1 (mypurecloud.de)`);
    expect(add.stdout).toMatch(/First refresh \(in-process engine\): refreshed; token expires in 23h 59m/);

    const store = new FileStore({ dataDir });
    const org = await store.registry.get(ORG);
    expect(org).toMatchObject({ region: 'mypurecloud.de', label: 'Local', enabled: true, credentialsVersion: 1, state: { lastOutcome: 'success' } });
    expect(await store.credentials.read(org!)).toEqual({ clientId: CLIENT, clientSecret: SECRET });
    const token = await store.vault.read(ORG);
    expect(sim.issuedAccessTokens(CLIENT)).toContain(token?.accessToken);

    const [status, printed] = await Promise.all([cli(['status']), cli(['token', '--org', ORG])]);
    const refresh = await cli(['refresh', '--force']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`${ORG}\\s+Local\\s+eu-central-1\\s+healthy\\s+\\d+s\\s+23h 59m\\s+in 17h 59m\\s+-`));
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(`${token!.accessToken}\n`);
    expect(refresh.code).toBe(0);
    expect(refresh.stdout).toMatch(/refreshed 1/);
    expect(refresh.stderr).toContain(`refreshed ${ORG} (forced)`);

    const removed = await cli(['orgs', 'remove', ORG, '--yes']);
    expect(removed.code).toBe(0);
    expect(await store.registry.get(ORG)).toBeUndefined();
    expect(await store.vault.read(ORG)).toBeUndefined();
    const audit = await runInProcess(['audit', '--org', ORG, '--json', '--local', '--data-dir', dataDir]);
    expect(JSON.parse(audit.stdout)).toHaveLength(2);

    const leaked = [SECRET, ...sim.issuedAccessTokens()];
    for (const run of runs) {
      const stdout = run === printed ? '' : run.stdout;
      for (const secret of leaked) expect(`${stdout}${run.stderr}`).not.toContain(secret);
    }
  });
});
