import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { ConfigError } from '../../lib/local/config.js';
import { type DesiredOrg, SYNC_STATE_FILE, syncOrgs } from '../../lib/local/org-sync.js';

const ORG_CC = 'a5000000-0000-4000-8000-000000000001';
const ORG_RT = 'a5000000-0000-4000-8000-000000000002';
const ORG_CLI = 'a5000000-0000-4000-8000-000000000003';
const SECRET = 'client-secret-value-1234567890';
const SEED = 'refresh-seed-value-1234567890';

const root = mkdtempSync(join(tmpdir(), 'org-sync-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newStore = () => new FileStore({ dataDir: join(root, `store-${++n}`) });

const cc = (extra: Partial<DesiredOrg> = {}): DesiredOrg => ({
  orgId: ORG_CC, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, label: 'Acme',
  credentials: { clientId: 'cc-client', clientSecret: SECRET }, path: 'orgs[0]', ...extra,
});
/** `null`: the seed variable is not set. */
const rt = (seed: string | null = SEED, extra: Partial<DesiredOrg> = {}): DesiredOrg => ({
  orgId: ORG_RT, region: 'mypurecloud.de', grantType: 'refresh_token', enabled: true,
  credentials: { clientId: 'rt-client', clientSecret: SECRET, ...(seed ? { refreshToken: seed } : {}) }, path: 'orgs[1]', ...extra,
});

describe('syncOrgs', () => {
  it('creates orgs at credentialsVersion 1 with their credentials, and keeps no secret in its state file', async () => {
    const store = newStore();
    const results = await syncOrgs(store, [cc(), rt()]);
    expect(results).toEqual([
      { orgId: ORG_CC, action: 'created', credentialsVersion: 1 },
      { orgId: ORG_RT, action: 'created', credentialsVersion: 1 },
    ]);
    const org = await store.registry.get(ORG_CC);
    expect(org).toMatchObject({ region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, label: 'Acme', state: { consecutiveFailures: 0 } });
    expect(await store.credentials.read(org!)).toEqual({ clientId: 'cc-client', clientSecret: SECRET });
    expect((await store.credentials.read((await store.registry.get(ORG_RT))!)).refreshToken).toBe(SEED);
    const statePath = join(store.dataDir, SYNC_STATE_FILE);
    const text = readFileSync(statePath, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(SEED);
    expect(statSync(statePath).mode & 0o777).toBe(0o600);
  });

  it('leaves unchanged orgs and their credentialsVersion alone on the next start', async () => {
    const store = newStore();
    await syncOrgs(store, [cc(), rt()]);
    const before = await store.registry.get(ORG_CC);
    const results = await syncOrgs(store, [cc(), rt()]);
    expect(results.map((r) => r.action)).toEqual(['unchanged', 'unchanged']);
    expect((await store.registry.get(ORG_CC))?.version).toBe(before?.version);
  });

  it('bumps credentialsVersion when the secret changes, keeping the rotated refresh token', async () => {
    const store = newStore();
    await syncOrgs(store, [cc(), rt()]);
    const rtOrg = (await store.registry.get(ORG_RT))!;
    await store.credentials.rotateRefreshToken(rtOrg, await store.credentials.readCurrent(rtOrg), 'rotated-refresh-token-1', `rotate-${Date.now()}`);
    const changed = (d: DesiredOrg): DesiredOrg => ({ ...d, credentials: { ...d.credentials, clientSecret: 'new-secret-value-0987654321' } });
    const results = await syncOrgs(store, [changed(cc()), changed(rt())]);
    expect(results.map((r) => [r.action, r.credentialsVersion])).toEqual([['credentials_changed', 2], ['credentials_changed', 2]]);
    expect(await store.credentials.read(rtOrg)).toEqual({ clientId: 'rt-client', clientSecret: 'new-secret-value-0987654321', refreshToken: 'rotated-refresh-token-1' });
  });

  it('keeps a rotated refresh token while the seed stays the same, and takes a new seed with a bump', async () => {
    const store = newStore();
    await syncOrgs(store, [rt()]);
    const org = (await store.registry.get(ORG_RT))!;
    await store.credentials.rotateRefreshToken(org, await store.credentials.readCurrent(org), 'rotated-refresh-token-2', `rotate-${Date.now()}`);

    expect((await syncOrgs(store, [rt()]))[0]?.action).toBe('unchanged');
    expect((await store.credentials.read(org)).refreshToken).toBe('rotated-refresh-token-2');
    // The seed variable may be removed once the broker holds a rotated token.
    expect((await syncOrgs(store, [rt(null)]))[0]?.action).toBe('unchanged');
    expect((await store.credentials.read(org)).refreshToken).toBe('rotated-refresh-token-2');

    const results = await syncOrgs(store, [rt('re-authorized-seed-value-42')]);
    expect(results[0]).toMatchObject({ action: 'credentials_changed', credentialsVersion: 2 });
    expect((await store.credentials.read(org)).refreshToken).toBe('re-authorized-seed-value-42');
  });

  it('never overwrites a stored refresh token with the seed when its state file is lost', async () => {
    const store = newStore();
    await syncOrgs(store, [rt()]);
    const org = (await store.registry.get(ORG_RT))!;
    await store.credentials.rotateRefreshToken(org, await store.credentials.readCurrent(org), 'rotated-refresh-token-3', `rotate-${Date.now()}`);
    unlinkSync(join(store.dataDir, SYNC_STATE_FILE));
    const results = await syncOrgs(store, [rt()]);
    expect(results[0]).toMatchObject({ action: 'unchanged', credentialsVersion: 1 });
    expect((await store.credentials.read(org)).refreshToken).toBe('rotated-refresh-token-3');
  });

  it('refuses a refresh_token org with neither a stored token nor a seed, naming the config path', async () => {
    const store = newStore();
    await expect(syncOrgs(store, [rt(null)], { source: 'broker.config.json' })).rejects.toThrow(ConfigError);
    await expect(syncOrgs(store, [rt(null)], { source: 'broker.config.json' })).rejects.toThrow(/broker\.config\.json: orgs\[1\]\.refreshTokenEnv: no refresh token is stored/);
    expect(await store.registry.get(ORG_RT)).toBeUndefined();
  });

  it('updates label and enabled without a credentials bump, and bumps for a region change', async () => {
    const store = newStore();
    await syncOrgs(store, [cc()]);
    expect((await syncOrgs(store, [cc({ label: 'Acme Corp', enabled: false })]))[0]).toMatchObject({ action: 'updated', credentialsVersion: 1 });
    expect(await store.registry.get(ORG_CC)).toMatchObject({ label: 'Acme Corp', enabled: false });
    expect((await syncOrgs(store, [cc({ label: undefined })]))[0]?.action).toBe('updated');
    expect((await store.registry.get(ORG_CC))?.label).toBeUndefined();
    expect((await syncOrgs(store, [cc({ region: 'mypurecloud.com' })]))[0]).toMatchObject({ action: 'credentials_changed', credentialsVersion: 2 });
  });

  it('keeps token state when it updates an org', async () => {
    const store = newStore();
    await syncOrgs(store, [cc()]);
    const org = (await store.registry.get(ORG_CC))!;
    await store.registry.recordState(ORG_CC, org.version, { consecutiveFailures: 0, issuedAtMs: 1, expiresAtMs: 2, credentialsVersionUsed: 1 });
    await syncOrgs(store, [cc({ label: 'Renamed' })]);
    expect((await store.registry.get(ORG_CC))?.state).toEqual({ consecutiveFailures: 0, issuedAtMs: 1, expiresAtMs: 2, credentialsVersionUsed: 1 });
  });

  it('disables orgs that left the config and leaves orgs it never managed alone', async () => {
    const store = newStore();
    await syncOrgs(store, [cc(), rt()]);
    await store.registry.put({ orgId: ORG_CLI, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } });
    const results = await syncOrgs(store, [cc()]);
    expect(results).toEqual([
      { orgId: ORG_CC, action: 'unchanged', credentialsVersion: 1 },
      { orgId: ORG_RT, action: 'disabled_unmanaged', credentialsVersion: 1 },
    ]);
    expect((await store.registry.get(ORG_RT))?.enabled).toBe(false);
    expect((await store.registry.get(ORG_CLI))?.enabled).toBe(true);
    // Its credentials stay, so bringing it back loses nothing.
    expect((await syncOrgs(store, [cc(), rt()]))[1]).toMatchObject({ orgId: ORG_RT, action: 'updated', credentialsVersion: 1 });
    expect((await store.registry.get(ORG_RT))?.enabled).toBe(true);
  });
});
