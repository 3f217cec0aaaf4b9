/**
 * A token bucket in front of Secrets Manager writes. PutSecretValue (with CreateSecret and the other
 * write calls) shares an account-wide quota of 50 requests per second per Region; a sweep that
 * refreshes many orgs at once would otherwise spend it in a burst, get throttled, and starve every
 * other writer in the account. Every CreateSecret and PutSecretValue the token vault and the
 * credential store make passes through one shared limiter.
 *
 * The bucket is kept as a "theoretical arrival time" (the GCRA form of a token bucket): each
 * `acquire` reserves the next free slot synchronously, then sleeps until it. Concurrent callers
 * therefore get distinct, evenly spaced slots without a queue or a timer of our own, and time comes
 * from an injected Clock so tests run without waiting.
 *
 * Honest limits: the bucket is per process (per Lambda container). The refresher's sweep runs in one
 * invocation, so one bucket governs it; getter-triggered refreshes in other containers add their own
 * writes on top, which is why the default stays well below the quota. SDK-internal retries of a
 * throttled call do not pass through the bucket again.
 */
import { ValidationError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../core/ports.js';

/** Default sustained write rate: 20 per second leaves 30 of the 50 TPS quota to everyone else. */
export const DEFAULT_SECRET_WRITES_PER_SECOND = 20;

/** Options for {@link WriteLimiter}. */
export interface WriteLimiterOptions {
  /**
   * Sustained writes per second.
   * @default 20
   */
  ratePerSecond?: number;
  /**
   * Writes allowed back to back before spacing starts (the bucket's capacity).
   * @default - one second's worth of `ratePerSecond`, rounded down, at least 1
   */
  burst?: number;
  /**
   * Time source and sleep.
   * @default - the system clock
   */
  clock?: Clock;
}

const OPTION_KEYS = new Set(['ratePerSecond', 'burst', 'clock']);

/** Spaces writes to at most `ratePerSecond` after an initial burst of `burst`. */
export class WriteLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  /** How far ahead of the slot time a caller may go: a full bucket is `burst - 1` intervals of credit. */
  readonly #toleranceMs: number;
  /** The time at which the bucket would be exactly empty again if nobody else called. */
  #theoreticalArrivalMs = Number.NEGATIVE_INFINITY;
  #granted = 0;

  constructor(options: WriteLimiterOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) throw new ValidationError(`unknown WriteLimiter option ${key}`, { code: 'invalid_config', field: key });
    }
    const rate = options.ratePerSecond ?? DEFAULT_SECRET_WRITES_PER_SECOND;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > 10_000) {
      throw new ValidationError(`ratePerSecond must be a number above 0 and at most 10000, got ${String(rate)}`, { code: 'invalid_config', field: 'ratePerSecond' });
    }
    const burst = options.burst ?? Math.max(1, Math.floor(rate));
    if (!Number.isSafeInteger(burst) || burst < 1 || burst > 10_000) {
      throw new ValidationError(`burst must be an integer from 1 to 10000, got ${String(burst)}`, { code: 'invalid_config', field: 'burst' });
    }
    this.ratePerSecond = rate;
    this.burst = burst;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = 1000 / rate;
    this.#toleranceMs = (burst - 1) * this.#intervalMs;
  }

  /**
   * Waits until one write may proceed. The slot is reserved before the wait, so callers that start
   * together leave in call order, one interval apart once the burst is spent.
   */
  async acquire(): Promise<void> {
    const waitMs = this.reserve();
    if (waitMs > 0) await this.#clock.sleep(waitMs);
  }

  /** Reserves the next slot and returns how long the caller must wait for it (0 when it may go now). */
  reserve(): number {
    const nowMs = this.#clock.now();
    const arrivalMs = Math.max(this.#theoreticalArrivalMs, nowMs);
    const waitMs = Math.max(0, arrivalMs - this.#toleranceMs - nowMs);
    this.#theoreticalArrivalMs = arrivalMs + this.#intervalMs;
    this.#granted++;
    return Math.ceil(waitMs);
  }

  /** How many writes have been granted (reserved) so far. */
  get granted(): number {
    return this.#granted;
  }
}
