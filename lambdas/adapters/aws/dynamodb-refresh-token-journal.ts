/**
 * RefreshTokenJournal on DynamoDB: the write-ahead log of refresh token spends, kept on the org's
 * registry item beside its lease (attributes in tables.ts `PENDING_ATTRIBUTES`).
 *
 * Why DynamoDB and not the credentials secret: it answers in milliseconds, is not bound by Secrets
 * Manager's 50-writes-per-second quota or its versions-per-secret quota, and a conditional write can be
 * fenced by the lease, so a worker that lost the org never writes over the new holder's entry.
 *
 * A received token is sealed with the broker's KMS key (envelope encryption, kms-envelope.ts) under an
 * encryption context naming the org, so a sealed token copied to another org's item does not open.
 * The item never holds it in plaintext; nothing here logs it.
 */
import { type AttributeValue, type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { ConflictError, StoreError } from '../../core/errors.js';
import type { JournalEntry, LeaseHandle, RefreshTokenJournal } from '../../core/ports.js';
import { isConditionalCheckFailed, toStoreError } from './aws-errors.js';
import { LEASE_ATTRIBUTES, PENDING_ATTRIBUTES, PENDING_TOKEN_PURPOSE, REGISTRY_TABLE } from './tables.js';

export { PENDING_TOKEN_PURPOSE };

/** Seals and opens small secrets under an encryption context (kms-envelope.ts's KmsEnvelope). */
export interface Sealer {
  seal(plaintext: string, context: Record<string, string>): Promise<string>;
  open(sealed: string, context: Record<string, string>): Promise<string>;
}


export interface DynamoDbRefreshTokenJournalOptions {
  client: DynamoDBClient;
  /** The registry table: the journal lives on each org's item. */
  tableName: string;
  sealer: Sealer;
}

/** `#a` placeholders for every journal attribute. */
const ENTRY_NAMES = Object.fromEntries(Object.entries(PENDING_ATTRIBUTES).map(([key, name]) => [`#${key}`, name]));
const FENCE_NAMES = { '#pk': REGISTRY_TABLE.partitionKey.name, '#owner': LEASE_ATTRIBUTES.owner, '#fence': LEASE_ATTRIBUTES.fencingToken };
const ALL_ENTRY_ATTRIBUTES = Object.keys(ENTRY_NAMES).join(', ');

const contextFor = (orgId: string) => ({ purpose: PENDING_TOKEN_PURPOSE, orgId });
const keyOf = (orgId: string) => ({ [REGISTRY_TABLE.partitionKey.name]: { S: orgId } });

export class DynamoDbRefreshTokenJournal implements RefreshTokenJournal {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  readonly #sealer: Sealer;

  constructor(options: DynamoDbRefreshTokenJournalOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#sealer = options.sealer;
  }

  async record(handle: LeaseHandle, entry: JournalEntry): Promise<void> {
    const values: Record<string, AttributeValue> = {
      ':kind': { S: entry.kind },
      ':attemptId': { S: entry.attemptId },
      ':atMs': { N: String(entry.atMs) },
      ':clientId': { S: entry.clientId },
      ':credentialsVersion': { N: String(entry.credentialsVersion) },
      ':owner': { S: handle.owner },
      ':fence': { N: String(handle.fencingToken) },
    };
    // One entry per org: the attribute the other kind uses is removed in the same write.
    let set = 'SET #kind = :kind, #attemptId = :attemptId, #atMs = :atMs, #clientId = :clientId, #credentialsVersion = :credentialsVersion';
    let remove: string;
    if (entry.kind === 'received') {
      values[':sealedToken'] = { S: await this.#sealer.seal(entry.refreshToken, contextFor(handle.orgId)) };
      set += ', #sealedToken = :sealedToken';
      remove = '#presented';
    } else {
      values[':presented'] = { S: entry.presented };
      set += ', #presented = :presented';
      remove = '#sealedToken';
    }
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(handle.orgId),
          UpdateExpression: `${set} REMOVE ${remove}`,
          // Fenced: only the holder of the org's lease writes, so a worker that lost it never
          // replaces the entry of the worker that took over.
          ConditionExpression: 'attribute_exists(#pk) AND #owner = :owner AND #fence = :fence',
          ExpressionAttributeNames: { ...ENTRY_NAMES, ...FENCE_NAMES },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        throw new ConflictError('lease_held', `lease on org ${handle.orgId} was lost; the refresh token journal was not written`, { orgId: handle.orgId, cause: err });
      }
      throw toStoreError(err, 'refresh_token_persist_failed', 'DynamoDB UpdateItem (refresh token journal) on the registry', handle.orgId);
    }
  }

  async read(orgId: string): Promise<JournalEntry | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      const out = await this.#client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: keyOf(orgId),
          ConsistentRead: true,
          ProjectionExpression: ALL_ENTRY_ATTRIBUTES,
          ExpressionAttributeNames: ENTRY_NAMES,
        }),
      );
      item = out.Item;
    } catch (err) {
      throw toStoreError(err, 'registry_unavailable', 'DynamoDB GetItem (refresh token journal) on the registry', orgId);
    }
    const kind = item?.[PENDING_ATTRIBUTES.kind]?.S;
    if (!item || kind === undefined) return undefined;
    const attemptId = item[PENDING_ATTRIBUTES.attemptId]?.S;
    const clientId = item[PENDING_ATTRIBUTES.clientId]?.S;
    const atMs = Number(item[PENDING_ATTRIBUTES.atMs]?.N);
    const credentialsVersion = Number(item[PENDING_ATTRIBUTES.credentialsVersion]?.N);
    const common = attemptId && clientId && Number.isFinite(atMs) && Number.isInteger(credentialsVersion) ? { attemptId, clientId, atMs, credentialsVersion } : undefined;
    const presented = item[PENDING_ATTRIBUTES.presented]?.S;
    const sealed = item[PENDING_ATTRIBUTES.sealedToken]?.S;
    if (common && kind === 'spending' && presented) return { kind, ...common, presented };
    if (common && kind === 'received' && sealed) return { kind, ...common, refreshToken: await this.#sealer.open(sealed, contextFor(orgId)) };
    throw new StoreError('registry_unavailable', `the refresh token journal entry of org ${orgId} is incomplete`, { orgId, transient: false });
  }

  async clear(handle: LeaseHandle, attemptId: string): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(handle.orgId),
          UpdateExpression: `REMOVE ${ALL_ENTRY_ATTRIBUTES}`,
          // Only this attempt's entry, and only while we hold the lease: a newer one stays.
          ConditionExpression: 'attribute_exists(#pk) AND #owner = :owner AND #fence = :fence AND #attemptId = :attemptId',
          ExpressionAttributeNames: { ...ENTRY_NAMES, ...FENCE_NAMES },
          ExpressionAttributeValues: { ':owner': { S: handle.owner }, ':fence': { N: String(handle.fencingToken) }, ':attemptId': { S: attemptId } },
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) return;
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (clear refresh token journal) on the registry', handle.orgId);
    }
  }
}
