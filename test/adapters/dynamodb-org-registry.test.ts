import { randomUUID } from 'node:crypto';
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbLease } from '../../lambdas/adapters/aws/dynamodb-lease.js';
import { DynamoDbOrgRegistry, encodeCursor } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { AUDIT_TABLE, createTableInputs } from '../../lambdas/adapters/aws/tables.js';
import { ConflictError, NotFoundError, StoreError, ValidationError } from '../../lambdas/core/errors.js';
import type { OrgRecord, TokenState } from '../../lambdas/core/ports.js';
import { startDynalite, type DynaliteHarness } from '../support/dynalite.js';

const TABLES = { registry: 'registry-test', audit: 'audit-test' };

function newOrg(overrides: Partial<Omit<OrgRecord, 'version'>> = {}): Omit<OrgRecord, 'version'> {
  return {
    orgId: randomUUID(),
    region: 'mypurecloud.ie',
    grantType: 'client_credentials',
    enabled: true,
    label: 'Acme EMEA',
    credentialsSecretId: 'broker/credentials/acme',
    credentialsVersion: 1,
    state: { consecutiveFailures: 0 },
    ...overrides,
  };
}

async function rawItem(client: DynamoDBClient, orgId: string): Promise<Record<string, unknown> | undefined> {
  const out = await client.send(new GetItemCommand({ TableName: TABLES.registry, Key: { orgId: { S: orgId } }, ConsistentRead: true }));
  return out.Item ? unmarshall(out.Item) : undefined;
}

