import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SweepScheduler } from '../../lib/local/sweep-scheduler.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

/** A sweep that takes `durationMs` of (fake) time and records when it started and its deadline. */
function recorder(durationMs: () => number) {
  const runs: { startedAt: number; deadline: number }[] = [];
  let active = 0;
  let maxActive = 0;
  const run = async (deadline: number) => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs.push({ startedAt: Date.now() - T0, deadline: deadline - T0 });
    await new Promise((resolve) => setTimeout(resolve, durationMs()));
    active--;
  };
  return { runs, run, maxActive: () => maxActive };
}

describe('SweepScheduler', () => {
  it('sweeps at start and then every interval, each with a deadline one interval after it starts', async () => {
    const r = recorder(() => 1_000);
    const scheduler = new SweepScheduler({ intervalMs: 10_000, run: r.run });
    scheduler.start();
    expect(scheduler.firstRunAtMs).toBe(T0);
    await vi.advanceTimersByTimeAsync(35_000);
    expect(r.runs).toEqual([
      { startedAt: 0, deadline: 10_000 },
      { startedAt: 10_000, deadline: 20_000 },
      { startedAt: 20_000, deadline: 30_000 },
      { startedAt: 30_000, deadline: 40_000 },
    ]);
    expect(scheduler.nextRunAtMs).toBe(T0 + 40_000);
    await scheduler.stop();
  });

  it('never overlaps sweeps: a tick inside a long sweep is skipped and reported', async () => {
    const durations = [25_000, 1_000, 1_000, 1_000];
    const r = recorder(() => durations.shift() ?? 1_000);
    const overruns: number[] = [];
    const scheduler = new SweepScheduler({ intervalMs: 10_000, run: r.run, onOverrun: (n) => overruns.push(n) });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(45_000);
    expect(r.maxActive()).toBe(1);
    // The 10 s and 20 s ticks fall inside the first sweep; the schedule resumes on its grid.
    expect(r.runs.map((x) => x.startedAt)).toEqual([0, 30_000, 40_000]);
    expect(overruns).toEqual([2]);
    await scheduler.stop();
  });

  it('joins a sweep in flight instead of starting a second one', async () => {
    const r = recorder(() => 5_000);
    const scheduler = new SweepScheduler({ intervalMs: 60_000, run: r.run });
    scheduler.start();
    expect(scheduler.running).toBe(true);
    const joined = scheduler.runNow();
    await vi.advanceTimersByTimeAsync(5_000);
    await joined;
    expect(r.runs).toHaveLength(1);
    expect(scheduler.running).toBe(false);
    const second = scheduler.runNow();
    await vi.advanceTimersByTimeAsync(5_000);
    await second;
    expect(r.runs).toHaveLength(2);
    await scheduler.stop();
  });

  it('keeps its schedule when a sweep throws', async () => {
    let calls = 0;
    const scheduler = new SweepScheduler({ intervalMs: 1_000, run: async () => {
      calls++;
      throw new Error('boom');
    } });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(2_500);
    expect(calls).toBe(3);
    await scheduler.stop();
  });

  it('waits for the sweep in flight on stop and runs no more', async () => {
    const r = recorder(() => 3_000);
    const scheduler = new SweepScheduler({ intervalMs: 10_000, run: r.run });
    scheduler.start();
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(r.runs).toHaveLength(1);
    expect(scheduler.nextRunAtMs).toBeUndefined();
  });

  it('refuses a non-positive interval', () => {
    expect(() => new SweepScheduler({ intervalMs: 0, run: async () => undefined })).toThrow(RangeError);
  });
});
