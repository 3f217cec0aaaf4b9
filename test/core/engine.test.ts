import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createRefreshEngine, type EngineOptions, MIN_TIME_FOR_ONE_REFRESH_MS } from '../../lambdas/core/engine.js';
import { BrokerError, ConflictError, StoreError, UnreadableRecordError } from '../../lambdas/core/errors.js';
import { createOAuthClient, type FetchLike, type GenesysOAuthClient, type TokenRequest } from '../../lambdas/core/oauth.js';
import type { AuditRecord, ClientCredentials, OrgRecord, Telemetry, UnreadableOrg } from '../../lambdas/core/ports.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const H = 3_600_000;
const ORG_US = '0a000000-0000-4000-8000-000000000001';
const ORG_IE = '0a000000-0000-4000-8000-000000000002';
const ORG_JP = '0a000000-0000-4000-8000-000000000003';
const ORG_BAD = '0a000000-0000-4000-8000-000000000004';
const ORG_AC = '0a000000-0000-4000-8000-000000000005';
const ORG_OTHER = '0a000000-0000-4000-8000-0000000000ff';

interface Fixture {
  clock: ManualClock;
  registry: InMemoryOrgRegistry;
  credentials: InMemoryCredentialStore;
  vault: InMemoryTokenVault;
  audit: InMemoryAuditLog;
  lease: InMemoryLease;
  journal: InMemoryRefreshTokenJournal;
  logs: string[];
  telemetry: Telemetry;
  engine: (options?: EngineOptions) => ReturnType<typeof createRefreshEngine>;
}

let sim: GenesysSimulator;
let clock: ManualClock;

function org(orgId: string, region: string, grantType: OrgRecord['grantType'] = 'client_credentials'): Omit<OrgRecord, 'version'> {
  return { orgId, region, grantType, enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
}

function fixture(orgs: Omit<OrgRecord, 'version'>[], creds: Record<string, ClientCredentials>, genesys?: GenesysOAuthClient): Fixture {
  const registry = new InMemoryOrgRegistry(orgs);
  const credentials = new InMemoryCredentialStore(creds);
  const vault = new InMemoryTokenVault();
  const audit = new InMemoryAuditLog();
  const lease = new InMemoryLease();
  const journal = new InMemoryRefreshTokenJournal(lease);
  const logs: string[] = [];
  const telemetry: Telemetry = {
    log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })),
    metric: () => undefined,
  };
  const oauth = genesys ?? createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock, baseUrl: sim.resolver, random: () => 0.5, requestTimeoutMs: 2_000 });
  return {
    clock,
    registry,
    credentials,
    vault,
    audit,
    lease,
    journal,
    logs,
    telemetry,
    engine: (options = {}) => createRefreshEngine({ registry, credentials, vault, audit, lease, journal, oauth, clock, telemetry }, options),
  };
}

const deadline = () => clock.now() + 10 * 60_000;

/** The log lines an engine wrote, parsed. */
const logged = (f: Fixture): Array<Record<string, unknown>> => f.logs.map((l) => JSON.parse(l) as Record<string, unknown>);

/** Makes the journal refuse every rotated token (a spend is still noted). */
function failReceived(f: Fixture): void {
  const record = f.journal.record.bind(f.journal);
  f.journal.record = async (handle, entry) => {
    if (entry.kind === 'received') throw new StoreError('refresh_token_persist_failed', 'journal down');
    return record(handle, entry);
  };
}

beforeAll(async () => {
  clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'));
  sim = await GenesysSimulator.start({ now: () => clock.now(), tokenLifetimeSeconds: 86_400 });
  sim.addOrg({ orgId: ORG_US, name: 'US org', region: 'mypurecloud.com' });
  sim.addOrg({ orgId: ORG_IE, name: 'IE org', region: 'mypurecloud.ie' });
  sim.addOrg({ orgId: ORG_JP, name: 'JP org', region: 'mypurecloud.jp' });
  sim.addOrg({ orgId: ORG_BAD, name: 'Bad org', region: 'euw2.pure.cloud' });
  sim.addOrg({ orgId: ORG_AC, name: 'Auth code org', region: 'mypurecloud.de' });
  sim.addOrg({ orgId: ORG_OTHER, name: 'Someone else', region: 'mypurecloud.com' });
});

afterAll(async () => {
  await sim?.close();
});

let n = 0;
/** Registers a fresh client for an org so each test has its own counters and faults. */
function client(orgId: string, extra: Partial<Parameters<GenesysSimulator['addClient']>[0]> = {}): ClientCredentials & { clientId: string } {
  n++;
  const spec = { clientId: `client-${n}-${orgId.slice(-4)}`, clientSecret: `secret-${n}-${'s'.repeat(30)}`, orgId, ...extra };
  sim.addClient(spec);
  return { clientId: spec.clientId, clientSecret: spec.clientSecret, ...(spec.refreshToken ? { refreshToken: spec.refreshToken } : {}) };
}

beforeEach(() => {
  sim.clearFaults();
});

/** An operator relabels the org while the first state write is on its way; returns the count of state writes. */
function relabelDuringFirstStateWrite(registry: InMemoryOrgRegistry): () => number {
  const recordState = registry.recordState.bind(registry);
  let calls = 0;
  registry.recordState = async (orgId, version, state) => {
    if (calls++ === 0) {
      const { version: _v, ...current } = (await registry.get(orgId))!;
      await registry.put({ ...current, label: 'renamed' });
    }
    return recordState(orgId, version, state);
  };
  return () => calls;
}

