/**
 * Reports about an org's current token (token-rejection.ts), through the engine's one path for one
 * org (`refreshOne` with a `report`), against the Genesys simulator: a rejected token is checked with
 * GET tokens/me at most once per org per minute and replaced only when Genesys does not vouch for it;
 * a missing one is replaced only when the vault really has none. The rejected token is known to the
 * engine by its fingerprint alone, and appears in no log line, audit record or outcome.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createRefreshEngine, type RefreshRequest } from '../../lambdas/core/engine.js';
import { StoreError } from '../../lambdas/core/errors.js';
import { fingerprint } from '../../lambdas/core/fingerprint.js';
import { createOAuthClient, type FetchLike, type GenesysOAuthClient } from '../../lambdas/core/oauth.js';
import type { Telemetry } from '../../lambdas/core/ports.js';
import { REJECTION_CHECK_INTERVAL_MS } from '../../lambdas/core/token-rejection.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const ORG = '3e000000-0000-4000-8000-000000000001';
const H = 3_600_000;

let sim: GenesysSimulator;
const clock = new ManualClock(Date.parse('2026-08-01T00:00:00Z'));

beforeAll(async () => {
  sim = await GenesysSimulator.start({ now: () => clock.now(), tokenLifetimeSeconds: 86_400 });
  sim.addOrg({ orgId: ORG, region: 'mypurecloud.ie' });
});
afterAll(async () => sim?.close());
beforeEach(() => sim.clearFaults());

let n = 0;

/** An org with a token issued an hour ago (not due for 17 more hours), its own simulator client, and captured logs. */
async function setup() {
  n++;
  const clientId = `rejection-client-${n}`;
  const clientSecret = `rejection-secret-${n}-${'s'.repeat(30)}`;
  sim.addClient({ clientId, clientSecret, orgId: ORG });
  const registry = new InMemoryOrgRegistry([{ orgId: ORG, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } }]);
  const vault = new InMemoryTokenVault();
  const audit = new InMemoryAuditLog();
  const lease = new InMemoryLease();
  const logs: string[] = [];
  const telemetry: Telemetry = {
    log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })),
    metric: () => undefined,
  };
  const realOAuth = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock, baseUrl: sim.resolver, random: () => 0.5, requestTimeoutMs: 2_000 });
  /** Runs before each tokens/me call; a test may set it to look at the stores at that moment. */
  const hooks: { beforeVerify?: () => Promise<void> } = {};
  const oauth: GenesysOAuthClient = {
    ...realOAuth,
    verifyToken: async (request) => {
      await hooks.beforeVerify?.();
      return realOAuth.verifyToken(request);
    },
  };
  const engine = createRefreshEngine({
    registry,
    credentials: new InMemoryCredentialStore({ [ORG]: { clientId, clientSecret } }),
    vault,
    audit,
    lease,
    journal: new InMemoryRefreshTokenJournal(lease),
    oauth,
    clock,
    telemetry,
  });
  const request = (extra: Partial<RefreshRequest>): RefreshRequest => ({ trigger: 'getter', deadlineMs: clock.now() + 60_000, ...extra });
  const first = await engine.refreshOne((await registry.get(ORG))!, request({ trigger: 'schedule' }));
  expect(first.kind).toBe('refreshed');
  clock.advance(H);
  const stored = (await vault.read(ORG))!;
  /** refreshOne of the org as the registry holds it now. */
  const refreshOne = async (extra: Partial<RefreshRequest>) => engine.refreshOne((await registry.get(ORG))!, request(extra));
  const rejected = async (token = stored.accessToken) => ({ kind: 'rejected' as const, fingerprint: await fingerprint(token) });
  /** Genesys requests since setup, for this client. */
  const base = sim.counts(clientId);
  const calls = () => {
    const now = sim.counts(clientId);
    return { token: now.token - base.token, tokensMe: now.tokensMe - base.tokensMe };
  };
  return { clientId, registry, vault, audit, logs, hooks, stored, refreshOne, rejected, calls };
}

type Fixture = Awaited<ReturnType<typeof setup>>;

/** No access token this client was ever issued appears in a log line, an audit record or `extra`. */
function expectNoTokenLeaks(s: Fixture, ...extra: unknown[]): void {
  const text = [...s.logs, ...s.audit.records.map((r) => JSON.stringify(r)), ...extra.map((e) => JSON.stringify(e))].join('\n');
  const tokens = sim.issuedAccessTokens(s.clientId);
  expect(tokens.length).toBeGreaterThan(0);
  for (const token of tokens) expect(text).not.toContain(token);
}

