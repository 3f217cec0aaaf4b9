/**
 * RefreshTokenJournal on DynamoDB: the write-ahead of rotated refresh tokens, kept on the org's
 * registry item beside its lease (attributes in tables.ts `PENDING_ATTRIBUTES`).
 *
 * Why DynamoDB and not the credentials secret: it answers in milliseconds, is not bound by Secrets
 * Manager's 50-writes-per-second quota or its versions-per-secret quota, and a conditional write can be
 * fenced by the lease, so a worker that lost the org never writes over the new holder's token.
 *
 * The token is sealed with the broker's KMS key (envelope encryption, kms-envelope.ts) under an
 * encryption context naming the org, so a sealed token copied to another org's item does not open.
 * The item never holds it in plaintext; nothing here logs it.
 */
import { GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConflictError, StoreError } from '../../core/errors.js';
import type { LeaseHandle, PendingRefreshToken, RefreshTokenJournal } from '../../core/ports.js';
import { isConditionalCheckFailed, toStoreError } from './aws-errors.js';
import { LEASE_ATTRIBUTES, PENDING_ATTRIBUTES, REGISTRY_TABLE } from './tables.js';

/** Seals and opens small secrets under an encryption context (kms-envelope.ts's KmsEnvelope). */
export interface Sealer {
  seal(plaintext: string, context: Record<string, string>): Promise<string>;
  open(sealed: string, context: Record<string, string>): Promise<string>;
}

/** Encryption context purpose of a sealed pending refresh token. */
export const PENDING_TOKEN_PURPOSE = 'genesys-token-broker/pending-refresh-token';

export interface DynamoDbRefreshTokenJournalOptions {
  client: DynamoDBClient;
  /** The registry table: the journal lives on each org's item. */
  tableName: string;
  sealer: Sealer;
}

const NAMES = {
  '#pk': REGISTRY_TABLE.partitionKey.name,
  '#owner': LEASE_ATTRIBUTES.owner,
  '#fence': LEASE_ATTRIBUTES.fencingToken,
  '#sealed': PENDING_ATTRIBUTES.sealedToken,
  '#attempt': PENDING_ATTRIBUTES.attemptId,
  '#received': PENDING_ATTRIBUTES.receivedAtMs,
  '#client': PENDING_ATTRIBUTES.clientId,
  '#credVersion': PENDING_ATTRIBUTES.credentialsVersion,
};

const contextFor = (orgId: string) => ({ purpose: PENDING_TOKEN_PURPOSE, orgId });

export class DynamoDbRefreshTokenJournal implements RefreshTokenJournal {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  readonly #sealer: Sealer;

  constructor(options: DynamoDbRefreshTokenJournalOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#sealer = options.sealer;
  }

  async record(handle: LeaseHandle, pending: PendingRefreshToken): Promise<void> {
    const sealed = await this.#sealer.seal(pending.refreshToken, contextFor(handle.orgId));
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: { [REGISTRY_TABLE.partitionKey.name]: { S: handle.orgId } },
          UpdateExpression: 'SET #sealed = :sealed, #attempt = :attempt, #received = :received, #client = :client, #credVersion = :credVersion',
          // Fenced: only the holder of the org's lease writes, so a worker that lost it never
          // replaces the token of the worker that took over.
          ConditionExpression: 'attribute_exists(#pk) AND #owner = :owner AND #fence = :fence',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':sealed': { S: sealed },
            ':attempt': { S: pending.attemptId },
            ':received': { N: String(pending.receivedAtMs) },
            ':client': { S: pending.clientId },
            ':credVersion': { N: String(pending.credentialsVersion) },
            ':owner': { S: handle.owner },
            ':fence': { N: String(handle.fencingToken) },
          },
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        throw new ConflictError('lease_held', `lease on org ${handle.orgId} was lost; the write-ahead refresh token was not written`, { orgId: handle.orgId, cause: err });
      }
      throw toStoreError(err, 'refresh_token_persist_failed', 'DynamoDB UpdateItem (write-ahead refresh token) on the registry', handle.orgId);
    }
  }

  async pending(orgId: string): Promise<PendingRefreshToken | undefined> {
    let item;
    try {
      const out = await this.#client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: { [REGISTRY_TABLE.partitionKey.name]: { S: orgId } },
          ConsistentRead: true,
          ProjectionExpression: '#sealed, #attempt, #received, #client, #credVersion',
          ExpressionAttributeNames: { '#sealed': NAMES['#sealed'], '#attempt': NAMES['#attempt'], '#received': NAMES['#received'], '#client': NAMES['#client'], '#credVersion': NAMES['#credVersion'] },
        }),
      );
      item = out.Item;
    } catch (err) {
      throw toStoreError(err, 'registry_unavailable', 'DynamoDB GetItem (write-ahead refresh token) on the registry', orgId);
    }
    const sealed = item?.[PENDING_ATTRIBUTES.sealedToken]?.S;
    if (!item || sealed === undefined) return undefined;
    const attemptId = item[PENDING_ATTRIBUTES.attemptId]?.S;
    const clientId = item[PENDING_ATTRIBUTES.clientId]?.S;
    const receivedAtMs = Number(item[PENDING_ATTRIBUTES.receivedAtMs]?.N);
    const credentialsVersion = Number(item[PENDING_ATTRIBUTES.credentialsVersion]?.N);
    if (!attemptId || !clientId || !Number.isFinite(receivedAtMs) || !Number.isInteger(credentialsVersion)) {
      throw new StoreError('registry_unavailable', `the write-ahead refresh token of org ${orgId} has incomplete attributes`, { orgId, transient: false });
    }
    const refreshToken = await this.#sealer.open(sealed, contextFor(orgId));
    return { refreshToken, attemptId, receivedAtMs, clientId, credentialsVersion };
  }

  async clear(handle: LeaseHandle, attemptId: string): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: { [REGISTRY_TABLE.partitionKey.name]: { S: handle.orgId } },
          UpdateExpression: 'REMOVE #sealed, #attempt, #received, #client, #credVersion',
          // Only this attempt's token, and only while we hold the lease: a newer one stays.
          ConditionExpression: 'attribute_exists(#pk) AND #owner = :owner AND #fence = :fence AND #attempt = :attempt',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':owner': { S: handle.owner }, ':fence': { N: String(handle.fencingToken) }, ':attempt': { S: attemptId } },
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) return;
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (clear write-ahead refresh token) on the registry', handle.orgId);
    }
  }
}
