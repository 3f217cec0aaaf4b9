/**
 * The engine's side of a refresh_token rotation: the order of its durable steps, what it leaves in
 * the journal and the credentials after each way a spend can end (a rotation, a refusal before the
 * spend, a lost answer, an invalid body, an operator replacing the credentials, a store refusing the
 * token), and which token it presents. Genesys is the simulator (which counts every spent token
 * presented again: never), or a scripted OAuth client where a test needs exact control.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createRefreshEngine, type EngineOptions, type RefreshEngine, type RotationStep } from '../../lambdas/core/engine.js';
import { StoreError } from '../../lambdas/core/errors.js';
import { createOAuthClient, type FetchLike, type GenesysOAuthClient, type TokenRequest } from '../../lambdas/core/oauth.js';
import type { ClientCredentials, JournalEntry, LogFields, LogLevel, OrgRecord } from '../../lambdas/core/ports.js';
import { fingerprint } from '../../lambdas/core/rotation.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const ORG = '0c000000-0000-4000-8000-000000000001';
const REGION = 'mypurecloud.de';
const NEVER = Number.MAX_SAFE_INTEGER;

let sim: GenesysSimulator;
let clock: ManualClock;
let n = 0;

interface Logged {
  level: LogLevel;
  message: string;
  fields?: LogFields;
}

/** What each checkpoint saw: the journal entry and the refresh token the credentials held. */
interface Snapshot {
  step: RotationStep;
  journal: JournalEntry | undefined;
  stored: string | undefined;
  vaultWrites: number;
}

function setup(options: { refreshToken?: string | null; oauth?: GenesysOAuthClient } = {}) {
  n++;
  const clientId = `rotating-client-${n}`;
  const clientSecret = `rotating-secret-${n}-${'s'.repeat(24)}`;
  const initial = options.refreshToken === null ? undefined : (options.refreshToken ?? `rt0-${n}-${'r'.repeat(32)}`);
  sim.addClient({ clientId, clientSecret, orgId: ORG, grantTypes: ['refresh_token'], ...(initial ? { refreshToken: initial } : {}) });
  const creds: ClientCredentials = { clientId, clientSecret, ...(initial ? { refreshToken: initial } : {}) };
  const org: Omit<OrgRecord, 'version'> = { orgId: ORG, region: REGION, grantType: 'refresh_token', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
  const registry = new InMemoryOrgRegistry([org]);
  const credentials = new InMemoryCredentialStore({ [ORG]: creds });
  const vault = new InMemoryTokenVault();
  const audit = new InMemoryAuditLog();
  const lease = new InMemoryLease();
  const journal = new InMemoryRefreshTokenJournal(lease);
  const logs: Logged[] = [];
  const snapshots: Snapshot[] = [];
  const oauth = options.oauth ?? createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock, baseUrl: sim.resolver, random: () => 0.5, requestTimeoutMs: 2_000 });
  let ids = 0;
  const stored = async () => (await credentials.read({ orgId: ORG } as OrgRecord)).refreshToken;
  const engine = (engineOptions: EngineOptions = {}): RefreshEngine =>
    createRefreshEngine(
      {
        registry,
        credentials,
        vault,
        audit,
        lease,
        journal,
        oauth,
        clock,
        telemetry: { log: (level, message, fields) => logs.push({ level, message, ...(fields ? { fields } : {}) }), metric: () => undefined },
        newId: () => `attempt-${n}-${++ids}`,
        checkpoint: async (step) => {
          snapshots.push({ step, journal: await journal.read(ORG), stored: await stored(), vaultWrites: vault.writes });
        },
      },
      { owner: 'worker-1', ...engineOptions },
    );
  const refresh = async (engineOptions?: EngineOptions) => engine(engineOptions).refreshOne((await registry.get(ORG))!, { deadlineMs: clock.now() + 10 * 60_000, trigger: 'manual', force: true });
  return { clientId, initial, registry, credentials, vault, audit, lease, journal, logs, snapshots, engine, refresh, stored };
}

/** An OAuth client that answers every refresh_token grant after calling back with `rotated` (if any). */
function scriptedGenesys(script: { rotated?: string; beforeAnswer?: () => void | Promise<void> } = {}) {
  const requests: TokenRequest[] = [];
  const oauth: GenesysOAuthClient = {
    async requestToken(request) {
      requests.push(request);
      await script.beforeAnswer?.();
      if (script.rotated) await request.onRefreshToken?.(script.rotated);
      return { value: { accessToken: `at-${requests.length}`, tokenType: 'bearer', expiresInSeconds: 86_400 }, attempts: 1, httpStatus: 200 };
    },
    async exchangeCode() {
      throw new Error('the engine never exchanges an authorization code');
    },
    async verifyToken({ orgId }) {
      return { value: { organizationId: orgId, authorizedScope: [] }, attempts: 1, httpStatus: 200 };
    },
  };
  return { oauth, requests };
}