describe('DynamoDbOrgRegistry', () => {
  let harness: DynaliteHarness;
  let client: DynamoDBClient;
  let registry: DynamoDbOrgRegistry;

  beforeAll(async () => {
    harness = await startDynalite();
    await harness.createTables(TABLES);
    client = harness.client();
    registry = new DynamoDbOrgRegistry({ client, tableName: TABLES.registry });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('creates an org at version 1 and reads it back with every field', async () => {
    const state: TokenState = {
      consecutiveFailures: 2,
      issuedAtMs: 1_700_000_000_000,
      expiresAtMs: 1_700_086_400_000,
      refreshAtMs: 1_700_064_800_000,
      lastOutcome: 'failure',
      lastErrorCode: 'rate_limited',
      lastErrorClass: 'rate_limited',
      credentialsVersionUsed: 1,
      oauthClientId: 'client-1',
    };
    const org = newOrg({ state });
    const stored = await registry.put(org, { expectedVersion: null });
    expect(stored).toEqual({ ...org, version: 1 });
    expect(await registry.get(org.orgId)).toEqual({ ...org, version: 1 });
  });

  it('returns undefined for an org that is not registered', async () => {
    expect(await registry.get(randomUUID())).toBeUndefined();
  });

  it('refuses to create an org that already exists and leaves it unchanged', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    const err = await registry.put({ ...org, label: 'changed' }, { expectedVersion: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('version_conflict');
    expect(await registry.get(org.orgId)).toEqual({ ...org, version: 1 });
  });

  it('replaces an org at the expected version and bumps the version', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    const updated = await registry.put({ ...org, enabled: false, credentialsVersion: 2 }, { expectedVersion: 1 });
    expect(updated).toMatchObject({ enabled: false, credentialsVersion: 2, version: 2 });
    const unconditional = await registry.put({ ...org, label: 'any version' });
    expect(unconditional.version).toBe(3);
  });

  it('rejects a stale expected version, and an expected version for a missing org, with version_conflict', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    await registry.put(org, { expectedVersion: 1 });
    await expect(registry.put({ ...org, enabled: false }, { expectedVersion: 1 })).rejects.toMatchObject({ name: 'ConflictError', code: 'version_conflict' });
    expect((await registry.get(org.orgId))?.enabled).toBe(true);
    const missing = newOrg();
    await expect(registry.put(missing, { expectedVersion: 3 })).rejects.toMatchObject({ code: 'version_conflict' });
    expect(await registry.get(missing.orgId)).toBeUndefined();
  });

  it('removes optional fields that a replacement leaves out', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    const { label: _label, credentialsSecretId: _secretId, ...bare } = org;
    const stored = await registry.put(bare, { expectedVersion: 1 });
    expect(stored).not.toHaveProperty('label');
    expect(stored).not.toHaveProperty('credentialsSecretId');
    expect(await rawItem(client, org.orgId)).not.toHaveProperty('label');
  });

  it('stores only TokenState fields and OrgRecord fields, dropping anything else handed in', async () => {
    const org = newOrg();
    const sneaky = {
      ...org,
      version: 99,
      accessToken: 'tok-should-never-be-stored',
      state: { consecutiveFailures: 0, accessToken: 'tok-should-never-be-stored' } as TokenState,
    };
    const stored = await registry.put(sneaky, { expectedVersion: null });
    expect(stored.version).toBe(1);
    const raw = await rawItem(client, org.orgId);
    expect(JSON.stringify(raw)).not.toContain('tok-should-never-be-stored');
    expect(Object.keys(raw ?? {}).sort()).toEqual(
      ['orgId', 'region', 'grantType', 'credentialsSecretId', 'enabled', 'label', 'credentialsVersion', 'state', 'version'].sort(),
    );
  });

  it('rejects an invalid org with a ValidationError naming the field and writes nothing', async () => {
    const org = newOrg({ grantType: 'password' as never });
    const err = await registry.put(org).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('grantType');
    expect(await registry.get(org.orgId)).toBeUndefined();
    await expect(registry.put(newOrg({ orgId: 'not-a-uuid' }))).rejects.toMatchObject({ name: 'ValidationError', field: 'orgId' });
    await expect(registry.put(newOrg({ state: {} as TokenState }))).rejects.toMatchObject({ field: 'state.consecutiveFailures' });
    await expect(registry.get('nope')).rejects.toBeInstanceOf(ValidationError);
  });

  it('never wipes lease attributes on put or recordState, and lease updates leave the version alone', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    const lease = new DynamoDbLease({ client, tableName: TABLES.registry });
    const handle = await lease.acquire(org.orgId, 'worker-a', 60_000, 1_000);
    expect(handle).toBeDefined();
    expect((await registry.get(org.orgId))?.version).toBe(1);

    await registry.put({ ...org, label: 'edited' }, { expectedVersion: 1 });
    await registry.recordState(org.orgId, 2, { consecutiveFailures: 1 });
    const raw = await rawItem(client, org.orgId);
    expect(raw).toMatchObject({ leaseOwner: 'worker-a', leaseExpiresAtMs: 61_000, fencingToken: 1, version: 3 });
    const read = await registry.get(org.orgId);
    expect(read).not.toHaveProperty('leaseOwner');
    expect(read).not.toHaveProperty('fencingToken');
  });

  it('records state at the expected version, replacing the previous state', async () => {
    const org = newOrg({ state: { consecutiveFailures: 3, lastOutcome: 'failure', lastErrorCode: 'timeout' } });
    await registry.put(org, { expectedVersion: null });
    const state: TokenState = { consecutiveFailures: 0, lastOutcome: 'success', expiresAtMs: 5_000, refreshAtMs: 4_000 };
    const stored = await registry.recordState(org.orgId, 1, state);
    expect(stored).toEqual({ ...org, state, version: 2 });
    expect(await registry.get(org.orgId)).toEqual(stored);
  });

  it('rejects recordState at a stale version with version_conflict and changes nothing', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    await registry.recordState(org.orgId, 1, { consecutiveFailures: 1 });
    const err = await registry.recordState(org.orgId, 1, { consecutiveFailures: 7 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('version_conflict');
    expect(await registry.get(org.orgId)).toMatchObject({ version: 2, state: { consecutiveFailures: 1 } });
  });

  it('rejects recordState for a missing org with org_not_found and creates nothing', async () => {
    const orgId = randomUUID();
    const err = await registry.recordState(orgId, 1, { consecutiveFailures: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('org_not_found');
    expect(await rawItem(client, orgId)).toBeUndefined();
  });

  it('removes an org, and removing a missing org is a no-op', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    await registry.remove(org.orgId);
    expect(await registry.get(org.orgId)).toBeUndefined();
    await expect(registry.remove(org.orgId)).resolves.toBeUndefined();
  });

  it('wraps an SDK failure in a typed StoreError without the SDK message', async () => {
    const strict = new DynamoDbOrgRegistry({ client: harness.client({ maxAttempts: 1 }), tableName: TABLES.registry });
    const orgId = randomUUID();
    harness.failNext('GetItem', 1, 'ProvisionedThroughputExceededException');
    const throttled = await strict.get(orgId).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(StoreError);
    // A read failure is the registry being unavailable, not a failed write.
    expect(throttled).toMatchObject({ code: 'registry_unavailable', failureClass: 'transient', orgId });
    expect((throttled as Error).message).toContain('ProvisionedThroughputExceededException');
    expect((throttled as Error).message).not.toContain('injected');

    harness.failNext('UpdateItem', 1, 'ValidationException');
    const invalid = await strict.put(newOrg()).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ name: 'StoreError', code: 'registry_write_failed', failureClass: 'permanent' });

    harness.failNext('Scan', 1, 'InternalServerError');
    await expect(strict.listPage()).rejects.toMatchObject({ name: 'StoreError', code: 'registry_unavailable', failureClass: 'transient' });
  });

  it('lets the SDK retry a single transient failure before it reaches the adapter', async () => {
    const org = newOrg();
    await registry.put(org, { expectedVersion: null });
    harness.resetCounts();
    harness.failNext('GetItem', 1, 'InternalServerError');
    expect(await registry.get(org.orgId)).toMatchObject({ orgId: org.orgId });
    expect(harness.callCount('GetItem')).toBe(2);
  });
});

