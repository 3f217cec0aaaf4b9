import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createBatchingPublisher, type EntryFailure, MAX_BATCH_SIZE, type SendOrgEvents } from '../../lambdas/core/event-publisher.js';
import type { Clock, OrgEvent, Telemetry } from '../../lambdas/core/ports.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');

function event(n: number): OrgEvent {
  const orgId = `0f000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return {
    detailType: 'Genesys Token Refreshed',
    orgId,
    timeMs: T0 + n,
    detail: { schemaVersion: 1, orgId, region: 'mypurecloud.ie', attemptId: `a-${n}`, trigger: 'schedule', reason: 'at_refresh_mark' },
  };
}

const events = (count: number, from = 0) => Array.from({ length: count }, (_, i) => event(from + i));

interface Recorder {
  send: SendOrgEvents;
  /** Each call's batch, by event number (the last digits of the org id). */
  batches: number[][];
}

/** A send that answers each call with `answer(call, batch)` (no failures by default). */
function recorder(answer: (call: number, batch: readonly OrgEvent[], signal: AbortSignal) => EntryFailure[] | Promise<EntryFailure[]> = () => []): Recorder {
  const batches: number[][] = [];
  return {
    batches,
    send: async (batch, signal) => {
      batches.push(batch.map((e) => Number(e.orgId.slice(-12))));
      return answer(batches.length, batch, signal);
    },
  };
}

function capture(): Telemetry & { logs: Array<{ level: string; message: string; fields?: unknown }>; metrics: Array<[string, number]> } {
  const logs: Array<{ level: string; message: string; fields?: unknown }> = [];
  const metrics: Array<[string, number]> = [];
  return { logs, metrics, log: (level, message, fields) => logs.push({ level, message, fields }), metric: (name, value) => metrics.push([name, value]) };
}

const all = (batch: readonly OrgEvent[], errorCode: string, retryable: boolean): EntryFailure[] => batch.map((_, index) => ({ index, errorCode, retryable }));

describe('createBatchingPublisher', () => {
  it('sends what is published in one turn in batches of at most 10, in order, and reports them published', async () => {
    const r = recorder();
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0), telemetry });
    publisher.publish(events(12));
    publisher.publish(events(13, 12));
    expect(r.batches).toEqual([]); // publish only queues
    expect(await publisher.flush(T0 + 2_000)).toEqual({ published: 25, failed: 0 });
    expect(MAX_BATCH_SIZE).toBe(10);
    expect(r.batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(r.batches.flat()).toEqual(events(25).map((_, i) => i));
    expect(telemetry.metrics).toEqual([['EventsPublished', 25], ['EventsFailed', 0]]);
    expect(telemetry.logs).toEqual([]);
  });

  it('groups events published while a batch is in flight into the next batch', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = recorder(async (call) => {
      if (call === 1) await gate;
      return [];
    });
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0) });
    publisher.publish(events(1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (let i = 1; i <= 4; i++) publisher.publish([event(i)]);
    release();
    expect(await publisher.flush(T0 + 1_000)).toEqual({ published: 5, failed: 0 });
    expect(r.batches).toEqual([[0], [1, 2, 3, 4]]);
  });

  it('sends again only the entries refused with a retryable code, after a growing pause, and gives up the others at once', async () => {
    const clock = new ManualClock(T0);
    const r = recorder((call) => {
      if (call === 1) return [{ index: 1, errorCode: 'ThrottlingException', retryable: true }, { index: 2, errorCode: 'AccessDeniedException', retryable: false }];
      if (call === 2) return [{ index: 0, errorCode: 'InternalFailure', retryable: true }];
      return [];
    });
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock, telemetry, retryBaseMs: 100 });
    publisher.publish(events(4));
    expect(await publisher.flush(T0 + 60_000)).toEqual({ published: 3, failed: 1 });
    expect(r.batches).toEqual([[0, 1, 2, 3], [1], [1]]);
    expect(clock.sleeps).toEqual([100, 200]);
    expect(telemetry.logs).toEqual([{ level: 'warn', message: 'org events could not be published', fields: { published: 3, failed: 1, errorCodes: ['AccessDeniedException'] } }]);
    expect(telemetry.metrics).toEqual([['EventsPublished', 3], ['EventsFailed', 1]]);
  });

  it('puts resent entries ahead of newer ones, after a 100 ms pause by default', async () => {
    const clock = new ManualClock(T0);
    const r = recorder((call) => (call === 1 ? [{ index: 9, errorCode: 'ThrottlingException', retryable: true }] : []));
    const publisher = createBatchingPublisher({ send: r.send, clock });
    publisher.publish(events(15));
    await publisher.flush(T0 + 60_000);
    expect(r.batches).toEqual([events(10).map((_, i) => i), [9, 10, 11, 12, 13, 14]]);
    expect(clock.sleeps).toEqual([100]);
  });

  it('gives an event up after maxAttempts sends, counting its last error code', async () => {
    const r = recorder((_call, batch) => all(batch, 'ThrottlingException', true));
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0), telemetry, maxAttempts: 4 });
    publisher.publish(events(2));
    expect(await publisher.flush(T0 + 60_000)).toEqual({ published: 0, failed: 2 });
    expect(r.batches).toEqual([[0, 1], [0, 1], [0, 1], [0, 1]]);
    expect(telemetry.logs[0]!.fields).toMatchObject({ errorCodes: ['ThrottlingException'] });
  });

  it('sends each event three times at most by default, and retries a send that threw', async () => {
    const r = recorder(() => {
      throw new Error('boom');
    });
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0), telemetry });
    publisher.publish(events(1));
    expect(await publisher.flush(T0 + 60_000)).toEqual({ published: 0, failed: 1 });
    expect(r.batches).toHaveLength(3);
    expect(telemetry.logs[0]!.fields).toMatchObject({ errorCodes: ['send_failed'] });
  });

  it('waits for a slow bus that answers within the deadline', async () => {
    const r = recorder(() => new Promise<EntryFailure[]>((resolve) => setTimeout(() => resolve([]), 40)));
    const publisher = createBatchingPublisher({ send: r.send, clock: { now: () => Date.now(), sleep: async () => undefined } });
    publisher.publish(events(2));
    expect(await publisher.flush(Date.now() + 2_000)).toEqual({ published: 2, failed: 0 });
  });

  it('waits no longer than the deadline: the batch in flight is aborted and it and the queue count as failed', async () => {
    let seen: AbortSignal | undefined;
    const r = recorder((_call, _batch, signal) => {
      seen = signal;
      return new Promise<EntryFailure[]>(() => undefined); // a bus that never answers
    });
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: { now: () => Date.now(), sleep: async () => undefined }, telemetry });
    publisher.publish(events(13));
    const started = Date.now();
    expect(await publisher.flush(Date.now() + 60)).toEqual({ published: 0, failed: 13 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(seen?.aborted).toBe(true);
    expect(telemetry.logs[0]!.fields).toMatchObject({ failed: 13, errorCodes: ['deadline'] });
  });

  it('starts over after a flush that gave up: later events are sent and counted afresh', async () => {
    let hang = true;
    const r = recorder(() => (hang ? new Promise<EntryFailure[]>(() => undefined) : []));
    const publisher = createBatchingPublisher({ send: r.send, clock: { now: () => Date.now(), sleep: async () => undefined } });
    publisher.publish(events(2));
    expect(await publisher.flush(Date.now() + 30)).toEqual({ published: 0, failed: 2 });
    hang = false;
    publisher.publish(events(3, 2));
    expect(await publisher.flush(Date.now() + 1_000)).toEqual({ published: 3, failed: 0 });
    expect(r.batches).toEqual([[0, 1], [2, 3, 4]]);
  });

  it('lets a batch answered after its flush gave up touch neither the counts nor the pump that took over', async () => {
    const answers: Array<(failures: EntryFailure[]) => void> = [];
    const r = recorder(() => new Promise<EntryFailure[]>((resolve) => answers.push(resolve)));
    const publisher = createBatchingPublisher({ send: r.send, clock: { now: () => Date.now(), sleep: async () => undefined } });
    publisher.publish(events(2));
    expect(await publisher.flush(Date.now() + 20)).toEqual({ published: 0, failed: 2 });
    publisher.publish(events(3, 2));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.batches).toEqual([[0, 1], [2, 3, 4]]);
    // The first bus call answers late, refusing everything: nobody counts it again.
    answers[0]!([0, 1].map((index) => ({ index, errorCode: 'AccessDeniedException', retryable: false })));
    await new Promise((resolve) => setTimeout(resolve, 5));
    setTimeout(() => answers[1]!([]), 20);
    expect(await publisher.flush(Date.now() + 2_000)).toEqual({ published: 3, failed: 0 });
  });

  it('counts a batch answered after the deadline as failed, not published', async () => {
    let answer!: (failures: EntryFailure[]) => void;
    const r = recorder(() => new Promise<EntryFailure[]>((resolve) => (answer = resolve)));
    const publisher = createBatchingPublisher({ send: r.send, clock: { now: () => Date.now(), sleep: async () => undefined } });
    publisher.publish(events(2));
    expect(await publisher.flush(Date.now() + 20)).toEqual({ published: 0, failed: 2 });
    answer([]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await publisher.flush(Date.now() + 20)).toEqual({ published: 0, failed: 0 });
  });

  it('gives up at once, without waiting, when the deadline has passed', async () => {
    const r = recorder(() => new Promise<EntryFailure[]>(() => undefined));
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0) });
    publisher.publish(events(3));
    expect(await publisher.flush(T0)).toEqual({ published: 0, failed: 3 });
  });

  it('stops resending when the deadline passes during the pauses', async () => {
    const clock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
    const r = recorder((_call, batch) => all(batch, 'ThrottlingException', true));
    const publisher = createBatchingPublisher({ send: r.send, clock, retryBaseMs: 200, maxAttempts: 10 });
    publisher.publish(events(1));
    expect(await publisher.flush(Date.now() + 100)).toEqual({ published: 0, failed: 1 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(r.batches).toHaveLength(1);
  });

  it('drops events past maxQueued and counts them, and names the error codes in order', async () => {
    const r = recorder((call) => (call === 1 ? [{ index: 0, errorCode: 'AccessDeniedException', retryable: false }] : []));
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0), telemetry, maxQueued: 12 });
    publisher.publish(events(15));
    expect(await publisher.flush(T0 + 1_000)).toEqual({ published: 11, failed: 4 });
    expect(telemetry.logs[0]!.fields).toEqual({ published: 11, failed: 4, errorCodes: ['AccessDeniedException', 'queue_full'] });
  });

  it('reports nothing, and calls nothing, when nothing was published', async () => {
    const r = recorder();
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0), telemetry });
    expect(await publisher.flush(T0 + 1_000)).toEqual({ published: 0, failed: 0 });
    expect(r.batches).toEqual([]);
    expect(telemetry.metrics).toEqual([['EventsPublished', 0], ['EventsFailed', 0]]);
  });

  it('counts the batch in hand as failed when the bus answers something that is no list', async () => {
    const r = recorder(() => 'nonsense' as unknown as EntryFailure[]);
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock: new ManualClock(T0), telemetry });
    publisher.publish(events(3));
    expect(await publisher.flush(T0 + 1_000)).toEqual({ published: 0, failed: 3 });
    expect(telemetry.logs[0]!.fields).toMatchObject({ errorCodes: ['publisher_error'] });
  });

  it('gives up what waits, rather than spin, when the pump itself fails', async () => {
    const clock: Clock = { now: () => T0, sleep: () => Promise.reject(new Error('clock broke')) };
    const r = recorder((call, batch) => (call === 1 ? all(batch, 'ThrottlingException', true) : []));
    const telemetry = capture();
    const publisher = createBatchingPublisher({ send: r.send, clock, telemetry });
    publisher.publish(events(2));
    expect(await publisher.flush(T0 + 1_000)).toEqual({ published: 0, failed: 2 });
    expect(telemetry.logs[0]!.fields).toMatchObject({ errorCodes: ['publisher_error'] });
  });
});
