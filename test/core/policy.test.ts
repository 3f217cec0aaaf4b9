import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkTokenLifetime, computeRefreshAt, DEFAULT_POLICY, nextAttemptAfterFailure, nextRefreshAt, orgHealth, policyOptions, REPLACEMENT_DELAY_MS, servingMarginMs, shouldRefresh, tokenCacheUntil, tokenFreshUntil } from '../../lambdas/core/policy.js';
import type { OrgRecord, TokenState } from '../../lambdas/core/ports.js';

const H = 3_600_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');

function org(state: Partial<TokenState>, extra: Partial<OrgRecord> = {}): OrgRecord {
  return {
    orgId: '11111111-1111-4111-8111-111111111111',
    region: 'mypurecloud.com',
    grantType: 'client_credentials',
    enabled: true,
    credentialsVersion: 1,
    version: 1,
    state: { consecutiveFailures: 0, ...state },
    ...extra,
  };
}

const issued = { issuedAtMs: T0, expiresAtMs: T0 + 24 * H, refreshAtMs: T0 + 18 * H, credentialsVersionUsed: 1, lastOutcome: 'success' as const };

describe('computeRefreshAt', () => {
  it('puts the refresh mark at 18 hours of a 24-hour token by default', () => {
    expect(computeRefreshAt(T0, T0 + 24 * H, DEFAULT_POLICY)).toBe(T0 + 18 * H);
  });

  it('derives the mark from the real lifetime, never from an assumed 24 hours', () => {
    expect(computeRefreshAt(T0, T0 + H, DEFAULT_POLICY)).toBe(T0 + 0.75 * H);
    expect(computeRefreshAt(T0, T0 + 48 * H, policyOptions({ refreshAtFraction: 0.5 }))).toBe(T0 + 24 * H);
  });

  it('leaves two sweep intervals and the serving margin when that comes before the fraction', () => {
    // 30 minutes: min(1350 s, 1800 s - 600 s - 180 s) = 1020 s.
    expect(computeRefreshAt(T0, T0 + 1_800_000, DEFAULT_POLICY)).toBe(T0 + 1_020_000);
    expect(computeRefreshAt(T0, T0 + 1_800_000, policyOptions({ sweepIntervalMs: 60_000 }))).toBe(T0 + 1_350_000);
  });

  it('never schedules a refresh sooner than the write interval after the issue, even past the expiry', () => {
    expect(computeRefreshAt(T0, T0 + 300_000, DEFAULT_POLICY)).toBe(T0 + 600_000);
    expect(computeRefreshAt(T0, T0 + 24 * H, DEFAULT_POLICY, T0 + 60_000)).toBe(T0 + 600_000);
  });

  it('refreshes before the token would idle out when that comes earlier', () => {
    const idlesAt = T0 + 2 * H;
    expect(computeRefreshAt(T0, T0 + 24 * H, DEFAULT_POLICY, idlesAt)).toBe(idlesAt - DEFAULT_POLICY.idleMarginMs);
    expect(computeRefreshAt(T0, T0 + 24 * H, DEFAULT_POLICY, T0 + 30 * H)).toBe(T0 + 18 * H);
  });

  it('keeps the mark of any supported lifetime between the write interval and two sweeps plus the margin before expiry', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1334, max: 172_800 }), fc.double({ min: 0.5, max: 0.9, noNaN: true }), (seconds, fraction) => {
        const policy = policyOptions({ refreshAtFraction: fraction });
        const expires = T0 + seconds * 1000;
        const at = computeRefreshAt(T0, expires, policy);
        if (!checkTokenLifetime(seconds * 1000, policy).supported) return at === T0 + policy.minWriteIntervalMs;
        return at >= T0 + policy.minWriteIntervalMs && expires - at >= 2 * policy.sweepIntervalMs + servingMarginMs(seconds * 1000);
      }),
    );
  });
});

describe('policyOptions', () => {
  it.each([0.49, 0.91, Number.NaN, 1, 0])('rejects refreshAtFraction %s with the allowed range', (fraction) => {
    expect(() => policyOptions({ refreshAtFraction: fraction })).toThrow(/refreshAtFraction must be a number from 0.5 to 0.9/);
  });

  it.each([0, -1, Number.NaN])('rejects sweepIntervalMs %s', (ms) => {
    expect(() => policyOptions({ sweepIntervalMs: ms })).toThrow(/sweepIntervalMs must be a positive number/);
  });

  it('rejects a cap below the base', () => {
    expect(() => policyOptions({ backoffBaseMs: 10, backoffCapMs: 5 })).toThrow(/backoffCapMs/);
  });
});

