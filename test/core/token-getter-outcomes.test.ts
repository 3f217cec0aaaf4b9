/**
 * The getter's on-demand path, outcome by outcome: a stub engine returns each kind of refreshOne
 * outcome, so every branch of what the getter serves (and what it tells a caller it cannot serve)
 * is pinned down without Genesys.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryOrgRegistry, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import type { RefreshEngine, RefreshOutcome, RefreshRequest } from '../../lambdas/core/engine.js';
import { BrokerError } from '../../lambdas/core/errors.js';
import type { OrgRecord, TokenRecord } from '../../lambdas/core/ports.js';
import { createEngineOnDemandRefresher } from '../../lambdas/core/on-demand.js';
import { createTokenGetter } from '../../lambdas/core/token-getter.js';

const ORG = '1c000000-0000-4000-8000-000000000001';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const MIN = 60_000;
const H = 60 * MIN;

function token(accessToken: string, issuedAtMs: number, lifetimeMs = 24 * H): TokenRecord {
  return {
    schemaVersion: 1,
    orgId: ORG,
    accessToken,
    tokenType: 'bearer',
    issuedAt: new Date(issuedAtMs).toISOString(),
    expiresAt: new Date(issuedAtMs + lifetimeMs).toISOString(),
    refreshAt: new Date(issuedAtMs + lifetimeMs * 0.75).toISOString(),
    region: 'mypurecloud.ie',
    apiBaseUrl: 'https://api.mypurecloud.ie',
    oauthClientId: 'c',
    scopes: [],
  };
}

async function setup(outcome: (org: OrgRecord, request: RefreshRequest) => RefreshOutcome | Promise<RefreshOutcome>, stored?: TokenRecord) {
  const clock = new ManualClock(T0);
  const registry = new InMemoryOrgRegistry([{ orgId: ORG, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 1, lastErrorCode: 'timeout', lastOutcome: 'failure' } }]);
  const vault = new InMemoryTokenVault();
  if (stored) await vault.write(stored, { attemptId: 'seed' });
  const requests: RefreshRequest[] = [];
  let vaultReads = 0;
  const read = vault.read.bind(vault);
  vault.read = async (orgId) => {
    vaultReads++;
    return read(orgId);
  };
  const engine: RefreshEngine = {
    sweep: () => Promise.reject(new Error('not used')),
    refreshOne: async (org, request) => {
      requests.push(request);
      return outcome(org, request);
    },
  };
  const getter = createTokenGetter({ registry, vault, refresher: createEngineOnDemandRefresher({ engine, registry, clock }), clock }, { peerWaitMs: 1_000, peerPollMs: 100 });
  const serve = () => getter.serve({ orgId: ORG }, { deadlineMs: clock.now() + 10_000, requestId: 'req-9' });
  return { clock, registry, vault, getter, serve, requests, vaultReads: () => vaultReads };
}

const none = { auditWriteFailed: false, stateWriteFailed: false };
const failure = (org: OrgRecord, extra: Partial<Extract<RefreshOutcome, { kind: 'failed' }>> = {}): RefreshOutcome => ({
  kind: 'failed',
  orgId: ORG,
  reason: 'never_issued',
  errorCode: 'invalid_client',
  error: new BrokerError('invalid_client', 'refused'),
  critical: false,
  org: { ...org, state: { ...org.state, nextAttemptAtMs: T0 + 2 * MIN, lastErrorCode: 'invalid_client' } },
  effects: none,
  ...extra,
});

describe('TokenGetter on-demand outcomes', () => {
  it('asks for one refresh of the org it read, as the getter, with the caller request id and deadline', async () => {
    const fresh = token('fresh', T0);
    const s = await setup((org) => ({ kind: 'refreshed', orgId: ORG, reason: 'never_issued', token: fresh, org, effects: none }));
    const { response, from } = await s.serve();
    expect(from).toBe('refresh');
    expect(response).toMatchObject({ accessToken: 'fresh' });
    expect(s.requests).toEqual([{ trigger: 'getter', deadlineMs: T0 + 10_000, requestId: 'req-9' }]);
    // The token comes from the outcome: one vault read, before the refresh.
    expect(s.vaultReads()).toBe(1);
  });

  it('serves a token a refresh wrote even when its rotated refresh token could not be persisted', async () => {
    const written = token('written', T0);
    const s = await setup((org) => failure(org, { errorCode: 'refresh_token_persist_failed', critical: true, token: written }));
    expect(await s.serve()).toMatchObject({ from: 'refresh', response: { accessToken: 'written' } });
  });

  it('waits for the worker holding the lease and serves the token it writes', async () => {
    const peer = token('from-peer', T0);
    let polls = 0;
    const s = await setup((org) => ({ kind: 'skipped', orgId: ORG, reason: 'lease_held', org }));
    const read = s.vault.read.bind(s.vault);
    s.vault.read = async (orgId) => {
      if (++polls === 4) await s.vault.write(peer, { attemptId: 'peer' });
      return read(orgId);
    };
    expect(await s.serve()).toMatchObject({ from: 'refresh', response: { accessToken: 'from-peer' } });
    expect(s.clock.now()).toBe(T0 + 200); // two pauses of peerPollMs before the peer's token showed up
  });

  it('gives up waiting for a peer after peerWaitMs and says when to retry', async () => {
    const s = await setup((org) => ({ kind: 'skipped', orgId: ORG, reason: 'lease_held', org: { ...org, state: { ...org.state, nextAttemptAtMs: T0 + 90_000 } } }));
    const { response } = await s.serve();
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (timeout)`, retryAfterSeconds: 89 } });
    expect(s.clock.now()).toBeGreaterThanOrEqual(T0 + 900);
    expect(s.clock.now()).toBeLessThanOrEqual(T0 + 1_000);
  });

  it('reads the store once, without waiting, when the org turned out not to be due', async () => {
    const s = await setup((org) => ({ kind: 'skipped', orgId: ORG, reason: 'not_due', org }));
    await s.serve();
    expect(s.vaultReads()).toBe(2);
    expect(s.clock.now()).toBe(T0);
  });

  it('falls back to a stored token inside its margin, still valid, when the refresh fails', async () => {
    const old = token('old-but-valid', T0 - 24 * H + 2 * MIN); // 2 minutes left: inside the 5-minute margin
    const s = await setup((org) => failure(org), old);
    expect(await s.serve()).toMatchObject({ from: 'store', response: { accessToken: 'old-but-valid' } });
  });

  it('never serves an expired token: says why and when to retry, from the outcome', async () => {
    const expired = token('expired', T0 - 25 * H);
    const s = await setup((org) => failure(org), expired);
    const { response } = await s.serve();
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (invalid_client)`, retryAfterSeconds: 120 } });
    expect(JSON.stringify(response)).not.toContain('expired"');
  });

  it('names the last recorded error when the failure came before an attempt', async () => {
    const s = await setup(() => ({ kind: 'failed', orgId: ORG, reason: 'never_issued', errorCode: 'registry_write_failed', error: new BrokerError('registry_write_failed', 'x'), critical: false, effects: none }));
    const { response } = await s.serve();
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (registry_write_failed)` } });
  });

  it('answers a deferred refresh with what the registry last recorded', async () => {
    const s = await setup((org) => ({ kind: 'deferred', orgId: ORG, reason: 'deadline', org }));
    expect((await s.serve()).response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (timeout)` } });
  });

  it('caches a token until tokenCacheUntil says so, and not a token already past its fresh time', async () => {
    const fresh = token('ten-minutes', T0, 10 * MIN);
    let refreshes = 0;
    const s = await setup(async (org) => {
      refreshes++;
      await s.vault.write(fresh, { attemptId: `a${refreshes}` });
      return { kind: 'refreshed', orgId: ORG, reason: 'never_issued', token: fresh, org, effects: none };
    });
    await s.serve();
    s.clock.advance(5 * MIN - 1);
    expect((await s.serve()).from).toBe('cache');
    s.clock.advance(1);
    expect((await s.serve()).from).toBe('store'); // the 5-minute max age ended; the token (9 min margin mark) is fresh
    s.clock.advance(4 * MIN);
    // 9 minutes in: past the 1-minute margin of a 10-minute token, so the getter refreshes again.
    expect((await s.serve()).from).toBe('refresh');
    expect(refreshes).toBe(2);
  });
});