describe('RefreshEngine.sweep', () => {
  it('refreshes orgs in three regions while one with a wrong secret fails permanently', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const jp = client(ORG_JP);
    const bad = client(ORG_BAD);
    const f = fixture(
      [org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1'), org(ORG_JP, 'mypurecloud.jp'), org(ORG_BAD, 'euw2.pure.cloud')],
      { [ORG_US]: us, [ORG_IE]: ie, [ORG_JP]: jp, [ORG_BAD]: { ...bad, clientSecret: 'wrong-secret' } },
    );
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });

    expect(summary).toMatchObject({ examined: 4, due: 4, refreshed: 3, failed: { invalid_client: 1 } });
    expect(sim.counts(bad.clientId).token).toBe(1); // permanent: no retries
    for (const [orgId, domain] of [[ORG_US, 'mypurecloud.com'], [ORG_IE, 'mypurecloud.ie'], [ORG_JP, 'mypurecloud.jp']] as const) {
      const record = await f.vault.read(orgId);
      expect(record).toMatchObject({ schemaVersion: 1, orgId, region: domain, apiBaseUrl: `https://api.${domain}`, tokenType: 'bearer' });
      expect(Date.parse(record!.expiresAt) - Date.parse(record!.issuedAt)).toBe(24 * H);
      expect(Date.parse(record!.refreshAt) - Date.parse(record!.issuedAt)).toBe(18 * H);
      expect((await f.registry.get(orgId))!.state).toMatchObject({ lastOutcome: 'success', consecutiveFailures: 0 });
    }
    expect(await f.vault.read(ORG_BAD)).toBeUndefined();
    const badState = (await f.registry.get(ORG_BAD))!.state;
    expect(badState).toMatchObject({ lastOutcome: 'failure', lastErrorCode: 'invalid_client', lastErrorClass: 'permanent', consecutiveFailures: 1 });
    expect(badState.nextAttemptAtMs).toBe(clock.now() + 60_000);
    const failures = await f.audit.listFailures({ sinceMs: 0 });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ orgId: ORG_BAD, errorCode: 'invalid_client', httpStatus: 401, trigger: 'schedule', reason: 'never_issued', attempts: 1 });
    expect(f.audit.records.filter((r) => r.outcome === 'success')).toHaveLength(3);
  });

  it('skips every org on the next sweep until the 18-hour mark, then refreshes', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const engine = f.engine();
    await engine.sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    const first = await f.vault.read(ORG_US);

    clock.advance(18 * H - 60_000);
    const early = await engine.sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(early).toMatchObject({ due: 0, refreshed: 0, skipped: { notDue: 1 } });
    expect(sim.counts(us.clientId).token).toBe(1);

    clock.advance(60_000);
    const atMark = await engine.sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(atMark).toMatchObject({ due: 1, refreshed: 1, health: { healthy: 1 } });
    // A full sweep lists problems only; the refresh itself is in the counters and the audit trail.
    expect(atMark.results).toEqual([]);
    expect((await f.audit.query(ORG_US)).map((r) => `${r.reason}:${r.outcome}`).sort()).toEqual(['at_refresh_mark:success', 'never_issued:success']);
    expect((await f.vault.read(ORG_US))!.accessToken).not.toBe(first!.accessToken);
    expect(await f.vault.readPrevious(ORG_US)).toEqual(first);
  });

  it('honours Retry-After on a 429 and then succeeds', async () => {
    const ie = client(ORG_IE);
    sim.injectFault(ie.clientId, { kind: 'rate_limit', retryAfter: '3' });
    const f = fixture([org(ORG_IE, 'mypurecloud.ie')], { [ORG_IE]: ie });
    clock.sleeps.length = 0;
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });

    expect(summary.refreshed).toBe(1);
    expect(sim.counts(ie.clientId).token).toBe(2);
    expect(clock.sleeps.some((ms) => ms >= 3_000)).toBe(true);
    expect(f.audit.records[0]).toMatchObject({ outcome: 'success', attempts: 3 }); // 2 token requests + 1 tokens/me
  });

  it('leaves the old token in place when a 503 storm exhausts the retries', async () => {
    const jp = client(ORG_JP);
    const f = fixture([org(ORG_JP, 'mypurecloud.jp')], { [ORG_JP]: jp });
    const engine = f.engine();
    await engine.sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    const before = await f.vault.read(ORG_JP);
    const stateBefore = (await f.registry.get(ORG_JP))!.state;

    clock.advance(18 * H);
    sim.injectFault(jp.clientId, { kind: 'status', status: 503 }, { times: Infinity });
    const summary = await engine.sweep({ deadlineMs: deadline(), trigger: 'schedule' });

    expect(summary).toMatchObject({ refreshed: 0, failed: { upstream_unavailable: 1 }, orgsAtRisk: 1 });
    expect(summary.results[0]).toMatchObject({ health: 'at_risk' });
    expect(sim.counts(jp.clientId).token).toBe(1 + 4); // first sweep + 1 try and 3 retries
    expect(await f.vault.read(ORG_JP)).toEqual(before);
    expect(f.vault.writes).toBe(1);
    const state = (await f.registry.get(ORG_JP))!.state;
    expect(state).toMatchObject({ expiresAtMs: stateBefore.expiresAtMs, issuedAtMs: stateBefore.issuedAtMs, lastErrorCode: 'upstream_unavailable', lastErrorClass: 'transient' });
    expect(state.nextAttemptAtMs).toBeGreaterThan(clock.now());
    expect(state.nextAttemptAtMs).toBeLessThanOrEqual(stateBefore.expiresAtMs! - 5 * 60_000);
  });

  it('refreshes each org exactly once when two sweeps overlap', async () => {
    const ids = [ORG_US, ORG_IE, ORG_JP];
    const regions = ['mypurecloud.com', 'mypurecloud.ie', 'mypurecloud.jp'];
    const clients = ids.map((id) => client(id));
    for (const c of clients) sim.injectFault(c.clientId, { kind: 'latency', ms: 150 });
    const f = fixture(ids.map((id, i) => org(id, regions[i]!)), Object.fromEntries(ids.map((id, i) => [id, clients[i]!])));
    const [a, b] = await Promise.all([
      f.engine({ owner: 'sweep-a' }).sweep({ deadlineMs: deadline(), trigger: 'schedule' }),
      f.engine({ owner: 'sweep-b' }).sweep({ deadlineMs: deadline(), trigger: 'schedule' }),
    ]);
    for (const c of clients) expect(sim.counts(c.clientId).token).toBe(1);
    expect(a.refreshed + b.refreshed).toBe(3);
    expect(a.skipped.leaseHeld + b.skipped.leaseHeld + a.skipped.notDue + b.skipped.notDue).toBe(3);
    expect(f.vault.writes).toBe(3);
  });

  it('persists every rotated refresh token and never sends a used one again', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'r'.repeat(40)}` });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    const engine = f.engine();
    for (let i = 0; i < 3; i++) {
      const summary = await engine.sweep({ deadlineMs: deadline(), trigger: 'schedule' });
      expect(summary.refreshed).toBe(1);
      expect((await f.credentials.read({ orgId: ORG_AC } as OrgRecord)).refreshToken).toBe(sim.currentRefreshToken(ac.clientId));
      clock.advance(18 * H);
    }
    expect(sim.counts(ac.clientId).refreshTokenReuse).toBe(0);
    expect(sim.usedRefreshTokens(ac.clientId)).toEqual([ac.refreshToken, ...f.credentials.refreshTokenHistory.get(ORG_AC)!.slice(0, 2)]);
    expect(f.credentials.refreshTokenHistory.get(ORG_AC)).toHaveLength(3);
  });

  it('keeps the rotated refresh token even when verification fails afterwards', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'q'.repeat(40)}` });
    sim.injectFault(ac.clientId, { kind: 'status', status: 503 }, { endpoint: 'tokens/me', times: Infinity });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary.failed).toEqual({ upstream_unavailable: 1 });
    expect((await f.credentials.read({ orgId: ORG_AC } as OrgRecord)).refreshToken).toBe(sim.currentRefreshToken(ac.clientId));
    expect(sim.currentRefreshToken(ac.clientId)).not.toBe(ac.refreshToken);
    expect(await f.vault.read(ORG_AC)).toBeUndefined();
  });

  it('reports a rotated refresh token that neither the journal nor the credentials take as critical, and still serves the access token', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'p'.repeat(40)}` });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    failReceived(f);
    f.credentials.rotateRefreshToken = async () => {
      throw new StoreError('refresh_token_persist_failed', 'store down');
    };
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ critical: 1, failed: { refresh_token_persist_failed: 1 }, refreshed: 0 });
    expect(f.audit.records[0]).toMatchObject({ outcome: 'failure', errorCode: 'refresh_token_persist_failed', severity: 'critical' });
    // No automatic retry: the stored refresh token is spent; only new credentials (credentials_changed) retry.
    expect((await f.registry.get(ORG_AC))!.state.nextAttemptAtMs).toBe(Number.MAX_SAFE_INTEGER);
    expect(await f.vault.read(ORG_AC)).toBeDefined();
    expect(f.logs.some((l) => l.includes('"level":"critical"'))).toBe(true);
    expect(sim.counts(ac.clientId).refreshTokenReuse).toBe(0);
  });

  it('does not present a journal-held refresh token while the credentials refuse it, so a 429 cannot cost it', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'j'.repeat(40)}` });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    const rotate = f.credentials.rotateRefreshToken.bind(f.credentials);
    let refusing = true;
    f.credentials.rotateRefreshToken = async (...args) => {
      if (refusing) throw new StoreError('refresh_token_persist_failed', 'store down');
      return rotate(...args);
    };
    const engine = f.engine();
    const request = { deadlineMs: deadline(), trigger: 'manual' as const, force: true };
    expect(await engine.sweep(request)).toMatchObject({ refreshed: 1 });
    const pending = sim.currentRefreshToken(ac.clientId)!;
    // Presented now, its spend note would replace the journal's only copy and the 429 would lose it.
    sim.injectFault(ac.clientId, { kind: 'rate_limit', retryAfter: '1' });
    expect(await engine.sweep({ ...request, deadlineMs: deadline() })).toMatchObject({ refreshed: 0, failed: { credentials_unavailable: 1 }, critical: 0 });
    expect(sim.counts(ac.clientId).token).toBe(1);
    expect(await f.journal.read(ORG_AC)).toMatchObject({ kind: 'received', refreshToken: pending });

    refusing = false;
    sim.clearFaults(ac.clientId);
    expect(await engine.sweep({ ...request, deadlineMs: deadline() })).toMatchObject({ refreshed: 1 });
    expect(sim.usedRefreshTokens(ac.clientId)).toEqual([ac.refreshToken, pending]);
    expect(sim.counts(ac.clientId).refreshTokenReuse).toBe(0);
  });

  it('refreshes an org named twice in one request once, spending its refresh token once', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'d'.repeat(40)}` });
    sim.injectFault(ac.clientId, { kind: 'latency', ms: 100 });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'manual', force: true, orgIds: [ORG_AC, ORG_AC.toUpperCase()] });
    expect(summary).toMatchObject({ examined: 1, refreshed: 1, failed: {} });
    expect(sim.counts(ac.clientId)).toMatchObject({ token: 1, refreshTokenReuse: 0 });
  });

  it('writes no state when it lost its lease before the token write', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.lease.renew = async () => undefined; // another worker took the org over
    const read = f.credentials.read.bind(f.credentials);
    f.credentials.read = async (o) => {
      clock.advance(40_000); // a slow attempt: past half of the 60 s lease at the token write
      return read(o);
    };
    const before = (await f.registry.get(ORG_US))!;
    const summary = await f.engine({ leaseTtlMs: 60_000, orgTimeBudgetMs: 120_000 }).sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary.failed).toEqual({ lease_held: 1 });
    expect(await f.registry.get(ORG_US)).toEqual(before);
    expect(f.vault.writes).toBe(0);
    expect(f.audit.records[0]).toMatchObject({ errorCode: 'lease_held', message: `lease on org ${ORG_US} was lost before the token write` });
  });

  it('refuses a token that belongs to another org and stores nothing', async () => {
    const us = client(ORG_US);
    sim.injectFault(us.clientId, { kind: 'foreign_org', orgId: ORG_OTHER });
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary.failed).toEqual({ org_mismatch: 1 });
    expect(await f.vault.read(ORG_US)).toBeUndefined();
    expect(f.vault.writes).toBe(0);
    expect((await f.registry.get(ORG_US))!.state).toMatchObject({ lastErrorCode: 'org_mismatch', lastErrorClass: 'permanent' });
    expect(f.audit.records[0]!.message).toContain(ORG_OTHER);
  });

  it('fails credentials from another region as invalid_client without touching other orgs', async () => {
    const ie = client(ORG_IE);
    const us = client(ORG_US);
    const f = fixture([org(ORG_IE, 'mypurecloud.com'), org(ORG_US, 'mypurecloud.com')], { [ORG_IE]: ie, [ORG_US]: us });
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ refreshed: 1, failed: { invalid_client: 1 } });
    expect(await f.vault.read(ORG_US)).toBeDefined();
  });

  it('keeps a refresh when the audit write fails, and reports it', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.audit.append = async () => {
      throw new Error('audit table unavailable');
    };
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ refreshed: 1, auditWriteFailures: 1 });
    expect(await f.vault.read(ORG_US)).toBeDefined();
  });

  it('defers orgs it has no time left for and says so', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const summary = await f.engine({ orgTimeBudgetMs: 30_000 }).sweep({ deadlineMs: clock.now() + 10_000, trigger: 'schedule' });
    expect(summary).toMatchObject({ due: 1, deferred: 1, refreshed: 0 });
    expect(summary.results[0]).toMatchObject({ outcome: 'deferred', reason: 'deadline' });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('refreshes only the named orgs and reports unknown ones', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'mypurecloud.ie')], { [ORG_US]: us, [ORG_IE]: ie });
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'manual', orgIds: [ORG_IE, ORG_OTHER] });
    expect(summary).toMatchObject({ refreshed: 1, skipped: { notFound: 1 } });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('skips disabled orgs even when forced', async () => {
    const us = client(ORG_US);
    const f = fixture([{ ...org(ORG_US, 'mypurecloud.com'), enabled: false }], { [ORG_US]: us });
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'manual', force: true });
    expect(summary).toMatchObject({ refreshed: 0, skipped: { disabled: 1 } });
  });

  it('puts no token, refresh token or client secret in logs, audit records or the summary', async () => {
    const us = client(ORG_US);
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'z'.repeat(40)}` });
    const bad = client(ORG_BAD);
    const ie = client(ORG_IE);
    sim.injectFault(ie.clientId, { kind: 'missing_access_token' }, { times: Infinity });
    const f = fixture(
      [org(ORG_US, 'mypurecloud.com'), org(ORG_AC, 'mypurecloud.de', 'refresh_token'), org(ORG_BAD, 'euw2.pure.cloud'), org(ORG_IE, 'mypurecloud.ie')],
      { [ORG_US]: us, [ORG_AC]: ac, [ORG_BAD]: { ...bad, clientSecret: `wrong-${'w'.repeat(30)}` }, [ORG_IE]: ie },
    );
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary.refreshed).toBe(2);
    const secrets = [
      ...sim.issuedAccessTokens(),
      ...sim.usedRefreshTokens(ac.clientId),
      sim.currentRefreshToken(ac.clientId)!,
      us.clientSecret, ac.clientSecret, bad.clientSecret, `wrong-${'w'.repeat(30)}`, ie.clientSecret,
      Buffer.from(`${us.clientId}:${us.clientSecret}`).toString('base64'),
    ];
    const haystack = [...f.logs, JSON.stringify(f.audit.records satisfies AuditRecord[]), JSON.stringify(summary)].join('\n');
    expect(secrets.length).toBeGreaterThan(6);
    for (const secret of secrets) expect(haystack).not.toContain(secret);
  });
});

