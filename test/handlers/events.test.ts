/**
 * Per-org events from the refresher handler, end to end: real AWS SDK clients against dynalite, the
 * Secrets Manager, KMS and EventBridge stand-ins, Genesys against the simulator, the getter reaching
 * the refresher through the Lambda emulator. Every refresh path puts its events on the bus, no event
 * carries a secret, and a slow or refusing bus costs a refresh nothing.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import type { SweepSummary } from '../../lambdas/core/engine.js';
import { ENV } from '../../lambdas/core/env-names.js';
import { fingerprint } from '../../lambdas/core/fingerprint.js';
import { ORG_EVENT_TYPES } from '../../lambdas/core/org-events.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { EVENT_FLUSH_BUDGET_MS } from '../../lambdas/handlers/refresher.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { type BrokerFunctionHost, startBrokerFunctionHost } from '../support/broker-functions.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { type AcceptedEvent, createEventBridgeEmulatorClient, EventBridgeEmulator } from '../support/eventbridge-emulator.js';
import { createKmsEmulatorClient, KmsEmulator } from '../support/kms-emulator.js';
import { lambdaContext } from '../support/lambda-context.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { captureOutput } from '../support/captured-output.js';

const ORG_OK = '0c000000-0000-4000-8000-0000000000e1';
const ORG_REVOKED = '0c000000-0000-4000-8000-0000000000e2';
const ORG_RT = '0c000000-0000-4000-8000-0000000000e3';
const ORG_LATE = '0c000000-0000-4000-8000-0000000000e4';
const { refreshed, refreshFailed, atRisk, needsReauthorization } = ORG_EVENT_TYPES;
const scheduled = { version: '0', id: 'e1', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: '2026-11-29T06:00:00Z', region: 'us-east-1', resources: [], detail: {} };

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let kms: KmsEmulator;
let eb: EventBridgeEmulator;
let sim: GenesysSimulator;
let functions: BrokerFunctionHost;
let stdout: string[] = [];
let n = 0;
/** Every client secret and refresh token the tests hand out. */
const secrets: string[] = [];

beforeAll(async () => {
  [ddb, sm, kms, eb, sim, functions] = await Promise.all([startDynalite(), SecretsManagerEmulator.start(), KmsEmulator.start(), EventBridgeEmulator.start(), GenesysSimulator.start(), startBrokerFunctionHost()]);
  for (const orgId of [ORG_OK, ORG_REVOKED, ORG_RT, ORG_LATE]) sim.addOrg({ orgId, region: 'mypurecloud.ie' });
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), kms?.close(), eb?.close(), sim?.close(), functions?.close()]);
});

beforeEach(() => {
  stdout = [];
  eb.events.length = 0;
  eb.resetCalls();
  eb.clearFaults();
  eb.latencyMs = 0;
  captureOutput(stdout);
  return () => vi.restoreAllMocks();
});

/** `stale`: the stored refresh token is not the one Genesys expects (someone else spent it): invalid_grant. */
type Spec = [orgId: string, grantType: OrgRecord['grantType'], stale?: 'stale'];

async function environment(orgs: Spec[], options: { events?: boolean } = {}) {
  n++;
  const names = { registry: `ev-registry-${n}`, audit: `ev-audit-${n}` };
  await ddb.createTables(names);
  const dynamoDb = ddb.client();
  const secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 5 });
  const prefix = `gtb-events-${n}`;
  const registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: names.registry });
  const credentials = new SecretsManagerCredentialStore({ client: secretsManager, secretPrefix: prefix });
  const clients: Record<string, string> = {};
  const add = async ([orgId, grantType, stale]: Spec) => {
    const clientId = `events-client-${n}-${orgId.slice(-2)}`;
    const clientSecret = `events-secret-${n}-${orgId.slice(-2)}-0123456789abcdef`;
    const refreshToken = grantType === 'refresh_token' ? `events-refresh-${n}-${orgId.slice(-2)}-0123456789abcdef` : undefined;
    secrets.push(clientSecret, ...(refreshToken ? [refreshToken] : []));
    sim.addClient({ clientId, clientSecret, orgId, ...(refreshToken ? { grantTypes: ['refresh_token'], refreshToken } : {}) });
    clients[orgId] = clientId;
    const org: Omit<OrgRecord, 'version'> = { orgId, region: 'mypurecloud.ie', label: `Tenant ${orgId.slice(-2)}`, grantType, enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
    await registry.put(org);
    const stored = stale ? `events-refresh-spent-elsewhere-${n}-0123456789` : refreshToken;
    if (stale) secrets.push(stored!);
    await credentials.save(org, { clientId, clientSecret, ...(stored ? { refreshToken: stored } : {}) });
  };
  for (const spec of orgs) await add(spec);
  const env = {
    [ENV.secretPrefix]: prefix,
    [ENV.registryTable]: names.registry,
    [ENV.auditTable]: names.audit,
    [ENV.kmsKeyId]: kms.addKey().arn,
    [ENV.deployment]: 'EventsStack/Broker',
    ...(options.events === false ? {} : { [ENV.eventBus]: eb.busArn('default') }),
  };
  const overrides = {
    genesysBaseUrl: sim.resolver,
    secretsManager,
    dynamoDb,
    kms: createKmsEmulatorClient(kms, { retryBackoffMs: 1 }),
    eventBridge: createEventBridgeEmulatorClient(eb, { maxAttempts: 1, retryBackoffMs: 1 }),
  };
  return { clients, add, ...functions.deploy(env, overrides) };
}

