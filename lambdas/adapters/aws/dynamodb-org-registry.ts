/**
 * OrgRegistry on DynamoDB: one item per org in the registry table (see tables.ts), with the lease
 * attributes of DynamoDbLease on the same item. This adapter never reads or writes the lease
 * attributes: `put` and `recordState` are UpdateItems that touch only the org fields, so an operator
 * edit cannot wipe a lease, and lease updates do not bump `version`.
 *
 * Sweeps page through the registry with a Scan. Up to about 10,000 orgs that is the right tool:
 * an item is ~0.5-1 KB, so 10,000 orgs are 5-10 MB; an eventually consistent Scan costs 0.5 RCU per
 * 4 KB read, so one full sweep is at most ~1,250 RCU. At one sweep every 5 minutes (8,640 a month)
 * that is ~11 million read request units, about $1.35 a month on-demand at $0.125 per million
 * (us-east-1), and cents a month for a few hundred orgs. The ProjectionExpression keeps lease
 * attributes out of the response but does not lower RCU: DynamoDB charges for the whole item read.
 *
 * Beyond ~10,000 orgs, stop scanning everything: add a GSI keyed on a due-time bucket (partition
 * `dueBucket`, for example the hour `nextDueAtMs` falls in, sort key `nextDueAtMs`), have
 * `recordState` maintain both attributes, and let a sweep Query only the buckets up to now.
 *
 * The Scan is eventually consistent: a sweep may see state a moment old. Callers re-read with `get`
 * (strongly consistent) after taking an org's lease, and `recordState` is conditional on `version`,
 * so a stale read can cause at most a skipped or conflicting attempt, never a lost update.
 */