describe('refreshOne with a rejected-token report', () => {
  it('asks Genesys nothing when the reported token was already replaced', async () => {
    const s = await setup();
    const outcome = await s.refreshOne({ report: await s.rejected('an-older-token') });
    expect(outcome).toMatchObject({ kind: 'skipped', reason: 'token_replaced' });
    expect(s.calls()).toEqual({ token: 0, tokensMe: 0 });
    expect(await s.vault.read(ORG)).toEqual(s.stored);
    // A report about an old token does not use up the org's one check a minute.
    expect((await s.registry.get(ORG))!.state.rejectionCheckedAtMs).toBeUndefined();
  });

  it('keeps the token when Genesys answers 200 on tokens/me: token_valid, no token request', async () => {
    const s = await setup();
    const outcome = await s.refreshOne({ report: await s.rejected() });
    expect(outcome).toMatchObject({ kind: 'skipped', reason: 'token_valid' });
    expect(s.calls()).toEqual({ token: 0, tokensMe: 1 });
    expect(await s.vault.read(ORG)).toEqual(s.stored);
    expect(s.audit.records).toHaveLength(1); // the setup's refresh only
    expect((await s.registry.get(ORG))!.state.rejectionCheckedAtMs).toBe(clock.now());
    expectNoTokenLeaks(s, outcome);
  });

  it('refreshes when Genesys answers 401 on tokens/me: one token request, the new token stored and audited as rejected', async () => {
    const s = await setup();
    sim.injectFault(s.clientId, { kind: 'status', status: 401 }, { endpoint: 'tokens/me' });
    const outcome = await s.refreshOne({ report: await s.rejected(), requestId: 'req-401' });
    expect(outcome).toMatchObject({ kind: 'refreshed', reason: 'rejected' });
    // The check (refused), then one token request and the new token's own verification.
    expect(s.calls()).toEqual({ token: 1, tokensMe: 2 });
    const replaced = (await s.vault.read(ORG))!;
    expect(replaced.accessToken).not.toBe(s.stored.accessToken);
    expect(replaced.accessToken).toBe(sim.issuedAccessTokens(s.clientId).at(-1));
    expect(s.audit.records.at(-1)).toMatchObject({ orgId: ORG, trigger: 'getter', reason: 'rejected', outcome: 'success', requestId: 'req-401' });
    expect((await s.registry.get(ORG))!.state).toMatchObject({ rejectionCheckedAtMs: clock.now(), lastOutcome: 'success' });
    const { token: _newToken, ...withoutNewToken } = outcome as Extract<typeof outcome, { kind: 'refreshed' }>;
    expectNoTokenLeaks(s, withoutNewToken);
  });

  it('tries a refresh when tokens/me gives no verdict at all (503 on every call)', async () => {
    const s = await setup();
    sim.injectFault(s.clientId, { kind: 'status', status: 503 }, { endpoint: 'tokens/me', times: Infinity });
    const outcome = await s.refreshOne({ report: await s.rejected() });
    // Genesys could not vouch for the token, so a new one was requested; its own verification then
    // met the same outage, so the attempt failed and the stored token stays.
    expect(outcome).toMatchObject({ kind: 'failed', reason: 'rejected', errorCode: 'upstream_unavailable' });
    expect(s.calls().token).toBe(1);
    expect(await s.vault.read(ORG)).toEqual(s.stored);
  });

  it('answers a second report within a minute with recently_checked and when to ask again, asking Genesys nothing', async () => {
    const s = await setup();
    const report = await s.rejected();
    await s.refreshOne({ report });
    const checkedAtMs = clock.now();
    clock.advance(REJECTION_CHECK_INTERVAL_MS - 1);
    const again = await s.refreshOne({ report });
    expect(again).toEqual(expect.objectContaining({ kind: 'skipped', reason: 'recently_checked', retryAtMs: checkedAtMs + REJECTION_CHECK_INTERVAL_MS }));
    expect(s.calls()).toEqual({ token: 0, tokensMe: 1 });
    clock.advance(1);
    expect(await s.refreshOne({ report })).toMatchObject({ kind: 'skipped', reason: 'token_valid' });
    expect(s.calls()).toEqual({ token: 0, tokensMe: 2 });
  });

  it('limits checks after a refresh too: a report on the new token within the minute is recently_checked', async () => {
    const s = await setup();
    sim.injectFault(s.clientId, { kind: 'status', status: 401 }, { endpoint: 'tokens/me' });
    await s.refreshOne({ report: await s.rejected() });
    const replaced = (await s.vault.read(ORG))!;
    clock.advance(1_000);
    expect(await s.refreshOne({ report: await s.rejected(replaced.accessToken) })).toMatchObject({ kind: 'skipped', reason: 'recently_checked' });
    expect(s.calls().token).toBe(1);
  });

  it('records rejectionCheckedAtMs before it asks Genesys', async () => {
    const s = await setup();
    const seen: (number | undefined)[] = [];
    s.hooks.beforeVerify = async () => {
      seen.push((await s.registry.get(ORG))!.state.rejectionCheckedAtMs);
    };
    const checkedAtMs = clock.now();
    sim.injectFault(s.clientId, { kind: 'status', status: 401 }, { endpoint: 'tokens/me' });
    await s.refreshOne({ report: await s.rejected() });
    // The check and then the new token's verification: both already see the check recorded.
    expect(seen).toEqual([checkedAtMs, checkedAtMs]);
  });

  it('still checks when the check cannot be recorded, and says so in a warning without the token', async () => {
    const s = await setup();
    const recordState = s.registry.recordState.bind(s.registry);
    let failNext = true;
    s.registry.recordState = async (...args) => {
      if (failNext) {
        failNext = false;
        throw new StoreError('registry_write_failed', 'registry throttled');
      }
      return recordState(...args);
    };
    expect(await s.refreshOne({ report: await s.rejected() })).toMatchObject({ kind: 'skipped', reason: 'token_valid' });
    expect(s.calls().tokensMe).toBe(1);
    expect(s.logs.map((l) => JSON.parse(l) as { level: string; message: string; errorCode?: string })).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'rejection check could not be noted in the registry', errorCode: 'registry_write_failed' }),
    );
    expectNoTokenLeaks(s);
  });

  it('refreshes an org that is due anyway for its own reason, without a check', async () => {
    const s = await setup();
    clock.advance(17 * H); // 18 hours after issue: the refresh mark
    const outcome = await s.refreshOne({ report: await s.rejected() });
    expect(outcome).toMatchObject({ kind: 'refreshed', reason: 'at_refresh_mark' });
    expect(s.calls()).toEqual({ token: 1, tokensMe: 1 }); // the new token's verification only
    expect((await s.registry.get(ORG))!.state.rejectionCheckedAtMs).toBeUndefined();
  });

  it('leaves a disabled org alone whatever the report says', async () => {
    const s = await setup();
    const org = (await s.registry.get(ORG))!;
    await s.registry.put({ ...org, enabled: false }, { expectedVersion: org.version });
    expect(await s.refreshOne({ report: await s.rejected() })).toMatchObject({ kind: 'skipped', reason: 'disabled' });
    expect(s.calls()).toEqual({ token: 0, tokensMe: 0 });
  });

  it('keeps the rejected token out of every log line, audit record and outcome across a whole episode', async () => {
    const s = await setup();
    const outcomes: unknown[] = [];
    outcomes.push(await s.refreshOne({ report: await s.rejected() })); // vouched for
    clock.advance(REJECTION_CHECK_INTERVAL_MS);
    sim.injectFault(s.clientId, { kind: 'status', status: 401 }, { endpoint: 'tokens/me' });
    const refreshed = await s.refreshOne({ report: await s.rejected() }); // refused: replaced
    expect(refreshed.kind).toBe('refreshed');
    const { token: _newToken, ...rest } = refreshed as Extract<typeof refreshed, { kind: 'refreshed' }>;
    outcomes.push(rest);
    outcomes.push(await s.refreshOne({ report: await s.rejected() })); // recently checked
    expect(s.logs.length).toBeGreaterThan(0);
    expectNoTokenLeaks(s, ...outcomes);
  });
});

describe('refreshOne with a missing-token report', () => {
  it('refreshes when the vault has lost the token the state says it has', async () => {
    const s = await setup();
    await s.vault.remove(ORG);
    const outcome = await s.refreshOne({ report: { kind: 'missing' } });
    expect(outcome).toMatchObject({ kind: 'refreshed', reason: 'missing' });
    expect(s.calls()).toEqual({ token: 1, tokensMe: 1 });
    expect(await s.vault.read(ORG)).toBeDefined();
  });

  it('asks Genesys nothing when the vault has a token after all', async () => {
    const s = await setup();
    expect(await s.refreshOne({ report: { kind: 'missing' } })).toMatchObject({ kind: 'skipped', reason: 'token_replaced' });
    expect(s.calls()).toEqual({ token: 0, tokensMe: 0 });
  });
});
