/**
 * The RefreshTokenJournal contract, run against all three implementations: in memory, local mode's
 * files, and DynamoDB with the token sealed by KMS (dynalite and the KMS emulator, through the real
 * SDK clients). Then what only one of them promises: the DynamoDB item never holds the token in
 * plaintext and a sealed token does not open for another org; stranded temp files are recovered.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbLease } from '../../lambdas/adapters/aws/dynamodb-lease.js';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { DynamoDbRefreshTokenJournal } from '../../lambdas/adapters/aws/dynamodb-refresh-token-journal.js';
import { createKmsEnvelope } from '../../lambdas/adapters/aws/kms-envelope.js';
import { PENDING_ATTRIBUTES } from '../../lambdas/adapters/aws/tables.js';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { InMemoryLease, InMemoryRefreshTokenJournal } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { ConflictError, StoreError } from '../../lambdas/core/errors.js';
import type { JournalEntry, Lease, LeaseHandle, OrgRegistry, RefreshTokenJournal } from '../../lambdas/core/ports.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { createKmsEmulatorClient, KmsEmulator } from '../support/kms-emulator.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const TTL = 60_000;

interface Subject {
  journal: RefreshTokenJournal;
  lease: Lease;
  /** A fresh org the journal can write for. */
  newOrg(): Promise<string>;
}

const spending = (attemptId: string, atMs = T0): JournalEntry => ({ kind: 'spending', attemptId, atMs, clientId: 'client-a', credentialsVersion: 3, presented: 'ab'.repeat(16) });
const received = (attemptId: string, refreshToken: string, atMs = T0 + 1): JournalEntry => ({ kind: 'received', attemptId, atMs, clientId: 'client-a', credentialsVersion: 3, refreshToken });

let ddb: DynaliteHarness;
let dynamoDb: DynamoDBClient;
let kms: KmsEmulator;
let dataDir: string;
const TABLES = { registry: 'journal-contract-registry', audit: 'journal-contract-audit' };

beforeAll(async () => {
  [ddb, kms, dataDir] = await Promise.all([startDynalite(), KmsEmulator.start(), mkdtemp(join(tmpdir(), 'gtb-journal-'))]);
  await ddb.createTables(TABLES);
  dynamoDb = ddb.client();
});

afterAll(async () => {
  await Promise.all([ddb?.close(), kms?.close(), dataDir && rm(dataDir, { recursive: true, force: true })]);
});

function inMemory(): Subject {
  const lease = new InMemoryLease();
  return { lease, journal: new InMemoryRefreshTokenJournal(lease), newOrg: async () => randomUUID() };
}

/** A refresh_token org as the registry holds it; the file and DynamoDB leases need one. */
async function register(registry: OrgRegistry): Promise<string> {
  const orgId = randomUUID();
  await registry.put({ orgId, region: 'mypurecloud.de', grantType: 'refresh_token', enabled: true, credentialsVersion: 3, state: { consecutiveFailures: 0 } }, { expectedVersion: null });
  return orgId;
}

function files(): Subject {
  const store = new FileStore({ dataDir });
  return { lease: store.lease, journal: store.journal, newOrg: () => register(store.registry) };
}

function dynamo(): Subject {
  const registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: TABLES.registry });
  const sealer = createKmsEnvelope({ keyId: kms.addKey().arn, client: createKmsEmulatorClient(kms) });
  return {
    lease: new DynamoDbLease({ client: dynamoDb, tableName: TABLES.registry }),
    journal: new DynamoDbRefreshTokenJournal({ client: dynamoDb, tableName: TABLES.registry, sealer }),
    newOrg: () => register(registry),
  };
}

