/**
 * The on-demand contract between the getter and the refresher: the request and the answer as they
 * cross the wire (both validated where received), what each engine outcome means to the getter, and
 * the engine wrapped as an OnDemandRefresher.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryOrgRegistry, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import type { RefreshEngine, RefreshOutcome, RefreshRequest } from '../../lambdas/core/engine.js';
import { BrokerError, StoreError, UnreadableRecordError } from '../../lambdas/core/errors.js';
import { fingerprint } from '../../lambdas/core/fingerprint.js';
import { createEngineOnDemandRefresher, MAX_ON_DEMAND_BUDGET_MS, onDemandResult, type OnDemandResult, parseOnDemandRequest, parseOnDemandResult } from '../../lambdas/core/on-demand.js';
import { NEVER } from '../../lambdas/core/policy.js';
import type { OrgRecord, TokenRecord } from '../../lambdas/core/ports.js';

const ORG = '2d000000-0000-4000-8000-000000000001';
const MISSING = '2d000000-0000-4000-8000-0000000000ff';
const FP = 'a'.repeat(32);
const T0 = Date.parse('2026-07-01T00:00:00Z');

describe('parseOnDemandRequest', () => {
  it.each([
    ['a missing token', { orgId: ORG, reason: 'missing' }, { orgId: ORG, reason: 'missing' }],
    ['an expiring token', { orgId: ORG, reason: 'expiring', requestId: 'req-1' }, { orgId: ORG, reason: 'expiring', requestId: 'req-1' }],
    ['a rejected token, by fingerprint', { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: FP }, { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: FP }],
    ['the smallest budget', { orgId: ORG, reason: 'missing', budgetMs: 1 }, { orgId: ORG, reason: 'missing', budgetMs: 1 }],
    ['the largest budget', { orgId: ORG, reason: 'missing', budgetMs: MAX_ON_DEMAND_BUDGET_MS }, { orgId: ORG, reason: 'missing', budgetMs: MAX_ON_DEMAND_BUDGET_MS }],
    ['an upper-case org id, lower-cased', { orgId: ORG.toUpperCase(), reason: 'missing' }, { orgId: ORG, reason: 'missing' }],
  ])('accepts %s', (_name, input, expected) => {
    expect(parseOnDemandRequest(input)).toEqual(expected);
  });

  it.each([
    ['not an object', 'refresh please', /\(root\)/],
    ['null', null, /\(root\)/],
    ['an array', [ORG], /\(root\)/],
    ['no orgId', { reason: 'missing' }, /orgId/],
    ['a non-UUID orgId', { orgId: 'acme', reason: 'missing' }, /orgId: must be a UUID/],
    ['no reason', { orgId: ORG }, /reason/],
    ['an unknown reason', { orgId: ORG, reason: 'bored' }, /reason/],
    ['an unknown field', { orgId: ORG, reason: 'missing', force: true }, /force|unrecognized/i],
    ['the token itself', { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: FP, rejectedToken: 'tok' }, /rejectedToken|unrecognized/i],
    ['rejected without a fingerprint', { orgId: ORG, reason: 'rejected' }, /rejectedTokenFingerprint goes with reason "rejected"/],
    ['a fingerprint with reason missing', { orgId: ORG, reason: 'missing', rejectedTokenFingerprint: FP }, /rejectedTokenFingerprint goes with reason "rejected"/],
    ['a fingerprint with reason expiring', { orgId: ORG, reason: 'expiring', rejectedTokenFingerprint: FP }, /rejectedTokenFingerprint goes with reason "rejected"/],
    ['a fingerprint of 31 digits', { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: FP.slice(1) }, /32 hex digits/],
    ['an upper-case fingerprint', { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: 'A'.repeat(32) }, /32 hex digits/],
    ['a token where the fingerprint goes', { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: 'eyJhbGciOi.not-a-fingerprint' }, /32 hex digits/],
    ['a budget of 0', { orgId: ORG, reason: 'missing', budgetMs: 0 }, /budgetMs/],
    ['a budget above a Lambda timeout', { orgId: ORG, reason: 'missing', budgetMs: MAX_ON_DEMAND_BUDGET_MS + 1 }, /budgetMs/],
    ['a fractional budget', { orgId: ORG, reason: 'missing', budgetMs: 1.5 }, /budgetMs/],
    ['a budget as a string', { orgId: ORG, reason: 'missing', budgetMs: '1000' }, /budgetMs/],
    ['an empty request id', { orgId: ORG, reason: 'missing', requestId: '' }, /requestId/],
    ['a request id of 257 characters', { orgId: ORG, reason: 'missing', requestId: 'r'.repeat(257) }, /requestId/],
  ])('rejects %s as invalid_request', (_name, input, message) => {
    expect(() => parseOnDemandRequest(input)).toThrow(expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(message) }));
  });

  it('accepts exactly the integer budgets from 1 ms to MAX_ON_DEMAND_BUDGET_MS', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -2 * MAX_ON_DEMAND_BUDGET_MS, max: 2 * MAX_ON_DEMAND_BUDGET_MS }), fc.double({ noNaN: true })), (budgetMs) => {
        const valid = Number.isInteger(budgetMs) && budgetMs >= 1 && budgetMs <= MAX_ON_DEMAND_BUDGET_MS;
        let accepted: boolean;
        try {
          accepted = parseOnDemandRequest({ orgId: ORG, reason: 'missing', budgetMs }).budgetMs === budgetMs;
        } catch {
          accepted = false;
        }
        return accepted === valid;
      }),
    );
  });

  it('accepts the fingerprint of any token, and never the token', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 200 }), async (token) => {
        const rejectedTokenFingerprint = await fingerprint(token);
        expect(parseOnDemandRequest({ orgId: ORG, reason: 'rejected', rejectedTokenFingerprint })).toEqual({ orgId: ORG, reason: 'rejected', rejectedTokenFingerprint });
      }),
    );
  });
});

describe('parseOnDemandResult', () => {
  const valid: [string, OnDemandResult][] = [
    ['refreshed', { orgId: ORG, outcome: 'refreshed', expiresAt: '2026-07-02T00:00:00.000Z' }],
    ['current', { orgId: ORG, outcome: 'current' }],
    ['busy', { orgId: ORG, outcome: 'busy' }],
    ['recently_checked', { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 30 }],
    ['unavailable with a retry hint', { orgId: ORG, outcome: 'unavailable', errorCode: 'invalid_client', message: 'refused', retryAfterSeconds: 60 }],
    ['unavailable without one', { orgId: ORG, outcome: 'unavailable', errorCode: 'org_disabled', message: 'disabled' }],
  ];
  it.each(valid)('accepts %s', (_name, result) => {
    expect(parseOnDemandResult(JSON.parse(JSON.stringify(result)))).toEqual(result);
  });

  it.each([
    ['null', null],
    ['a string', 'refreshed'],
    ['an array', [{ orgId: ORG, outcome: 'current' }]],
    ['no orgId', { outcome: 'current' }],
    ['an unknown outcome', { orgId: ORG, outcome: 'maybe' }],
    ['refreshed without expiresAt', { orgId: ORG, outcome: 'refreshed' }],
    ['recently_checked without retryAfterSeconds', { orgId: ORG, outcome: 'recently_checked' }],
    ['recently_checked with retryAfterSeconds 0', { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 0 }],
    ['recently_checked with fractional seconds', { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 1.5 }],
    ['unavailable with an unknown error code', { orgId: ORG, outcome: 'unavailable', errorCode: 'on_fire', message: 'x' }],
    ['unavailable without a message', { orgId: ORG, outcome: 'unavailable', errorCode: 'timeout' }],
    ['unavailable with a message over 2000 characters', { orgId: ORG, outcome: 'unavailable', errorCode: 'timeout', message: 'm'.repeat(2_001) }],
    ['unavailable with retryAfterSeconds 0', { orgId: ORG, outcome: 'unavailable', errorCode: 'timeout', message: 'x', retryAfterSeconds: 0 }],
    ['a sweep summary', { examined: 1, refreshed: 1, results: [] }],
  ])('answers undefined for %s', (_name, input) => {
    expect(parseOnDemandResult(input)).toBeUndefined();
  });

  it('drops fields it does not know, a token included, rather than passing them on', () => {
    expect(parseOnDemandResult({ orgId: ORG, outcome: 'refreshed', expiresAt: '2026-07-02T00:00:00.000Z', accessToken: 'tok-secret' })).toEqual({
      orgId: ORG,
      outcome: 'refreshed',
      expiresAt: '2026-07-02T00:00:00.000Z',
    });
  });
});

function org(state: Partial<OrgRecord['state']> = {}): OrgRecord {
  return { orgId: ORG, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, version: 3, state: { consecutiveFailures: 0, ...state } };
}

const TOKEN: TokenRecord = {
  schemaVersion: 1,
  orgId: ORG,
  accessToken: 'tok-never-in-an-answer',
  tokenType: 'bearer',
  issuedAt: new Date(T0).toISOString(),
  expiresAt: new Date(T0 + 86_400_000).toISOString(),
  refreshAt: new Date(T0 + 64_800_000).toISOString(),
  region: 'mypurecloud.ie',
  apiBaseUrl: 'https://api.mypurecloud.ie',
  oauthClientId: 'c',
  scopes: [],
};
const none = { auditWriteFailed: false, stateWriteFailed: false };
const failed = (extra: Partial<Extract<RefreshOutcome, { kind: 'failed' }>> = {}): RefreshOutcome => ({
  kind: 'failed',
  orgId: ORG,
  reason: 'at_refresh_mark',
  errorCode: 'invalid_client',
  error: new BrokerError('invalid_client', `client refused for org ${ORG}`),
  critical: false,
  effects: none,
  ...extra,
});

describe('onDemandResult', () => {
  const cases: [string, RefreshOutcome, OnDemandResult][] = [
    ['refreshed', { kind: 'refreshed', orgId: ORG, reason: 'expired', token: TOKEN, org: org(), effects: none }, { orgId: ORG, outcome: 'refreshed', expiresAt: TOKEN.expiresAt }],
    [
      'failed, but a token was written (its rotated refresh token was lost)',
      failed({ errorCode: 'refresh_token_persist_failed', critical: true, token: TOKEN, org: org({ nextAttemptAtMs: NEVER }) }),
      { orgId: ORG, outcome: 'refreshed', expiresAt: TOKEN.expiresAt },
    ],
    [
      'failed, with a next attempt 90.5 s away',
      failed({ org: org({ nextAttemptAtMs: T0 + 90_500, consecutiveFailures: 1 }) }),
      { orgId: ORG, outcome: 'unavailable', errorCode: 'invalid_client', message: `client refused for org ${ORG}`, retryAfterSeconds: 91 },
    ],
    ['failed, no next attempt (waits for an operator)', failed({ org: org({ nextAttemptAtMs: NEVER }) }), { orgId: ORG, outcome: 'unavailable', errorCode: 'invalid_client', message: `client refused for org ${ORG}` }],
    ['failed, a next attempt already due', failed({ org: org({ nextAttemptAtMs: T0 - 1 }) }), { orgId: ORG, outcome: 'unavailable', errorCode: 'invalid_client', message: `client refused for org ${ORG}` }],
    [
      'failed before an attempt (no org)',
      failed({ errorCode: 'registry_write_failed', error: new StoreError('registry_write_failed', 'registry write throttled') }),
      { orgId: ORG, outcome: 'unavailable', errorCode: 'registry_write_failed', message: 'registry write throttled' },
    ],
    ['deferred', { kind: 'deferred', orgId: ORG, reason: 'deadline', org: org() }, { orgId: ORG, outcome: 'unavailable', errorCode: 'deadline_exceeded', message: `not enough time was left to refresh org ${ORG}` }],
    ['skipped: lease_held', { kind: 'skipped', orgId: ORG, reason: 'lease_held', org: org() }, { orgId: ORG, outcome: 'busy' }],
    ['skipped: not_due', { kind: 'skipped', orgId: ORG, reason: 'not_due', org: org() }, { orgId: ORG, outcome: 'current' }],
    ['skipped: token_replaced', { kind: 'skipped', orgId: ORG, reason: 'token_replaced', org: org() }, { orgId: ORG, outcome: 'current' }],
    ['skipped: token_valid', { kind: 'skipped', orgId: ORG, reason: 'token_valid', org: org() }, { orgId: ORG, outcome: 'current' }],
    ['skipped: recently_checked, 59.2 s to go', { kind: 'skipped', orgId: ORG, reason: 'recently_checked', org: org(), retryAtMs: T0 + 59_200 }, { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 60 }],
    ['skipped: recently_checked, no retry time', { kind: 'skipped', orgId: ORG, reason: 'recently_checked', org: org() }, { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 1 }],
    ['skipped: recently_checked, retry time passed', { kind: 'skipped', orgId: ORG, reason: 'recently_checked', org: org(), retryAtMs: T0 }, { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 1 }],
    ['skipped: disabled', { kind: 'skipped', orgId: ORG, reason: 'disabled', org: org() }, { orgId: ORG, outcome: 'unavailable', errorCode: 'org_disabled', message: `org ${ORG} is disabled` }],
    [
      'skipped: backing_off',
      { kind: 'skipped', orgId: ORG, reason: 'backing_off', org: org({ consecutiveFailures: 3, lastErrorCode: 'timeout', nextAttemptAtMs: T0 + 240_000 }) },
      { orgId: ORG, outcome: 'unavailable', errorCode: 'timeout', message: `org ${ORG} is backing off after 3 failed refreshes (last: timeout)`, retryAfterSeconds: 240 },
    ],
    [
      'skipped: backing_off without a recorded error',
      { kind: 'skipped', orgId: ORG, reason: 'backing_off', org: org({ consecutiveFailures: 1, nextAttemptAtMs: T0 + 1 }) },
      { orgId: ORG, outcome: 'unavailable', errorCode: 'token_unavailable', message: `org ${ORG} is backing off after 1 failed refreshes (last: unknown)`, retryAfterSeconds: 1 },
    ],
    ['skipped: not_found', { kind: 'skipped', orgId: ORG, reason: 'not_found' }, { orgId: ORG, outcome: 'unavailable', errorCode: 'org_not_found', message: `org ${ORG} is not registered` }],
    [
      'skipped: unreadable',
      { kind: 'skipped', orgId: ORG, reason: 'unreadable', unreadable: { orgId: ORG, problem: 'not valid JSON', location: '/data/x.json', remedy: 'Restore it from a backup.' } },
      { orgId: ORG, outcome: 'unavailable', errorCode: 'registry_unavailable', message: `the registry entry of org ${ORG} is unreadable: Restore it from a backup.` },
    ],
  ];

  it.each(cases)('%s', (_name, outcome, expected) => {
    const result = onDemandResult(outcome, T0);
    expect(result).toEqual(expected);
    // What the refresher answers, the getter accepts, and no token ever crosses.
    expect(parseOnDemandResult(JSON.parse(JSON.stringify(result)))).toEqual(expected);
    expect(JSON.stringify(result)).not.toContain(TOKEN.accessToken);
  });
});

interface Stub {
  engine: RefreshEngine;
  calls: { org: OrgRecord; request: RefreshRequest }[];
}

function stubEngine(outcome: (org: OrgRecord) => RefreshOutcome = (o) => ({ kind: 'skipped', orgId: o.orgId, reason: 'not_due', org: o })): Stub {
  const calls: Stub['calls'] = [];
  return {
    calls,
    engine: {
      sweep: () => Promise.reject(new Error('not used')),
      refreshOne: async (o, request) => {
        calls.push({ org: o, request });
        return outcome(o);
      },
    },
  };
}

describe('createEngineOnDemandRefresher', () => {
  const setup = (outcome?: (org: OrgRecord) => RefreshOutcome) => {
    const clock = new ManualClock(T0);
    const registry = new InMemoryOrgRegistry([org({ issuedAtMs: T0 - 1_000, expiresAtMs: T0 + 86_400_000 })]);
    const stub = stubEngine(outcome);
    const seen: RefreshOutcome[] = [];
    const refresher = createEngineOnDemandRefresher({ engine: stub.engine, registry, clock, onOutcome: (o) => seen.push(o) });
    return { clock, registry, refresher, seen, ...stub };
  };

  it('refreshes the org as stored, as the getter, with the request id', async () => {
    const s = setup();
    await s.refresher.refresh({ orgId: ORG, reason: 'expiring', requestId: 'req-7' }, { deadlineMs: T0 + 20_000 });
    expect(s.calls).toEqual([{ org: await s.registry.get(ORG), request: { trigger: 'getter', deadlineMs: T0 + 20_000, requestId: 'req-7' } }]);
  });

  it.each([
    ['a budget shorter than the time left caps the deadline', 5_000, T0 + 5_000],
    ['a budget longer than the time left does not extend it', 60_000, T0 + 20_000],
    ['no budget leaves the deadline as it is', undefined, T0 + 20_000],
  ])('%s', async (_name, budgetMs, deadlineMs) => {
    const s = setup();
    await s.refresher.refresh({ orgId: ORG, reason: 'expiring', ...(budgetMs !== undefined ? { budgetMs } : {}) }, { deadlineMs: T0 + 20_000 });
    expect(s.calls.map((c) => c.request.deadlineMs)).toEqual([deadlineMs]);
  });

  it.each([
    ['rejected', { rejectedTokenFingerprint: FP }, { kind: 'rejected', fingerprint: FP }],
    ['missing', {}, { kind: 'missing' }],
    ['expiring', {}, undefined],
  ] as const)('passes the report of reason %s to the engine', async (reason, extra, report) => {
    const s = setup();
    await s.refresher.refresh({ orgId: ORG, reason, ...extra }, { deadlineMs: T0 + 20_000 });
    expect(s.calls[0]!.request.report).toEqual(report);
    expect('report' in s.calls[0]!.request).toBe(report !== undefined);
  });

  it('answers with onDemandResult of the engine outcome, and hands the outcome to onOutcome', async () => {
    const outcome: RefreshOutcome = { kind: 'refreshed', orgId: ORG, reason: 'expired', token: TOKEN, org: org(), effects: none };
    const s = setup(() => outcome);
    s.clock.advance(1); // the answer is computed at the time the engine returns
    const result = await s.refresher.refresh({ orgId: ORG, reason: 'expiring' }, { deadlineMs: T0 + 20_000 });
    expect(result).toEqual({ orgId: ORG, outcome: 'refreshed', expiresAt: TOKEN.expiresAt });
    expect(s.seen).toEqual([outcome]);
    expect(s.seen[0]).toBe(outcome);
  });

  it('answers org_not_found for an org the registry does not hold, without calling the engine', async () => {
    const s = setup();
    const result = await s.refresher.refresh({ orgId: MISSING, reason: 'missing' }, { deadlineMs: T0 + 20_000 });
    expect(result).toEqual({ orgId: MISSING, outcome: 'unavailable', errorCode: 'org_not_found', message: `org ${MISSING} is not registered` });
    expect(s.calls).toHaveLength(0);
    expect(s.seen).toHaveLength(0);
  });

  it('answers registry_unavailable when the registry cannot be read, naming the error type, not its text', async () => {
    const s = setup();
    s.registry.get = () => Promise.reject(new TypeError('connect ECONNREFUSED secret-host'));
    const result = await s.refresher.refresh({ orgId: ORG, reason: 'missing' }, { deadlineMs: T0 + 20_000 });
    expect(result).toEqual({ orgId: ORG, outcome: 'unavailable', errorCode: 'registry_unavailable', message: `unexpected TypeError for org ${ORG}` });
    expect(s.calls).toHaveLength(0);
  });

  it('keeps the code and message of a broker error the registry throws', async () => {
    const s = setup();
    const damaged = { orgId: ORG, problem: 'not valid JSON', location: '/data/registry/x.json', remedy: 'Restore the file from a backup.' };
    s.registry.get = () => Promise.reject(new UnreadableRecordError('registry_unavailable', 'registry file', damaged));
    const result = await s.refresher.refresh({ orgId: ORG, reason: 'missing' }, { deadlineMs: T0 + 20_000 });
    expect(result).toMatchObject({ outcome: 'unavailable', errorCode: 'registry_unavailable', message: expect.stringContaining('Restore the file from a backup.') });
  });
});