const brief = (events: AcceptedEvent[]) => events.map((e) => [e.detail.orgId, e.detailType, e.detail.trigger]).sort();

/** The EMF values of `metric` the handler wrote. */
const metricValues = (metric: string) =>
  stdout.flatMap((chunk) => chunk.split('\n')).filter((line) => line.includes(`"${metric}"`)).map((line) => (JSON.parse(line) as Record<string, number>)[metric]);

describe('per-org events from the refresher', () => {
  it('puts every attempt of a sweep on the bus: refreshed, failed and at risk, and a spent refresh token needing re-authorization', async () => {
    const e = await environment([[ORG_OK, 'client_credentials'], [ORG_REVOKED, 'client_credentials'], [ORG_RT, 'refresh_token', 'stale']]);
    sim.revokeClient(e.clients[ORG_REVOKED]!);
    const summary = (await e.refresher(scheduled, lambdaContext())) as SweepSummary;
    expect(summary).toMatchObject({ refreshed: 1, failed: { invalid_client: 1, invalid_grant: 1 } });
    expect(brief(eb.events)).toEqual(
      [
        [ORG_OK, refreshed, 'schedule'],
        [ORG_REVOKED, refreshFailed, 'schedule'],
        [ORG_REVOKED, atRisk, 'schedule'],
        [ORG_RT, refreshFailed, 'schedule'],
        [ORG_RT, atRisk, 'schedule'],
        [ORG_RT, needsReauthorization, 'schedule'],
      ].sort(),
    );
    for (const event of eb.events) {
      expect(event).toMatchObject({ source: 'genesys-token-broker', eventBusName: 'default', detail: { deployment: 'EventsStack/Broker', region: 'mypurecloud.ie', schemaVersion: 1 } });
      expect(event.detail.label).toBe(`Tenant ${String(event.detail.orgId).slice(-2)}`);
    }
    const ok = eb.eventsOf(refreshed)[0]!;
    expect(ok.detail).toEqual({
      schemaVersion: 1,
      orgId: ORG_OK,
      region: 'mypurecloud.ie',
      label: 'Tenant e1',
      attemptId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      trigger: 'schedule',
      reason: 'never_issued',
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      deployment: 'EventsStack/Broker',
    });
    expect(eb.eventsOf(needsReauthorization)[0]!.detail).toMatchObject({ orgId: ORG_RT, errorCode: 'invalid_grant', errorClass: 'permanent', severity: 'critical' });
    expect(eb.eventsOf(atRisk).map((ev) => ev.detail.health)).toEqual(['failing', 'failing']);
    // One sweep's six events go out in one call.
    expect(eb.callCount('PutEvents')).toBeLessThanOrEqual(3);
    expect(metricValues('EventsPublished')).toEqual([6]);
    expect(metricValues('EventsFailed')).toEqual([0]);

    // A second sweep: nothing is due but the revoked org's retry, which is not announced at risk again.
    eb.events.length = 0;
    await e.refresher({ orgIds: [ORG_OK, ORG_REVOKED, ORG_RT], force: true }, lambdaContext());
    expect(brief(eb.events)).toEqual(
      [
        [ORG_OK, refreshed, 'manual'],
        [ORG_REVOKED, refreshFailed, 'manual'],
        [ORG_RT, refreshFailed, 'manual'],
        [ORG_RT, needsReauthorization, 'manual'],
      ].sort(),
    );
  });

  it('puts the getter on-demand refresh on the bus', async () => {
    const e = await environment([]);
    await e.add([ORG_LATE, 'client_credentials']);
    const answer = await e.getter()({ orgId: ORG_LATE }, lambdaContext());
    expect(answer).toHaveProperty('accessToken');
    expect(brief(eb.events)).toEqual([[ORG_LATE, refreshed, 'getter']]);
    expect(eb.events[0]!.detail).toMatchObject({ reason: 'never_issued' });
  });

  it('never puts a token, a secret or a token hash in an event', async () => {
    const e = await environment([[ORG_OK, 'client_credentials'], [ORG_RT, 'refresh_token']]);
    await e.refresher(scheduled, lambdaContext());
    await e.refresher({ orgIds: [ORG_OK, ORG_RT], force: true }, lambdaContext());
    sim.revokeClient(e.clients[ORG_OK]!);
    await e.refresher({ orgIds: [ORG_OK], force: true }, lambdaContext());
    expect(eb.events.length).toBeGreaterThanOrEqual(5);
    const rt = e.clients[ORG_RT]!;
    const tokens = [...sim.issuedAccessTokens(), ...sim.usedRefreshTokens(rt), sim.currentRefreshToken(rt)!, ...secrets];
    const hashes = await Promise.all(tokens.flatMap((t) => [fingerprint(t), Promise.resolve(createHash('sha256').update(t).digest('hex')), Promise.resolve(createHash('sha256').update(t).digest('base64'))]));
    expect(tokens.length).toBeGreaterThan(6);
    const wire = JSON.stringify(eb.events);
    expect([...tokens, ...hashes].filter((secret) => wire.includes(secret))).toEqual([]);
    expect([...tokens, ...hashes.map((h) => h.slice(0, 16))].filter((secret) => wire.includes(secret))).toEqual([]);
  });

  it('refreshes as usual, in bounded time, when the bus is slow: the events that did not make it are counted', async () => {
    const e = await environment([[ORG_OK, 'client_credentials']]);
    eb.latencyMs = 10_000;
    const started = Date.now();
    const summary = (await e.refresher(scheduled, lambdaContext())) as SweepSummary;
    const tookMs = Date.now() - started;
    expect(summary).toMatchObject({ refreshed: 1, failed: {} });
    expect(tookMs).toBeLessThan(EVENT_FLUSH_BUDGET_MS.sweep + 3_000);
    expect(metricValues('EventsFailed')).toEqual([1]);
    expect(stdout.join('')).toContain('org events could not be published');
  });

  it('waits for a bus slower than usual, within the flush budget, and the events arrive', async () => {
    const e = await environment([[ORG_OK, 'client_credentials']]);
    eb.latencyMs = 400;
    expect(await e.refresher(scheduled, lambdaContext())).toMatchObject({ refreshed: 1 });
    expect(brief(eb.events)).toEqual([[ORG_OK, refreshed, 'schedule']]);
    expect(metricValues('EventsPublished')).toEqual([1]);
  });

  it('waits, before answering the getter, for a bus slower than usual within the on-demand budget', async () => {
    const e = await environment([]);
    await e.add([ORG_LATE, 'client_credentials']);
    eb.latencyMs = 150;
    expect(await e.getter()({ orgId: ORG_LATE }, lambdaContext())).toHaveProperty('accessToken');
    expect(brief(eb.events)).toEqual([[ORG_LATE, refreshed, 'getter']]);
    expect(metricValues('EventsPublished')).toEqual([1]);
  });

  it('answers the getter within the on-demand flush budget when the bus is slow', async () => {
    const e = await environment([]);
    await e.add([ORG_LATE, 'client_credentials']);
    eb.latencyMs = 10_000;
    const started = Date.now();
    expect(await e.getter()({ orgId: ORG_LATE }, lambdaContext())).toHaveProperty('accessToken');
    expect(Date.now() - started).toBeLessThan(EVENT_FLUSH_BUDGET_MS.onDemand + 1_500);
    expect(metricValues('EventsFailed')).toEqual([1]);
  });

  it('answers the getter when the bus refuses everything, within the on-demand flush budget', async () => {
    const e = await environment([]);
    await e.add([ORG_LATE, 'client_credentials']);
    eb.injectFault('PutEvents', { type: 'AccessDeniedException', times: 100 });
    expect(await e.getter()({ orgId: ORG_LATE }, lambdaContext())).toHaveProperty('accessToken');
    expect(eb.events).toEqual([]);
    expect(eb.callCount('PutEvents')).toBe(1);
  });

  it('puts nothing on any bus without a bus in its environment', async () => {
    const e = await environment([[ORG_OK, 'client_credentials']], { events: false });
    expect(await e.refresher(scheduled, lambdaContext())).toMatchObject({ refreshed: 1 });
    expect(eb.callCount()).toBe(0);
    expect(metricValues('EventsPublished')).toEqual([]);
  });
});
