import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../lambdas/core/errors.js';
import type { OrgRecord, TokenRecord } from '../../lambdas/core/ports.js';
import { addOutcome, emptySummary, MAX_RESULT_LINES, type RefreshOutcome, resultOf, type SweepSummary } from '../../lambdas/core/sweep-summary.js';

const H = 3_600_000;
const T0 = Date.parse('2026-05-01T00:00:00Z');
const ORG = '0e000000-0000-4000-8000-000000000001';

const org = (state: Partial<OrgRecord['state']> = {}, extra: Partial<OrgRecord> = {}): OrgRecord => ({
  orgId: ORG,
  region: 'mypurecloud.ie',
  grantType: 'client_credentials',
  enabled: true,
  credentialsVersion: 1,
  version: 1,
  state: { consecutiveFailures: 0, ...state },
  ...extra,
});
const healthy = org({ issuedAtMs: T0 - H, expiresAtMs: T0 + 23 * H, refreshAtMs: T0 + 17 * H, lastOutcome: 'success' });
const atRisk = org({ issuedAtMs: T0 - 20 * H, expiresAtMs: T0 + 4 * H, refreshAtMs: T0 - 2 * H, lastOutcome: 'failure', lastErrorClass: 'transient', consecutiveFailures: 1 });
const expired = org({ issuedAtMs: T0 - 30 * H, expiresAtMs: T0 - 6 * H, refreshAtMs: T0 - 12 * H });
const token = { expiresAt: new Date(T0 + 24 * H).toISOString() } as TokenRecord;
const none = { auditWriteFailed: false, stateWriteFailed: false };
const error = new BrokerError('invalid_client', 'refused');

const unreadable: RefreshOutcome = {
  kind: 'skipped',
  orgId: ORG,
  reason: 'unreadable',
  unreadable: { orgId: ORG, problem: 'not valid JSON', location: `/data/registry/${ORG}.json`, remedy: 'Restore the file from a backup' },
};
const refreshed: RefreshOutcome = { kind: 'refreshed', orgId: ORG, reason: 'at_refresh_mark', token, org: healthy, effects: none };
const failed: RefreshOutcome = { kind: 'failed', orgId: ORG, reason: 'retry_due', errorCode: 'invalid_client', error, critical: false, org: atRisk, effects: none };

function summarize(...outcomes: RefreshOutcome[]): SweepSummary {
  const summary = emptySummary(T0);
  for (const outcome of outcomes) addOutcome(summary, outcome, T0);
  return summary;
}