describe('shouldRefresh', () => {
  const cases: Array<[string, OrgRecord, number, boolean | undefined, { due: boolean; reason: string }]> = [
    ['skips a disabled org even when forced', org({}, { enabled: false }), T0, true, { due: false, reason: 'disabled' }],
    ['refreshes an org that never had a token', org({}), T0, undefined, { due: true, reason: 'never_issued' }],
    ['skips an org whose token is not yet at 75% of its lifetime', org(issued), T0 + 17.99 * H, undefined, { due: false, reason: 'not_due' }],
    ['refreshes at the 18-hour mark', org(issued), T0 + 18 * H, undefined, { due: true, reason: 'at_refresh_mark' }],
    ['refreshes an expired token', org(issued), T0 + 25 * H, undefined, { due: true, reason: 'expired' }],
    ['forces a fresh token', org(issued), T0 + H, true, { due: true, reason: 'forced' }],
    ['backs off after a failure', org({ ...issued, consecutiveFailures: 2, nextAttemptAtMs: T0 + 19 * H }), T0 + 18.5 * H, undefined, { due: false, reason: 'backing_off' }],
    ['retries when the backoff is over', org({ ...issued, consecutiveFailures: 2, nextAttemptAtMs: T0 + 19 * H }), T0 + 19 * H, undefined, { due: true, reason: 'retry_due' }],
    ['forcing overrides a backoff', org({ ...issued, consecutiveFailures: 2, nextAttemptAtMs: T0 + 19 * H }), T0 + 18.5 * H, true, { due: true, reason: 'forced' }],
    ['refreshes when credentials changed, even during a backoff', org({ ...issued, consecutiveFailures: 3, nextAttemptAtMs: T0 + 20 * H }, { credentialsVersion: 2 }), T0 + H, undefined, { due: true, reason: 'credentials_changed' }],
  ];
  it.each(cases)('%s', (_name, record, now, force, expected) => {
    expect(shouldRefresh(record, now, DEFAULT_POLICY, { force: force ?? false })).toEqual(expected);
  });
});

