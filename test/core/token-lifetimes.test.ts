/**
 * Safe short token lifetimes (issue 11, section 4): the refresh mark, which lifetimes are supported,
 * and a simulation over time, sweep by sweep, showing that a supported lifetime never leaves a stored
 * token inside its serving margin while no org's token is written more often than the write interval.
 * Pure: the policy functions and a simulated clock, nothing else.
 */
import { describe, expect, it } from 'vitest';
import { brokerPolicy, FILE_MIN_WRITE_INTERVAL_MS } from '../../lambdas/core/broker-engine.js';
import {
  checkTokenLifetime,
  computeRefreshAt,
  DEFAULT_POLICY,
  describeShortLifetime,
  minSupportedLifetimeMs,
  type PolicyOptions,
  refreshMarkMs,
  SERVING_MARGIN_MS,
  servingMarginMs,
  shouldRefresh,
  tokenFreshUntil,
} from '../../lambdas/core/policy.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { DEMO_SCHEDULE_SECONDS, DEMO_TOKEN_LIFETIME_SECONDS } from '../../lib/demo/demo.js';

const S = 1000;
const DAY = 86_400 * S;
const T0 = Date.parse('2026-03-01T00:00:00Z');

interface Simulation {
  /** Least token life left at a sweep, before that sweep refreshes (ms). */
  minRemainingAtSweepMs: number;
  /** Sweeps that found the stored token inside its serving margin (or expired). */
  sweepsInsideMargin: number;
  /** Time per day the stored token was not servable (inside its margin, or expired), in steady state (ms). */
  gapMsPerDay: number;
  /** Shortest and longest time between two writes of the token. */
  writeIntervalMs: { min: number; max: number };
}

/**
 * Sweeps every `sweepIntervalMs` for `days`; each sweep asks `shouldRefresh` and, when due, issues a
 * token `requestDelayMs` after the sweep starts (issuedAt is when the request is sent). `missFirstDue`
 * drops the first due sweep of every token, as if that sweep had failed or not run. The first day
 * settles the phase; gaps are counted from the second day on.
 */
function simulate(lifetimeMs: number, policy: PolicyOptions, options: { requestDelayMs?: number; missFirstDue?: boolean; days?: number } = {}): Simulation {
  const { requestDelayMs = 1 * S, missFirstDue = false, days = 4 } = options;
  const margin = servingMarginMs(lifetimeMs);
  const endMs = T0 + days * DAY;
  const org: OrgRecord = { orgId: 'o', region: 'mypurecloud.com', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, version: 1, state: { consecutiveFailures: 0 } };
  const writes: number[] = [];
  let minRemainingAtSweepMs = Infinity;
  let sweepsInsideMargin = 0;
  let gapMs = 0;
  let missedThisToken = false;
  for (let t = T0; t < endMs; t += policy.sweepIntervalMs) {
    const s = org.state;
    if (s.expiresAtMs !== undefined) {
      const remaining = s.expiresAtMs - t;
      minRemainingAtSweepMs = Math.min(minRemainingAtSweepMs, remaining);
      if (remaining <= margin) sweepsInsideMargin++;
    }
    if (shouldRefresh(org, t, policy).due) {
      if (missFirstDue && !missedThisToken && s.expiresAtMs !== undefined) {
        missedThisToken = true;
      } else {
        const issuedAtMs = t + requestDelayMs;
        const expiresAtMs = issuedAtMs + lifetimeMs;
        org.state = { ...s, issuedAtMs, expiresAtMs, refreshAtMs: computeRefreshAt(issuedAtMs, expiresAtMs, policy), credentialsVersionUsed: 1, lastOutcome: 'success' };
        missedThisToken = false;
        writes.push(issuedAtMs);
      }
    }
    // Until the next sweep nothing replaces the stored token: it is unservable from its fresh time on.
    const { expiresAtMs } = org.state;
    const freshUntil = tokenFreshUntil({ expiresAtMs: expiresAtMs!, lifetimeMs, marginMs: SERVING_MARGIN_MS });
    if (t >= T0 + DAY) gapMs += Math.max(0, Math.min(t + policy.sweepIntervalMs, endMs) - Math.max(t, freshUntil));
  }
  const intervals = writes.slice(1).map((w, i) => w - writes[i]!);
  return {
    minRemainingAtSweepMs,
    sweepsInsideMargin,
    gapMsPerDay: gapMs / (days - 1),
    writeIntervalMs: { min: Math.min(...intervals), max: Math.max(...intervals) },
  };
}

/**
 * With the defaults (5-minute sweeps, 10-minute write interval, 0.75), tokens requested 1 s into a sweep:
 * [lifetime s, serving margin s, refresh mark s, supported, s between writes, s per day not servable].
 * README's "Token lifetimes" table shows these rows.
 */
const TABLE: Array<[number, number, number, boolean, number, number]> = [
  [300, 30, -330, false, 900, 60_384],
  [600, 60, -60, false, 900, 34_464],
  [900, 90, 210, false, 900, 8544],
  [1200, 120, 480, false, 900, 0],
  [1335, 133.5, 601.5, true, 900, 0],
  [1800, 180, 1020, true, 1200, 0],
  [3600, 300, 2700, true, 3000, 0],
  [86_400, 300, 64_800, true, 65_100, 0],
  [172_800, 300, 129_600, true, 129_900, 0],
];