describe('RefreshEngine, registry and store faults', () => {
  it('examines every page of a registry larger than one page', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const jp = client(ORG_JP);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1'), org(ORG_JP, 'mypurecloud.jp')], { [ORG_US]: us, [ORG_IE]: ie, [ORG_JP]: jp });
    const summary = await f.engine({ pageSize: 1 }).sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ examined: 3, refreshed: 3 });
    // A vault that cannot list unreadable tokens is not asked to, and nothing warns.
    expect(logged(f).filter((l) => l.level !== 'info')).toEqual([]);
  });

  it.each([
    ['a store error', new StoreError('registry_unavailable', 'scan failed')],
    ['an unexpected error', new Error('socket hang up')],
  ])('says when the registry could not be listed to the end (%s), after refreshing what it could list', async (_name, failure) => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1')], { [ORG_US]: us, [ORG_IE]: ie });
    const listPage = f.registry.listPage.bind(f.registry);
    f.registry.listPage = async (options) => {
      if (options?.cursor) throw failure;
      return listPage(options);
    };
    const summary = await f.engine({ pageSize: 1 }).sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ examined: 1, refreshed: 1, registryError: 'registry_unavailable' });
    expect(logged(f)).toContainEqual({ level: 'error', message: 'registry listing failed', examined: 1, errorCode: 'registry_unavailable' });
  });

  it('fails only the named org whose registry read fails', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1')], { [ORG_US]: us, [ORG_IE]: ie });
    const get = f.registry.get.bind(f.registry);
    f.registry.get = async (orgId) => {
      if (orgId === ORG_US) throw new Error('connection reset');
      return get(orgId);
    };
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'manual', orgIds: [ORG_US, ORG_IE] });
    expect(summary).toMatchObject({ examined: 2, refreshed: 1, failed: { registry_unavailable: 1 }, critical: 0 });
    expect(summary.results).toContainEqual({ orgId: ORG_US, outcome: 'failed', reason: 'unexamined', errorCode: 'registry_unavailable' });
    expect(summary.registryError).toBeUndefined();
    expect(logged(f)).toContainEqual({ level: 'error', message: 'org could not be examined', orgId: ORG_US, errorCode: 'registry_unavailable' });
  });

  it('skips and reports an org the registry could not read, and refreshes every other org on every page', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const jp = client(ORG_JP);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1'), org(ORG_JP, 'mypurecloud.jp')], { [ORG_US]: us, [ORG_IE]: ie, [ORG_JP]: jp });
    const damaged: UnreadableOrg = { orgId: ORG_BAD, problem: 'not valid JSON', location: `/data/registry/${ORG_BAD}.json`, remedy: 'Restore the file from a backup' };
    const listPage = f.registry.listPage.bind(f.registry);
    f.registry.listPage = async (options) => {
      const page = await listPage(options);
      return options?.cursor ? page : { ...page, unreadable: [damaged] };
    };
    const summary = await f.engine({ pageSize: 1 }).sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ examined: 4, due: 3, refreshed: 3, failed: {}, skipped: { unreadable: 1 } });
    expect(summary.registryError).toBeUndefined();
    expect(summary.results).toContainEqual({ orgId: ORG_BAD, outcome: 'skipped', reason: 'unreadable', errorCode: 'registry_unavailable' });
    expect(logged(f).find((l) => l.orgId === ORG_BAD)).toEqual({ level: 'warn', message: 'org registry entry unreadable; skipped', orgId: ORG_BAD, errorCode: 'registry_unavailable', problem: 'not valid JSON', location: damaged.location, remedy: damaged.remedy });
  });

  it('skips a named org whose registry record is unreadable', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1')], { [ORG_US]: us, [ORG_IE]: ie });
    const damaged: UnreadableOrg = { orgId: ORG_US, problem: 'fields fail the schema: region', location: `/data/registry/${ORG_US}.json`, remedy: 'Restore the file from a backup' };
    const get = f.registry.get.bind(f.registry);
    f.registry.get = async (orgId) => {
      if (orgId === ORG_US) throw new UnreadableRecordError('registry_unavailable', 'registry file', damaged);
      return get(orgId);
    };
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'manual', orgIds: [ORG_US, ORG_IE] });
    expect(summary).toMatchObject({ examined: 2, refreshed: 1, failed: {}, skipped: { unreadable: 1 } });
    expect(summary.results).toContainEqual({ orgId: ORG_US, outcome: 'skipped', reason: 'unreadable', errorCode: 'registry_unavailable' });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('refreshes at once an org whose stored token the vault cannot read, unless it is backing off', async () => {
    const us = client(ORG_US);
    const ie = client(ORG_IE);
    const jp = client(ORG_JP);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_IE, 'eu-west-1'), org(ORG_JP, 'mypurecloud.jp')], { [ORG_US]: us, [ORG_IE]: ie, [ORG_JP]: jp });
    expect(await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' })).toMatchObject({ refreshed: 3 });
    // IE failed since, and waits for its retry time.
    const ieNow = (await f.registry.get(ORG_IE))!;
    await f.registry.recordState(ORG_IE, ieNow.version, { ...ieNow.state, lastOutcome: 'failure', lastErrorClass: 'transient', consecutiveFailures: 1, nextAttemptAtMs: clock.now() + H });
    const lost = (orgId: string): UnreadableOrg => ({ orgId, problem: 'not valid JSON', location: `/data/tokens/${orgId}.json`, remedy: 'None needed' });
    Object.assign(f.vault, { listUnreadable: async () => [lost(ORG_US), lost(ORG_IE)] });

    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ examined: 3, refreshed: 1, skipped: { notDue: 1, backingOff: 1 } });
    expect(summary.results).toEqual([]);
    expect((await f.audit.query(ORG_US)).map((r) => `${r.reason}:${r.outcome}`).sort()).toEqual(['forced:success', 'never_issued:success']);
    expect(sim.counts(us.clientId).token).toBe(2);
    expect(sim.counts(ie.clientId).token).toBe(1);
    expect(logged(f)).toContainEqual({
      level: 'warn',
      message: 'stored token unreadable: it reads as missing, and the sweep refreshes the org unless it is disabled or backing off',
      orgId: ORG_US,
      problem: 'not valid JSON',
      location: `/data/tokens/${ORG_US}.json`,
    });
  });

  it('sweeps as usual when the vault cannot list its unreadable tokens', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    Object.assign(f.vault, { listUnreadable: async () => Promise.reject(new Error('EMFILE')) });
    expect(await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' })).toMatchObject({ refreshed: 1 });
    expect(logged(f)).toContainEqual({ level: 'warn', message: 'unreadable tokens could not be listed', errorCode: 'token_unavailable' });
  });

  it('retries a state write that met an operator edit, keeping the edit', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const stateWrites = relabelDuringFirstStateWrite(f.registry);
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ refreshed: 1, stateWriteFailures: 0 });
    expect(stateWrites()).toBe(2);
    expect(await f.registry.get(ORG_US)).toMatchObject({ label: 'renamed', state: { lastOutcome: 'success' } });
  });

  it('retries a state write that met an operator edit of an org refreshed before, and records its own attempt', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    clock.advance(60_000);
    const stateWrites = relabelDuringFirstStateWrite(f.registry);
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli', force: true });
    expect(outcome).toMatchObject({ kind: 'refreshed', effects: { stateWriteFailed: false } });
    expect(stateWrites()).toBe(2);
    expect(await f.registry.get(ORG_US)).toMatchObject({ label: 'renamed', state: { lastAttemptAtMs: clock.now(), lastOutcome: 'success' } });
  });

  it('gives up a state write after four conflicts, and logs it with the failed attempt', async () => {
    const bad = client(ORG_BAD);
    const f = fixture([org(ORG_BAD, 'euw2.pure.cloud')], { [ORG_BAD]: { ...bad, clientSecret: 'wrong-secret' } });
    let calls = 0;
    f.registry.recordState = async () => {
      calls++;
      throw new ConflictError('version_conflict', 'edited again');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_BAD))!, { deadlineMs: deadline(), trigger: 'cli' });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'invalid_client', effects: { stateWriteFailed: true } });
    expect(calls).toBe(4);
    expect(logged(f)).toContainEqual({ level: 'error', message: 'registry state write failed after a failed attempt', orgId: ORG_BAD, errorCode: 'version_conflict' });
  });

  it('gives up the state write of an org removed while it was refreshed', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.registry.recordState = async (orgId) => {
      await f.registry.remove(orgId);
      throw new ConflictError('version_conflict', 'item changed');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli' });
    expect(outcome).toMatchObject({ kind: 'refreshed', effects: { stateWriteFailed: true } });
    expect(logged(f)).toContainEqual({ level: 'error', message: 'registry state write failed after the token was stored', orgId: ORG_US, errorCode: 'version_conflict' });
  });

  it('never overwrites the state a later attempt recorded', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const recordState = f.registry.recordState.bind(f.registry);
    const later = { consecutiveFailures: 0, lastOutcome: 'success' as const, lastAttemptAtMs: clock.now() + 60_000 };
    let raced = false;
    f.registry.recordState = async (orgId, version, state) => {
      // Another worker (after this one's lease lapsed) records a newer attempt first.
      if (!raced) {
        raced = true;
        await recordState(orgId, version, later);
      }
      return recordState(orgId, version, state);
    };
    await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect((await f.registry.get(ORG_US))!.state).toEqual(later);
  });

  it('counts a state write that keeps failing and keeps the token it wrote', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    let calls = 0;
    f.registry.recordState = async () => {
      calls++;
      throw new Error('table down');
    };
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ refreshed: 1, stateWriteFailures: 1 });
    expect(calls).toBe(1); // only a conflict is worth a re-read
    expect(await f.vault.read(ORG_US)).toBeDefined();
    expect(logged(f)).toContainEqual({ level: 'error', message: 'registry state write failed after the token was stored', orgId: ORG_US, errorCode: 'registry_write_failed' });
  });

  it('retries the write-ahead of a rotated refresh token with growing pauses until it sticks', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'m'.repeat(40)}` });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    const record = f.journal.record.bind(f.journal);
    let failures = 2;
    f.journal.record = async (handle, entry) => {
      if (entry.kind === 'received' && failures-- > 0) throw new StoreError('refresh_token_persist_failed', 'throttled');
      return record(handle, entry);
    };
    const sleepsBefore = clock.sleeps.length;
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary).toMatchObject({ refreshed: 1, critical: 0 });
    expect(clock.sleeps.slice(sleepsBefore)).toEqual([100, 200]);
    expect((await f.credentials.read({ orgId: ORG_AC } as OrgRecord)).refreshToken).toBe(sim.currentRefreshToken(ac.clientId));
    expect(await f.journal.read(ORG_AC)).toBeUndefined();
  });

  it('keeps trying to persist until the attempt deadline, pausing at most 2 s, before declaring the token lost', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'k'.repeat(40)}` });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    const tried: number[] = [];
    const record = f.journal.record.bind(f.journal);
    f.journal.record = async (handle, entry) => {
      if (entry.kind === 'spending') return record(handle, entry);
      tried.push(clock.now());
      throw new StoreError('refresh_token_persist_failed', 'down');
    };
    f.credentials.rotateRefreshToken = async () => {
      throw new StoreError('refresh_token_persist_failed', 'down');
    };
    const started = clock.now();
    const sleepsBefore = clock.sleeps.length;
    await f.engine({ orgTimeBudgetMs: 20_000 }).sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    const sleeps = clock.sleeps.slice(sleepsBefore);
    expect(sleeps.slice(0, 6)).toEqual([100, 200, 400, 800, 1_600, 2_000]);
    expect(Math.max(...sleeps)).toBe(2_000);
    // Every try started before the attempt's 20 s budget ran out.
    expect(Math.max(...tried) - started).toBeLessThan(20_000);
    expect(tried.length).toBeGreaterThan(8);
  });

  it('releases every lease it takes, and a failed release touches nothing else', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.lease.release = async () => {
      throw new StoreError('registry_write_failed', 'release failed');
    };
    const summary = await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(summary.refreshed).toBe(1);
    expect(logged(f)).toContainEqual({ level: 'warn', message: 'lease release failed', orgId: ORG_US, errorCode: 'registry_write_failed' });
  });

  it('leaves no lease behind after a refresh', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    await f.engine({ owner: 'first' }).sweep({ deadlineMs: deadline(), trigger: 'schedule' });
    expect(await f.lease.acquire(ORG_US, 'second', 60_000, clock.now())).toBeDefined();
  });

  it('measures the sweep on its clock', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const read = f.credentials.read.bind(f.credentials);
    f.credentials.read = async (o) => {
      clock.advance(1_234);
      return read(o);
    };
    expect((await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' })).durationMs).toBe(1_234);
  });

  it.each([0, 257, 2.5])('refuses a concurrency of %s', (concurrency) => {
    expect(() => fixture([], {}).engine({ concurrency })).toThrow(expect.objectContaining({ code: 'invalid_config', message: `concurrency must be an integer from 1 to 256, got ${concurrency}` }));
  });

  it.each([1, 256])('accepts a concurrency of %s', (concurrency) => {
    expect(() => fixture([], {}).engine({ concurrency })).not.toThrow();
  });
});

