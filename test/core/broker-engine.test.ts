/**
 * createBrokerEngine: the one builder every runtime uses. Each setting must reach the engine, the
 * defaults and limits must be the broker's, and the version and User-Agent must be stamped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { type BrokerEngineSettings, createBrokerEngine } from '../../lambdas/core/broker-engine.js';
import type { FetchLike } from '../../lambdas/core/oauth.js';
import { type BrokerPorts, systemClock } from '../../lambdas/core/ports.js';
import { BROKER_VERSION } from '../../lambdas/core/version.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const ORG = '0f000000-0000-4000-8000-000000000001';
const H = 3_600_000;
let sim: GenesysSimulator;
let n = 0;

beforeAll(async () => {
  sim = await GenesysSimulator.start({});
  sim.addOrg({ orgId: ORG, region: 'mypurecloud.ie' });
});
afterAll(async () => sim?.close());

function ports(): BrokerPorts & { lease: InMemoryLease; audit: InMemoryAuditLog; vault: InMemoryTokenVault; registry: InMemoryOrgRegistry } {
  n++;
  const clientId = `builder-client-${n}`;
  sim.addClient({ clientId, clientSecret: 'builder-secret-0123456789', orgId: ORG });
  const lease = new InMemoryLease();
  return {
    registry: new InMemoryOrgRegistry([{ orgId: ORG, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } }]),
    credentials: new InMemoryCredentialStore({ [ORG]: { clientId, clientSecret: 'builder-secret-0123456789' } }),
    vault: new InMemoryTokenVault(),
    audit: new InMemoryAuditLog(),
    lease,
    journal: new InMemoryRefreshTokenJournal(lease),
    clock: systemClock,
  };
}

const deadline = () => Date.now() + 60_000;

describe('createBrokerEngine', () => {
  it('stamps the broker version on audit records and the runtime in the User-Agent, through the given fetch and host map', async () => {
    const p = ports();
    const seen: Array<{ url: string; userAgent: string | undefined }> = [];
    const fetch: FetchLike = (url, init) => {
      seen.push({ url, userAgent: init.headers['User-Agent'] });
      return globalThis.fetch(url, init) as unknown as ReturnType<FetchLike>;
    };
    const engine = createBrokerEngine({ ...p, fetch, genesysBaseUrl: sim.resolver }, { runtime: 'local' });
    const outcome = await engine.refreshOne((await p.registry.get(ORG))!, { deadlineMs: deadline(), trigger: 'local' });
    expect(outcome.kind).toBe('refreshed');
    expect(p.audit.records[0]?.brokerVersion).toBe(BROKER_VERSION);
    expect(seen.map((s) => s.url)).toEqual([`${sim.baseUrl}/login.mypurecloud.ie/oauth/token`, `${sim.baseUrl}/api.mypurecloud.ie/api/v2/tokens/me?preserveIdleTTL=true`]);
    expect(new Set(seen.map((s) => s.userAgent))).toEqual(new Set([`genesys-token-broker/${BROKER_VERSION} (local)`]));
  });

  it('refreshes at the configured fraction of the lifetime', async () => {
    const p = ports();
    const engine = createBrokerEngine({ ...p, genesysBaseUrl: sim.resolver }, { runtime: 'lambda', refreshAtFraction: 0.5 });
    const outcome = await engine.refreshOne((await p.registry.get(ORG))!, { deadlineMs: deadline(), trigger: 'schedule' });
    if (outcome.kind !== 'refreshed') throw new Error(`expected a refresh, got ${outcome.kind}`);
    expect(Date.parse(outcome.token.refreshAt) - Date.parse(outcome.token.issuedAt)).toBe(12 * H);
  });

  it('takes leases as the given owner for the given time', async () => {
    const p = ports();
    const taken: Array<{ owner: string; ttlMs: number }> = [];
    const acquire = p.lease.acquire.bind(p.lease);
    p.lease.acquire = async (orgId, owner, ttlMs, nowMs) => {
      taken.push({ owner, ttlMs });
      return acquire(orgId, owner, ttlMs, nowMs);
    };
    // A lease held by the same owner is the engine's own: it goes ahead. Another owner's stops it.
    await p.lease.acquire(ORG, 'sweep-owner', 60_000, Date.now());
    const other = createBrokerEngine({ ...p, genesysBaseUrl: sim.resolver }, { runtime: 'cli', owner: 'someone-else' });
    expect((await other.refreshOne((await p.registry.get(ORG))!, { deadlineMs: deadline(), trigger: 'cli' })).kind).toBe('skipped');
    const same = createBrokerEngine({ ...p, genesysBaseUrl: sim.resolver }, { runtime: 'cli', owner: 'sweep-owner', leaseTtlMs: 45_000 });
    expect((await same.refreshOne((await p.registry.get(ORG))!, { deadlineMs: deadline(), trigger: 'cli' })).kind).toBe('refreshed');
    expect(taken.slice(1)).toEqual([{ owner: 'someone-else', ttlMs: 60_000 }, { owner: 'sweep-owner', ttlMs: 45_000 }]);
  });

  it('starts no org in a sweep with less than the org time budget left', async () => {
    const p = ports();
    const engine = createBrokerEngine({ ...p, genesysBaseUrl: sim.resolver }, { runtime: 'lambda', orgTimeBudgetMs: 20_000 });
    expect(await engine.sweep({ deadlineMs: Date.now() + 15_000, trigger: 'schedule' })).toMatchObject({ deferred: 1, refreshed: 0 });
    expect(await engine.sweep({ deadlineMs: Date.now() + 25_000, trigger: 'schedule' })).toMatchObject({ deferred: 0, refreshed: 1 });
  });

  it('gives each Genesys request the configured timeout', async () => {
    const p = ports();
    const clientId = (await p.credentials.read({ orgId: ORG } as never)).clientId;
    sim.injectFault(clientId, { kind: 'hang' }, { times: Infinity });
    try {
      const engine = createBrokerEngine({ ...p, genesysBaseUrl: sim.resolver }, { runtime: 'lambda', requestTimeoutMs: 200 });
      const started = Date.now();
      const outcome = await engine.refreshOne((await p.registry.get(ORG))!, { deadlineMs: Date.now() + 8_000, trigger: 'schedule' });
      expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'timeout' });
      // Four tries of 200 ms and their backoff, far less than the 10 s default would take for one.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      sim.clearFaults();
    }
  });

  it.each<[string, Partial<BrokerEngineSettings>, RegExp]>([
    ['a fraction above the range', { refreshAtFraction: 0.95 }, /refreshAtFraction must be a number from 0.5 to 0.9, got 0.95/],
    ['a fraction below the range', { refreshAtFraction: 0.4 }, /refreshAtFraction must be a number from 0.5 to 0.9/],
    ['no concurrency', { sweepConcurrency: 0 }, /sweepConcurrency must be an integer from 1 to 256, got 0/],
    ['too much concurrency', { sweepConcurrency: 257 }, /sweepConcurrency must be an integer from 1 to 256/],
    ['fractional concurrency', { sweepConcurrency: 1.5 }, /sweepConcurrency must be an integer/],
  ])('refuses %s as invalid_config', (_name, settings, message) => {
    expect(() => createBrokerEngine(ports(), { runtime: 'lambda', ...settings })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringMatching(message) }));
  });
});
