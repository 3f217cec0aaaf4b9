/**
 * Resource policies on token secrets for readers in other accounts (token-secret-policies.ts), over
 * the wire: the real SDK clients against the Secrets Manager emulator and dynalite, through the AWS
 * composition root the refresher and the CLI use. The emulator counts every policy call, so a test
 * that expects none proves none was made.
 */
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsPorts, createAwsPorts } from '../../lambdas/adapters/aws/aws-ports.js';
import { tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { READER_POLICIES_ITEM } from '../../lambdas/adapters/aws/tables.js';
import { readersFingerprint } from '../../lambdas/adapters/aws/token-secret-policies.js';
import type { CrossAccountReader } from '../../lambdas/core/cross-account-readers.js';
import { METRIC } from '../../lambdas/core/metric-names.js';
import type { Clock, OrgPage, OrgRecord, Telemetry, TokenRecord } from '../../lambdas/core/ports.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';

const ROLE_A = 'arn:aws:iam::210987654321:role/team-a';
const ROLE_B = 'arn:aws:iam::210987654322:role/team-b';
const ACCOUNT_C = 'arn:aws:iam::210987654323:root';
const orgId = (n: number) => `0d000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const [ORG_1, ORG_2, ORG_3] = [orgId(1), orgId(2), orgId(3)];
const T0 = Date.parse('2026-12-03T10:00:00Z');

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let dynamoDb: DynamoDBClient;
let secretsManager: SecretsManagerClient;
let n = 0;

beforeAll(async () => {
  [ddb, sm] = await Promise.all([startDynalite(), SecretsManagerEmulator.start()]);
  dynamoDb = ddb.client();
  secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 1 });
});

afterAll(async () => {
  secretsManager?.destroy();
  await Promise.all([ddb?.close(), sm?.close()]);
});

beforeEach(() => sm.reset());

class TestClock implements Clock {
  ms = T0;
  now = () => this.ms;
  sleep = async (ms: number) => {
    this.ms += ms;
  };
}

interface Recorded {
  logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  metrics: Array<{ name: string; value: number; unit?: string }>;
}

function recordingTelemetry(): Telemetry & Recorded {
  const logs: Recorded['logs'] = [];
  const metrics: Recorded['metrics'] = [];
  return {
    logs,
    metrics,
    log: (level, message, fields) => logs.push({ level, message, ...(fields ? { fields } : {}) }),
    metric: (name, value, unit) => metrics.push({ name, value, unit }),
  };
}
const FAILURE_METRIC = { name: METRIC.tokenSecretPolicyFailures, value: 1, unit: 'Count' };

/** One broker's tables and prefix, and ports for it with `readers` (undefined: the CLI's, which does not know them). */
async function deployment() {
  n++;
  const names = { registry: `pol-registry-${n}`, audit: `pol-audit-${n}` };
  await ddb.createTables(names);
  const prefix = `gtb-pol-${n}`;
  const clock = new TestClock();
  const portsFor = (readers: CrossAccountReader[] | undefined, telemetry: Telemetry = recordingTelemetry(), registryTable = names.registry): AwsPorts =>
    createAwsPorts(
      { registryTable, auditTable: names.audit, secretPrefix: prefix, secretWriteRatePerSecond: 50, ...(readers ? { crossAccountReaders: readers } : {}) },
      { secretsManager, dynamoDb, clock, telemetry },
    );
  const setup = portsFor([]);
  const addOrgs = async (ids: string[], options: { withSecrets: boolean }) => {
    for (const id of ids) {
      const org: Omit<OrgRecord, 'version'> = { orgId: id, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
      await setup.registry.put(org);
      // Created behind the broker's back: no policy, nothing noted.
      if (options.withSecrets) await secretsManager.send(new CreateSecretCommand({ Name: tokenSecretName(prefix, id), SecretString: '{}' }));
    }
  };
  const policyOf = (id: string) => sm.secret(tokenSecretName(prefix, id))?.resourcePolicy;
  const principalsOf = (id: string) => {
    const text = policyOf(id);
    if (text === undefined) return undefined;
    const aws = (JSON.parse(text) as { Statement: Array<{ Principal: { AWS: string | string[] } }> }).Statement[0]!.Principal.AWS;
    return ([] as string[]).concat(aws);
  };
  const bookkeeping = async () => {
    const out = await dynamoDb.send(new GetItemCommand({ TableName: names.registry, Key: { orgId: { S: READER_POLICIES_ITEM.key } }, ConsistentRead: true }));
    return out.Item;
  };
  return { names, prefix, clock, portsFor, setup, addOrgs, policyOf, principalsOf, bookkeeping };
}

function tokenFor(id: string): TokenRecord {
  return {
    schemaVersion: 1,
    orgId: id,
    region: 'mypurecloud.ie',
    apiBaseUrl: 'https://api.mypurecloud.ie',
    accessToken: `access-token-for-${id}-0123456789`,
    tokenType: 'bearer',
    issuedAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 86_400_000).toISOString(),
    refreshAt: new Date(T0 + 64_800_000).toISOString(),
    oauthClientId: 'client-1',
    scopes: [],
  };
}

const policyCalls = () => sm.callCount('PutResourcePolicy') + sm.callCount('DeleteResourcePolicy');
const listWith = (ports: AwsPorts) => (page: { cursor?: string; limit: number }): Promise<OrgPage> => ports.registry.listPage(page);

describe('a token secret the refresher creates', () => {
  it('gets its org readers\' policy at once; an org without readers gets no policy and no call', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1, ORG_2], { withSecrets: false });
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: [ORG_1] }]);
    await ports.vault.write(tokenFor(ORG_1), { attemptId: 'attempt-1', firstWrite: true });
    expect(d.principalsOf(ORG_1)).toEqual([ROLE_A]);
    expect(JSON.parse(d.policyOf(ORG_1)!)).toMatchObject({ Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });
    // Sent with BlockPublicPolicy, so Secrets Manager's own check refuses anything broad.
    expect(sm.secret(tokenSecretName(d.prefix, ORG_1))?.blockPublicPolicy).toBe(true);
    await ports.vault.write(tokenFor(ORG_2), { attemptId: 'attempt-2', firstWrite: true });
    expect(d.policyOf(ORG_2)).toBeUndefined();
    expect(policyCalls()).toBe(1);
    // A later write of an existing secret does not touch its policy.
    await ports.vault.write({ ...tokenFor(ORG_1), accessToken: 'second-access-token-0123456789' }, { attemptId: 'attempt-3' });
    expect(policyCalls()).toBe(1);
  });

  it('is noted for the next reconcile when its policy cannot be written, and the token is written all the same', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1], { withSecrets: false });
    const telemetry = recordingTelemetry();
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: [ORG_1] }], telemetry);
    // The list's first pass, before the org has a secret.
    expect(await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 0 });
    telemetry.logs.length = 0;
    sm.injectFault('PutResourcePolicy', { type: 'InternalServiceError', times: 1 });
    await ports.vault.write(tokenFor(ORG_1), { attemptId: 'attempt-1', firstWrite: true });
    expect(await ports.vault.read(ORG_1)).toMatchObject({ orgId: ORG_1 });
    expect(d.policyOf(ORG_1)).toBeUndefined();
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]?.SS).toEqual([ORG_1]);
    expect(telemetry.metrics).toEqual([FAILURE_METRIC]);
    expect(telemetry.logs).toEqual([
      { level: 'error', message: 'token secret policy could not be written; the next sweep retries', fields: { orgId: ORG_1, errorName: 'InternalServiceError' } },
    ]);

    expect(await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 1 });
    expect(d.principalsOf(ORG_1)).toEqual([ROLE_A]);
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]).toBeUndefined();
  });

  it('created by the CLI (which does not know the readers) is noted, and the refresher\'s next reconcile applies its policy', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1, ORG_2], { withSecrets: false });
    const refresher = d.portsFor([{ principal: ROLE_A, orgIds: [ORG_1] }]);
    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 0 });
    sm.resetCalls();
    const cli = d.portsFor(undefined);
    await cli.vault.write(tokenFor(ORG_1), { attemptId: 'cli-1', firstWrite: true });
    await cli.vault.write(tokenFor(ORG_2), { attemptId: 'cli-2', firstWrite: true });
    expect(policyCalls()).toBe(0);
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]?.SS?.sort()).toEqual([ORG_1, ORG_2]);
    // The CLI's ports cannot reconcile: they do not know the list.
    await expect(cli.tokenSecretPolicies.reconcile(listWith(cli), d.clock.now() + 60_000)).rejects.toThrow('the reader list is not known here');

    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 1 });
    expect(d.principalsOf(ORG_1)).toEqual([ROLE_A]);
    // ORG_2 has no readers: nothing to write, only forgotten.
    expect(d.policyOf(ORG_2)).toBeUndefined();
    expect(policyCalls()).toBe(1);
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]).toBeUndefined();
    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'in_line', applied: 0 });
  });
});

describe('apply', () => {
  it('says what it did: a policy put, a policy deleted, or no secret to put it on', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1, ORG_2], { withSecrets: true });
    await d.addOrgs([ORG_3], { withSecrets: false });
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: [ORG_1, ORG_3] }]);
    expect(await ports.tokenSecretPolicies.apply(ORG_1)).toBe('policy_put');
    expect(await ports.tokenSecretPolicies.apply(ORG_2)).toBe('policy_deleted');
    expect(await ports.tokenSecretPolicies.apply(ORG_3)).toBe('no_secret');
    sm.injectFault('PutResourcePolicy', { type: 'AccessDeniedException', times: 1 });
    await expect(ports.tokenSecretPolicies.apply(ORG_1)).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('never throws from afterCreate, even when the org cannot be noted either; it logs and counts', async () => {
    const d = await deployment();
    const telemetry = recordingTelemetry();
    // A registry table that does not exist: the note (an UpdateItem) fails too.
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: [ORG_1] }], telemetry, 'no-such-registry');
    sm.injectFault('PutResourcePolicy', { type: 'InternalServiceError', times: 1 });
    await ports.vault.write(tokenFor(ORG_1), { attemptId: 'attempt-1', firstWrite: true });
    expect(await ports.vault.read(ORG_1)).toMatchObject({ orgId: ORG_1 });
    expect(telemetry.logs.map((l) => l.message)).toEqual([
      'token secret policy could not be written; the next sweep retries',
      'a new token secret could not be noted for its resource policy',
    ]);
    expect(telemetry.logs[1]).toEqual({ level: 'error', message: 'a new token secret could not be noted for its resource policy', fields: { orgId: ORG_1, errorName: 'ResourceNotFoundException' } });
    expect(telemetry.metrics).toEqual([FAILURE_METRIC, FAILURE_METRIC]);
  });
});

describe('reconcile', () => {
  it('stops at a noted org whose policy write fails, keeping it noted', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1], { withSecrets: false });
    const refresher = d.portsFor([{ principal: ROLE_A, orgIds: '*' }]);
    await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000);
    await d.portsFor(undefined).vault.write(tokenFor(ORG_1), { attemptId: 'cli-1', firstWrite: true });
    sm.injectFault('PutResourcePolicy', { type: 'InternalServiceError', times: 1 });
    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'failed', applied: 0 });
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]?.SS).toEqual([ORG_1]);
    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 1 });
  });

  it('handles at most 100 noted orgs per call, and does not count a noted org whose secret is gone', async () => {
    const d = await deployment();
    const ids = Array.from({ length: 101 }, (_, i) => orgId(300 + i));
    await d.addOrgs(ids, { withSecrets: false });
    const refresher = d.portsFor([{ principal: ROLE_A, orgIds: '*' }]);
    await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000);
    const cli = d.portsFor(undefined);
    for (const id of ids) await cli.vault.write(tokenFor(id), { attemptId: `cli-${id}`, firstWrite: true });
    // The first noted org (in sorted order) was removed meanwhile.
    await secretsManager.send(new DeleteSecretCommand({ SecretId: tokenSecretName(d.prefix, ids[0]!), RecoveryWindowInDays: 7 }));
    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 99 });
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]?.SS).toEqual([ids[100]]);
    expect(await refresher.tokenSecretPolicies.reconcile(listWith(refresher), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 1 });
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.newOrgs]).toBeUndefined();
  });

  it('lists nothing when the deadline has already come', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1], { withSecrets: true });
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: '*' }]);
    let listed = 0;
    const result = await ports.tokenSecretPolicies.reconcile((page) => {
      listed += 1;
      return ports.registry.listPage(page);
    }, d.clock.now());
    expect(result).toEqual({ status: 'partial', applied: 0 });
    expect(listed).toBe(0);
  });

  it('does nothing, and makes no Secrets Manager call, when no list was ever applied and none is given', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1, ORG_2], { withSecrets: true });
    const ports = d.portsFor([]);
    sm.resetCalls();
    expect(await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000)).toEqual({ status: 'in_line', applied: 0 });
    expect(sm.callCount()).toBe(0);
    expect(await d.bookkeeping()).toBeUndefined();
  });

  it('brings every existing secret in line when the list changes, then stays quiet until it changes again', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1, ORG_2, ORG_3], { withSecrets: true });
    const telemetry = recordingTelemetry();
    const first = d.portsFor([{ principal: ROLE_A, orgIds: [ORG_1, ORG_2] }, { principal: ACCOUNT_C, orgIds: [ORG_2] }], telemetry);
    expect(await first.tokenSecretPolicies.reconcile(listWith(first), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 3 });
    expect(telemetry.logs).toEqual([{ level: 'info', message: 'token secret policies in line with the cross-account readers', fields: { secretsUpdated: 3, readers: 2 } }]);
    expect([d.principalsOf(ORG_1), d.principalsOf(ORG_2), d.principalsOf(ORG_3)]).toEqual([[ROLE_A], [ROLE_A, ACCOUNT_C], undefined]);
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.applied]?.S).toBe(readersFingerprint([{ principal: ACCOUNT_C, orgIds: [ORG_2] }, { principal: ROLE_A, orgIds: [ORG_2, ORG_1] }]));

    sm.resetCalls();
    // The same list, in another order: in line, one GetItem and no Secrets Manager call.
    const same = d.portsFor([{ principal: ACCOUNT_C, orgIds: [ORG_2] }, { principal: ROLE_A, orgIds: [ORG_2, ORG_1] }]);
    expect(await same.tokenSecretPolicies.reconcile(listWith(same), d.clock.now() + 60_000)).toEqual({ status: 'in_line', applied: 0 });
    expect(sm.callCount()).toBe(0);

    // A deploy moves ORG_1 to another team and gives every org to account C.
    const second = d.portsFor([{ principal: ROLE_B, orgIds: [ORG_1] }, { principal: ACCOUNT_C, orgIds: '*' }]);
    expect(await second.tokenSecretPolicies.reconcile(listWith(second), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 3 });
    expect([d.principalsOf(ORG_1), d.principalsOf(ORG_2), d.principalsOf(ORG_3)]).toEqual([[ROLE_B, ACCOUNT_C].sort(), [ACCOUNT_C], [ACCOUNT_C]]);

    // Every reader removed: the policies go.
    const none = d.portsFor([]);
    expect(await none.tokenSecretPolicies.reconcile(listWith(none), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 3 });
    expect([d.policyOf(ORG_1), d.policyOf(ORG_2), d.policyOf(ORG_3)]).toEqual([undefined, undefined, undefined]);
    sm.resetCalls();
    expect(await none.tokenSecretPolicies.reconcile(listWith(none), d.clock.now() + 60_000)).toEqual({ status: 'in_line', applied: 0 });
    expect(sm.callCount()).toBe(0);
  });

  it('skips orgs whose secret does not exist yet or is scheduled for deletion', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1], { withSecrets: false });
    await d.addOrgs([ORG_2], { withSecrets: true });
    await secretsManager.send(new DeleteSecretCommand({ SecretId: tokenSecretName(d.prefix, ORG_2), RecoveryWindowInDays: 7 }));
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: '*' }]);
    expect(await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 0 });
    expect(sm.callCount('PutResourcePolicy')).toBe(2);
  });

  it('spreads a pass over several calls when time runs out, resuming at the page it reached', async () => {
    const d = await deployment();
    const ids = Array.from({ length: 150 }, (_, i) => orgId(100 + i));
    await d.addOrgs(ids, { withSecrets: true });
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: '*' }]);
    const cursors: Array<string | undefined> = [];
    const deadline = d.clock.now() + 60_000;
    // The first page takes the whole budget.
    const slowList = async (page: { cursor?: string; limit: number }) => {
      cursors.push(page.cursor);
      const out = await ports.registry.listPage(page);
      d.clock.ms = deadline;
      return out;
    };
    const partial = await ports.tokenSecretPolicies.reconcile(slowList, deadline);
    expect(partial).toEqual({ status: 'partial', applied: 100 });
    expect(cursors).toEqual([undefined]);
    const reached = (await d.bookkeeping())?.[READER_POLICIES_ITEM.cursor]?.S;
    expect(reached).toEqual(expect.any(String));
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.applied]).toBeUndefined();

    const rest = await ports.tokenSecretPolicies.reconcile((page) => {
      cursors.push(page.cursor);
      return ports.registry.listPage(page);
    }, d.clock.now() + 60_000);
    expect(rest.status).toBe('done');
    expect(rest.applied).toBe(50);
    expect(cursors[1]).toBe(reached);
    expect(ids.filter((id) => d.principalsOf(id)?.[0] !== ROLE_A)).toEqual([]);
    expect(sm.callCount('PutResourcePolicy')).toBe(150);
    // A pass for another list never resumes from an older list's cursor.
    const other = d.portsFor([{ principal: ROLE_B, orgIds: '*' }]);
    d.clock.ms = deadline + 1;
    const otherDeadline = d.clock.now() + 60_000;
    await other.tokenSecretPolicies.reconcile(async (page) => {
      cursors.push(page.cursor);
      const out = await other.registry.listPage(page);
      d.clock.ms = otherDeadline;
      return out;
    }, otherDeadline);
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.cursor]?.S).toEqual(expect.any(String));
    // A third list, while the second's pass is under way: it starts from the beginning.
    const third = d.portsFor([{ principal: ACCOUNT_C, orgIds: '*' }]);
    await third.tokenSecretPolicies.reconcile((page) => {
      cursors.push(page.cursor);
      return third.registry.listPage(page);
    }, d.clock.now() + 60_000);
    expect(cursors.slice(2)).toEqual([undefined, undefined, expect.any(String)]);
    expect(ids.filter((id) => d.principalsOf(id)?.[0] !== ACCOUNT_C)).toEqual([]);
  });

  it('stops at an org whose policy write fails, counts it, and the next call finishes the pass', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1, ORG_2, ORG_3], { withSecrets: true });
    const telemetry = recordingTelemetry();
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: '*' }], telemetry);
    sm.injectFault('PutResourcePolicy', { type: 'ThrottlingException', times: 1, when: { SecretId: tokenSecretName(d.prefix, ORG_2) } });
    const failed = await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000);
    expect(failed.status).toBe('failed');
    expect(telemetry.metrics).toEqual([FAILURE_METRIC]);
    expect(telemetry.logs[0]).toEqual({ level: 'error', message: 'token secret policy could not be written; the next sweep retries', fields: { orgId: ORG_2, errorName: 'ThrottlingException' } });
    expect((await d.bookkeeping())?.[READER_POLICIES_ITEM.applied]).toBeUndefined();
    expect(await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000)).toEqual({ status: 'done', applied: 3 });
    expect([ORG_1, ORG_2, ORG_3].map((id) => d.principalsOf(id))).toEqual([[ROLE_A], [ROLE_A], [ROLE_A]]);
  });

  it('keeps its bookkeeping out of the org listing', async () => {
    const d = await deployment();
    await d.addOrgs([ORG_1], { withSecrets: true });
    const ports = d.portsFor([{ principal: ROLE_A, orgIds: '*' }]);
    await ports.tokenSecretPolicies.reconcile(listWith(ports), d.clock.now() + 60_000);
    expect(await d.bookkeeping()).toBeDefined();
    const page = await ports.registry.listPage({ limit: 10 });
    expect(page.items.map((o) => o.orgId)).toEqual([ORG_1]);
    expect(page.unreadable ?? []).toEqual([]);
  });
});
