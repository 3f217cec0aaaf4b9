/**
 * Damaged files in local mode's store, with real files and the Genesys simulator: a truncated token
 * file is a missing token that the next sweep replaces, and a corrupt registry file touches only its
 * org, in the engine, the HTTP API and the metrics.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFilePorts, type FilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { createBrokerEngine } from '../../lambdas/core/broker-engine.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { type BrokerEvent, type LocalBroker, startLocalBroker } from '../../lib/local/broker.js';
import { localPolicySettings } from '../../lib/local/lifetimes.js';
import { type DesiredOrg, syncOrgs } from '../../lib/local/org-sync.js';

const ORG_A = 'd0000000-0000-4000-8000-000000000001';
const ORG_B = 'd0000000-0000-4000-8000-000000000002';
const ORG_TRUNCATED = 'd0000000-0000-4000-8000-000000000003';
const ORG_CORRUPT = 'd0000000-0000-4000-8000-000000000004';
const SECRET = 'damaged-files-client-secret-0123456789';

const root = mkdtempSync(join(tmpdir(), 'local-damaged-'));
let sim: GenesysSimulator;
const brokers: LocalBroker[] = [];
let clientSet = 0;

/** Fresh simulator clients for every org, so each test has its own counters. */
function desiredOrgs(): DesiredOrg[] {
  const n = ++clientSet;
  return [ORG_A, ORG_B, ORG_TRUNCATED, ORG_CORRUPT].map((orgId) => {
    const clientId = `damaged-${n}-${orgId.slice(-1)}`;
    sim.addClient({ clientId, clientSecret: SECRET, orgId });
    return { orgId, region: 'mypurecloud.ie', grantType: 'client_credentials' as const, enabled: true, credentials: { clientId, clientSecret: SECRET } };
  });
}

const registryFile = (ports: FilePorts, orgId: string) => join(ports.dataDir, 'registry', `${orgId}.json`);
const tokenFile = (ports: FilePorts, orgId: string) => join(ports.dataDir, 'tokens', `${orgId}.json`);

/** As local mode builds its engines: the 300 s simulator tokens at a 60 s schedule, written to files. */
const LOCAL_POLICY = localPolicySettings({ scheduleSeconds: 60 });

/** Cuts a file short, as a full disk or a crashed editor leaves it. */
function truncate(path: string, chars = 40): string {
  writeFileSync(path, readFileSync(path, 'utf8').slice(0, chars), { mode: 0o600 });
  return readFileSync(path, 'utf8');
}

/** A store with every org registered and only `withTokens` refreshed once. */
async function prepare(withTokens: string[]): Promise<FilePorts> {
  const ports = createFilePorts(join(root, randomUUID()));
  await syncOrgs(ports.store, desiredOrgs());
  const engine = createBrokerEngine({ ...ports, genesysBaseUrl: sim.resolver }, { runtime: 'local', ...LOCAL_POLICY });
  const summary = await engine.sweep({ deadlineMs: Date.now() + 60_000, trigger: 'local', orgIds: withTokens });
  expect(summary.refreshed).toBe(withTokens.length);
  return ports;
}

beforeAll(async () => {
  sim = await GenesysSimulator.start({ tokenLifetimeSeconds: 300 });
  for (const orgId of [ORG_A, ORG_B, ORG_TRUNCATED, ORG_CORRUPT]) sim.addOrg({ orgId, region: 'mypurecloud.ie' });
});

afterAll(async () => {
  for (const broker of brokers) await broker.stop({ graceMs: 1_000 });
  await sim?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a truncated token file', () => {
  it('reads as missing, and the next engine sweep refreshes the org and writes a valid file that is served', async () => {
    const ports = await prepare([ORG_A, ORG_TRUNCATED]);
    const issued = (await ports.vault.read(ORG_TRUNCATED))!.accessToken;
    const damaged = truncate(tokenFile(ports, ORG_TRUNCATED));

    expect(await ports.vault.read(ORG_TRUNCATED)).toBeUndefined();
    // The registry still says its token is good for minutes: only the store knows it is lost.
    expect((await ports.registry.get(ORG_TRUNCATED))?.state).toMatchObject({ lastOutcome: 'success' });
    expect(readFileSync(tokenFile(ports, ORG_TRUNCATED), 'utf8')).toBe(damaged);

    const logs: string[] = [];
    const engine = createBrokerEngine(
      { ...ports, genesysBaseUrl: sim.resolver, telemetry: { log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })), metric: () => undefined } },
      { runtime: 'local', ...LOCAL_POLICY },
    );
    const summary = await engine.sweep({ deadlineMs: Date.now() + 60_000, trigger: 'local', orgIds: [ORG_A, ORG_TRUNCATED] });
    expect(summary).toMatchObject({ refreshed: 1, skipped: { notDue: 1 } });
    expect(summary.results).toEqual([expect.objectContaining({ orgId: ORG_TRUNCATED, outcome: 'refreshed' })]);
    expect(logs.some((l) => l.includes('stored token unreadable') && l.includes(tokenFile(ports, ORG_TRUNCATED)))).toBe(true);

    const text = readFileSync(tokenFile(ports, ORG_TRUNCATED), 'utf8');
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    const served = await ports.vault.read(ORG_TRUNCATED);
    expect(served).toMatchObject({ orgId: ORG_TRUNCATED, tokenType: 'bearer' });
    expect(served!.accessToken).not.toBe(issued);
    expect(await ports.vault.listUnreadable()).toEqual([]);
  });
});

