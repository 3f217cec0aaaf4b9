/**
 * Lease on DynamoDB: a per-org lease held in three attributes of the org's registry item
 * (`leaseOwner`, `leaseExpiresAtMs`, `fencingToken`) and taken with one conditional UpdateItem, so
 * two sweeps (overlapping schedules, a manual refresh, a getter-triggered refresh) never refresh the
 * same org at once. Lease writes do not touch `version`, so they never conflict with registry edits.
 *
 * Why a fencing token: a TTL lease alone cannot stop a holder that stalled past its TTL (a frozen
 * Lambda container, a long GC pause, a slow network) from waking up and writing after someone else
 * took over. Every acquisition increments `fencingToken`, and renew/release only succeed with the
 * token they were issued, so a stale holder finds out at its next lease call (renew before an
 * irreversible step such as spending a single-use refresh token) and its handle is visibly older in
 * audits. The token is never reset, not even on release, so it only grows.
 *
 * TTL choice (the caller's `ttlMs`): long enough to cover one org's worst-case attempt (OAuth call
 * with its retries and deadline, then the Secrets Manager write), short enough that a crashed
 * holder's lease has expired by the next sweep (5 minutes): 1-2 minutes fits. Expiry compares the
 * caller's `nowMs`; Lambda clocks are NTP-synchronised to well under a second, small next to the TTL.
 * An org that does not exist has no item, and the lease refuses it (`org_not_found`) rather than
 * creating a stray item.
 */
import { GetItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { Lease, LeaseHandle } from '../../core/ports.js';
import { isOrgId } from '../../core/token-record.js';
import { isConditionalCheckFailed, toStoreError } from './aws-errors.js';
import { LEASE_ATTRIBUTES, REGISTRY_TABLE } from './tables.js';

/** Options for {@link DynamoDbLease}. */
export interface DynamoDbLeaseOptions {
  client: DynamoDBClient;
  /** Name of the registry table; the lease lives on each org's item. */
  tableName: string;
}

const NAMES = {
  '#pk': REGISTRY_TABLE.partitionKey.name,
  '#owner': LEASE_ATTRIBUTES.owner,
  '#expires': LEASE_ATTRIBUTES.expiresAtMs,
  '#token': LEASE_ATTRIBUTES.fencingToken,
};

/** Per-org leases on the registry table. */
export class DynamoDbLease implements Lease {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(options: DynamoDbLeaseOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  /**
   * Takes the lease when it is free, expired at least `takeoverGraceMs` ago
   * (`leaseExpiresAtMs <= nowMs - takeoverGraceMs`) or already ours, and increments the fencing token. Returns undefined when another owner holds an unexpired lease;
   * throws NotFoundError when the org is not registered.
   */
  async acquire(orgId: string, owner: string, ttlMs: number, nowMs: number, takeoverGraceMs = 0): Promise<LeaseHandle | undefined> {
    assertOrgId(orgId);
    assertOwner(owner);
    assertTtl(ttlMs);
    assertTime(nowMs);
    if (!Number.isSafeInteger(takeoverGraceMs) || takeoverGraceMs < 0) throw new ValidationError('takeoverGraceMs must be a non-negative integer', { field: 'takeoverGraceMs' });
    const expiresAtMs = nowMs + ttlMs;
    try {
      const out = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(orgId),
          UpdateExpression: 'SET #owner = :owner, #expires = :expires, #token = if_not_exists(#token, :zero) + :one',
          ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#expires) OR #expires <= :now OR #owner = :owner)',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':expires': { N: String(expiresAtMs) },
            // Free once it expired at least the grace ago: the old holder's last write has landed by then.
            ':now': { N: String(nowMs - takeoverGraceMs) },
            ':zero': { N: '0' },
            ':one': { N: '1' },
          },
          // UPDATED_NEW rather than ALL_NEW: the handle needs only the lease attributes, not the org.
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const attrs = unmarshall(out.Attributes ?? {}) as Record<string, unknown>;
      return { orgId, owner, fencingToken: Number(attrs[LEASE_ATTRIBUTES.fencingToken]), expiresAtMs };
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        // Contention is rare (one sweep at a time), so one read on this path is cheap insurance
        // against reporting "held" for an org that was removed.
        if (!(await this.#exists(orgId))) {
          throw new NotFoundError('org_not_found', `org ${orgId} is not registered`, { orgId, cause: err });
        }
        return undefined;
      }
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (lease acquire) on the registry', orgId);
    }
  }

  /** Extends a lease still held with this handle's owner and fencing token; undefined when it was lost. */
  async renew(handle: LeaseHandle, ttlMs: number, nowMs: number): Promise<LeaseHandle | undefined> {
    assertHandle(handle);
    assertTtl(ttlMs);
    assertTime(nowMs);
    const expiresAtMs = nowMs + ttlMs;
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(handle.orgId),
          UpdateExpression: 'SET #expires = :expires',
          // No expiry check: if our lease lapsed but nobody took it, the token is unchanged and
          // extending it is safe; anyone who took it over has bumped the token.
          ConditionExpression: 'attribute_exists(#pk) AND #owner = :owner AND #token = :token',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: handleValues(handle, { ':expires': { N: String(expiresAtMs) } }),
        }),
      );
      return { ...handle, expiresAtMs };
    } catch (err) {
      if (isConditionalCheckFailed(err)) return undefined;
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (lease renew) on the registry', handle.orgId);
    }
  }

  /** Frees a lease held with this handle. A lease already lost (or an org removed) is not an error. */
  async release(handle: LeaseHandle): Promise<void> {
    assertHandle(handle);
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(handle.orgId),
          // fencingToken stays, so the next acquisition still gets a larger one.
          UpdateExpression: 'REMOVE #owner, #expires',
          ConditionExpression: 'attribute_exists(#pk) AND #owner = :owner AND #token = :token',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: handleValues(handle),
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) return;
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (lease release) on the registry', handle.orgId);
    }
  }

  async #exists(orgId: string): Promise<boolean> {
    try {
      const out = await this.#client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: keyOf(orgId),
          ConsistentRead: true,
          ProjectionExpression: '#pk',
          ExpressionAttributeNames: { '#pk': NAMES['#pk'] },
        }),
      );
      return out.Item !== undefined;
    } catch (err) {
      throw toStoreError(err, 'registry_unavailable', 'DynamoDB GetItem (lease check) on the registry', orgId);
    }
  }
}

