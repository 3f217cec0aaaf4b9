import { randomUUID } from 'node:crypto';
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_RECORD_FIELDS, DynamoDbAuditLog } from '../../lambdas/adapters/aws/dynamodb-audit-log.js';
import { StoreError, ValidationError } from '../../lambdas/core/errors.js';
import type { AuditRecord } from '../../lambdas/core/ports.js';
import { startDynalite, type DynaliteHarness } from '../support/dynalite.js';

const TABLES = { registry: 'registry-audit-test', audit: 'audit-audit-test' };
const DAY = 86_400_000;

function record(orgId: string, at: string, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    orgId,
    attemptId: randomUUID(),
    at,
    outcome: 'success',
    trigger: 'schedule',
    reason: 'due',
    durationMs: 120,
    attempts: 1,
    expiresAt: '2026-03-02T00:00:00.000Z',
    oauthClientId: 'client-1',
    scopes: ['analytics'],
    brokerVersion: '0.1.0',
    ...overrides,
  };
}

function failure(orgId: string, at: string, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return record(orgId, at, {
    outcome: 'failure',
    errorCode: 'invalid_client',
    errorClass: 'permanent',
    httpStatus: 401,
    severity: 'critical',
    message: 'client credentials were rejected',
    expiresAt: undefined,
    scopes: undefined,
    ...overrides,
  });
}

