import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cacheUntil, NEAR_EXPIRY_RECHECK_MS } from '../../lambdas/client/index.js';
import { DAY, HOUR, MINUTE, T0 } from './fixtures.js';

describe('cacheUntil', () => {
  const base = { fetchedAtMs: T0, maxAgeMs: 5 * MINUTE, refreshMarginMs: 5 * MINUTE };

  it.each([
    ['a fresh 24 h token ends at max age', { expiresAtMs: T0 + DAY, lifetimeMs: DAY }, T0 + 5 * MINUTE, 'max_age'],
    ['a token with 7 min left ends 5 min before expiry', { expiresAtMs: T0 + 7 * MINUTE, lifetimeMs: DAY }, T0 + 2 * MINUTE, 'refresh_margin'],
    ['a 10 min token uses a 1 min margin (10% of its lifetime)', { expiresAtMs: T0 + 10 * MINUTE, lifetimeMs: 10 * MINUTE }, T0 + 5 * MINUTE, 'max_age'],
    ['a 10 min token with 3 min left ends 1 min before expiry', { expiresAtMs: T0 + 3 * MINUTE, lifetimeMs: 10 * MINUTE }, T0 + 2 * MINUTE, 'refresh_margin'],
    ['a token inside its margin is rechecked after 5 s', { expiresAtMs: T0 + 2 * MINUTE, lifetimeMs: DAY }, T0 + NEAR_EXPIRY_RECHECK_MS, 'near_expiry'],
    ['a token 1 s from expiry is never served past expiry', { expiresAtMs: T0 + 1_000, lifetimeMs: DAY }, T0 + 1_000, 'near_expiry'],
    ['an expired token is not cached at all', { expiresAtMs: T0 - 1, lifetimeMs: DAY }, T0 - 1, 'near_expiry'],
  ] as const)('%s', (_label, input, untilMs, reason) => {
    expect(cacheUntil({ ...base, ...input })).toEqual({ untilMs, reason });
  });

  it('respects max age 0 (no caching)', () => {
    expect(cacheUntil({ ...base, maxAgeMs: 0, expiresAtMs: T0 + DAY, lifetimeMs: DAY }).untilMs).toBe(T0);
  });

  it('never serves past expiry or max age, and the margin never exceeds the configured one or 10% of the lifetime', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 * DAY }),
        fc.integer({ min: -HOUR, max: 2 * DAY }),
        fc.integer({ min: 1, max: 2 * DAY }),
        fc.integer({ min: 0, max: DAY }),
        fc.integer({ min: 0, max: HOUR }),
        (fetchedOffsetMs, remainingMs, lifetimeMs, maxAgeMs, refreshMarginMs) => {
          const fetchedAtMs = T0 + fetchedOffsetMs;
          const expiresAtMs = fetchedAtMs + remainingMs;
          const { untilMs, reason } = cacheUntil({ fetchedAtMs, expiresAtMs, lifetimeMs, maxAgeMs, refreshMarginMs });
          expect(untilMs).toBeLessThanOrEqual(expiresAtMs);
          expect(untilMs).toBeLessThanOrEqual(fetchedAtMs + maxAgeMs);
          const marginMs = Math.min(refreshMarginMs, Math.floor(lifetimeMs / 10));
          if (reason === 'near_expiry') {
            expect(expiresAtMs - marginMs).toBeLessThanOrEqual(fetchedAtMs);
            expect(untilMs).toBeLessThanOrEqual(fetchedAtMs + NEAR_EXPIRY_RECHECK_MS);
          } else {
            // Outside the near-expiry case the entry ends no later than the margin before expiry...
            expect(untilMs).toBeLessThanOrEqual(expiresAtMs - marginMs);
            // ...and exactly at the earlier of the two bounds.
            expect(untilMs).toBe(Math.min(fetchedAtMs + maxAgeMs, expiresAtMs - marginMs));
          }
        },
      ),
    );
  });
});