describe('DynamoDbOrgRegistry.listPage', () => {
  let harness: DynaliteHarness;
  let registry: DynamoDbOrgRegistry;
  const orgIds: string[] = [];

  beforeAll(async () => {
    harness = await startDynalite();
    await harness.createTables(TABLES);
    const client = harness.client();
    registry = new DynamoDbOrgRegistry({ client, tableName: TABLES.registry });
    const lease = new DynamoDbLease({ client, tableName: TABLES.registry });
    for (let i = 0; i < 27; i++) {
      const org = newOrg({ label: `org ${i}` });
      orgIds.push(org.orgId);
      await registry.put(org, { expectedVersion: null });
    }
    await lease.acquire(orgIds[0]!, 'worker-a', 60_000, 1_000);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('pages through every org exactly once with a small limit', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await registry.listPage({ limit: 4, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items.map((o) => o.orgId));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(7);
    expect(seen).toHaveLength(27);
    expect(new Set(seen)).toEqual(new Set(orgIds));
  });

  it('returns org fields only, never the lease attributes', async () => {
    const page = await registry.listPage({ limit: 100 });
    expect(page.items).toHaveLength(27);
    expect(page.cursor).toBeUndefined();
    for (const org of page.items) {
      expect(Object.keys(org).every((k) => ['orgId', 'region', 'grantType', 'credentialsSecretId', 'enabled', 'label', 'credentialsVersion', 'state', 'version'].includes(k))).toBe(true);
      expect(org).toMatchObject({ version: 1, state: { consecutiveFailures: 0 } });
    }
  });

  it('rejects a malformed cursor with a ValidationError on cursor', async () => {
    const bad = [
      'not base64 !',
      '',
      Buffer.from('not json').toString('base64url'),
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from(JSON.stringify({ orgId: { S: 'x' } })).toString('base64url'),
      Buffer.from(JSON.stringify({ orgId: { N: '1' } })).toString('base64url'),
      Buffer.from(JSON.stringify({ other: { S: randomUUID() } })).toString('base64url'),
    ];
    for (const cursor of bad) {
      const err = await registry.listPage({ cursor, limit: 2 }).catch((e: unknown) => e);
      expect(err, cursor).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('cursor');
    }
  });

  it('accepts a well-formed cursor for any org id', async () => {
    const page = await registry.listPage({ cursor: encodeCursor({ orgId: { S: orgIds[3]! } }), limit: 100 });
    expect(page.items.length).toBeLessThan(27);
  });

  it('rejects a limit outside 1 to 1000', async () => {
    for (const limit of [0, -1, 1.5, 1001]) {
      await expect(registry.listPage({ limit })).rejects.toMatchObject({ name: 'ValidationError', field: 'limit' });
    }
  });
});

describe('createTableInputs', () => {
  it('builds on-demand tables with the designed keys, the sparse failures index and no duplicate attribute definitions', () => {
    const { registry, audit } = createTableInputs({ registry: 'r', audit: 'a' });
    expect(registry).toEqual({
      TableName: 'r',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'orgId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'orgId', KeyType: 'HASH' }],
    });
    expect(audit).toEqual({
      TableName: 'a',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'orgId', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'failureDay', AttributeType: 'S' },
        { AttributeName: 'failureSk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'orgId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'failures-by-day',
          KeySchema: [
            { AttributeName: 'failureDay', KeyType: 'HASH' },
            { AttributeName: 'failureSk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
    expect(AUDIT_TABLE.timeToLiveAttribute).toBe('expiresAtEpochSeconds');
  });
});
