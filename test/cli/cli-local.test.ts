import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
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

/** Every entry under `dir` with its mode, modification time and content: what "nothing changed" means. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      const stat = statSync(path);
      const head = `${(stat.mode & 0o777).toString(8)} ${stat.mtimeMs}`;
      if (entry.isDirectory()) {
        out[`${path}/`] = head;
        walk(path);
      } else out[path] = `${head} ${readFileSync(path, 'base64')}`;
    }
  };
  walk(dir);
  return out;
}

describe('genesys-token-broker --local with damaged files', () => {
  const HEALTHY = 'a1b2c3d4-0000-4000-8000-000000000011';
  const TRUNCATED = 'a1b2c3d4-0000-4000-8000-000000000012';
  const CORRUPT = 'a1b2c3d4-0000-4000-8000-000000000013';
  const env = cleanEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  let dataDir: string;
  let before: Record<string, string>;
  const corruptPath = () => join(dataDir, 'registry', `${CORRUPT}.json`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'broker-cli-damaged-'));
    const store = new FileStore({ dataDir });
    const nowMs = Date.now();
    const state = { consecutiveFailures: 0, lastOutcome: 'success' as const, issuedAtMs: nowMs - 60_000, expiresAtMs: nowMs + 86_340_000, refreshAtMs: nowMs + 64_740_000, credentialsVersionUsed: 1 };
    for (const [orgId, label] of [[HEALTHY, 'Healthy'], [TRUNCATED, 'Truncated'], [CORRUPT, 'Corrupt']] as const) {
      await store.registry.put({ orgId, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, label, credentialsVersion: 1, state });
      await store.credentials.save({ orgId }, { clientId: `client-${label}`, clientSecret: SECRET });
      await store.vault.write({
        schemaVersion: 1, orgId, accessToken: `token-of-${label}`, tokenType: 'bearer', issuedAt: new Date(state.issuedAtMs).toISOString(), expiresAt: new Date(state.expiresAtMs).toISOString(),
        refreshAt: new Date(state.refreshAtMs).toISOString(), region: 'mypurecloud.ie', apiBaseUrl: 'https://api.mypurecloud.ie', oauthClientId: `client-${label}`, scopes: [],
      }, { attemptId: `attempt-${label}` });
    }
    // A truncated registry file, and a truncated token file, as a full disk or an editor leaves them.
    writeFileSync(corruptPath(), readFileSync(corruptPath(), 'utf8').slice(0, 50), { mode: 0o600 });
    const tokenPath = join(dataDir, 'tokens', `${TRUNCATED}.json`);
    writeFileSync(tokenPath, readFileSync(tokenPath, 'utf8').slice(0, 50), { mode: 0o600 });
    before = snapshot(dataDir);
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the corrupt org with its file and remedy, exits 0, and 1 with --fail-on-unhealthy, changing nothing', async () => {
    const status = await runCli(['status', '--local', '--data-dir', dataDir], { env });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`${HEALTHY}\\s+Healthy\\s+eu-west-1\\s+healthy`));
    expect(status.stdout).toMatch(new RegExp(`${TRUNCATED}\\s+Truncated\\s+eu-west-1\\s+healthy`));
    expect(status.stdout).toMatch(new RegExp(`${CORRUPT}\\s+-\\s+-\\s+corrupt\\s+-\\s+-\\s+-\\s+registry_unavailable \\(see below\\)`));
    expect(status.stdout).toContain('3 orgs: 2 healthy, 1 corrupt');
    expect(status.stdout).toContain(`corrupt ${CORRUPT} (${corruptPath()}): not valid JSON\n  Restore the file from a backup`);
    expect(status.stdout).toContain(`Restore the file from a backup, or delete it and register the org again (genesys-token-broker orgs add --local --data-dir ${dataDir} --org-id ${CORRUPT}`);

    const failing = await runInProcess(['status', '--fail-on-unhealthy', '--local', '--data-dir', dataDir]);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toBe(`error: 1 org is unhealthy: ${CORRUPT} (corrupt)\n`);

    const json = await runInProcess(['status', '--json', '--local', '--data-dir', dataDir]);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => [r.orgId, r.health])).toEqual([[HEALTHY, 'healthy'], [TRUNCATED, 'healthy'], [CORRUPT, 'corrupt']]);
    expect(rows[2]).toEqual({ orgId: CORRUPT, health: 'corrupt', lastErrorCode: 'registry_unavailable', problem: 'not valid JSON', location: corruptPath(), remedy: expect.stringContaining('Restore the file') });

    const list = await runInProcess(['orgs', 'list', '--local', '--data-dir', dataDir]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${CORRUPT}\\s+-\\s+-\\s+-\\s+-\\s+-\\s+corrupt`));
    expect(list.stdout).toContain(`corrupt ${CORRUPT} (${corruptPath()}): not valid JSON`);
    const listJson = await runInProcess(['orgs', 'list', '--json', '--local', '--data-dir', dataDir]);
    expect((JSON.parse(listJson.stdout) as OrgRecord[]).map((o) => o.orgId)).toEqual([HEALTHY, TRUNCATED]);
    expect(listJson.stderr).toContain(`warning: org ${CORRUPT} is corrupt (${corruptPath()}): not valid JSON. Restore the file`);

    for (const run of [status, failing, json, list, listJson]) expect(`${run.stdout}${run.stderr}`).not.toContain(SECRET);
    expect(snapshot(dataDir)).toEqual(before);
  });
});
