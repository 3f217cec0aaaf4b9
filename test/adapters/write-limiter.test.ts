import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.js';
import type { Clock } from '../../lambdas/core/ports.js';
import { ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { DEFAULT_SECRET_WRITES_PER_SECOND, WriteLimiter, type WriteLimiterOptions } from '../../lambdas/adapters/aws/write-limiter.js';

/** A clock whose sleeps are recorded but never advance time: shows what each concurrent caller waits. */
class FrozenClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private readonly nowMs = 1_000_000) {}
  now(): number {
    return this.nowMs;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
  }
}

describe('WriteLimiter', () => {
  it('lets the burst through at once, then spaces writes one interval apart', async () => {
    const clock = new ManualClock(0);
    const limiter = new WriteLimiter({ ratePerSecond: 20, burst: 5, clock });
    const startedAt: number[] = [];
    for (let i = 0; i < 9; i++) {
      await limiter.acquire();
      startedAt.push(clock.now());
    }
    expect(startedAt).toEqual([0, 0, 0, 0, 0, 50, 100, 150, 200]);
    expect(clock.sleeps).toEqual([50, 50, 50, 50]);
    expect(limiter.granted).toBe(9);
  });

  it('never starts more than rate x seconds + burst writes in any window', async () => {
    const clock = new ManualClock(0);
    const limiter = new WriteLimiter({ ratePerSecond: 20, burst: 20, clock });
    const startedAt: number[] = [];
    for (let i = 0; i < 200; i++) {
      await limiter.acquire();
      startedAt.push(clock.now());
    }
    for (const t of startedAt) {
      const inWindow = startedAt.filter((s) => s >= t && s < t + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(40);
    }
    // 200 writes at 20/s after a burst of 20 take (200 - 20) / 20 = 9 seconds.
    expect(startedAt.at(-1)).toBe(9000);
  });

  it('gives concurrent callers distinct slots in call order', async () => {
    const clock = new FrozenClock();
    const limiter = new WriteLimiter({ ratePerSecond: 10, burst: 2, clock });
    await Promise.all(Array.from({ length: 5 }, () => limiter.acquire()));
    expect(clock.sleeps).toEqual([100, 200, 300]);
  });

  it('refills the bucket while idle, up to the burst and no further', async () => {
    const clock = new ManualClock(0);
    const limiter = new WriteLimiter({ ratePerSecond: 10, burst: 3, clock });
    for (let i = 0; i < 3; i++) await limiter.acquire();
    clock.advance(10_000);
    const before = clock.sleeps.length;
    for (let i = 0; i < 3; i++) await limiter.acquire();
    expect(clock.sleeps.length).toBe(before);
    await limiter.acquire();
    expect(clock.sleeps.slice(before)).toEqual([100]);
  });

  it('defaults to 20 writes per second with a one-second burst', async () => {
    const clock = new FrozenClock();
    const limiter = new WriteLimiter({ clock });
    expect(limiter.ratePerSecond).toBe(DEFAULT_SECRET_WRITES_PER_SECOND);
    expect(DEFAULT_SECRET_WRITES_PER_SECOND).toBe(20);
    expect(limiter.burst).toBe(20);
    await Promise.all(Array.from({ length: 22 }, () => limiter.acquire()));
    expect(clock.sleeps).toEqual([50, 100]);
  });

  it.each<[string, WriteLimiterOptions, RegExp]>([
    ['a zero rate', { ratePerSecond: 0 }, /ratePerSecond/],
    ['a negative rate', { ratePerSecond: -1 }, /ratePerSecond/],
    ['an infinite rate', { ratePerSecond: Number.POSITIVE_INFINITY }, /ratePerSecond/],
    ['a fractional burst', { burst: 1.5 }, /burst/],
    ['a zero burst', { burst: 0 }, /burst/],
    ['an unknown option', { ratePerSecnd: 5 } as WriteLimiterOptions, /unknown WriteLimiter option ratePerSecnd/],
  ])('rejects %s with invalid_config', (_label, options, message) => {
    let caught: unknown;
    try {
      new WriteLimiter(options);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).code).toBe('invalid_config');
    expect((caught as Error).message).toMatch(message);
  });
});