describe('DynamoDbAuditLog', () => {
  let harness: DynaliteHarness;
  let client: DynamoDBClient;
  let audit: DynamoDbAuditLog;

  async function rawItems(orgId: string): Promise<Record<string, unknown>[]> {
    const out = await client.send(
      new QueryCommand({ TableName: TABLES.audit, KeyConditionExpression: 'orgId = :o', ExpressionAttributeValues: { ':o': { S: orgId } } }),
    );
    return (out.Items ?? []).map((item) => unmarshall(item));
  }

  beforeAll(async () => {
    harness = await startDynalite();
    await harness.createTables(TABLES);
    client = harness.client();
    audit = new DynamoDbAuditLog({ client, tableName: TABLES.audit });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('returns an org’s records newest first, exactly as appended', async () => {
    const orgId = randomUUID();
    const records = [
      record(orgId, '2026-01-01T10:00:00.000Z'),
      failure(orgId, '2026-01-01T12:00:00.000Z'),
      // Not normalised: as raw strings '…00Z' sorts after '…00.500Z'; the keys still sort by time.
      record(orgId, '2026-01-01T11:00:00Z'),
      record(orgId, '2026-01-01T11:00:00.500Z'),
      record(orgId, '2026-01-02T09:30:00.000Z', { trigger: 'manual', requestId: 'req-1', oauthClientName: 'Broker' }),
    ];
    for (const r of records) await audit.append(r);
    const got = await audit.query(orgId);
    expect(got).toEqual([records[4], records[1], records[3], records[2], records[0]]);
    expect(await audit.query(randomUUID())).toEqual([]);
  });

  it('keeps each org’s history separate', async () => {
    const a = randomUUID();
    const b = randomUUID();
    await audit.append(record(a, '2026-01-05T00:00:00.000Z'));
    await audit.append(record(b, '2026-01-05T00:00:00.000Z'));
    expect((await audit.query(a)).map((r) => r.orgId)).toEqual([a]);
  });

  it('writes a retried append once', async () => {
    const orgId = randomUUID();
    const r = failure(orgId, '2026-01-03T00:00:00.000Z');
    harness.resetCounts();
    await audit.append(r);
    await audit.append(r);
    expect(harness.callCount('PutItem')).toBe(2);
    expect(await audit.query(orgId)).toEqual([r]);
  });

  it('filters by an inclusive time range', async () => {
    const orgId = randomUUID();
    const times = ['2026-01-10T00:00:00.000Z', '2026-01-10T06:00:00.000Z', '2026-01-10T12:00:00.000Z', '2026-01-10T18:00:00.000Z'];
    for (const at of times) await audit.append(record(orgId, at));
    const ms = times.map((t) => Date.parse(t));
    const at = (rs: AuditRecord[]) => rs.map((r) => r.at);
    expect(at(await audit.query(orgId, { sinceMs: ms[1], untilMs: ms[2] }))).toEqual([times[2], times[1]]);
    expect(at(await audit.query(orgId, { sinceMs: ms[1]! + 1, untilMs: ms[2]! - 1 }))).toEqual([]);
    expect(at(await audit.query(orgId, { sinceMs: ms[2] }))).toEqual([times[3], times[2]]);
    expect(at(await audit.query(orgId, { untilMs: ms[1] }))).toEqual([times[1], times[0]]);
  });

  it('returns only failures, newest first, up to the limit, when failuresOnly is set', async () => {
    const orgId = randomUUID();
    const base = Date.parse('2026-01-15T00:00:00.000Z');
    const failures: AuditRecord[] = [];
    for (let i = 0; i < 12; i++) {
      const at = new Date(base + i * 60_000).toISOString();
      const r = i % 4 === 0 ? failure(orgId, at) : record(orgId, at);
      if (r.outcome === 'failure') failures.push(r);
      await audit.append(r);
    }
    expect(await audit.query(orgId, { failuresOnly: true })).toEqual(failures.reverse());
    expect(await audit.query(orgId, { failuresOnly: true, limit: 2 })).toEqual(failures.slice(0, 2));
    expect(await audit.query(orgId, { limit: 3 })).toHaveLength(3);
  });

  it('stores exactly the AuditRecord fields plus keys and a TTL of at + 90 days', async () => {
    const orgId = randomUUID();
    const success = record(orgId, '2026-02-01T08:00:00.000Z');
    const failed = failure(orgId, '2026-02-01T09:00:00.000Z');
    await audit.append(success);
    await audit.append(failed);
    const [failedItem, successItem] = (await rawItems(orgId)).sort((x, y) => String(y.sk).localeCompare(String(x.sk)));
    const ttl = (at: string) => Date.parse(at) / 1000 + 90 * 86_400;
    expect(successItem).toEqual({ ...success, sk: `2026-02-01T08:00:00.000Z#${success.attemptId}`, expiresAtEpochSeconds: ttl(success.at) });
    expect(failedItem).toEqual({
      ...Object.fromEntries(Object.entries(failed).filter(([, v]) => v !== undefined)),
      sk: `2026-02-01T09:00:00.000Z#${failed.attemptId}`,
      expiresAtEpochSeconds: ttl(failed.at),
      failureDay: '2026-02-01',
      failureSk: `2026-02-01T09:00:00.000Z#${orgId}#${failed.attemptId}`,
    });
  });

  it('uses the configured retention for the TTL attribute', async () => {
    const orgId = randomUUID();
    const weekly = new DynamoDbAuditLog({ client, tableName: TABLES.audit, retentionDays: 7 });
    await weekly.append(record(orgId, '2026-02-01T00:00:00.500Z'));
    const [item] = await rawItems(orgId);
    expect(item?.expiresAtEpochSeconds).toBe(Math.floor(Date.parse('2026-02-01T00:00:00.500Z') / 1000) + 7 * 86_400);
    expect(() => new DynamoDbAuditLog({ client, tableName: TABLES.audit, retentionDays: 0 })).toThrow(ValidationError);
  });

  it('refuses a record carrying a field outside AuditRecord, without echoing its value, and writes nothing', async () => {
    const orgId = randomUUID();
    const leaky = { ...failure(orgId, '2026-02-02T00:00:00.000Z'), accessToken: 'eyJ-secret-token-value' } as AuditRecord;
    harness.resetCounts();
    const err = await audit.append(leaky).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ code: 'invalid_request', field: 'accessToken', orgId });
    expect((err as Error).message).not.toContain('eyJ-secret-token-value');
    expect(harness.callCount('PutItem')).toBe(0);
    expect(await rawItems(orgId)).toEqual([]);
  });

  it('rejects malformed records with a ValidationError naming the field', async () => {
    const orgId = randomUUID();
    const cases: [Partial<Record<keyof AuditRecord, unknown>>, string][] = [
      [{ orgId: 'org-1' }, 'orgId'],
      [{ at: 'yesterday' }, 'at'],
      [{ outcome: 'maybe' }, 'outcome'],
      [{ attemptId: '' }, 'attemptId'],
      [{ durationMs: Number.NaN }, 'durationMs'],
      [{ scopes: [1] }, 'scopes'],
      [{ message: { nested: true } }, 'message'],
    ];
    for (const [patch, field] of cases) {
      const bad = { ...record(orgId, '2026-02-03T00:00:00.000Z'), ...patch } as AuditRecord;
      await expect(audit.append(bad), field).rejects.toMatchObject({ name: 'ValidationError', field });
    }
    expect(await rawItems(orgId)).toEqual([]);
  });

  it('keeps the allow-list equal to the AuditRecord fields', () => {
    expect([...AUDIT_RECORD_FIELDS].sort()).toEqual(
      ['orgId', 'attemptId', 'at', 'outcome', 'trigger', 'reason', 'durationMs', 'attempts', 'errorCode', 'errorClass', 'httpStatus', 'severity', 'message', 'expiresAt', 'oauthClientId', 'oauthClientName', 'scopes', 'requestId', 'brokerVersion'].sort(),
    );
  });

  it('rejects bad query arguments', async () => {
    const orgId = randomUUID();
    await expect(audit.query(orgId, { sinceMs: 10, untilMs: 5 })).rejects.toMatchObject({ name: 'ValidationError', field: 'sinceMs' });
    await expect(audit.query(orgId, { limit: 0 })).rejects.toMatchObject({ field: 'limit' });
    await expect(audit.query(orgId, { untilMs: Number.POSITIVE_INFINITY })).rejects.toMatchObject({ field: 'untilMs' });
    await expect(audit.query('org-1')).rejects.toMatchObject({ field: 'orgId' });
  });

  it('surfaces a DynamoDB failure as a StoreError with audit_write_failed', async () => {
    const strict = new DynamoDbAuditLog({ client: harness.client({ maxAttempts: 1 }), tableName: TABLES.audit });
    const orgId = randomUUID();
    harness.failNext('PutItem', 1, 'InternalServerError');
    const err = await strict.append(record(orgId, '2026-02-04T00:00:00.000Z')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'audit_write_failed', failureClass: 'transient', orgId });
    harness.failNext('Query', 1, 'ThrottlingException');
    await expect(strict.query(orgId)).rejects.toMatchObject({ name: 'StoreError', code: 'audit_write_failed', failureClass: 'transient' });
    harness.failNext('Query', 1, 'ValidationException');
    await expect(strict.listFailures({ sinceMs: 0, untilMs: 1 })).rejects.toMatchObject({ name: 'StoreError', failureClass: 'permanent' });
  });
});