describe.each([
  ['in memory', inMemory],
  ['files', files],
  ['DynamoDB + KMS', dynamo],
])('RefreshTokenJournal contract: %s', (_name, make) => {
  let s: Subject;
  beforeAll(() => {
    s = make();
  });

  async function held(): Promise<LeaseHandle> {
    const orgId = await s.newOrg();
    return (await s.lease.acquire(orgId, 'worker-a', TTL, T0))!;
  }

  it('reads nothing for an org that never wrote', async () => {
    expect(await s.journal.read(await s.newOrg())).toBeUndefined();
  });

  it('reads back a spend note and a received token exactly as recorded', async () => {
    const handle = await held();
    await s.journal.record(handle, spending('attempt-1'));
    expect(await s.journal.read(handle.orgId)).toEqual(spending('attempt-1'));
    await s.journal.record(handle, received('attempt-1', 'rt-secret-2'));
    expect(await s.journal.read(handle.orgId)).toEqual(received('attempt-1', 'rt-secret-2'));
  });

  it('holds one entry per org: a received token replaces the spend note, and the next spend replaces the token', async () => {
    const handle = await held();
    await s.journal.record(handle, received('attempt-1', 'rt-secret-2'));
    await s.journal.record(handle, spending('attempt-2', T0 + 10));
    expect(await s.journal.read(handle.orgId)).toEqual(spending('attempt-2', T0 + 10));
  });

  it('keeps orgs apart', async () => {
    const a = await held();
    const b = await held();
    await s.journal.record(a, received('attempt-a', 'rt-of-a'));
    await s.journal.record(b, received('attempt-b', 'rt-of-b'));
    expect(await s.journal.read(a.orgId)).toEqual(received('attempt-a', 'rt-of-a'));
    expect(await s.journal.read(b.orgId)).toEqual(received('attempt-b', 'rt-of-b'));
  });

  it('refuses a write from a holder that lost the lease, with lease_held, and keeps the new holder\'s entry', async () => {
    const first = await held();
    const second = (await s.lease.acquire(first.orgId, 'worker-b', TTL, T0 + TTL))!;
    await s.journal.record(second, received('attempt-b', 'rt-of-b'));
    const refused = await s.journal.record(first, received('attempt-a', 'rt-of-a')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({ code: 'lease_held', orgId: first.orgId });
    expect(String((refused as Error).message)).not.toContain('rt-of-a');
    expect(await s.journal.read(first.orgId)).toEqual(received('attempt-b', 'rt-of-b'));
  });

  it('clears the entry of the attempt that wrote it, the received token after the spend note of the same attempt included', async () => {
    const handle = await held();
    await s.journal.record(handle, spending('attempt-1'));
    await s.journal.record(handle, received('attempt-1', 'rt-secret-2'));
    await s.journal.clear(handle, 'attempt-1');
    expect(await s.journal.read(handle.orgId)).toBeUndefined();
  });

  it('keeps a newer attempt\'s entry when an older attempt clears', async () => {
    const handle = await held();
    await s.journal.record(handle, received('attempt-2', 'rt-secret-3', T0 + 20));
    await s.journal.clear(handle, 'attempt-1');
    expect(await s.journal.read(handle.orgId)).toEqual(received('attempt-2', 'rt-secret-3', T0 + 20));
  });

  it('removes nothing, and does not throw, when the clearing holder lost the lease', async () => {
    const first = await held();
    await s.journal.record(first, received('attempt-a', 'rt-of-a'));
    await s.lease.acquire(first.orgId, 'worker-b', TTL, T0 + TTL);
    await expect(s.journal.clear(first, 'attempt-a')).resolves.toBeUndefined();
    expect(await s.journal.read(first.orgId)).toEqual(received('attempt-a', 'rt-of-a'));
  });

  it('clearing an org with no entry is a no-op', async () => {
    const handle = await held();
    await expect(s.journal.clear(handle, 'attempt-1')).resolves.toBeUndefined();
    expect(await s.journal.read(handle.orgId)).toBeUndefined();
  });
});

describe('DynamoDbRefreshTokenJournal', () => {
  const s = () => dynamo();
  const item = async (orgId: string) => (await dynamoDb.send(new GetItemCommand({ TableName: TABLES.registry, Key: { orgId: { S: orgId } }, ConsistentRead: true }))).Item ?? {};

  it('stores a received token sealed, never in plaintext, and removes every journal attribute on clear', async () => {
    const subject = s();
    const handle = (await subject.lease.acquire(await subject.newOrg(), 'worker-a', TTL, T0))!;
    await subject.journal.record(handle, received('attempt-1', 'rt-plaintext-never-stored'));
    const stored = await item(handle.orgId);
    expect(JSON.stringify(stored)).not.toContain('rt-plaintext-never-stored');
    expect(stored[PENDING_ATTRIBUTES.sealedToken]?.S).toMatch(/^v1\./);
    expect(stored[PENDING_ATTRIBUTES.presented]).toBeUndefined();
    await subject.journal.clear(handle, 'attempt-1');
    const after = await item(handle.orgId);
    for (const name of Object.values(PENDING_ATTRIBUTES)) expect(after[name]).toBeUndefined();
    expect(after.orgId?.S).toBe(handle.orgId);
  });

  it('does not open a sealed token copied onto another org\'s item: the KMS context names the org', async () => {
    const subject = s();
    const a = (await subject.lease.acquire(await subject.newOrg(), 'worker-a', TTL, T0))!;
    const b = (await subject.lease.acquire(await subject.newOrg(), 'worker-a', TTL, T0))!;
    await subject.journal.record(a, received('attempt-a', 'rt-of-a'));
    await subject.journal.record(b, received('attempt-b', 'rt-of-b'));
    const sealedOfA = (await item(a.orgId))[PENDING_ATTRIBUTES.sealedToken]!;
    await dynamoDb.send(
      new UpdateItemCommand({ TableName: TABLES.registry, Key: { orgId: { S: b.orgId } }, UpdateExpression: 'SET #t = :t', ExpressionAttributeNames: { '#t': PENDING_ATTRIBUTES.sealedToken }, ExpressionAttributeValues: { ':t': sealedOfA } }),
    );
    const refused = await subject.journal.read(b.orgId).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(Error);
    expect(JSON.stringify(refused)).not.toContain('rt-of-a');
    expect(await subject.journal.read(a.orgId)).toEqual(received('attempt-a', 'rt-of-a'));
  });

  it('reports an incomplete entry as registry_unavailable (permanent) instead of guessing', async () => {
    const subject = s();
    const handle = (await subject.lease.acquire(await subject.newOrg(), 'worker-a', TTL, T0))!;
    await subject.journal.record(handle, spending('attempt-1'));
    await dynamoDb.send(
      new UpdateItemCommand({ TableName: TABLES.registry, Key: { orgId: { S: handle.orgId } }, UpdateExpression: 'REMOVE #p', ExpressionAttributeNames: { '#p': PENDING_ATTRIBUTES.presented } }),
    );
    const refused = await subject.journal.read(handle.orgId).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreError);
    expect(refused).toMatchObject({ code: 'registry_unavailable', failureClass: 'permanent' });
  });

  it('does not write for an org the registry does not know', async () => {
    const subject = s();
    const ghost: LeaseHandle = { orgId: randomUUID(), owner: 'worker-a', fencingToken: 1, expiresAtMs: T0 + TTL };
    await expect(subject.journal.record(ghost, spending('attempt-1'))).rejects.toMatchObject({ code: 'lease_held' });
    expect(await item(ghost.orgId)).toEqual({});
  });
});

