/**
 * The refresher and getter handlers end to end: real AWS SDK clients against dynalite and the
 * Secrets Manager emulator, Genesys against the simulator, realistic EventBridge events and a
 * Lambda-like context. Log lines are captured from stdout, where Powertools writes them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbAuditLog } from '../../lambdas/adapters/aws/dynamodb-audit-log.js';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import { ENV } from '../../lambdas/core/env-names.js';
import type { SweepSummary } from '../../lambdas/core/engine.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { type BrokerFunctionHost, startBrokerFunctionHost } from '../support/broker-functions.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { lambdaContext } from '../support/lambda-context.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { captureOutput } from '../support/captured-output.js';

const PREFIX = 'gtb-test';
const ORG_A = '0c000000-0000-4000-8000-00000000000a';
const ORG_B = '0c000000-0000-4000-8000-00000000000b';
const ORG_C = '0c000000-0000-4000-8000-00000000000c';
const SECRETS: Record<string, string> = {
  [ORG_A]: 'client-secret-A-0123456789abcdefghij',
  [ORG_B]: 'client-secret-B-0123456789abcdefghij',
  [ORG_C]: 'client-secret-C-0123456789abcdefghij',
};

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let sim: GenesysSimulator;
let functions: BrokerFunctionHost;
let tableN = 0;
let stdout: string[] = [];

const scheduledEvent = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-29T06:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/GenesysTokenBroker-Schedule'],
  detail: {},
};


async function environment(orgs: Array<[string, string]>, options: { env?: Record<string, string>; tokenLifetimeSeconds?: number } = {}) {
  tableN++;
  const names = { registry: `registry-${tableN}`, audit: `audit-${tableN}` };
  await ddb.createTables(names);
  const dynamoDb = ddb.client();
  const secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 5 });
  const registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: names.registry });
  const credentials = new SecretsManagerCredentialStore({ client: secretsManager, secretPrefix: `${PREFIX}-${tableN}` });
  for (const [orgId, region] of orgs) {
    const clientId = `handler-client-${tableN}-${orgId.slice(-2)}`;
    sim.addClient({ clientId, clientSecret: SECRETS[orgId]!, orgId, ...(options.tokenLifetimeSeconds ? { tokenLifetimeSeconds: options.tokenLifetimeSeconds } : {}) });
    const org: Omit<OrgRecord, 'version'> = { orgId, region, grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
    await registry.put(org);
    await credentials.save(org, { clientId, clientSecret: SECRETS[orgId]! });
  }
  const env = {
    [ENV.secretPrefix]: `${PREFIX}-${tableN}`,
    [ENV.registryTable]: names.registry,
    [ENV.auditTable]: names.audit,
    [ENV.kmsKeyId]: 'alias/gtb-test',
    ...options.env,
  };
  const overrides = { genesysBaseUrl: sim.resolver, secretsManager, dynamoDb };
  return {
    names,
    env,
    prefix: `${PREFIX}-${tableN}`,
    registry,
    audit: new DynamoDbAuditLog({ client: dynamoDb, tableName: names.audit }),
    ...functions.deploy(env, overrides),
  };
}

beforeAll(async () => {
  ddb = await startDynalite();
  functions = await startBrokerFunctionHost();
  sm = await SecretsManagerEmulator.start();
  sim = await GenesysSimulator.start();
  sim.addOrg({ orgId: ORG_A, region: 'mypurecloud.com' });
  sim.addOrg({ orgId: ORG_B, region: 'mypurecloud.ie' });
  sim.addOrg({ orgId: ORG_C, region: 'apne2.pure.cloud' });
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), sim?.close(), functions?.close()]);
});

beforeEach(() => {
  stdout = [];
  // Powertools writes info lines and EMF to stdout, warnings and errors to stderr: capture both, quietly.
  captureOutput(stdout);
  return () => vi.restoreAllMocks();
});

describe('refresher handler', () => {
  it('creates each token secret on the first sweep and moves AWSCURRENT to AWSPREVIOUS on the next', async () => {
    const e = await environment([[ORG_A, 'mypurecloud.com'], [ORG_B, 'eu-west-1']]);
    const first = (await e.refresher(scheduledEvent, lambdaContext())) as SweepSummary;
    expect(first).toMatchObject({ examined: 2, refreshed: 2, failed: {} });
    const name = `${e.prefix}/tokens/${ORG_A}`;
    const secret = sm.secret(name)!;
    expect(secret.kmsKeyId).toBe('alias/gtb-test');
    expect(secret.tags).toMatchObject({ 'org-id': ORG_A, 'managed-by': 'genesys-token-broker' });
    const v1 = sm.versionWithStage(name, 'AWSCURRENT')!;
    expect(JSON.parse(v1.secretString!)).toMatchObject({ schemaVersion: 1, orgId: ORG_A, apiBaseUrl: 'https://api.mypurecloud.com' });

    const second = (await e.refresher({ orgIds: [ORG_A], force: true }, lambdaContext())) as SweepSummary;
    expect(second).toMatchObject({ refreshed: 1 });
    expect(sm.versionWithStage(name, 'AWSPREVIOUS')!.versionId).toBe(v1.versionId);
    expect(sm.versionWithStage(name, 'AWSCURRENT')!.versionId).not.toBe(v1.versionId);
    const audit = await e.audit.query(ORG_A);
    expect(audit.map((r) => [r.outcome, r.trigger])).toEqual([['success', 'manual'], ['success', 'schedule']]);
    expect(audit[0]!.requestId).toMatch(/^req-/);
  });

  it('retries Secrets Manager throttling and still writes the token, creating a new org\'s secret in one call', async () => {
    const e = await environment([[ORG_C, 'ap-northeast-2']]);
    sm.injectFault('CreateSecret', { type: 'ThrottlingException', times: 2 });
    const before = sm.requests.length;
    const summary = (await e.refresher(scheduledEvent, lambdaContext())) as SweepSummary;
    expect(summary.refreshed).toBe(1);
    expect(sm.versionWithStage(`${e.prefix}/tokens/${ORG_C}`)).toBeDefined();
    const writes = sm.requests.slice(before).filter((r) => r.operation === 'PutSecretValue' || r.operation === 'CreateSecret');
    // The first token of a new org is one CreateSecret (retried twice by the SDK), no PutSecretValue.
    expect(writes.map((r) => `${r.operation}:${r.outcome}`)).toEqual(['CreateSecret:ThrottlingException', 'CreateSecret:ThrottlingException', 'CreateSecret:ok']);
  });

  it('leaves the token written and reports it when the audit write fails', async () => {
    const e = await environment([[ORG_A, 'mypurecloud.com']]);
    ddb.failNext('PutItem', 10, 'InternalServerError');
    const summary = (await e.refresher(scheduledEvent, lambdaContext())) as SweepSummary;
    expect(summary).toMatchObject({ refreshed: 1, auditWriteFailures: 1 });
    expect(sm.versionWithStage(`${e.prefix}/tokens/${ORG_A}`)).toBeDefined();
    expect(stdout.join('')).toContain('audit write failed');
  });

  it.each([
    ['a non-object', 'refresh please', /event must be/],
    ['a non-UUID org id', { orgIds: ['acme'] }, /orgIds.0: must be a UUID/],
    ['an unknown key', { orgIds: [ORG_A], forse: true }, /forse/],
    ['a non-boolean force', { force: 'yes' }, /force/],
  ])('rejects %s and writes nothing', async (_name, event, message) => {
    const e = await environment([[ORG_A, 'mypurecloud.com']]);
    const before = sm.callCount();
    await expect(e.refresher(event, lambdaContext())).rejects.toThrow(message);
    expect(sm.callCount()).toBe(before);
    expect(await e.audit.query(ORG_A)).toHaveLength(0);
  });

  it('takes its sweep interval from the environment: a 30-minute token is supported at 5 minutes, too short at 10', async () => {
    const fiveMinutes = await environment([[ORG_A, 'mypurecloud.com']], { tokenLifetimeSeconds: 1800 });
    expect(await fiveMinutes.refresher(scheduledEvent, lambdaContext())).toMatchObject({ refreshed: 1, failed: {} });

    const tenMinutes = await environment([[ORG_A, 'mypurecloud.com']], { tokenLifetimeSeconds: 1800, env: { [ENV.sweepIntervalSeconds]: '600' } });
    const summary = (await tenMinutes.refresher(scheduledEvent, lambdaContext())) as SweepSummary;
    expect(summary).toMatchObject({ refreshed: 0, failed: { token_lifetime_too_short: 1 }, critical: 1 });
    // Still written, so consumers keep a token; the org is flagged and the audit record is critical.
    expect(sm.versionWithStage(`${tenMinutes.prefix}/tokens/${ORG_A}`)).toBeDefined();
    const [audit] = await tenMinutes.audit.query(ORG_A);
    expect(audit).toMatchObject({ outcome: 'failure', errorCode: 'token_lifetime_too_short', severity: 'critical' });
    expect(audit!.message).toContain('token lifetime 1800 s is below the minimum of 2000 s');
    expect(stdout.join('')).toContain('token_lifetime_too_short');
  });

  it('refuses a sweep interval out of range at cold start, naming the variable', async () => {
    await expect(environment([[ORG_A, 'mypurecloud.com']], { env: { [ENV.sweepIntervalSeconds]: '2' } })).rejects.toThrow(/invalid environment: BROKER_SWEEP_INTERVAL_SECONDS: /);
  });

  it('emits EMF metrics for the sweep', async () => {
    const e = await environment([[ORG_B, 'mypurecloud.ie']]);
    await e.refresher(scheduledEvent, lambdaContext());
    const emf = stdout.map((l) => l.trim()).filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const sweep = emf.find((m) => 'RefreshSucceeded' in m)!;
    expect(sweep).toMatchObject({ RefreshSucceeded: 1, RefreshFailed: 0, OrgsDue: 1, OrgsAtRisk: 0, service: 'refresher' });
    expect(sweep.MinTokenSecondsRemaining).toBeGreaterThan(86_000);
  });
});

describe('metrics of a deployment', () => {
  const emf = () => stdout.map((l) => l.trim()).filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown> & { _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] } });

  it('carry the deployment dimension on every metric, the per-code and on-demand ones included', async () => {
    const e = await environment([[ORG_B, 'mypurecloud.ie']], { env: { [ENV.deployment]: 'AcmeStack/Broker' } });
    await e.refresher(scheduledEvent, lambdaContext());
    // An on-demand refresh for the getter publishes the same counters.
    await e.refresher({ onDemand: { orgId: ORG_B, reason: 'missing' } }, lambdaContext());
    const blobs = emf();
    expect(blobs.length).toBeGreaterThan(1);
    for (const blob of blobs) {
      expect(blob.deployment).toBe('AcmeStack/Broker');
      for (const directive of blob._aws.CloudWatchMetrics) for (const set of directive.Dimensions) expect(set).toContain('deployment');
    }
  });
});

describe('getter handler', () => {
  it('serves a cache hit without any AWS call', async () => {
    const e = await environment([[ORG_A, 'mypurecloud.com']]);
    await e.refresher(scheduledEvent, lambdaContext());
    const getter = e.getter();
    const first = await getter({ orgId: ORG_A }, lambdaContext());
    expect(first).toMatchObject({ orgId: ORG_A, tokenType: 'bearer', apiBaseUrl: 'https://api.mypurecloud.com', region: 'mypurecloud.com' });
    const smBefore = sm.callCount();
    const ddbBefore = Object.values(ddb.calls()).reduce((a, b) => a + b, 0);
    const genesysBefore = sim.totalRequests();
    const second = await getter({ orgId: ORG_A }, lambdaContext());
    expect(second).toEqual(first);
    expect(sm.callCount()).toBe(smBefore);
    expect(Object.values(ddb.calls()).reduce((a, b) => a + b, 0)).toBe(ddbBefore);
    expect(sim.totalRequests()).toBe(genesysBefore);
  });

  it('makes one Genesys token request for a stampede of getters in separate containers', async () => {
    const e = await environment([[ORG_B, 'mypurecloud.ie']]);
    const clientId = `handler-client-${tableN}-${ORG_B.slice(-2)}`;
    sim.injectFault(clientId, { kind: 'latency', ms: 300 });
    const containers = Array.from({ length: 4 }, () => e.getter());
    const responses = await Promise.all(containers.flatMap((g) => Array.from({ length: 5 }, () => g({ orgId: ORG_B }, lambdaContext()))));
    expect(sim.counts(clientId).token).toBe(1);
    expect(new Set(responses.map((r) => ('accessToken' in r ? r.accessToken : r.error.code))).size).toBe(1);
    expect(responses[0]).toHaveProperty('accessToken');
  });

  it.each([
    ['a missing orgId', {}],
    ['a non-UUID', { orgId: 'not-a-uuid' }],
    ['a 10 KB string', { orgId: 'x'.repeat(10_240) }],
    ['path segments', { orgId: `../tokens/${ORG_A}` }],
    ['a non-object event', 'hello'],
    ['an array', [ORG_A]],
  ])('answers %s with invalid_request and writes nothing', async (_name, event) => {
    const e = await environment([[ORG_A, 'mypurecloud.com']]);
    const smBefore = sm.callCount();
    const response = await e.getter()(event, lambdaContext());
    expect(response).toMatchObject({ error: { code: 'invalid_request' } });
    expect(sm.callCount()).toBe(smBefore);
    expect(await e.audit.query(ORG_A)).toHaveLength(0);
  });

  it('answers org_not_found and org_disabled', async () => {
    const e = await environment([[ORG_A, 'mypurecloud.com']]);
    const org = (await e.registry.get(ORG_A))!;
    await e.registry.put({ ...org, enabled: false });
    const getter = e.getter();
    expect(await getter({ orgId: ORG_A }, lambdaContext())).toMatchObject({ error: { code: 'org_disabled' } });
    expect(await getter({ orgId: ORG_B }, lambdaContext())).toMatchObject({ error: { code: 'org_not_found' } });
  });
});

describe('secrets in logs', () => {
  it('never logs a token or a client secret', async () => {
    const e = await environment([[ORG_A, 'mypurecloud.com'], [ORG_B, 'mypurecloud.ie'], [ORG_C, 'apne2.pure.cloud']]);
    // One org fails with a wrong secret so the failure path logs too.
    await new SecretsManagerCredentialStore({ client: createEmulatorClient(sm), secretPrefix: e.prefix }).save({ orgId: ORG_C }, { clientId: `handler-client-${tableN}-0c`, clientSecret: 'the-wrong-secret-0123456789' });
    await e.refresher(scheduledEvent, lambdaContext());
    const getter = e.getter();
    const served = await getter({ orgId: ORG_A }, lambdaContext());
    await getter({ orgId: ORG_C }, lambdaContext());
    const logs = stdout.join('');
    expect(logs).toContain('token refresh failed');
    expect(logs).toContain('token served');
    const secrets = [...sim.issuedAccessTokens(), ...Object.values(SECRETS), 'the-wrong-secret-0123456789', 'accessToken' in served ? served.accessToken : 'x'];
    for (const secret of secrets) expect(logs).not.toContain(secret);
  });
});