describe('token lifetimes with the defaults (5-minute sweeps, 10-minute write interval)', () => {
  it('supports lifetimes from 1334 s (22 min 14 s): the shortest whose refresh mark is 10 minutes', () => {
    expect(minSupportedLifetimeMs(DEFAULT_POLICY)).toBe(1_333_333);
    expect(checkTokenLifetime(1334 * S, DEFAULT_POLICY).supported).toBe(true);
    expect(checkTokenLifetime(1333 * S, DEFAULT_POLICY)).toEqual({ supported: false, refreshMarkMs: 599_700, minimumMs: 1_333_333 });
  });

  it('words a refusal with the lifetime, the minimum and the intervals it follows from', () => {
    expect(describeShortLifetime(300 * S, DEFAULT_POLICY)).toBe(
      'token lifetime 300 s is below the minimum of 1334 s (22 min 14 s) for a 300 s sweep interval and a 600 s minimum write interval',
    );
  });

  it.each(TABLE)('lifetime %i s: margin %d s, refresh mark %d s, supported %s, a write every %i s, %i s a day unservable', (lifetimeS, marginS, markS, supported, writeEveryS, gapS) => {
    const lifetimeMs = lifetimeS * S;
    expect(servingMarginMs(lifetimeMs)).toBe(marginS * S);
    expect(refreshMarkMs(lifetimeMs, DEFAULT_POLICY)).toBe(markS * S);
    expect(checkTokenLifetime(lifetimeMs, DEFAULT_POLICY).supported).toBe(supported);
    const run = simulate(lifetimeMs, DEFAULT_POLICY, { days: 8 });
    // Never more often than the write interval, whatever the lifetime; in steady state at one pace.
    expect(run.writeIntervalMs).toEqual({ min: writeEveryS * S, max: writeEveryS * S });
    expect(run.writeIntervalMs.min).toBeGreaterThanOrEqual(DEFAULT_POLICY.minWriteIntervalMs);
    expect(run.gapMsPerDay).toBe(gapS * S);
    if (supported) {
      expect(run.sweepsInsideMargin).toBe(0);
      expect(run.minRemainingAtSweepMs).toBeGreaterThan(servingMarginMs(lifetimeMs));
    }
  });

  it.each(TABLE.filter(([, , , supported]) => supported))('lifetime %i s leaves no gap at any request delay, even with one missed sweep per token', (lifetimeS) => {
    for (const requestDelayMs of [0, 1 * S, 137 * S, 299 * S]) {
      const steady = simulate(lifetimeS * S, DEFAULT_POLICY, { requestDelayMs });
      expect({ requestDelayMs, inside: steady.sweepsInsideMargin, gap: steady.gapMsPerDay }).toEqual({ requestDelayMs, inside: 0, gap: 0 });
      const missed = simulate(lifetimeS * S, DEFAULT_POLICY, { requestDelayMs, missFirstDue: true });
      expect({ requestDelayMs, gap: missed.gapMsPerDay }).toEqual({ requestDelayMs, gap: 0 });
      expect(missed.writeIntervalMs.min).toBeGreaterThanOrEqual(DEFAULT_POLICY.minWriteIntervalMs);
    }
  });

  it('shows why 1200 s is refused although it leaves no gap when every sweep runs: one missed sweep empties it', () => {
    expect(simulate(1200 * S, DEFAULT_POLICY, { missFirstDue: true }).gapMsPerDay).toBeGreaterThan(0);
  });

  it('derives the minimum from the sweep interval', () => {
    const tenMinutes = brokerPolicy({ sweepIntervalSeconds: 600 });
    // L − 2 × 600 s − L / 10 ≥ 600 s: L ≥ 2000 s.
    expect(Math.ceil(minSupportedLifetimeMs(tenMinutes) / S)).toBe(2000);
    expect(checkTokenLifetime(1800 * S, tenMinutes).supported).toBe(false);
  });
});

describe('token lifetimes in local mode (file store)', () => {
  const demo = brokerPolicy({ sweepIntervalSeconds: DEMO_SCHEDULE_SECONDS, tokenStore: 'file' });

  it('uses a one-minute write interval for the file store', () => {
    expect(demo.minWriteIntervalMs).toBe(FILE_MIN_WRITE_INTERVAL_MS);
    expect(FILE_MIN_WRITE_INTERVAL_MS).toBe(60_000);
  });

  it("supports the demo's 300 s tokens at its 30 s schedule, without a gap", () => {
    expect(checkTokenLifetime(DEMO_TOKEN_LIFETIME_SECONDS * S, demo)).toEqual({ supported: true, refreshMarkMs: 210_000 });
    expect(Math.ceil(minSupportedLifetimeMs(demo) / S)).toBe(134);
    const run = simulate(DEMO_TOKEN_LIFETIME_SECONDS * S, demo, { days: 2 });
    expect(run.gapMsPerDay).toBe(0);
    expect(run.sweepsInsideMargin).toBe(0);
  });

  it('needs lifetimes from 734 s at the local default schedule of 300 s', () => {
    expect(Math.ceil(minSupportedLifetimeMs(brokerPolicy({ sweepIntervalSeconds: 300, tokenStore: 'file' })) / S)).toBe(734);
  });
});