describe('local broker with a corrupt registry file and a truncated token file', () => {
  let ports: FilePorts;
  let broker: LocalBroker;
  let url: string;
  let corruptText: string;
  const events: BrokerEvent[] = [];
  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  beforeAll(async () => {
    // The truncated org and the corrupt one had tokens; the two healthy ones have none yet.
    ports = await prepare([ORG_TRUNCATED, ORG_CORRUPT]);
    truncate(tokenFile(ports, ORG_TRUNCATED));
    corruptText = truncate(registryFile(ports, ORG_CORRUPT), 60);
    broker = await startLocalBroker({ ports, network: { genesysBaseUrl: sim.resolver }, port: 0, schedule: false, scheduleSeconds: 60, onEvent: (e) => events.push(e) });
    brokers.push(broker);
    url = broker.url!;
  });

  it('refreshes every other org in a sweep, and reports the corrupt one as a warning without failing the sweep', async () => {
    const summary = await broker.sweep();
    expect(summary).toMatchObject({ examined: 4, refreshed: 3, failed: {}, skipped: { unreadable: 1 } });
    expect(summary?.registryError).toBeUndefined();
    expect(summary?.results).toContainEqual({ orgId: ORG_CORRUPT, outcome: 'skipped', reason: 'unreadable', errorCode: 'registry_unavailable' });
    expect(events.find((e) => e.event === 'sweep')).toMatchObject({ level: 'warn', unreadableOrgIds: [ORG_CORRUPT] });
    expect(events.find((e) => e.event === 'engine' && e.orgId === ORG_CORRUPT)).toMatchObject({ level: 'warn', location: registryFile(ports, ORG_CORRUPT) });
    expect((await get('/healthz')).status).toBe(200);
  });

  it('lists every org on /v1/orgs, the corrupt one with its problem, file and remedy', async () => {
    const res = await get('/v1/orgs');
    expect(res.status).toBe(200);
    const { orgs } = JSON.parse(res.text) as { orgs: Record<string, unknown>[] };
    expect(orgs.map((o) => [o.orgId, o.health])).toEqual([[ORG_A, 'healthy'], [ORG_B, 'healthy'], [ORG_TRUNCATED, 'healthy'], [ORG_CORRUPT, 'corrupt']]);
    expect(orgs[3]).toMatchObject({
      lastErrorCode: 'registry_unavailable',
      problem: 'not valid JSON',
      location: registryFile(ports, ORG_CORRUPT),
      remedy: expect.stringContaining('Restore the file from a backup, or delete it and register the org again'),
    });
    expect(orgs[0]).not.toHaveProperty('remedy');
    expect(res.text).not.toContain(SECRET);
  });

  it('answers /metrics with the corrupt gauge', async () => {
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^broker_orgs\{health="corrupt"\} 1$/m);
    expect(res.text).toMatch(/^broker_orgs\{health="healthy"\} 3$/m);
    expect(res.text).toMatch(/^broker_sweeps_total\{result="ok"\} 1$/m);
  });

  it('serves every healthy org, the truncated one from the file the sweep rewrote', async () => {
    for (const orgId of [ORG_A, ORG_B, ORG_TRUNCATED]) {
      const res = await get(`/v1/orgs/${orgId}/token`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toMatchObject({ orgId, tokenType: 'bearer' });
    }
    expect(() => JSON.parse(readFileSync(tokenFile(ports, ORG_TRUNCATED), 'utf8')) as unknown).not.toThrow();
  });

  it('answers the corrupt org with token_unavailable naming the problem and the remedy, and leaves its file alone', async () => {
    const res = await get(`/v1/orgs/${ORG_CORRUPT}/token`);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = JSON.parse(res.text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('token_unavailable');
    expect(body.error.message).toContain(`registry file of org ${ORG_CORRUPT} (${registryFile(ports, ORG_CORRUPT)}) is unreadable: not valid JSON.`);
    expect(body.error.message).toContain('Restore the file from a backup');
    expect(res.text).not.toContain(SECRET);
    expect(readFileSync(registryFile(ports, ORG_CORRUPT), 'utf8')).toBe(corruptText);
  });
});

describe('syncing the config with a corrupt registry file', () => {
  it('leaves the corrupt org exactly as it is and syncs the others', async () => {
    const ports = await prepare([]);
    const corruptText = truncate(registryFile(ports, ORG_CORRUPT), 30);
    const results = await syncOrgs(ports.store, desiredOrgs());
    expect(results.map((r) => [r.orgId, r.action])).toEqual([
      [ORG_A, 'credentials_changed'],
      [ORG_B, 'credentials_changed'],
      [ORG_TRUNCATED, 'credentials_changed'],
      [ORG_CORRUPT, 'unreadable'],
    ]);
    expect(readFileSync(registryFile(ports, ORG_CORRUPT), 'utf8')).toBe(corruptText);
  });
});