import {
  DeleteItemCommand,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import type { GrantType, OrgPage, OrgRecord, OrgRegistry, TokenState } from '../../core/ports.js';
import { isOrgId } from '../../core/token-record.js';
import { isConditionalCheckFailed, toStoreError } from './aws-errors.js';
import { REGISTRY_TABLE, RESERVED_KEY_PREFIX } from './tables.js';

/** Options for {@link DynamoDbOrgRegistry}. */
export interface DynamoDbOrgRegistryOptions {
  client: DynamoDBClient;
  /** Name of the registry table (created from `REGISTRY_TABLE`). */
  tableName: string;
}

/** Page size when `listPage` is called without a limit. */
export const DEFAULT_ORG_PAGE_LIMIT = 100;
/** Largest page `listPage` accepts; DynamoDB also caps a page at 1 MB. */
export const MAX_ORG_PAGE_LIMIT = 1000;

const PK = REGISTRY_TABLE.partitionKey.name;

/** The org attributes this adapter reads and writes; everything else on the item is the lease's. */
const ORG_FIELDS = ['orgId', 'region', 'grantType', 'credentialsSecretId', 'enabled', 'label', 'credentialsVersion', 'state', 'version'] as const;
const OPTIONAL_ORG_FIELDS = ['credentialsSecretId', 'label'] as const;

/** TokenState fields in the `state` map. Anything else handed in is dropped, so nothing secret can ride along. */
const TOKEN_STATE_FIELDS = [
  'issuedAtMs',
  'expiresAtMs',
  'refreshAtMs',
  'idlesAtMs',
  'nextAttemptAtMs',
  'lastAttemptAtMs',
  'lastOutcome',
  'lastErrorCode',
  'lastErrorClass',
  'consecutiveFailures',
  'credentialsVersionUsed',
  'oauthClientId',
  'rejectionCheckedAtMs',
] as const satisfies readonly (keyof TokenState)[];

// Fails to compile when TokenState gains a field missing above, so `state` can never drop one silently.
type MissingStateField = Exclude<keyof TokenState, (typeof TOKEN_STATE_FIELDS)[number]>;
const _stateFieldsCoverTokenState: [MissingStateField] extends [never] ? true : MissingStateField = true;

const GRANT_TYPES: readonly GrantType[] = ['client_credentials', 'refresh_token'];

const PROJECTION = {
  ProjectionExpression: ORG_FIELDS.map((f) => `#${f}`).join(', '),
  ExpressionAttributeNames: Object.fromEntries(ORG_FIELDS.map((f) => [`#${f}`, f])),
};

/** The org registry on DynamoDB. */
export class DynamoDbOrgRegistry implements OrgRegistry {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(options: DynamoDbOrgRegistryOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  /** Strongly consistent read of one org, or undefined when it is not registered. */
  async get(orgId: string): Promise<OrgRecord | undefined> {
    assertOrgId(orgId);
    try {
      const out = await this.#client.send(
        new GetItemCommand({ TableName: this.#tableName, Key: keyOf(orgId), ConsistentRead: true, ...PROJECTION }),
      );
      return out.Item ? toOrgRecord(out.Item) : undefined;
    } catch (err) {
      throw toStoreError(err, 'registry_unavailable', 'DynamoDB GetItem on the registry', orgId);
    }
  }

  /**
   * One page of a Scan over all orgs (eventually consistent). The cursor is opaque; a page that
   * carries a cursor may be followed by an empty last page, as DynamoDB cannot know it was the end.
   */
  async listPage(options: { cursor?: string; limit?: number } = {}): Promise<OrgPage> {
    const limit = options.limit ?? DEFAULT_ORG_PAGE_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_ORG_PAGE_LIMIT) {
      throw new ValidationError(`limit must be an integer from 1 to ${MAX_ORG_PAGE_LIMIT}`, { field: 'limit' });
    }
    const startKey = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    try {
      const out = await this.#client.send(
        new ScanCommand({
          TableName: this.#tableName,
          Limit: limit,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          ...PROJECTION,
        }),
      );
      // The broker's own bookkeeping items (RESERVED_KEY_PREFIX) are not orgs.
      const items = (out.Items ?? []).filter((item) => !item[PK]?.S?.startsWith(RESERVED_KEY_PREFIX)).map(toOrgRecord);
      return out.LastEvaluatedKey ? { items, cursor: encodeCursor(out.LastEvaluatedKey) } : { items };
    } catch (err) {
      throw toStoreError(err, 'registry_unavailable', 'DynamoDB Scan of the registry');
    }
  }

  /**
   * Creates or replaces an org's configuration and state, bumping `version` (1 on creation).
   * `expectedVersion: null` requires that the org does not exist; a number requires that the stored
   * version matches (a missing org is then a `version_conflict`, as in the in-memory registry).
   */
  async put(org: Omit<OrgRecord, 'version'>, options: { expectedVersion?: number | null } = {}): Promise<OrgRecord> {
    assertOrg(org);
    const expected = options.expectedVersion;
    if (expected !== undefined && expected !== null) assertVersion(expected, 'expectedVersion');

    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':zero': 0, ':one': 1 };
    const sets = ['#version = if_not_exists(#version, :zero) + :one'];
    const removes: string[] = [];
    const fields: Record<string, unknown> = {
      region: org.region,
      grantType: org.grantType,
      enabled: org.enabled,
      credentialsVersion: org.credentialsVersion,
      state: pickState(org.state),
      credentialsSecretId: org.credentialsSecretId,
      label: org.label,
    };
    for (const [name, value] of Object.entries(fields)) {
      names[`#${name}`] = name;
      if (value === undefined) {
        // "Replace" semantics: an optional field left out of the new config is removed, not kept.
        removes.push(`#${name}`);
      } else {
        values[`:${name}`] = value;
        sets.push(`#${name} = :${name}`);
      }
    }
    let condition: string | undefined;
    if (expected === null) {
      names['#pk'] = PK;
      condition = 'attribute_not_exists(#pk)';
    } else if (expected !== undefined) {
      values[':expected'] = expected;
      condition = '#version = :expected';
    }

    try {
      const out = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(org.orgId),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ...(condition ? { ConditionExpression: condition } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values, { removeUndefinedValues: true }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toOrgRecord(out.Attributes ?? {});
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        const message = expected === null ? `org ${org.orgId} already exists` : `org ${org.orgId} changed since version ${expected}`;
        throw new ConflictError('version_conflict', message, { orgId: org.orgId, cause: err });
      }
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (put) on the registry', org.orgId);
    }
  }

  /** Replaces `state` and bumps `version` if the org is still at `expectedVersion`. */
  async recordState(orgId: string, expectedVersion: number, state: TokenState): Promise<OrgRecord> {
    assertOrgId(orgId);
    assertVersion(expectedVersion, 'expectedVersion');
    assertState(state);
    try {
      const out = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: keyOf(orgId),
          UpdateExpression: 'SET #state = :state, #version = #version + :one',
          ConditionExpression: 'attribute_exists(#pk) AND #version = :expected',
          ExpressionAttributeNames: { '#pk': PK, '#state': 'state', '#version': 'version' },
          ExpressionAttributeValues: marshall({ ':state': pickState(state), ':one': 1, ':expected': expectedVersion }, { removeUndefinedValues: true }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toOrgRecord(out.Attributes ?? {});
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        // One extra read, only on the conflict path, to tell a removed org from a concurrent update.
        const current = await this.get(orgId);
        if (!current) throw new NotFoundError('org_not_found', `org ${orgId} is not registered`, { orgId, cause: err });
        throw new ConflictError('version_conflict', `org ${orgId} changed since version ${expectedVersion}`, { orgId, cause: err });
      }
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB UpdateItem (recordState) on the registry', orgId);
    }
  }

  /** Deletes the org's item, lease included. Removing an org that is not registered is a no-op. */
  async remove(orgId: string): Promise<void> {
    assertOrgId(orgId);
    try {
      await this.#client.send(new DeleteItemCommand({ TableName: this.#tableName, Key: keyOf(orgId) }));
    } catch (err) {
      throw toStoreError(err, 'registry_write_failed', 'DynamoDB DeleteItem on the registry', orgId);
    }
  }
}