describe('nextRefreshAt', () => {
  const failing = { ...issued, lastOutcome: 'failure' as const, consecutiveFailures: 2, nextAttemptAtMs: T0 + 19 * H };
  const cases: Array<[string, OrgRecord, number, ReturnType<typeof nextRefreshAt>]> = [
    ['never for a disabled org', org(issued, { enabled: false }), T0, { kind: 'none', reason: 'disabled' }],
    ['now for an org that never had a token', org({}), T0 + H, { kind: 'due', atMs: T0 + H, reason: 'never_issued' }],
    ['now when the credentials changed, even during a backoff', org({ ...failing }, { credentialsVersion: 2 }), T0 + H, { kind: 'due', atMs: T0 + H, reason: 'credentials_changed' }],
    ['at the retry time while backing off', org(failing), T0 + 18.5 * H, { kind: 'retry', atMs: T0 + 19 * H, reason: 'retry_due' }],
    ['at the retry time once it has passed', org(failing), T0 + 20 * H, { kind: 'retry', atMs: T0 + 19 * H, reason: 'retry_due' }],
    ['at the stored refresh mark', org(issued), T0 + H, { kind: 'scheduled', atMs: T0 + 18 * H, reason: 'at_refresh_mark' }],
    ['at the stored refresh mark once it has passed', org(issued), T0 + 19 * H, { kind: 'scheduled', atMs: T0 + 18 * H, reason: 'at_refresh_mark' }],
    ['at the mark, as expired, once the token has run out', org(issued), T0 + 24 * H, { kind: 'scheduled', atMs: T0 + 18 * H, reason: 'expired' }],
    ['at the expiry when a stored mark lies beyond it', org({ ...issued, refreshAtMs: T0 + 30 * H }), T0 + H, { kind: 'scheduled', atMs: T0 + 24 * H, reason: 'at_refresh_mark' }],
    ['at the policy mark when none is stored', org({ ...issued, refreshAtMs: undefined }), T0 + H, { kind: 'scheduled', atMs: T0 + 18 * H, reason: 'at_refresh_mark' }],
    ['before an idle timeout when none is stored', org({ ...issued, refreshAtMs: undefined, idlesAtMs: T0 + 2 * H }), T0, { kind: 'scheduled', atMs: T0 + 2 * H - DEFAULT_POLICY.idleMarginMs, reason: 'at_refresh_mark' }],
  ];
  it.each(cases)('answers %s', (_name, record, now, expected) => {
    expect(nextRefreshAt(record, now, DEFAULT_POLICY)).toEqual(expected);
  });

  it('uses the configured fraction, never the default, for a mark that is not stored', () => {
    const record = org({ ...issued, refreshAtMs: undefined });
    expect(nextRefreshAt(record, T0, policyOptions({ refreshAtFraction: 0.5 }))).toMatchObject({ atMs: T0 + 12 * H });
    expect(shouldRefresh(record, T0 + 13 * H, policyOptions({ refreshAtFraction: 0.5 }))).toEqual({ due: true, reason: 'at_refresh_mark' });
    expect(shouldRefresh(record, T0 + 13 * H, DEFAULT_POLICY)).toEqual({ due: false, reason: 'not_due' });
  });

  it('is due exactly when shouldRefresh says so, for any state and time', () => {
    const state = fc.record({
      issuedAtMs: fc.option(fc.integer({ min: 0, max: 24 * H }), { nil: undefined }),
      lifetimeMs: fc.integer({ min: 300_000, max: 48 * H }),
      consecutiveFailures: fc.integer({ min: 0, max: 5 }),
      nextAttemptAtMs: fc.option(fc.integer({ min: 0, max: 72 * H }), { nil: undefined }),
      credentialsVersionUsed: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
      enabled: fc.boolean(),
    });
    fc.assert(
      fc.property(state, fc.integer({ min: 0, max: 72 * H }), (st, offset) => {
        const issuedAt = st.issuedAtMs === undefined ? {} : { issuedAtMs: T0 + st.issuedAtMs, expiresAtMs: T0 + st.issuedAtMs + st.lifetimeMs };
        const record = org(
          {
            ...issuedAt,
            consecutiveFailures: st.consecutiveFailures,
            ...(st.nextAttemptAtMs !== undefined ? { nextAttemptAtMs: T0 + st.nextAttemptAtMs } : {}),
            ...(st.credentialsVersionUsed !== undefined ? { credentialsVersionUsed: st.credentialsVersionUsed } : {}),
          },
          { enabled: st.enabled },
        );
        const now = T0 + offset;
        const next = nextRefreshAt(record, now, DEFAULT_POLICY);
        const decision = shouldRefresh(record, now, DEFAULT_POLICY);
        if (next.kind === 'none') {
          expect(decision).toEqual({ due: false, reason: 'disabled' });
          return;
        }
        expect(decision.due).toBe(now >= next.atMs);
        if (decision.due) expect(decision.reason).toBe(next.reason);
      }),
    );
  });
});

describe('tokenCacheUntil', () => {
  it('serves a token until the earlier of max age and its fresh time, and no further', () => {
    const day = { fetchedAtMs: T0, expiresAtMs: T0 + 24 * H, lifetimeMs: 24 * H, marginMs: 300_000 };
    expect(tokenCacheUntil({ ...day, maxAgeMs: 300_000 })).toEqual({ untilMs: T0 + 300_000, reason: 'max_age' });
    expect(tokenCacheUntil({ ...day, maxAgeMs: 48 * H })).toEqual({ untilMs: T0 + 24 * H - 300_000, reason: 'refresh_margin' });
    expect(tokenFreshUntil({ expiresAtMs: T0 + 600_000, lifetimeMs: 600_000, marginMs: 300_000 })).toBe(T0 + 540_000);
  });

  it('without a cap, serves a token until its replacement is written, never past its fresh time', () => {
    const day = { fetchedAtMs: T0, expiresAtMs: T0 + 24 * H, lifetimeMs: 24 * H, marginMs: 300_000 };
    expect(tokenCacheUntil({ ...day, replacedAtMs: T0 + 18 * H + 360_000 })).toEqual({ untilMs: T0 + 18 * H + 360_000, reason: 'replacement' });
    // A cap still applies, and wins a tie.
    expect(tokenCacheUntil({ ...day, maxAgeMs: 18 * H + 360_000, replacedAtMs: T0 + 18 * H + 360_000 })).toEqual({ untilMs: T0 + 18 * H + 360_000, reason: 'max_age' });
    // A replacement due after the fresh time does not stretch it.
    expect(tokenCacheUntil({ ...day, replacedAtMs: T0 + 30 * H })).toEqual({ untilMs: T0 + 24 * H - 300_000, reason: 'refresh_margin' });
    // Already past the replacement time when fetched: look again one sweep interval later.
    expect(tokenCacheUntil({ ...day, replacedAtMs: T0 - 1 })).toEqual({ untilMs: T0 + REPLACEMENT_DELAY_MS, reason: 'replacement' });
    // No cap and no replacement time: the fresh time alone.
    expect(tokenCacheUntil(day)).toEqual({ untilMs: T0 + 24 * H - 300_000, reason: 'refresh_margin' });
  });
});

