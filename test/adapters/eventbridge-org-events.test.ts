/**
 * The EventBridge publisher over the wire: the real @aws-sdk/client-eventbridge client against the
 * EventBridge stand-in (test/support/eventbridge-emulator.ts), batching, per-entry and whole-call
 * failures, a slow bus.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventBridgePublisher, createEventBridgeSender } from '../../lambdas/adapters/aws/eventbridge-org-events.js';
import type { OrgEvent, Telemetry } from '../../lambdas/core/ports.js';
import { createEventBridgeEmulatorClient, EventBridgeEmulator } from '../support/eventbridge-emulator.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');

function event(n: number, detailType: OrgEvent['detailType'] = 'Genesys Token Refreshed'): OrgEvent {
  const orgId = `0e000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return {
    detailType,
    orgId,
    timeMs: T0 + n * 1000,
    detail: { schemaVersion: 1, orgId, region: 'mypurecloud.ie', attemptId: `attempt-${n}`, trigger: 'schedule', reason: 'at_refresh_mark', expiresAt: '2026-06-02T12:00:00.000Z' },
  };
}
const events = (count: number) => Array.from({ length: count }, (_, i) => event(i));

let eb: EventBridgeEmulator;

beforeAll(async () => {
  eb = await EventBridgeEmulator.start();
});

afterAll(async () => {
  await eb?.close();
});

beforeEach(() => {
  eb.events.length = 0;
  eb.resetCalls();
  eb.clearFaults();
  eb.latencyMs = 0;
});

function capture(): Telemetry & { metrics: Record<string, number>; logs: unknown[] } {
  const metrics: Record<string, number> = {};
  const logs: unknown[] = [];
  return { metrics, logs, log: (level, message, fields) => logs.push({ level, message, ...fields }), metric: (name, value) => void (metrics[name] = value) };
}

function publisher(options: { eventBus?: string; maxAttempts?: number; telemetry?: Telemetry } = {}) {
  const client = createEventBridgeEmulatorClient(eb, { maxAttempts: options.maxAttempts ?? 1, retryBackoffMs: 1 });
  return createEventBridgePublisher({ eventBus: options.eventBus ?? 'default', deployment: 'Stack/Broker' }, { client, ...(options.telemetry ? { telemetry: options.telemetry } : {}) });
}

const soon = () => Date.now() + 5_000;

describe('createEventBridgePublisher', () => {
  it('puts 25 events with 3 PutEvents calls, each entry with the broker source, its detail-type, time and deployment', async () => {
    const telemetry = capture();
    const p = publisher({ telemetry });
    p.publish(events(25));
    expect(await p.flush(soon())).toEqual({ published: 25, failed: 0 });
    expect(eb.callCount('PutEvents')).toBe(3);
    expect(eb.events).toHaveLength(25);
    expect(eb.events[7]).toEqual({
      id: expect.any(String),
      source: 'genesys-token-broker',
      detailType: 'Genesys Token Refreshed',
      detail: { ...event(7).detail, deployment: 'Stack/Broker' },
      eventBusName: 'default',
      timeMs: T0 + 7_000,
      resources: [],
    });
    expect(eb.events.map((e) => e.detail.attemptId)).toEqual(events(25).map((e) => e.detail.attemptId));
    expect(telemetry.metrics).toEqual({ EventsPublished: 25, EventsFailed: 0 });
  });

  it('stops waiting for the bus the moment the signal aborts', async () => {
    eb.latencyMs = 3_000;
    const send = createEventBridgeSender({ client: createEventBridgeEmulatorClient(eb, { maxAttempts: 1 }), eventBus: 'default' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const failures = await send([event(1)], controller.signal);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(failures).toEqual([{ index: 0, errorCode: expect.any(String), retryable: expect.any(Boolean) }]);
  });

  it('leaves deployment out when none is set', async () => {
    const send = createEventBridgeSender({ client: createEventBridgeEmulatorClient(eb), eventBus: 'default' });
    expect(await send([event(1)], new AbortController().signal)).toEqual([]);
    expect(eb.events[0]!.detail).toEqual(event(1).detail);
  });

  it('puts events on a named bus, by ARN', async () => {
    const arn = eb.addBus('broker-events');
    const p = publisher({ eventBus: arn });
    p.publish(events(2));
    expect(await p.flush(soon())).toEqual({ published: 2, failed: 0 });
    expect(eb.events.map((e) => e.eventBusName)).toEqual(['broker-events', 'broker-events']);
  });

  it('sends again only the entries the bus throttled, until they are taken', async () => {
    eb.failEntries({ errorCode: 'ThrottlingException', orgId: event(3).orgId, times: 2 });
    const p = publisher();
    p.publish(events(5));
    expect(await p.flush(soon())).toEqual({ published: 5, failed: 0 });
    expect(eb.callCount('PutEvents')).toBe(3);
    expect(eb.events.map((e) => e.detail.attemptId)).toEqual(['attempt-0', 'attempt-1', 'attempt-2', 'attempt-4', 'attempt-3']);
  });

  it('gives up an entry refused for good at once, and one throttled three times, and counts both', async () => {
    eb.failEntries({ errorCode: 'AccessDeniedException', orgId: event(1).orgId });
    eb.failEntries({ errorCode: 'InternalFailure', orgId: event(2).orgId, times: 3 });
    const telemetry = capture();
    const p = publisher({ telemetry });
    p.publish(events(4));
    expect(await p.flush(soon())).toEqual({ published: 2, failed: 2 });
    expect(eb.callCount('PutEvents')).toBe(3);
    expect(telemetry.metrics).toEqual({ EventsPublished: 2, EventsFailed: 2 });
    expect(telemetry.logs).toEqual([{ level: 'warn', message: 'org events could not be published', published: 2, failed: 2, errorCodes: ['AccessDeniedException', 'InternalFailure'] }]);
  });

  it('gives up entries for a bus that does not exist without resending them', async () => {
    const p = publisher({ eventBus: 'no-such-bus' });
    p.publish(events(2));
    expect(await p.flush(soon())).toEqual({ published: 0, failed: 2 });
    expect(eb.callCount('PutEvents')).toBe(1);
  });

  it('resends a whole batch after a transient failure of the call, and gives one up after a refusal', async () => {
    eb.injectFault('PutEvents', { type: 'InternalException' });
    const p = publisher();
    p.publish(events(3));
    expect(await p.flush(soon())).toEqual({ published: 3, failed: 0 });
    expect(eb.requests.map((r) => r.outcome)).toEqual(['InternalException', 'ok']);

    eb.injectFault('PutEvents', { type: 'AccessDeniedException' });
    const telemetry = capture();
    const refused = publisher({ telemetry });
    refused.publish(events(3));
    expect(await refused.flush(soon())).toEqual({ published: 0, failed: 3 });
    expect(eb.callCount('PutEvents')).toBe(3);
    expect(telemetry.logs).toEqual([expect.objectContaining({ errorCodes: ['AccessDeniedException'] })]);
  });

  it('sends again the entries an answer left without a result, taking none for delivered', async () => {
    eb.shortenNextAnswer(2);
    const p = publisher();
    p.publish(events(4));
    expect(await p.flush(soon())).toEqual({ published: 4, failed: 0 });
    expect(eb.callCount('PutEvents')).toBe(2);
    // The bus had taken all four the first time: the two without an answer arrive twice.
    expect(eb.events.map((e) => e.detail.attemptId)).toEqual(['attempt-0', 'attempt-1', 'attempt-2', 'attempt-3', 'attempt-2', 'attempt-3']);
  });

  it('resends after a connection reset', async () => {
    eb.injectFault('PutEvents', { type: 'ConnectionReset' });
    const p = publisher();
    p.publish(events(1));
    expect(await p.flush(soon())).toEqual({ published: 1, failed: 0 });
  });

  it('waits for a slow bus no longer than the flush deadline, and counts what did not make it', async () => {
    eb.latencyMs = 3_000;
    const telemetry = capture();
    const p = publisher({ telemetry });
    p.publish(events(12));
    const started = Date.now();
    expect(await p.flush(Date.now() + 200)).toEqual({ published: 0, failed: 12 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(telemetry.metrics).toEqual({ EventsPublished: 0, EventsFailed: 12 });
  });
});
