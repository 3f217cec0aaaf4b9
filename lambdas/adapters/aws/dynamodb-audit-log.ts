/**
 * AuditLog on DynamoDB. One item per attempt in the audit table (see tables.ts):
 * `orgId` / `sk` = `<ISO time>#<attemptId>`, the AuditRecord fields, `expiresAtEpochSeconds` for TTL
 * and, on failures only, `failureDay` / `failureSk` for the sparse `failures-by-day` index.
 *
 * Items carry exactly the AuditRecord fields: `append` rejects a record with any other field before
 * writing, so a token or secret attached to a record by mistake never reaches the table.
 *
 * `at` is normalised to `Date#toISOString()` in the keys, so keys sort in time order even when a
 * caller writes `...:00Z` rather than `...:00.000Z`; the stored `at` field is kept as given.
 */
import { PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ValidationError } from '../../core/errors.js';
import { systemClock, type AuditLog, type AuditQuery, type AuditRecord, type Clock } from '../../core/ports.js';
import { isOrgId } from '../../core/token-record.js';
import { isConditionalCheckFailed, toStoreError } from './aws-errors.js';
import { AUDIT_TABLE, DEFAULT_AUDIT_RETENTION_DAYS, FAILURES_INDEX_NAME } from './tables.js';

/** Options for {@link DynamoDbAuditLog}. */
export interface DynamoDbAuditLogOptions {
  client: DynamoDBClient;
  /** Name of the audit table (created from `AUDIT_TABLE`). */
  tableName: string;
  /**
   * Days after an attempt's `at` when DynamoDB TTL may delete its item (deletion lags expiry by up
   * to a few days).
   * @default 90
   */
  retentionDays?: number;
  /**
   * Supplies "now" when `listFailures` is called without `untilMs`.
   * @default systemClock
   */
  clock?: Pick<Clock, 'now'>;
}

/** Records returned when a query gives no limit. */
export const DEFAULT_AUDIT_QUERY_LIMIT = 100;
/** Largest limit a query accepts. */
export const MAX_AUDIT_QUERY_LIMIT = 1000;
/** Longest range `listFailures` accepts: one Query per day, so a wider range is mostly empty reads. */
export const MAX_FAILURE_RANGE_DAYS = 366;

const DAY_MS = 86_400_000;
/** Latest instant `Date#toISOString` renders as `YYYY-...` (so keys stay fixed-width and sortable). */
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** Sorts after `#`, so `<ISO>` + this bounds every key that starts with `<ISO>#`. */
const AFTER_SEPARATOR = '$';

/**
 * Every field an AuditRecord may carry. The type check below fails to compile when AuditRecord
 * gains a field that is missing here, so the allow-list cannot silently fall behind the port.
 */
export const AUDIT_RECORD_FIELDS = [
  'orgId',
  'attemptId',
  'at',
  'outcome',
  'trigger',
  'reason',
  'durationMs',
  'attempts',
  'errorCode',
  'errorClass',
  'httpStatus',
  'severity',
  'message',
  'expiresAt',
  'oauthClientId',
  'oauthClientName',
  'scopes',
  'requestId',
  'brokerVersion',
] as const satisfies readonly (keyof AuditRecord)[];

type MissingAuditField = Exclude<keyof AuditRecord, (typeof AUDIT_RECORD_FIELDS)[number]>;
const _allowListCoversAuditRecord: [MissingAuditField] extends [never] ? true : MissingAuditField = true;

const ALLOWED = new Set<string>(AUDIT_RECORD_FIELDS);
const REQUIRED_STRINGS = ['attemptId', 'at', 'trigger', 'reason', 'brokerVersion'] as const;
const REQUIRED_NUMBERS = ['durationMs', 'attempts'] as const;

const K = {
  pk: AUDIT_TABLE.partitionKey.name,
  sk: AUDIT_TABLE.sortKey.name,
  ttl: AUDIT_TABLE.timeToLiveAttribute,
  day: AUDIT_TABLE.globalSecondaryIndexes[0].partitionKey.name,
  failureSk: AUDIT_TABLE.globalSecondaryIndexes[0].sortKey.name,
};

/** The audit log on DynamoDB. */
export class DynamoDbAuditLog implements AuditLog {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  readonly #retentionSeconds: number;
  readonly #clock: Pick<Clock, 'now'>;