function keyOf(orgId: string): Record<string, AttributeValue> {
  return { [PK]: { S: orgId } };
}

/** Opaque cursor: base64url of the Scan's LastEvaluatedKey. */
export function encodeCursor(lastEvaluatedKey: Record<string, AttributeValue>): string {
  return Buffer.from(JSON.stringify(lastEvaluatedKey), 'utf8').toString('base64url');
}

/** Decodes a cursor from {@link encodeCursor}; anything else is a ValidationError on `cursor`. */
export function decodeCursor(cursor: string): Record<string, AttributeValue> {
  const invalid = () => new ValidationError('cursor is not a cursor returned by listPage', { field: 'cursor' });
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length !== 1) throw invalid();
  const [name, value] = entries[0]!;
  if (name !== PK || typeof value !== 'object' || value === null) throw invalid();
  const keys = Object.keys(value);
  const s = (value as { S?: unknown }).S;
  if (keys.length !== 1 || typeof s !== 'string' || !isOrgId(s)) throw invalid();
  return { [PK]: { S: s } };
}

function toOrgRecord(item: Record<string, AttributeValue>): OrgRecord {
  const raw = unmarshall(item) as Record<string, unknown>;
  const rawState = (typeof raw.state === 'object' && raw.state !== null ? raw.state : {}) as Partial<TokenState>;
  const record: OrgRecord = {
    orgId: raw.orgId as string,
    region: raw.region as string,
    grantType: raw.grantType as GrantType,
    enabled: raw.enabled as boolean,
    credentialsVersion: raw.credentialsVersion as number,
    state: { ...pickState(rawState), consecutiveFailures: rawState.consecutiveFailures ?? 0 },
    version: raw.version as number,
  };
  for (const field of OPTIONAL_ORG_FIELDS) {
    if (typeof raw[field] === 'string') record[field] = raw[field];
  }
  return record;
}

function pickState(state: Partial<TokenState>): TokenState {
  const picked: Record<string, unknown> = {};
  for (const field of TOKEN_STATE_FIELDS) {
    if (state[field] !== undefined) picked[field] = state[field];
  }
  return picked as unknown as TokenState;
}

function assertOrgId(orgId: unknown): asserts orgId is string {
  if (!isOrgId(orgId)) throw new ValidationError('orgId must be a Genesys Cloud organization id (UUID)', { field: 'orgId' });
}

function assertVersion(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${field} must be a non-negative integer`, { field });
  }
}

function assertState(state: unknown): asserts state is TokenState {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new ValidationError('state must be an object', { field: 'state' });
  }
  const failures = (state as { consecutiveFailures?: unknown }).consecutiveFailures;
  if (typeof failures !== 'number' || !Number.isSafeInteger(failures) || failures < 0) {
    throw new ValidationError('state.consecutiveFailures must be a non-negative integer', { field: 'state.consecutiveFailures' });
  }
  for (const field of TOKEN_STATE_FIELDS) {
    const value = (state as Record<string, unknown>)[field];
    if (value !== undefined && typeof value !== 'number' && typeof value !== 'string') {
      throw new ValidationError(`state.${field} must be a number or a string`, { field: `state.${field}` });
    }
  }
}

function assertOrg(org: unknown): asserts org is Omit<OrgRecord, 'version'> {
  if (typeof org !== 'object' || org === null) throw new ValidationError('org must be an object', { field: 'org' });
  const o = org as Record<string, unknown>;
  assertOrgId(o.orgId);
  const orgId = o.orgId;
  const fail = (field: string, rule: string) => new ValidationError(`${field} ${rule} (org ${orgId})`, { field, orgId });
  if (typeof o.region !== 'string' || o.region.length === 0) throw fail('region', 'must be a non-empty string');
  if (!GRANT_TYPES.includes(o.grantType as GrantType)) throw fail('grantType', `must be one of ${GRANT_TYPES.join(', ')}`);
  if (typeof o.enabled !== 'boolean') throw fail('enabled', 'must be a boolean');
  if (typeof o.credentialsVersion !== 'number' || !Number.isSafeInteger(o.credentialsVersion) || o.credentialsVersion < 0) {
    throw fail('credentialsVersion', 'must be a non-negative integer');
  }
  for (const field of OPTIONAL_ORG_FIELDS) {
    const value = o[field];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) throw fail(field, 'must be a non-empty string when set');
  }
  assertState(o.state);
}