describe('FileRefreshTokenJournal', () => {
  it('recovers the newest complete entry from a temp file a crash stranded before its rename, and keeps torn ones out', async () => {
    const store = new FileStore({ dataDir });
    const orgId = await register(store.registry);
    const handle = (await store.lease.acquire(orgId, 'worker-a', TTL, T0))!;
    await store.journal.record(handle, spending('attempt-1'));
    const pending = join(dataDir, 'pending');
    await writeFile(join(pending, `.${orgId}.json.4242.${randomUUID()}.tmp`), JSON.stringify(received('attempt-1', 'rt-stranded')), { mode: 0o600 });
    await writeFile(join(pending, `.${orgId}.json.4243.${randomUUID()}.tmp`), '{"kind":"received","attemptId":"attempt-1","atMs":', { mode: 0o600 });
    expect(await store.journal.read(orgId)).toEqual(received('attempt-1', 'rt-stranded'));
    await store.journal.clear(handle, 'attempt-1');
    expect(await store.journal.read(orgId)).toBeUndefined();
    // The torn temp holds no complete entry; the complete ones are gone with the clear.
    expect((await readdir(pending)).filter((name) => name.includes(orgId))).toHaveLength(1);
  });

  it('rejects an entry that does not match the schema before touching the disk', async () => {
    const store = new FileStore({ dataDir });
    const orgId = await register(store.registry);
    const handle = (await store.lease.acquire(orgId, 'worker-a', TTL, T0))!;
    await expect(store.journal.record(handle, received('attempt-1', ''))).rejects.toThrow();
    expect(await store.journal.read(orgId)).toBeUndefined();
  });
});