  constructor(options: DynamoDbAuditLogOptions) {
    const retentionDays = options.retentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
    if (!Number.isSafeInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) {
      throw new ValidationError('retentionDays must be an integer from 1 to 3650', { field: 'retentionDays', code: 'invalid_config' });
    }
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#retentionSeconds = retentionDays * 86_400;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Writes one attempt. The write is conditional on the key not existing, so a retried append of
   * the same attempt (same `at` and `attemptId`) is a harmless no-op rather than a duplicate.
   */
  async append(record: AuditRecord): Promise<void> {
    const atMs = assertAuditRecord(record);
    const iso = new Date(atMs).toISOString();
    const fields: Record<string, unknown> = {};
    for (const field of AUDIT_RECORD_FIELDS) fields[field] = record[field];
    const item: Record<string, unknown> = {
      ...fields,
      [K.sk]: `${iso}#${record.attemptId}`,
      [K.ttl]: Math.floor(atMs / 1000) + this.#retentionSeconds,
    };
    if (record.outcome === 'failure') {
      item[K.day] = iso.slice(0, 10);
      item[K.failureSk] = `${iso}#${record.orgId}#${record.attemptId}`;
    }
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': K.sk },
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) return;
      throw toStoreError(err, 'audit_write_failed', 'DynamoDB PutItem on the audit log', record.orgId);
    }
  }

  /** One org's attempts in `[sinceMs, untilMs]` (both inclusive), newest first. */
  async query(orgId: string, query: AuditQuery = {}): Promise<AuditRecord[]> {
    if (!isOrgId(orgId)) throw new ValidationError('orgId must be a Genesys Cloud organization id (UUID)', { field: 'orgId' });
    const limit = assertLimit(query.limit);
    const range = assertRange(query.sinceMs, query.untilMs);
    const names: Record<string, string> = { '#pk': K.pk };
    const values: Record<string, AttributeValue> = { ':pk': { S: orgId } };
    let keyCondition = '#pk = :pk';
    if (range.lo !== undefined || range.hi !== undefined) names['#sk'] = K.sk;
    if (range.lo !== undefined) values[':lo'] = { S: range.lo };
    if (range.hi !== undefined) values[':hi'] = { S: range.hi };
    if (range.lo !== undefined && range.hi !== undefined) keyCondition += ' AND #sk BETWEEN :lo AND :hi';
    else if (range.lo !== undefined) keyCondition += ' AND #sk >= :lo';
    else if (range.hi !== undefined) keyCondition += ' AND #sk <= :hi';
    if (query.failuresOnly) {
      names['#outcome'] = 'outcome';
      values[':failure'] = { S: 'failure' };
    }
    try {
      return await this.#collect(limit, (remaining) => ({
        TableName: this.#tableName,
        KeyConditionExpression: keyCondition,
        // A filter is applied after Limit, so a filtered page is read without Limit (one org's
        // history is small) and pages are followed until enough failures are found.
        ...(query.failuresOnly ? { FilterExpression: '#outcome = :failure' } : { Limit: remaining }),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
      }));
    } catch (err) {
      throw toStoreError(err, 'audit_write_failed', 'DynamoDB Query of the audit log', orgId);
    }
  }

  /**
   * Failures of every org in `[sinceMs, untilMs]` (both inclusive; `untilMs` defaults to now),
   * newest first: one Query of the `failures-by-day` index per UTC day, newest day first, stopping
   * as soon as `limit` records are found. Index reads are eventually consistent.
   */
  async listFailures(query: { sinceMs: number; untilMs?: number; limit?: number }): Promise<AuditRecord[]> {
    if (typeof query !== 'object' || query === null) throw new ValidationError('query must be an object', { field: 'query' });
    if (query.sinceMs === undefined) throw new ValidationError('sinceMs is required', { field: 'sinceMs' });
    const untilMs = query.untilMs ?? this.#clock.now();
    const limit = assertLimit(query.limit);
    const range = assertRange(query.sinceMs, untilMs);
    const firstDayMs = Math.floor(query.sinceMs / DAY_MS) * DAY_MS;
    const lastDayMs = Math.floor(untilMs / DAY_MS) * DAY_MS;
    const days = (lastDayMs - firstDayMs) / DAY_MS + 1;
    if (days > MAX_FAILURE_RANGE_DAYS) {
      throw new ValidationError(`listFailures range spans ${days} days; at most ${MAX_FAILURE_RANGE_DAYS} are allowed`, { field: 'sinceMs' });
    }
    const found: AuditRecord[] = [];
    try {
      for (let dayMs = lastDayMs; dayMs >= firstDayMs && found.length < limit; dayMs -= DAY_MS) {
        const day = new Date(dayMs).toISOString().slice(0, 10);
        const page = await this.#collect(limit - found.length, (remaining) => ({
          TableName: this.#tableName,
          IndexName: FAILURES_INDEX_NAME,
          KeyConditionExpression: '#day = :day AND #fsk BETWEEN :lo AND :hi',
          ExpressionAttributeNames: { '#day': K.day, '#fsk': K.failureSk },
          ExpressionAttributeValues: { ':day': { S: day }, ':lo': { S: range.lo! }, ':hi': { S: range.hi! } },
          ScanIndexForward: false,
          Limit: remaining,
        }));
        found.push(...page);
      }
    } catch (err) {
      throw toStoreError(err, 'audit_write_failed', 'DynamoDB Query of the audit failures index');
    }
    return found;
  }

  /** Follows Query pages until `limit` records are collected or the results run out. */
  async #collect(limit: number, input: (remaining: number) => ConstructorParameters<typeof QueryCommand>[0]): Promise<AuditRecord[]> {
    const records: AuditRecord[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.#client.send(
        new QueryCommand({ ...input(limit - records.length), ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
      );
      for (const item of out.Items ?? []) {
        if (records.length < limit) records.push(toAuditRecord(item));
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey && records.length < limit);
    return records;
  }
}

