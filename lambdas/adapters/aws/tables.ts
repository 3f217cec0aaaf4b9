/**
 * The broker's two DynamoDB table designs as plain data. The CDK construct and the dynalite test
 * harness both build their tables from these constants, so the tables the adapters are tested
 * against are the tables that get deployed. No SDK import here beyond types.
 *
 * Registry table: one item per org, partition key `orgId`. The item holds the OrgRecord fields
 * (`state` as a map) plus the lease attributes `leaseOwner`, `leaseExpiresAtMs` and `fencingToken`,
 * so a sweep's Scan reads one item per org and taking a lease is one conditional UpdateItem on it.
 *
 * Audit table: partition key `orgId`, sort key `sk` = `<ISO time>#<attemptId>`, so one org's history
 * is a single Query in time order. DynamoDB TTL on `expiresAtEpochSeconds` removes old items. The
 * sparse GSI `failures-by-day` lists failures across all orgs; see {@link AUDIT_TABLE} for why it is
 * bucketed by day.
 */
import type { CreateTableInput } from '@aws-sdk/client-dynamodb';
import { BROKER_SETTINGS } from '../../core/settings.js';

/** DynamoDB scalar key types the designs use. */
export type KeyAttributeType = 'S' | 'N';

/** One key attribute of a table or index. */
export interface KeyAttribute {
  readonly name: string;
  readonly type: KeyAttributeType;
}

/** A global secondary index: name, keys and projection. */
export interface GlobalSecondaryIndexDesign {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** `ALL` copies every attribute into the index. */
  readonly projectionType: 'ALL' | 'KEYS_ONLY';
}

/** A table's keys, indexes and TTL attribute. Billing is on-demand for both tables. */
export interface TableDesign {
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly globalSecondaryIndexes: readonly GlobalSecondaryIndexDesign[];
  /** Attribute DynamoDB TTL reads (epoch seconds); undefined when the table has no TTL. */
  readonly timeToLiveAttribute?: string;
}

/** Attribute names of the lease that lives on each registry item. */
export const LEASE_ATTRIBUTES = Object.freeze({
  owner: 'leaseOwner',
  expiresAtMs: 'leaseExpiresAtMs',
  fencingToken: 'fencingToken',
} as const);

/**
 * Attributes of the refresh token journal on the org's registry item: a spend in flight, or a rotated
 * refresh token held write-ahead (KMS-sealed, never plaintext) until the credentials secret has it.
 */
export const PENDING_ATTRIBUTES = Object.freeze({
  /** `spending` or `received` (see JournalEntry). */
  kind: 'journalKind',
  attemptId: 'journalAttemptId',
  atMs: 'journalAtMs',
  clientId: 'journalClientId',
  credentialsVersion: 'journalCredentialsVersion',
  /** `spending` only: SHA-256 prefix of the presented token. */
  presented: 'journalPresented',
  /** `received` only: the rotated refresh token, KMS-sealed. */
  sealedToken: 'journalSealedToken',
} as const);

/** Encryption context `purpose` of a journal's sealed refresh token; the functions' KMS grant is bound to it. */
export const PENDING_TOKEN_PURPOSE = 'genesys-token-broker/pending-refresh-token';

/**
 * Registry items whose key starts with this are the broker's own bookkeeping, not orgs (org ids are
 * UUIDs): listings skip them, and no getter can read them (a getter reads one org id's item).
 */
export const RESERVED_KEY_PREFIX = '#';

/**
 * The registry item recording which cross-account reader list every token secret's resource policy
 * reflects (adapters/aws/token-secret-policies.ts).
 */
export const READER_POLICIES_ITEM = Object.freeze({
  key: `${RESERVED_KEY_PREFIX}token-secret-policies`,
  /** Fingerprint of the reader list every secret's policy reflects; absent: no list was ever applied. */
  applied: 'appliedReaders',
  /** Fingerprint of the list being applied, and the registry cursor it has reached. */
  pending: 'pendingReaders',
  cursor: 'pendingCursor',
  /** Orgs whose token secret was created without its policy being applied (a string set). */
  newOrgs: 'newOrgs',
} as const);

/** The org registry (and lease) table. */
export const REGISTRY_TABLE = Object.freeze({
  partitionKey: { name: 'orgId', type: 'S' },
  globalSecondaryIndexes: [],
} as const satisfies TableDesign);

/** Name of the sparse failures index on the audit table. */
export const FAILURES_INDEX_NAME = 'failures-by-day';

/**
 * The audit table.
 *
 * Why the failures index is keyed by day: a failures index needs a partition key that every failure
 * shares, or listing failures across orgs becomes a Scan. A single constant key (`"failure"`) would
 * put every failure ever written into one ever-growing item collection that every listing reads
 * from. Keying by UTC day (`failureDay` = `YYYY-MM-DD`) bounds each partition to one day's failures,
 * lets a query touch only the days in its range, and lets TTL age whole days out.
 *
 * Honest limit: within one day all failures still share one partition key. A GSI partition accepts
 * about 1,000 WCU/s; an outage where all 10,000 orgs fail in one sweep writes 10,000 index items of
 * under 1 KB spread over the sweep (bounded by sweep concurrency), far below that. If a deployment
 * ever approaches it, shard the key (`YYYY-MM-DD#<hash(orgId) % N>`) and query the N shards per day.
 *
 * Cost: the index is sparse (only failures carry `failureDay`), so successes cost nothing extra.
 * Each failure costs one more write unit for its index copy (projection ALL, items under 1 KB) and
 * avoids a GetItem per listed failure. `listFailures` issues one Query per day in its range; an
 * empty day still costs 0.5 RCU, so a 90-day listing costs about 45 RCU plus the items read.
 */
export const AUDIT_TABLE = Object.freeze({
  partitionKey: { name: 'orgId', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAtEpochSeconds',
  globalSecondaryIndexes: [
    {
      indexName: FAILURES_INDEX_NAME,
      partitionKey: { name: 'failureDay', type: 'S' },
      sortKey: { name: 'failureSk', type: 'S' },
      projectionType: 'ALL',
    },
  ],
} as const satisfies TableDesign);

/** Days an audit item lives before TTL removes it, unless configured (the broker-wide default). */
export const DEFAULT_AUDIT_RETENTION_DAYS = BROKER_SETTINGS.auditRetentionDays.default;

/** Builds the CreateTable request for one design (on-demand billing). */
export function createTableInput(tableName: string, design: TableDesign): CreateTableInput {
  const keys = [design.partitionKey, design.sortKey, ...design.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  const definitions = new Map<string, KeyAttributeType>();
  for (const key of keys) {
    if (!key) continue;
    const known = definitions.get(key.name);
    if (known !== undefined && known !== key.type) throw new Error(`key attribute ${key.name} is declared as both ${known} and ${key.type}`);
    definitions.set(key.name, key.type);
  }
  const keySchema = (pk: KeyAttribute, sk?: KeyAttribute) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...definitions].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: keySchema(design.partitionKey, design.sortKey),
    ...(design.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: design.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: index.projectionType },
          })),
        }
      : {}),
  };
}

/** CreateTable requests for both broker tables (TTL is a separate UpdateTimeToLive call). */
export function createTableInputs(names: { registry: string; audit: string }): { registry: CreateTableInput; audit: CreateTableInput } {
  return {
    registry: createTableInput(names.registry, REGISTRY_TABLE),
    audit: createTableInput(names.audit, AUDIT_TABLE),
  };
}