describe('RefreshEngine.refreshOne', () => {
  /** Counts the registry reads an engine makes. */
  function countGets(f: Fixture): () => number {
    let gets = 0;
    const get = f.registry.get.bind(f.registry);
    f.registry.get = async (orgId) => {
      gets++;
      return get(orgId);
    };
    return () => gets;
  }

  it('refreshes the org it is handed, re-reading it once under the lease, and returns the token and the new state', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const held = (await f.registry.get(ORG_US))!;
    const gets = countGets(f);
    const outcome = await f.engine().refreshOne(held, { deadlineMs: deadline(), trigger: 'getter' });
    expect(outcome).toMatchObject({ kind: 'refreshed', orgId: ORG_US, reason: 'never_issued', effects: { auditWriteFailed: false, stateWriteFailed: false } });
    if (outcome.kind !== 'refreshed') throw new Error('unreachable');
    expect(outcome.token).toEqual(await f.vault.read(ORG_US));
    expect(outcome.org).toEqual(await f.registry.get(ORG_US));
    expect(outcome.org.state).toMatchObject({ lastOutcome: 'success', expiresAtMs: Date.parse(outcome.token.expiresAt) });
    expect(gets()).toBe(2); // the re-read under the lease, and the one just above
    expect(f.audit.records[0]).toMatchObject({ trigger: 'getter', outcome: 'success', brokerVersion: '0.0.0' });
  });

  it('skips an org that is not due without taking its lease or calling Genesys', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'schedule' });
    const refreshed = (await f.registry.get(ORG_US))!;
    let acquired = 0;
    const acquire = f.lease.acquire.bind(f.lease);
    f.lease.acquire = async (...args) => {
      acquired++;
      return acquire(...args);
    };
    const outcome = await f.engine().refreshOne(refreshed, { deadlineMs: deadline(), trigger: 'schedule' });
    expect(outcome).toEqual({ kind: 'skipped', orgId: ORG_US, reason: 'not_due', org: refreshed });
    expect(acquired).toBe(0);
    expect(sim.counts(us.clientId).token).toBe(1);
  });

  it('skips a disabled org even when forced', async () => {
    const us = client(ORG_US);
    const f = fixture([{ ...org(ORG_US, 'mypurecloud.com'), enabled: false }], { [ORG_US]: us });
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli', force: true });
    expect(outcome).toMatchObject({ kind: 'skipped', reason: 'disabled' });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('skips an org whose lease another worker holds', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    await f.lease.acquire(ORG_US, 'someone-else', 60_000, clock.now());
    const held = (await f.registry.get(ORG_US))!;
    expect(await f.engine().refreshOne(held, { deadlineMs: deadline(), trigger: 'getter' })).toEqual({ kind: 'skipped', orgId: ORG_US, reason: 'lease_held', org: held });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('finds under the lease that another worker refreshed the org meanwhile, and skips it', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const stale = (await f.registry.get(ORG_US))!;
    await f.engine().refreshOne(stale, { deadlineMs: deadline(), trigger: 'schedule' });
    const outcome = await f.engine().refreshOne(stale, { deadlineMs: deadline(), trigger: 'getter' });
    expect(outcome).toMatchObject({ kind: 'skipped', reason: 'not_due', org: { state: { lastOutcome: 'success' } } });
    expect(sim.counts(us.clientId).token).toBe(1);
  });

  it('reports an org removed since the caller read it as not found', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const held = (await f.registry.get(ORG_US))!;
    await f.registry.remove(ORG_US);
    expect(await f.engine().refreshOne(held, { deadlineMs: deadline(), trigger: 'getter' })).toEqual({ kind: 'skipped', orgId: ORG_US, reason: 'not_found' });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('defers when the caller has less time left than one attempt needs: the 5 s persist reserve and 2 s of HTTP', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const held = (await f.registry.get(ORG_US))!;
    expect(MIN_TIME_FOR_ONE_REFRESH_MS).toBe(7_000);
    expect(await f.engine().refreshOne(held, { deadlineMs: clock.now() + 6_999, trigger: 'getter' })).toEqual({ kind: 'deferred', orgId: ORG_US, reason: 'deadline', org: held });
    const refreshed = await f.engine().refreshOne(held, { deadlineMs: clock.now() + 7_000, trigger: 'getter' });
    expect(refreshed.kind).toBe('refreshed');
  });

  it('returns a failed attempt with its code and the org in its backoff state, and no token', async () => {
    const bad = client(ORG_BAD);
    const f = fixture([org(ORG_BAD, 'euw2.pure.cloud')], { [ORG_BAD]: { ...bad, clientSecret: 'wrong-secret' } });
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_BAD))!, { deadlineMs: deadline(), trigger: 'cli' });
    expect(outcome).toMatchObject({ kind: 'failed', reason: 'never_issued', errorCode: 'invalid_client', critical: false });
    if (outcome.kind !== 'failed') throw new Error('unreachable');
    expect(outcome.token).toBeUndefined();
    expect(outcome.error.failureClass).toBe('permanent');
    expect(outcome.org).toEqual(await f.registry.get(ORG_BAD));
    expect(outcome.org?.state).toMatchObject({ lastOutcome: 'failure', consecutiveFailures: 1, nextAttemptAtMs: clock.now() + 60_000 });
  });

  it('returns a lost rotated refresh token as a critical failure that still carries the written token', async () => {
    const ac = client(ORG_AC, { grantTypes: ['refresh_token'], refreshToken: `rt0-${'o'.repeat(40)}` });
    const f = fixture([org(ORG_AC, 'mypurecloud.de', 'refresh_token')], { [ORG_AC]: ac });
    failReceived(f);
    f.credentials.rotateRefreshToken = async () => {
      throw new StoreError('refresh_token_persist_failed', 'store down');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_AC))!, { deadlineMs: deadline(), trigger: 'schedule' });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'refresh_token_persist_failed', critical: true });
    if (outcome.kind !== 'failed') throw new Error('unreachable');
    expect(outcome.token).toEqual(await f.vault.read(ORG_AC));
  });

  it('turns a lease store failure into a failed outcome for that org, without an attempt', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.lease.acquire = async () => {
      throw new StoreError('registry_write_failed', 'lease table down');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'schedule' });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'registry_write_failed', reason: 'never_issued', critical: false, effects: { auditWriteFailed: false, stateWriteFailed: false } });
    expect('org' in outcome && outcome.org).toBeFalsy();
    expect(f.audit.records).toHaveLength(0);
    expect(sim.counts(us.clientId).token).toBe(0);
    expect(logged(f)).toEqual([{ level: 'error', message: 'org could not be examined', orgId: ORG_US, errorCode: 'registry_write_failed' }]);
  });

  it('calls an unexpected lease store failure internal_error', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.lease.acquire = async () => {
      throw new TypeError('cannot read properties of undefined');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'schedule' });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'internal_error', critical: false });
  });

  it('skips an org whose lease store says it was removed', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.lease.acquire = async (orgId) => {
      throw new BrokerError('org_not_found', `org ${orgId} is not registered`);
    };
    expect(await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'getter' })).toEqual({ kind: 'skipped', orgId: ORG_US, reason: 'not_found' });
    expect(sim.counts(us.clientId).token).toBe(0);
  });

  it('fails the org without an attempt, and releases its lease, when the re-read under the lease fails', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const held = (await f.registry.get(ORG_US))!;
    f.registry.get = async () => {
      throw new StoreError('registry_unavailable', 'throttled');
    };
    const outcome = await f.engine().refreshOne(held, { deadlineMs: deadline(), trigger: 'getter' });
    expect(outcome).toMatchObject({ kind: 'failed', orgId: ORG_US, errorCode: 'registry_unavailable', critical: false, effects: { auditWriteFailed: false, stateWriteFailed: false } });
    expect(sim.counts(us.clientId).token).toBe(0);
    expect(f.audit.records).toHaveLength(0);
    expect(await f.lease.acquire(ORG_US, 'someone-else', 60_000, clock.now())).toBeDefined();
  });

  it('calls a token write that fails unexpectedly vault_write_failed, and an unexpected credentials failure internal_error', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.vault.write = async () => {
      throw new Error('disk full');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'schedule' });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'vault_write_failed', org: { state: { lastOutcome: 'failure', lastErrorCode: 'vault_write_failed' } } });

    f.credentials.readCurrent = async () => {
      throw new TypeError('undefined is not a function');
    };
    const again = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli', force: true });
    expect(again).toMatchObject({ kind: 'failed', errorCode: 'internal_error' });
  });

  it('tells the vault which write is the first for the org', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    const firstWrites: Array<boolean | undefined> = [];
    const write = f.vault.write.bind(f.vault);
    f.vault.write = async (record, options) => {
      firstWrites.push(options.firstWrite);
      return write(record, options);
    };
    await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli' });
    await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli', force: true });
    expect(firstWrites).toEqual([true, false]);
  });

  it('never touches the journal for a client_credentials org, whether the refresh works or fails', async () => {
    const us = client(ORG_US);
    const bad = client(ORG_BAD);
    const f = fixture([org(ORG_US, 'mypurecloud.com'), org(ORG_BAD, 'euw2.pure.cloud')], { [ORG_US]: us, [ORG_BAD]: { ...bad, clientSecret: 'wrong-secret' } });
    let clears = 0;
    f.journal.clear = async () => {
      clears++;
    };
    expect(await f.engine().sweep({ deadlineMs: deadline(), trigger: 'schedule' })).toMatchObject({ refreshed: 1, failed: { invalid_client: 1 } });
    expect(clears).toBe(0);
    expect(f.journal.recorded).toEqual([]);
  });

  it('gives a client_credentials request the whole attempt budget, with no persist reserve', async () => {
    const requests: TokenRequest[] = [];
    const genesys: GenesysOAuthClient = {
      async requestToken(request) {
        requests.push(request);
        return { value: { accessToken: 'at-1', tokenType: 'bearer', expiresInSeconds: 86_400 }, attempts: 1, httpStatus: 200 };
      },
      async exchangeCode() {
        throw new Error('the engine never exchanges an authorization code');
      },
      async verifyToken({ orgId }) {
        return { value: { organizationId: orgId, authorizedScope: [] }, attempts: 1, httpStatus: 200 };
      },
    };
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: client(ORG_US) }, genesys);
    const startedMs = clock.now();
    await f.engine({ orgTimeBudgetMs: 20_000 }).refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'cli' });
    expect(requests.map((r) => r.deadlineMs)).toEqual([startedMs + 20_000]);
  });

  it('reports an audit append that failed in the outcome, and keeps the refresh', async () => {
    const us = client(ORG_US);
    const f = fixture([org(ORG_US, 'mypurecloud.com')], { [ORG_US]: us });
    f.audit.append = async () => {
      throw new Error('audit table unavailable');
    };
    const outcome = await f.engine().refreshOne((await f.registry.get(ORG_US))!, { deadlineMs: deadline(), trigger: 'schedule' });
    expect(outcome).toMatchObject({ kind: 'refreshed', effects: { auditWriteFailed: true, stateWriteFailed: false } });
    expect(logged(f)).toContainEqual({ level: 'error', message: 'audit write failed', orgId: ORG_US, attemptId: expect.any(String), errorCode: 'audit_write_failed' });
  });
});