describe('nextAttemptAfterFailure', () => {
  const p = DEFAULT_POLICY;
  it.each([
    [1, 60_000],
    [2, 120_000],
    [3, 240_000],
    [6, 1_800_000],
    [40, 1_800_000],
  ])('waits exponentially: failure %i waits %i ms (capped at 30 minutes)', (failures, wait) => {
    expect(nextAttemptAfterFailure({ consecutiveFailures: failures }, T0, { failureClass: 'transient' }, p)).toBe(T0 + wait);
  });

  it('waits at least as long as Retry-After', () => {
    expect(nextAttemptAfterFailure({ consecutiveFailures: 1 }, T0, { failureClass: 'rate_limited', retryAfterMs: 600_000 }, p)).toBe(T0 + 600_000);
  });

  it('never schedules past the expiry minus the safety margin', () => {
    const expiresAtMs = T0 + 10 * 60_000;
    expect(nextAttemptAfterFailure({ consecutiveFailures: 6, expiresAtMs }, T0, { failureClass: 'transient' }, p)).toBe(expiresAtMs - p.safetyMarginMs);
  });

  it('stays in (now, now + cap] and before the safety margin whenever that is in the future', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.option(fc.integer({ min: 0, max: 48 * H }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 10 * H }), { nil: undefined }),
        (failures, remaining, retryAfterMs) => {
          const expiresAtMs = remaining === undefined ? undefined : T0 + remaining;
          const next = nextAttemptAfterFailure({ consecutiveFailures: failures, ...(expiresAtMs !== undefined ? { expiresAtMs } : {}) }, T0, { failureClass: 'rate_limited', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, p);
          if (next <= T0 || next > T0 + p.backoffCapMs) return false;
          if (expiresAtMs !== undefined && expiresAtMs - p.safetyMarginMs > T0) return next <= expiresAtMs - p.safetyMarginMs;
          return true;
        },
      ),
    );
  });
});

describe('orgHealth', () => {
  const failedTransient = { lastOutcome: 'failure' as const, lastErrorCode: 'upstream_unavailable' as const, lastErrorClass: 'transient' as const, consecutiveFailures: 1 };
  it.each([
    ['disabled', org(issued, { enabled: false }), T0 + H, 'disabled'],
    ['healthy before the mark', org(issued), T0 + H, 'healthy'],
    ['refresh_due past the mark', org(issued), T0 + 19 * H, 'refresh_due'],
    ['refresh_due when never issued', org({}), T0, 'refresh_due'],
    ['at_risk when past the mark and the last attempt failed', org({ ...issued, ...failedTransient }), T0 + 19 * H, 'at_risk'],
    ['healthy when a failure happened before the mark (forced refresh failed)', org({ ...issued, ...failedTransient }), T0 + H, 'healthy'],
    ['failing after a permanent error', org({ ...issued, ...failedTransient, lastErrorCode: 'invalid_client', lastErrorClass: 'permanent' }), T0 + 19 * H, 'failing'],
    ['expired once the token has run out', org({ ...issued, ...failedTransient }), T0 + 24 * H, 'expired'],
    ['expired when never issued and the first attempt failed transiently', org({ ...failedTransient }), T0, 'expired'],
    ['failing when never issued and the first attempt was refused for good', org({ ...failedTransient, lastErrorCode: 'invalid_client', lastErrorClass: 'permanent' }), T0, 'failing'],
    ['expired, not failing, once a real token has run out', org({ ...issued, ...failedTransient, lastErrorClass: 'permanent' }), T0 + 25 * H, 'expired'],
  ] as const)('%s', (_name, record, now, expected) => {
    expect(orgHealth(record, now).health).toBe(expected);
  });

  it('reports the seconds left', () => {
    expect(orgHealth(org(issued), T0 + 23 * H).expiresInSeconds).toBe(3600);
  });
});