function keyOf(orgId: string): Record<string, AttributeValue> {
  return { [REGISTRY_TABLE.partitionKey.name]: { S: orgId } };
}

function handleValues(handle: LeaseHandle, extra: Record<string, AttributeValue> = {}): Record<string, AttributeValue> {
  return { ':owner': { S: handle.owner }, ':token': { N: String(handle.fencingToken) }, ...extra };
}

function assertOrgId(orgId: unknown): void {
  if (!isOrgId(orgId)) throw new ValidationError('orgId must be a Genesys Cloud organization id (UUID)', { field: 'orgId' });
}

function assertOwner(owner: unknown): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 256) {
    throw new ValidationError('lease owner must be a string of 1 to 256 characters', { field: 'owner' });
  }
}

function assertTtl(ttlMs: unknown): void {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new ValidationError('ttlMs must be a positive integer', { field: 'ttlMs' });
  }
}

function assertTime(nowMs: unknown): void {
  if (typeof nowMs !== 'number' || !Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new ValidationError('nowMs must be a non-negative integer (epoch milliseconds)', { field: 'nowMs' });
  }
}

function assertHandle(handle: unknown): asserts handle is LeaseHandle {
  if (typeof handle !== 'object' || handle === null) throw new ValidationError('lease handle must be an object', { field: 'handle' });
  const h = handle as Partial<LeaseHandle>;
  assertOrgId(h.orgId);
  assertOwner(h.owner);
  if (typeof h.fencingToken !== 'number' || !Number.isSafeInteger(h.fencingToken) || h.fencingToken < 1) {
    throw new ValidationError('lease handle fencingToken must be a positive integer', { field: 'fencingToken' });
  }
}