beforeAll(async () => {
  clock = new ManualClock(Date.parse('2026-05-01T00:00:00Z'));
  sim = await GenesysSimulator.start({ now: () => clock.now(), tokenLifetimeSeconds: 86_400 });
  sim.addOrg({ orgId: ORG, name: 'Rotating org', region: REGION });
});

afterAll(async () => {
  await sim?.close();
});

beforeEach(() => {
  sim.clearFaults();
  clock.sleeps.length = 0;
});

describe('RefreshEngine, refresh_token rotation', () => {
  it('notes the spend, journals the rotated token, writes it into the credentials, clears the journal, then writes the token and the state', async () => {
    const f = setup();
    const startedMs = clock.now();
    const outcome = await f.refresh();
    expect(outcome.kind).toBe('refreshed');
    const rotated = sim.currentRefreshToken(f.clientId)!;
    const attemptId = f.audit.records[0]!.attemptId;
    const owner = { attemptId, atMs: startedMs, clientId: f.clientId, credentialsVersion: 1 };
    expect(f.snapshots).toEqual([
      { step: 'spend_noted', journal: { kind: 'spending', ...owner, presented: await fingerprint(f.initial) }, stored: f.initial, vaultWrites: 0 },
      { step: 'write_ahead', journal: { kind: 'received', ...owner, refreshToken: rotated }, stored: f.initial, vaultWrites: 0 },
      { step: 'credentials_written', journal: undefined, stored: rotated, vaultWrites: 0 },
      { step: 'token_written', journal: undefined, stored: rotated, vaultWrites: 1 },
      { step: 'state_written', journal: undefined, stored: rotated, vaultWrites: 1 },
    ]);
    expect(sim.usedRefreshTokens(f.clientId)).toEqual([f.initial]);
    expect(f.journal.recorded.map((e) => e.kind)).toEqual(['spending', 'received']);
    expect(f.audit.records[0]).toMatchObject({ outcome: 'success', attempts: 2, httpStatus: 200 });
  });

  it('presents the stored token, and a rotated one on the next refresh, never the same token twice', async () => {
    const f = setup();
    expect((await f.refresh()).kind).toBe('refreshed');
    const first = sim.currentRefreshToken(f.clientId)!;
    expect((await f.refresh()).kind).toBe('refreshed');
    expect(sim.usedRefreshTokens(f.clientId)).toEqual([f.initial, first]);
    expect(await f.stored()).toBe(sim.currentRefreshToken(f.clientId));
    expect(sim.counts(f.clientId)).toMatchObject({ token: 2, refreshTokenReuse: 0 });
  });

  it('presents a token an earlier attempt left in the journal, after writing it into the credentials', async () => {
    const f = setup();
    const rotate = f.credentials.rotateRefreshToken.bind(f.credentials);
    let refusing = true;
    f.credentials.rotateRefreshToken = async (...args) => {
      if (refusing) throw new StoreError('credentials_unavailable', 'secret store throttled');
      return rotate(...args);
    };
    expect((await f.refresh()).kind).toBe('refreshed');
    const held = sim.currentRefreshToken(f.clientId)!;
    expect(await f.journal.read(ORG)).toMatchObject({ kind: 'received', refreshToken: held });
    expect(await f.stored()).toBe(f.initial);

    refusing = false;
    f.snapshots.length = 0;
    expect((await f.refresh()).kind).toBe('refreshed');
    expect(sim.usedRefreshTokens(f.clientId)).toEqual([f.initial, held]);
    expect(f.snapshots[0]).toMatchObject({ step: 'spend_noted', journal: { kind: 'spending', presented: await fingerprint(held) }, stored: held });
    expect(await f.stored()).toBe(sim.currentRefreshToken(f.clientId));
    expect(await f.journal.read(ORG)).toBeUndefined();
  });

  it("stops with refresh_outcome_unknown, presenting nothing, when a dead attempt's spend note names the stored token", async () => {
    const f = setup();
    const dead = (await f.lease.acquire(ORG, 'dead-worker', 60_000, clock.now()))!;
    const note: JournalEntry = { kind: 'spending', attemptId: 'dead-attempt', atMs: clock.now(), clientId: f.clientId, credentialsVersion: 1, presented: await fingerprint(f.initial) };
    await f.journal.record(dead, note);
    clock.advance(60_000 + 30_000);
    const before = (await f.registry.get(ORG))!;
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'refresh_outcome_unknown', critical: true });
    expect(sim.counts(f.clientId).token).toBe(0);
    expect(await f.journal.read(ORG)).toEqual(note);
    expect(f.journal.recorded).toEqual([note]);
    expect(f.snapshots.map((s) => s.step)).toEqual(['state_written']);
    expect(f.audit.records[0]).toMatchObject({ outcome: 'failure', errorCode: 'refresh_outcome_unknown', errorClass: 'permanent', severity: 'critical', attempts: 0 });
    expect(f.audit.records[0]!.message).toContain('dead-attempt');
    expect((await f.registry.get(ORG))!.state).toEqual({ ...before.state, lastAttemptAtMs: clock.now(), lastOutcome: 'failure', lastErrorCode: 'refresh_outcome_unknown', lastErrorClass: 'permanent', consecutiveFailures: 1, credentialsVersionUsed: 1, nextAttemptAtMs: NEVER });
  });

  it('keeps the spend noted when the answer is lost, so the next attempt stops instead of presenting the token again', async () => {
    const f = setup();
    sim.injectFault(f.clientId, { kind: 'after_grant', then: { kind: 'reset' } });
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'refresh_outcome_unknown', critical: true });
    const attemptId = f.audit.records[0]!.attemptId;
    expect(await f.journal.read(ORG)).toMatchObject({ kind: 'spending', attemptId, presented: await fingerprint(f.initial) });
    expect(await f.stored()).toBe(f.initial);

    const again = await f.refresh();
    expect(again).toMatchObject({ kind: 'failed', errorCode: 'refresh_outcome_unknown' });
    expect(sim.counts(f.clientId)).toMatchObject({ token: 1, refreshTokenReuse: 0 });
  });

  it('forgets the spend when Genesys refuses the request before spending the token, and presents it again later', async () => {
    const f = setup();
    // A Retry-After longer than the client waits inline: the attempt ends with the 429.
    sim.injectFault(f.clientId, { kind: 'rate_limit', retryAfter: '120' });
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'rate_limited', critical: false });
    expect(await f.journal.read(ORG)).toBeUndefined();
    expect(f.journal.recorded).toEqual([expect.objectContaining({ kind: 'spending', presented: await fingerprint(f.initial) })]);
    expect(f.snapshots.map((s) => s.step)).toEqual(['spend_noted', 'state_written']);
    expect(f.audit.records[0]).toMatchObject({ errorCode: 'rate_limited', httpStatus: 429, attempts: 1 });

    expect((await f.refresh()).kind).toBe('refreshed');
    expect(sim.usedRefreshTokens(f.clientId)).toEqual([f.initial]);
  });

  it('keeps the rotated token, not the spend, in the journal when the grant body is invalid, and presents it next time', async () => {
    const f = setup();
    sim.injectFault(f.clientId, { kind: 'invalid_token_body' });
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'invalid_token_response', critical: false });
    const rotated = sim.currentRefreshToken(f.clientId)!;
    const attemptId = f.audit.records[0]!.attemptId;
    expect(await f.journal.read(ORG)).toMatchObject({ kind: 'received', refreshToken: rotated, attemptId });
    expect(await f.stored()).toBe(f.initial);
    expect(f.vault.writes).toBe(0);

    expect((await f.refresh()).kind).toBe('refreshed');
    expect(sim.usedRefreshTokens(f.clientId)).toEqual([f.initial, rotated]);
    expect(sim.counts(f.clientId).refreshTokenReuse).toBe(0);
  });

  it('forgets the spend after a grant that carries no new refresh token', async () => {
    const genesys = scriptedGenesys();
    const f = setup({ oauth: genesys.oauth });
    expect((await f.refresh()).kind).toBe('refreshed');
    expect(genesys.requests.map((r) => r.credentials)).toEqual([{ clientId: f.clientId, clientSecret: expect.any(String), refreshToken: f.initial }]);
    expect(f.journal.recorded.map((e) => e.kind)).toEqual(['spending']);
    expect(await f.journal.read(ORG)).toBeUndefined();
    expect(await f.stored()).toBe(f.initial);
    expect(f.snapshots.map((s) => s.step)).toEqual(['spend_noted', 'token_written', 'state_written']);
  });

  it('asks Genesys to answer 5 s before the attempt budget ends, keeping that reserve to persist the rotated token', async () => {
    const genesys = scriptedGenesys({ rotated: 'rt-reserve' });
    const f = setup({ oauth: genesys.oauth });
    const startedMs = clock.now();
    await f.refresh({ orgTimeBudgetMs: 20_000 });
    expect(genesys.requests.map((r) => r.deadlineMs)).toEqual([startedMs + 20_000 - 5_000]);
  });

  it('notes the received token with the time it arrived', async () => {
    const genesys = scriptedGenesys({ rotated: 'rt-scripted', beforeAnswer: () => clock.advance(1_500) });
    const f = setup({ oauth: genesys.oauth });
    const startedMs = clock.now();
    await f.refresh();
    expect(f.journal.recorded).toEqual([
      expect.objectContaining({ kind: 'spending', atMs: startedMs }),
      expect.objectContaining({ kind: 'received', refreshToken: 'rt-scripted', atMs: startedMs + 1_500, clientId: f.clientId, credentialsVersion: 1 }),
    ]);
    expect(await f.stored()).toBe('rt-scripted');
  });

  it('fails with credentials_changed_during_refresh and writes no token when the journal refuses and an operator replaced the credentials meanwhile', async () => {
    const f = setup();
    const record = f.journal.record.bind(f.journal);
    const operators: ClientCredentials = { clientId: 'operator-client', clientSecret: 'operator-secret', refreshToken: 'operator-refresh-token' };
    f.journal.record = async (handle, entry) => {
      if (entry.kind === 'received') {
        await f.credentials.save({ orgId: ORG }, operators);
        throw new StoreError('refresh_token_persist_failed', 'journal down');
      }
      return record(handle, entry);
    };
    const outcome = await f.refresh({ orgTimeBudgetMs: 10_000 });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'credentials_changed_during_refresh', critical: false });
    expect(await f.credentials.read({ orgId: ORG } as OrgRecord)).toEqual(operators);
    expect(f.vault.writes).toBe(0);
    expect(f.snapshots.map((s) => s.step)).toEqual(['spend_noted', 'write_ahead', 'state_written']);
    expect(f.audit.records[0]).toMatchObject({ outcome: 'failure', errorCode: 'credentials_changed_during_refresh', errorClass: 'transient', attempts: 1 });
  });

  it('fails with credentials_changed_during_refresh and keeps the journal entry when an operator replaced the credentials after the journal took the token', async () => {
    const f = setup();
    const record = f.journal.record.bind(f.journal);
    f.journal.record = async (handle, entry) => {
      await record(handle, entry);
      if (entry.kind === 'received') await f.credentials.save({ orgId: ORG }, { clientId: f.clientId, clientSecret: 'rotated-secret', refreshToken: 'operator-refresh-token' });
    };
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'credentials_changed_during_refresh' });
    expect(await f.stored()).toBe('operator-refresh-token');
    expect(await f.journal.read(ORG)).toMatchObject({ kind: 'received', refreshToken: sim.currentRefreshToken(f.clientId) });
    expect(f.vault.writes).toBe(0);
    expect(f.snapshots.map((s) => s.step)).toEqual(['spend_noted', 'write_ahead', 'state_written']);
  });

  it('refreshes and leaves the rotated token in the journal when the credentials refuse it for the 2 s the mirror may take', async () => {
    const f = setup();
    let writes = 0;
    f.credentials.rotateRefreshToken = async () => {
      writes++;
      throw new StoreError('credentials_unavailable', 'secret store throttled');
    };
    const outcome = await f.refresh();
    expect(outcome.kind).toBe('refreshed');
    expect(clock.sleeps).toEqual([100, 200, 400, 800]);
    expect(writes).toBe(5);
    expect(await f.journal.read(ORG)).toMatchObject({ kind: 'received', refreshToken: sim.currentRefreshToken(f.clientId) });
    expect(await f.stored()).toBe(f.initial);
    expect(f.snapshots.map((s) => s.step)).toEqual(['spend_noted', 'write_ahead', 'token_written', 'state_written']);
  });

  it('writes the rotated token into the credentials when the journal refuses it, and leaves the spend note for the next attempt to retire', async () => {
    const f = setup();
    const record = f.journal.record.bind(f.journal);
    f.journal.record = async (handle, entry) => {
      if (entry.kind === 'received') throw new StoreError('refresh_token_persist_failed', 'journal down');
      return record(handle, entry);
    };
    const outcome = await f.refresh({ orgTimeBudgetMs: 10_000 });
    expect(outcome.kind).toBe('refreshed');
    const rotated = sim.currentRefreshToken(f.clientId)!;
    expect(f.snapshots.map((s) => [s.step, s.stored])).toEqual([
      ['spend_noted', f.initial],
      ['write_ahead', rotated],
      ['credentials_written', rotated],
      ['token_written', rotated],
      ['state_written', rotated],
    ]);
    expect(await f.journal.read(ORG)).toMatchObject({ kind: 'spending', presented: await fingerprint(f.initial) });

    f.journal.record = record;
    expect((await f.refresh()).kind).toBe('refreshed');
    expect(sim.usedRefreshTokens(f.clientId)).toEqual([f.initial, rotated]);
    expect(await f.journal.read(ORG)).toBeUndefined();
  });

  it('reports a rotated token neither store takes as a critical, permanent persist failure, and still writes the access token', async () => {
    const f = setup();
    const record = f.journal.record.bind(f.journal);
    f.journal.record = async (handle, entry) => {
      if (entry.kind === 'received') throw new StoreError('refresh_token_persist_failed', 'journal down');
      return record(handle, entry);
    };
    const cause = new Error('secret store unreachable');
    f.credentials.rotateRefreshToken = async () => {
      throw cause;
    };
    const outcome = await f.refresh({ orgTimeBudgetMs: 10_000 });
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'refresh_token_persist_failed', critical: true });
    if (outcome.kind !== 'failed') throw new Error('unreachable');
    expect(outcome.error).toBeInstanceOf(StoreError);
    expect(outcome.error).toMatchObject({ code: 'refresh_token_persist_failed', failureClass: 'permanent', orgId: ORG, message: `rotated refresh token for org ${ORG} could not be persisted` });
    expect((outcome.error.cause as StoreError).code).toBe('refresh_token_persist_failed');
    expect((outcome.error.cause as Error).cause).toBe(cause);
    expect(outcome.token).toEqual(await f.vault.read(ORG));
    const attemptId = f.audit.records[0]!.attemptId;
    expect(f.audit.records[0]).toMatchObject({ outcome: 'failure', errorCode: 'refresh_token_persist_failed', errorClass: 'permanent', severity: 'critical', message: `rotated refresh token for org ${ORG} could not be persisted` });
    expect(f.logs).toContainEqual({ level: 'critical', message: 'rotated refresh token could not be persisted; re-authorize this org', fields: { orgId: ORG, attemptId } });
    expect(f.snapshots.map((s) => s.step)).toEqual(['spend_noted', 'write_ahead', 'token_written', 'state_written']);
    expect((await f.registry.get(ORG))!.state).toMatchObject({ lastOutcome: 'failure', lastErrorCode: 'refresh_token_persist_failed', nextAttemptAtMs: NEVER });
  });

  it('spends nothing when its lease is lost before the spend, and records no state', async () => {
    const f = setup();
    f.lease.renew = async () => undefined;
    const before = await f.registry.get(ORG);
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'lease_held' });
    if (outcome.kind !== 'failed') throw new Error('unreachable');
    expect(outcome.error).toMatchObject({ orgId: ORG, message: `lease on org ${ORG} was lost before spending its refresh token` });
    expect(sim.counts(f.clientId).token).toBe(0);
    expect(f.journal.recorded).toEqual([]);
    expect(await f.registry.get(ORG)).toEqual(before);
    expect(f.audit.records[0]).toMatchObject({ outcome: 'failure', errorCode: 'lease_held', errorClass: 'transient' });
  });

  it('notes no spend for an org with no refresh token stored', async () => {
    const f = setup({ refreshToken: null });
    const outcome = await f.refresh();
    expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'missing_refresh_token' });
    expect(f.journal.recorded).toEqual([]);
    expect(sim.counts(f.clientId).token).toBe(0);
    expect(f.snapshots.map((s) => s.step)).toEqual(['state_written']);
  });

  it('renews its lease right before the spend and notes the spend inside it', async () => {
    const f = setup();
    const renewals: number[] = [];
    const renew = f.lease.renew.bind(f.lease);
    f.lease.renew = async (handle, ttlMs, nowMs) => {
      renewals.push(nowMs);
      return renew(handle, ttlMs, nowMs);
    };
    const read = f.credentials.readCurrent.bind(f.credentials);
    let slow = true;
    f.credentials.readCurrent = async (o) => {
      if (slow) clock.advance(20_000); // a slow first read: the lease taken at the start has 40 s left
      slow = false;
      return read(o);
    };
    const rotate = f.credentials.rotateRefreshToken.bind(f.credentials);
    f.credentials.rotateRefreshToken = async (...args) => {
      clock.advance(15_000); // a slow mirror: still well inside the renewed lease at the token write
      return rotate(...args);
    };
    const startedMs = clock.now();
    expect(await f.refresh({ orgTimeBudgetMs: 60_000 })).toMatchObject({ kind: 'refreshed' });
    expect(renewals).toEqual([startedMs + 20_000]);
  });
});