function toAuditRecord(item: Record<string, AttributeValue>): AuditRecord {
  const raw = unmarshall(item) as Record<string, unknown>;
  const record: Record<string, unknown> = {};
  for (const field of AUDIT_RECORD_FIELDS) {
    if (raw[field] !== undefined) record[field] = raw[field];
  }
  return record as unknown as AuditRecord;
}

function assertLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_AUDIT_QUERY_LIMIT;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_QUERY_LIMIT) {
    throw new ValidationError(`limit must be an integer from 1 to ${MAX_AUDIT_QUERY_LIMIT}`, { field: 'limit' });
  }
  return limit;
}

/** Validates a time range and turns it into inclusive sort-key bounds. */
function assertRange(sinceMs: unknown, untilMs: unknown): { lo?: string; hi?: string } {
  const bound = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIME_MS) {
      throw new ValidationError(`${field} must be epoch milliseconds between 1970 and 9999`, { field });
    }
    return new Date(value).toISOString();
  };
  const lo = bound(sinceMs, 'sinceMs');
  const hiIso = bound(untilMs, 'untilMs');
  if (typeof sinceMs === 'number' && typeof untilMs === 'number' && sinceMs > untilMs) {
    throw new ValidationError('sinceMs must not be after untilMs', { field: 'sinceMs' });
  }
  return {
    ...(lo === undefined ? {} : { lo }),
    ...(hiIso === undefined ? {} : { hi: hiIso + AFTER_SEPARATOR }),
  };
}

/** Checks the record's shape and allow-list; returns `at` in epoch milliseconds. Errors name fields, never values. */
function assertAuditRecord(record: unknown): number {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new ValidationError('audit record must be an object', { field: 'record' });
  }
  const r = record as Record<string, unknown>;
  const orgId = isOrgId(r.orgId) ? r.orgId : undefined;
  const fail = (field: string, rule: string) =>
    new ValidationError(`audit record field ${field} ${rule}${orgId ? ` (org ${orgId})` : ''}`, { field, ...(orgId ? { orgId } : {}) });
  for (const key of Object.keys(r)) {
    if (!ALLOWED.has(key)) throw fail(key, 'is not an AuditRecord field; refusing to write it');
  }
  if (!orgId) throw fail('orgId', 'must be a Genesys Cloud organization id (UUID)');
  for (const field of REQUIRED_STRINGS) {
    if (typeof r[field] !== 'string' || (r[field] as string).length === 0) throw fail(field, 'must be a non-empty string');
  }
  for (const field of REQUIRED_NUMBERS) {
    if (typeof r[field] !== 'number' || !Number.isFinite(r[field])) throw fail(field, 'must be a finite number');
  }
  if (r.outcome !== 'success' && r.outcome !== 'failure') throw fail('outcome', 'must be success or failure');
  const atMs = Date.parse(r.at as string);
  if (Number.isNaN(atMs) || atMs < 0 || atMs > MAX_TIME_MS) throw fail('at', 'must be an ISO-8601 instant between 1970 and 9999');
  for (const field of AUDIT_RECORD_FIELDS) {
    const value = r[field];
    if (value === undefined) continue;
    const ok =
      field === 'scopes'
        ? Array.isArray(value) && value.every((s) => typeof s === 'string')
        : typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
    if (!ok) throw fail(field, field === 'scopes' ? 'must be an array of strings' : 'must be a string or a finite number');
  }
  return atMs;
}
