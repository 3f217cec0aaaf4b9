/**
 * The engine hands every attempt's per-org events to its publisher, whatever ran the attempt: a sweep,
 * a named refresh, the getter's on-demand request. In-memory ports, the Genesys simulator, a manual clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createRefreshEngine } from '../../lambdas/core/engine.js';
import { createOAuthClient, type FetchLike } from '../../lambdas/core/oauth.js';
import { createEngineOnDemandRefresher } from '../../lambdas/core/on-demand.js';
import { ORG_EVENT_TYPES } from '../../lambdas/core/org-events.js';
import type { ClientCredentials, OrgEvent, OrgEventPublisher, OrgRecord } from '../../lambdas/core/ports.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const H = 3_600_000;
const ORG_OK = '0b000000-0000-4000-8000-0000000000e1';
const ORG_REVOKED = '0b000000-0000-4000-8000-0000000000e2';
const ORG_RT = '0b000000-0000-4000-8000-0000000000e3';
const { refreshed, refreshFailed, atRisk, needsReauthorization } = ORG_EVENT_TYPES;

let sim: GenesysSimulator;
const clock = new ManualClock(Date.parse('2026-07-01T00:00:00Z'));

beforeAll(async () => {
  sim = await GenesysSimulator.start({ now: () => clock.now(), tokenLifetimeSeconds: 86_400 });
  for (const orgId of [ORG_OK, ORG_REVOKED, ORG_RT]) sim.addOrg({ orgId, region: 'mypurecloud.ie' });
});

afterAll(async () => {
  await sim?.close();
});

const org = (orgId: string, grantType: OrgRecord['grantType'] = 'client_credentials'): Omit<OrgRecord, 'version'> => ({
  orgId,
  region: 'mypurecloud.ie',
  label: `label-${orgId.slice(-2)}`,
  grantType,
  enabled: true,
  credentialsVersion: 1,
  state: { consecutiveFailures: 0 },
});

let n = 0;
function client(orgId: string, extra: Record<string, unknown> = {}): ClientCredentials {
  n++;
  const spec = { clientId: `events-client-${n}`, clientSecret: `events-secret-${n}-${'x'.repeat(24)}`, orgId, ...extra };
  sim.addClient(spec);
  return { clientId: spec.clientId, clientSecret: spec.clientSecret };
}

function setUp(orgs: Omit<OrgRecord, 'version'>[], creds: Record<string, ClientCredentials>) {
  const published: OrgEvent[] = [];
  const events: OrgEventPublisher = { publish: (batch) => void published.push(...batch), flush: async () => ({ published: 0, failed: 0 }) };
  const registry = new InMemoryOrgRegistry(orgs);
  const lease = new InMemoryLease();
  const oauth = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock, baseUrl: sim.resolver, random: () => 0.5, requestTimeoutMs: 2_000 });
  const engine = createRefreshEngine({
    registry,
    credentials: new InMemoryCredentialStore(creds),
    vault: new InMemoryTokenVault(),
    audit: new InMemoryAuditLog(),
    lease,
    journal: new InMemoryRefreshTokenJournal(lease),
    oauth,
    clock,
    events,
  });
  return { engine, registry, published };
}

const summary = (events: OrgEvent[]) => events.map((e) => [e.orgId, e.detailType, e.detail.trigger]);

describe('the engine and per-org events', () => {
  it('publishes each attempt of a sweep, nothing for orgs that were not due, and at risk once', async () => {
    const revoked = client(ORG_REVOKED);
    const e = setUp([org(ORG_OK), org(ORG_REVOKED)], { [ORG_OK]: client(ORG_OK), [ORG_REVOKED]: revoked });
    sim.revokeClient(revoked.clientId);
    await e.engine.sweep({ deadlineMs: clock.now() + 60_000, trigger: 'schedule' });
    expect(summary(e.published).sort()).toEqual(
      [
        [ORG_OK, refreshed, 'schedule'],
        [ORG_REVOKED, refreshFailed, 'schedule'],
        [ORG_REVOKED, atRisk, 'schedule'],
      ].sort(),
    );
    expect(e.published.find((ev) => ev.orgId === ORG_OK)!.detail).toMatchObject({ label: 'label-e1', region: 'mypurecloud.ie', reason: 'never_issued' });
    e.published.length = 0;
    clock.advance(H);
    await e.engine.sweep({ deadlineMs: clock.now() + 60_000, trigger: 'schedule' });
    // The good org is not due; the revoked one is retried, fails again, and is still (not newly) at risk.
    expect(summary(e.published)).toEqual([[ORG_REVOKED, refreshFailed, 'schedule']]);
    expect(e.published[0]!.detail).toMatchObject({ reason: 'retry_due', errorCode: 'invalid_client' });
  });

  it('publishes the getter on-demand refresh with its trigger', async () => {
    const e = setUp([org(ORG_OK)], { [ORG_OK]: client(ORG_OK) });
    const onDemand = createEngineOnDemandRefresher({ engine: e.engine, registry: e.registry, clock });
    expect(await onDemand.refresh({ orgId: ORG_OK, reason: 'missing' }, { deadlineMs: clock.now() + 30_000 })).toMatchObject({ outcome: 'refreshed' });
    expect(summary(e.published)).toEqual([[ORG_OK, refreshed, 'getter']]);
  });

  it('asks for re-authorization of an org whose refresh token Genesys refuses', async () => {
    const creds = client(ORG_RT, { grantTypes: ['refresh_token'], refreshToken: 'rt-current-0123456789abcdef' });
    const e = setUp([org(ORG_RT, 'refresh_token')], { [ORG_RT]: { ...creds, refreshToken: 'rt-someone-elses-0123456789' } });
    await e.engine.sweep({ deadlineMs: clock.now() + 60_000, trigger: 'manual', orgIds: [ORG_RT], force: true });
    expect(summary(e.published)).toEqual([
      [ORG_RT, refreshFailed, 'manual'],
      [ORG_RT, atRisk, 'manual'],
      [ORG_RT, needsReauthorization, 'manual'],
    ]);
    expect(e.published[2]!.detail).toMatchObject({ errorCode: 'invalid_grant', severity: 'critical', reason: 'forced' });
  });
});