describe('DynamoDbAuditLog.listFailures', () => {
  let harness: DynaliteHarness;
  let audit: DynamoDbAuditLog;
  const now = Date.parse('2026-03-10T12:00:00.000Z');
  const orgs = [randomUUID(), randomUUID(), randomUUID()];
  const expected: AuditRecord[] = [];

  beforeAll(async () => {
    harness = await startDynalite();
    await harness.createTables(TABLES);
    audit = new DynamoDbAuditLog({ client: harness.client(), tableName: TABLES.audit, clock: { now: () => now } });
    // Failures over three days (plus one outside the range) across three orgs, with successes mixed in.
    const at = (day: number, hour: number) => new Date(Date.parse('2026-03-07T00:00:00.000Z') + day * DAY + hour * 3_600_000).toISOString();
    const plan: [number, number, number, boolean][] = [
      [0, 0, 23, true], // 2026-03-07T23:00, before the queried range below
      [1, 1, 1, true],
      [1, 2, 5, false],
      [1, 0, 20, true],
      [2, 2, 3, true],
      [2, 1, 8, false],
      [2, 0, 9, true],
      [3, 1, 6, true],
      [3, 2, 11, true],
      [3, 0, 13, true], // after `now`
    ];
    for (const [day, org, hour, failed] of plan) {
      const r = failed ? failure(orgs[org]!, at(day, hour)) : record(orgs[org]!, at(day, hour));
      await audit.append(r);
      if (failed) expected.push(r);
    }
    expected.sort((a, b) => b.at.localeCompare(a.at));
  });

  afterAll(async () => {
    await harness?.close();
  });

  const inRange = (sinceMs: number, untilMs: number) => expected.filter((r) => Date.parse(r.at) >= sinceMs && Date.parse(r.at) <= untilMs);

  it('lists failures of every org across days, newest first, within the range', async () => {
    const sinceMs = Date.parse('2026-03-08T00:00:00.000Z');
    const got = await audit.listFailures({ sinceMs, untilMs: now });
    expect(got).toEqual(inRange(sinceMs, now));
    expect(got).toHaveLength(6);
    expect(new Set(got.map((r) => r.orgId))).toEqual(new Set(orgs));
    expect(got.every((r) => r.outcome === 'failure')).toBe(true);
  });

  it('cuts partial days at both ends of the range', async () => {
    const sinceMs = Date.parse('2026-03-08T05:00:00.000Z');
    const untilMs = Date.parse('2026-03-10T06:00:00.000Z');
    const got = await audit.listFailures({ sinceMs, untilMs });
    expect(got).toEqual(inRange(sinceMs, untilMs));
    expect(got.map((r) => r.at)).toEqual(['2026-03-10T06:00:00.000Z', '2026-03-09T09:00:00.000Z', '2026-03-09T03:00:00.000Z', '2026-03-08T20:00:00.000Z']);
  });

  it('defaults untilMs to the clock', async () => {
    const sinceMs = Date.parse('2026-03-10T00:00:00.000Z');
    expect((await audit.listFailures({ sinceMs })).map((r) => r.at)).toEqual(['2026-03-10T11:00:00.000Z', '2026-03-10T06:00:00.000Z']);
  });

  it('stops querying older days once the limit is reached', async () => {
    harness.resetCounts();
    const got = await audit.listFailures({ sinceMs: Date.parse('2026-02-20T00:00:00.000Z'), untilMs: now, limit: 2 });
    expect(got).toEqual(inRange(0, now).slice(0, 2));
    expect(harness.callCount('Query')).toBe(1);
  });

  it('queries one day per Query and finds nothing in an empty range', async () => {
    harness.resetCounts();
    expect(await audit.listFailures({ sinceMs: Date.parse('2026-01-01T00:00:00.000Z'), untilMs: Date.parse('2026-01-05T23:59:59.999Z') })).toEqual([]);
    expect(harness.callCount('Query')).toBe(5);
  });

  it('rejects a range longer than 366 days or reversed', async () => {
    await expect(audit.listFailures({ sinceMs: now - 400 * DAY, untilMs: now })).rejects.toMatchObject({ name: 'ValidationError', field: 'sinceMs' });
    await expect(audit.listFailures({ sinceMs: now + 1, untilMs: now })).rejects.toBeInstanceOf(ValidationError);
  });
});
