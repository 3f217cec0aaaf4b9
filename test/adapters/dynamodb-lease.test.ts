import { randomUUID } from 'node:crypto';
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbLease } from '../../lambdas/adapters/aws/dynamodb-lease.js';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { NotFoundError, StoreError, ValidationError } from '../../lambdas/core/errors.js';
import type { LeaseHandle } from '../../lambdas/core/ports.js';
import { startDynalite, type DynaliteHarness } from '../support/dynalite.js';

const TABLES = { registry: 'registry-lease-test', audit: 'audit-lease-test' };
const TTL = 60_000;
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

describe('DynamoDbLease', () => {
  let harness: DynaliteHarness;
  let client: DynamoDBClient;
  let registry: DynamoDbOrgRegistry;
  let lease: DynamoDbLease;

  async function newOrgId(): Promise<string> {
    const orgId = randomUUID();
    await registry.put(
      { orgId, region: 'mypurecloud.com', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } },
      { expectedVersion: null },
    );
    return orgId;
  }

  async function leaseAttributes(orgId: string): Promise<Record<string, unknown>> {
    const out = await client.send(new GetItemCommand({ TableName: TABLES.registry, Key: { orgId: { S: orgId } }, ConsistentRead: true }));
    const item = unmarshall(out.Item ?? {});
    return { leaseOwner: item.leaseOwner, leaseExpiresAtMs: item.leaseExpiresAtMs, fencingToken: item.fencingToken };
  }

  beforeAll(async () => {
    harness = await startDynalite();
    await harness.createTables(TABLES);
    client = harness.client();
    registry = new DynamoDbOrgRegistry({ client, tableName: TABLES.registry });
    lease = new DynamoDbLease({ client, tableName: TABLES.registry });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('acquires a free lease with fencing token 1 and an expiry of now + ttl', async () => {
    const orgId = await newOrgId();
    const handle = await lease.acquire(orgId, 'worker-a', TTL, T0);
    expect(handle).toEqual({ orgId, owner: 'worker-a', fencingToken: 1, expiresAtMs: T0 + TTL });
    expect(await leaseAttributes(orgId)).toEqual({ leaseOwner: 'worker-a', leaseExpiresAtMs: T0 + TTL, fencingToken: 1 });
  });

  it('returns undefined while another owner holds an unexpired lease, and leaves that lease alone', async () => {
    const orgId = await newOrgId();
    await lease.acquire(orgId, 'worker-a', TTL, T0);
    expect(await lease.acquire(orgId, 'worker-b', TTL, T0 + TTL - 1)).toBeUndefined();
    expect(await leaseAttributes(orgId)).toEqual({ leaseOwner: 'worker-a', leaseExpiresAtMs: T0 + TTL, fencingToken: 1 });
  });

  it('lets another owner take over an expired lease with a larger fencing token', async () => {
    const orgId = await newOrgId();
    const first = await lease.acquire(orgId, 'worker-a', TTL, T0);
    const second = await lease.acquire(orgId, 'worker-b', TTL, T0 + TTL);
    expect(second).toEqual({ orgId, owner: 'worker-b', fencingToken: 2, expiresAtMs: T0 + 2 * TTL });
    expect(second!.fencingToken).toBeGreaterThan(first!.fencingToken);
  });

  it('increments the fencing token when the same owner acquires again', async () => {
    const orgId = await newOrgId();
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) tokens.push((await lease.acquire(orgId, 'worker-a', TTL, T0 + i))!.fencingToken);
    expect(tokens).toEqual([1, 2, 3]);
  });

  it('renews a held lease to a new expiry', async () => {
    const orgId = await newOrgId();
    const handle = (await lease.acquire(orgId, 'worker-a', TTL, T0))!;
    const renewed = await lease.renew(handle, TTL, T0 + 30_000);
    expect(renewed).toEqual({ ...handle, expiresAtMs: T0 + 30_000 + TTL });
    expect(await lease.acquire(orgId, 'worker-b', TTL, T0 + TTL + 1)).toBeUndefined();
  });

  it('fails to renew a lease lost to another owner, and the stale release leaves the new holder in place', async () => {
    const orgId = await newOrgId();
    const stale = (await lease.acquire(orgId, 'worker-a', TTL, T0))!;
    const current = (await lease.acquire(orgId, 'worker-b', TTL, T0 + TTL + 5))!;
    expect(await lease.renew(stale, TTL, T0 + TTL + 10)).toBeUndefined();
    await expect(lease.release(stale)).resolves.toBeUndefined();
    expect(await leaseAttributes(orgId)).toEqual({ leaseOwner: 'worker-b', leaseExpiresAtMs: current.expiresAtMs, fencingToken: 2 });
    expect(await lease.acquire(orgId, 'worker-c', TTL, T0 + TTL + 20)).toBeUndefined();
  });

  it('fails to renew with an old fencing token even when the owner name is the same', async () => {
    const orgId = await newOrgId();
    const old = (await lease.acquire(orgId, 'worker-a', TTL, T0))!;
    await lease.acquire(orgId, 'worker-a', TTL, T0 + 1);
    expect(await lease.renew(old, TTL, T0 + 2)).toBeUndefined();
  });

  it('releases a lease so another owner can take it at once, keeping the fencing token growing', async () => {
    const orgId = await newOrgId();
    const handle = (await lease.acquire(orgId, 'worker-a', TTL, T0))!;
    await lease.release(handle);
    expect(await leaseAttributes(orgId)).toEqual({ leaseOwner: undefined, leaseExpiresAtMs: undefined, fencingToken: 1 });
    const next = await lease.acquire(orgId, 'worker-b', TTL, T0 + 1);
    expect(next?.fencingToken).toBe(2);
    expect(await lease.renew(handle, TTL, T0 + 2)).toBeUndefined();
  });

  it('treats a lease whose expiry equals now as expired', async () => {
    const orgId = await newOrgId();
    await lease.acquire(orgId, 'worker-a', TTL, T0);
    expect(await lease.acquire(orgId, 'worker-b', TTL, T0 + TTL)).toMatchObject({ owner: 'worker-b' });
  });

  it('lets exactly one of many concurrent acquirers win', async () => {
    for (let round = 0; round < 5; round++) {
      const orgId = await newOrgId();
      const owners = Array.from({ length: 8 }, (_, i) => `worker-${i}`);
      const results = await Promise.all(owners.map((owner) => lease.acquire(orgId, owner, TTL, T0)));
      const winners = results.filter((r): r is LeaseHandle => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.fencingToken).toBe(1);
      expect((await leaseAttributes(orgId)).leaseOwner).toBe(winners[0]!.owner);
    }
  });

  it('refuses a lease on an org that is not registered and creates no item', async () => {
    const orgId = randomUUID();
    const err = await lease.acquire(orgId, 'worker-a', TTL, T0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('org_not_found');
    const out = await client.send(new GetItemCommand({ TableName: TABLES.registry, Key: { orgId: { S: orgId } }, ConsistentRead: true }));
    expect(out.Item).toBeUndefined();
  });

  it('treats renew and release after the org was removed as a lost lease', async () => {
    const orgId = await newOrgId();
    const handle = (await lease.acquire(orgId, 'worker-a', TTL, T0))!;
    await registry.remove(orgId);
    expect(await lease.renew(handle, TTL, T0 + 1)).toBeUndefined();
    await expect(lease.release(handle)).resolves.toBeUndefined();
  });

  it('rejects bad arguments with a ValidationError before calling DynamoDB', async () => {
    const orgId = await newOrgId();
    harness.resetCounts();
    await expect(lease.acquire(orgId, 'worker-a', 0, T0)).rejects.toMatchObject({ name: 'ValidationError', field: 'ttlMs' });
    await expect(lease.acquire(orgId, '', TTL, T0)).rejects.toMatchObject({ field: 'owner' });
    await expect(lease.acquire('org-1', 'worker-a', TTL, T0)).rejects.toMatchObject({ field: 'orgId' });
    await expect(lease.acquire(orgId, 'worker-a', TTL, Number.NaN)).rejects.toMatchObject({ field: 'nowMs' });
    await expect(lease.renew({ orgId, owner: 'worker-a', fencingToken: 0, expiresAtMs: 0 }, TTL, T0)).rejects.toBeInstanceOf(ValidationError);
    expect(harness.calls()).toEqual({});
  });

  it('surfaces a DynamoDB failure as a transient StoreError', async () => {
    const orgId = await newOrgId();
    const strict = new DynamoDbLease({ client: harness.client({ maxAttempts: 1 }), tableName: TABLES.registry });
    harness.failNext('UpdateItem', 1, 'ProvisionedThroughputExceededException');
    const err = await strict.acquire(orgId, 'worker-a', TTL, T0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'registry_write_failed', failureClass: 'transient', orgId });
    harness.failNext('UpdateItem', 1, 'InternalServerError');
    await expect(strict.release({ orgId, owner: 'worker-a', fencingToken: 1, expiresAtMs: T0 })).rejects.toBeInstanceOf(StoreError);
  });
});
