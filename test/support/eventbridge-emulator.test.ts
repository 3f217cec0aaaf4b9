import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventBridgeEmulatorClient, EventBridgeEmulator } from './eventbridge-emulator.js';

const entry = (n: number, extra: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  Source: 'genesys-token-broker',
  DetailType: 'Genesys Token Refreshed',
  Detail: JSON.stringify({ orgId: `org-${n}` }),
  ...extra,
});

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('EventBridgeEmulator', () => {
  let emulator: EventBridgeEmulator;
  let client: EventBridgeClient;

  beforeAll(async () => {
    emulator = await EventBridgeEmulator.start();
    client = createEventBridgeEmulatorClient(emulator, { maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
  });

  beforeEach(() => {
    emulator.events.length = 0;
    emulator.resetCalls();
  });

  it('accepts up to 10 entries, answering each in order, and keeps the accepted events with their detail parsed', async () => {
    const time = new Date('2026-06-01T00:00:00Z');
    const out = await client.send(new PutEventsCommand({ Entries: [entry(1, { Time: time, Resources: ['arn:x'] }), entry(2, { Detail: '[1]' }), entry(3, { Detail: undefined }), entry(4, { Source: undefined }), entry(5, { DetailType: undefined })] }));
    expect(out.FailedEntryCount).toBe(4);
    expect(out.Entries!.map((e) => e.ErrorCode ?? 'ok')).toEqual(['ok', 'MalformedDetail', 'InvalidArgument', 'InvalidArgument', 'InvalidArgument']);
    expect(emulator.events).toEqual([{ id: out.Entries![0]!.EventId, source: 'genesys-token-broker', detailType: 'Genesys Token Refreshed', detail: { orgId: 'org-1' }, eventBusName: 'default', timeMs: time.getTime(), resources: ['arn:x'] }]);
  });

  it('refuses a call of more than 10 entries, or of none, as a whole', async () => {
    const tooMany = await rejectionOf(client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, (_, i) => entry(i)) })));
    expect(tooMany.name).toBe('ValidationException');
    expect((await rejectionOf(client.send(new PutEventsCommand({ Entries: [] })))).name).toBe('ValidationException');
    expect(emulator.events).toEqual([]);
  });

  it('knows the default bus and the buses added, by name or ARN, and no other', async () => {
    const arn = emulator.addBus('custom');
    const out = await client.send(new PutEventsCommand({ Entries: [entry(1, { EventBusName: arn }), entry(2, { EventBusName: 'custom' }), entry(3, { EventBusName: 'missing' }), entry(4, { EventBusName: emulator.busArn('default').replace('123456789012', '210987654321') })] }));
    expect(out.Entries!.map((e) => e.ErrorCode ?? 'ok')).toEqual(['ok', 'ok', 'ResourceNotFoundException', 'ResourceNotFoundException']);
    expect(emulator.eventsOf('Genesys Token Refreshed').map((e) => e.eventBusName)).toEqual(['custom', 'custom']);
  });

  it('fails the next matching entries with an injected code, then takes them again', async () => {
    emulator.failEntries({ errorCode: 'ThrottlingException', detailType: 'Genesys Org At Risk', times: 2 });
    const atRisk = entry(1, { DetailType: 'Genesys Org At Risk' });
    const first = await client.send(new PutEventsCommand({ Entries: [entry(0), atRisk, atRisk, atRisk] }));
    expect(first.Entries!.map((e) => e.ErrorCode ?? 'ok')).toEqual(['ok', 'ThrottlingException', 'ThrottlingException', 'ok']);
    expect(emulator.eventsOf('Genesys Org At Risk')).toHaveLength(1);
  });

  it('refuses requests signed with other credentials', async () => {
    const stranger = new EventBridgeClient({ endpoint: emulator.endpoint, region: emulator.region, maxAttempts: 1, credentials: { accessKeyId: 'AKIAOTHER00000000000', secretAccessKey: 'other-secret-access-key-0000000000000000' } });
    const err = await rejectionOf(stranger.send(new PutEventsCommand({ Entries: [entry(1)] })));
    expect(err.$metadata?.httpStatusCode).toBe(400);
    stranger.destroy();
  });

  it('answers slowly when told to', async () => {
    emulator.latencyMs = 150;
    const started = Date.now();
    await client.send(new PutEventsCommand({ Entries: [entry(1)] }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    emulator.latencyMs = 0;
  });
});