describe('resultOf', () => {
  it.each<[string, RefreshOutcome, ReturnType<typeof resultOf>]>([
    ['a refresh, with the new expiry', refreshed, { orgId: ORG, outcome: 'refreshed', reason: 'at_refresh_mark', expiresAt: token.expiresAt }],
    ['a failure, with its code', failed, { orgId: ORG, outcome: 'failed', reason: 'retry_due', errorCode: 'invalid_client' }],
    ['a failure that still wrote a token, with its expiry', { ...failed, errorCode: 'refresh_token_persist_failed', token } as RefreshOutcome, { orgId: ORG, outcome: 'failed', reason: 'retry_due', errorCode: 'refresh_token_persist_failed', expiresAt: token.expiresAt }],
    ['a deferral', { kind: 'deferred', orgId: ORG, reason: 'deadline', org: healthy }, { orgId: ORG, outcome: 'deferred', reason: 'deadline' }],
    ['an unknown org', { kind: 'skipped', orgId: ORG, reason: 'not_found' }, { orgId: ORG, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' }],
    ['an org the registry could not read, with the registry error code', unreadable, { orgId: ORG, outcome: 'skipped', reason: 'unreadable', errorCode: 'registry_unavailable' }],
    ['an org busy elsewhere', { kind: 'skipped', orgId: ORG, reason: 'lease_held', org: healthy }, { orgId: ORG, outcome: 'skipped', reason: 'lease_held' }],
    ['nothing for an org that was not due', { kind: 'skipped', orgId: ORG, reason: 'not_due', org: healthy }, undefined],
    ['nothing for a disabled org', { kind: 'skipped', orgId: ORG, reason: 'disabled', org: healthy }, undefined],
    ['nothing for an org backing off', { kind: 'skipped', orgId: ORG, reason: 'backing_off', org: healthy }, undefined],
  ])('reports %s', (_name, outcome, expected) => {
    expect(resultOf(outcome)).toEqual(expected);
  });
});

describe('addOutcome', () => {
  it('counts each kind of outcome, and as due only what was due', () => {
    const summary = summarize(
      refreshed,
      failed,
      { ...failed, errorCode: 'timeout' } as RefreshOutcome,
      { ...failed, errorCode: 'timeout' } as RefreshOutcome,
      { kind: 'deferred', orgId: ORG, reason: 'deadline', org: healthy },
      { kind: 'skipped', orgId: ORG, reason: 'lease_held', org: healthy },
      { kind: 'skipped', orgId: ORG, reason: 'not_due', org: healthy },
      { kind: 'skipped', orgId: ORG, reason: 'disabled', org: org({}, { enabled: false }) },
      { kind: 'skipped', orgId: ORG, reason: 'backing_off', org: atRisk },
      { kind: 'skipped', orgId: ORG, reason: 'not_found' },
      unreadable,
    );
    expect(summary).toMatchObject({
      examined: 11,
      due: 6,
      refreshed: 1,
      failed: { invalid_client: 1, timeout: 2 },
      deferred: 1,
      skipped: { leaseHeld: 1, notDue: 1, disabled: 1, backingOff: 1, notFound: 1, unreadable: 1 },
      critical: 0,
      auditWriteFailures: 0,
      stateWriteFailures: 0,
    });
    expect(summary.results.map((r) => r.outcome)).toEqual(['refreshed', 'failed', 'failed', 'failed', 'deferred', 'skipped', 'skipped', 'skipped']);
  });

  it.each<[string, RefreshOutcome[], Partial<SweepSummary>]>([
    ['one unreadable org alone', [unreadable], { examined: 1, due: 0, refreshed: 0, failed: {}, health: {}, orgsAtRisk: 0 }],
    ['an unreadable org beside a refresh', [refreshed, unreadable], { examined: 2, due: 1, refreshed: 1, failed: {}, health: { healthy: 1 } }],
    ['two unreadable orgs beside a failure', [unreadable, failed, unreadable], { examined: 3, due: 1, failed: { invalid_client: 1 }, health: { at_risk: 1 }, orgsAtRisk: 1 }],
  ])('counts %s as skipped and unreadable, never due, failed or judged for health', (_name, outcomes, expected) => {
    const summary = summarize(...outcomes);
    const count = outcomes.filter((o) => o === unreadable).length;
    expect(summary).toMatchObject({ ...expected, skipped: { leaseHeld: 0, notDue: 0, disabled: 0, backingOff: 0, notFound: 0, unreadable: count } });
    expect(summary.registryError).toBeUndefined();
    expect(summary.results.filter((r) => r.reason === 'unreadable')).toEqual(
      Array.from({ length: count }, () => ({ orgId: ORG, outcome: 'skipped', reason: 'unreadable', errorCode: 'registry_unavailable' })),
    );
  });

  it('counts critical events and failed side effects of attempts only', () => {
    const summary = summarize(
      { ...failed, critical: true, effects: { auditWriteFailed: true, stateWriteFailed: false } } as RefreshOutcome,
      { ...refreshed, effects: { auditWriteFailed: false, stateWriteFailed: true } } as RefreshOutcome,
      { ...refreshed, effects: { auditWriteFailed: true, stateWriteFailed: true } } as RefreshOutcome,
    );
    expect(summary).toMatchObject({ critical: 1, auditWriteFailures: 2, stateWriteFailures: 2 });
  });

  it('counts an org waiting for a person (a permanent failure) as at risk while its token still runs', () => {
    const failing = org({ expiresAtMs: T0 + 3_600_000, refreshAtMs: T0 + 60_000, lastOutcome: 'failure', lastErrorClass: 'permanent', lastErrorCode: 'invalid_grant' });
    const summary = summarize({ kind: 'skipped', orgId: ORG, reason: 'backing_off', org: failing });
    expect(summary.health).toEqual({ failing: 1 });
    expect(summary.orgsAtRisk).toBe(1);
  });

  it('judges the health of every org it has a record for, and the least token life among enabled ones', () => {
    const summary = summarize(
      refreshed,
      failed,
      { kind: 'skipped', orgId: ORG, reason: 'not_due', org: healthy },
      { kind: 'skipped', orgId: ORG, reason: 'not_due', org: expired },
      // Disabled orgs have health, but their token life does not count.
      { kind: 'skipped', orgId: ORG, reason: 'disabled', org: org({ expiresAtMs: T0 + 60_000 }, { enabled: false }) },
      { kind: 'skipped', orgId: ORG, reason: 'not_found' },
    );
    expect(summary.health).toEqual({ healthy: 2, at_risk: 1, expired: 1, disabled: 1 });
    expect(summary.orgsAtRisk).toBe(2);
    expect(summary.minTokenSecondsRemaining).toBe(-6 * 3600);
    expect(summary.results[0]).toEqual({ ...resultOf(refreshed), health: 'healthy' });
    expect(summary.results.at(-1)).toEqual({ orgId: ORG, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' });
  });

  it('leaves the least token life unset when no enabled org has a token', () => {
    expect(summarize({ kind: 'skipped', orgId: ORG, reason: 'not_due', org: org() }).minTokenSecondsRemaining).toBeUndefined();
  });
});

describe('emptySummary', () => {
  it('starts every count at zero at the given time', () => {
    expect(emptySummary(T0)).toEqual({
      startedAt: new Date(T0).toISOString(),
      durationMs: 0,
      examined: 0,
      due: 0,
      refreshed: 0,
      failed: {},
      skipped: { leaseHeld: 0, notDue: 0, disabled: 0, backingOff: 0, notFound: 0, unreadable: 0 },
      deferred: 0,
      orgsAtRisk: 0,
      health: {},
      auditWriteFailures: 0,
      stateWriteFailures: 0,
      critical: 0,
      resultDetail: 'all',
      results: [],
      resultsOmitted: 0,
    });
  });
});

describe('result lines', () => {
  it('lists refreshed orgs in a sweep of named orgs, and problems only in a full sweep', () => {
    const named = summarize(refreshed, failed);
    expect(named.results.map((r) => r.outcome)).toEqual(['refreshed', 'failed']);
    const full = emptySummary(T0, 'problems');
    for (const outcome of [refreshed, failed]) addOutcome(full, outcome, T0);
    expect(full.results.map((r) => r.outcome)).toEqual(['failed']);
    expect(full).toMatchObject({ refreshed: 1, failed: { invalid_client: 1 }, resultsOmitted: 0 });
  });

  it(`keeps at most ${MAX_RESULT_LINES} lines and counts the rest, the counters staying exact`, () => {
    const summary = emptySummary(T0, 'problems');
    for (let i = 0; i < MAX_RESULT_LINES + 5; i++) addOutcome(summary, failed, T0);
    expect(summary.results).toHaveLength(MAX_RESULT_LINES);
    expect(summary.resultsOmitted).toBe(5);
    expect(summary.failed).toEqual({ invalid_client: MAX_RESULT_LINES + 5 });
  });
});
