import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileMutex, MutexTimeoutError } from '../../lambdas/adapters/file/file-mutex.js';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { ConflictError, NotFoundError, StoreError, UnreadableRecordError, ValidationError } from '../../lambdas/core/errors.js';
import type { AuditRecord, Clock, OrgRecord, TokenRecord } from '../../lambdas/core/ports.js';

const ACCESS_TOKEN = 'AT-do-not-leak-7f3a9c';
const CLIENT_SECRET = 'CS-do-not-leak-19be02';
const REFRESH_TOKEN = 'RT-do-not-leak-5d7e41';
const DAY_MS = 86_400_000;
const T0 = Date.parse('2026-03-01T12:00:00Z');

function newOrg(overrides: Partial<Omit<OrgRecord, 'version'>> = {}): Omit<OrgRecord, 'version'> {
  return {
    orgId: randomUUID(),
    region: 'mypurecloud.ie',
    grantType: 'client_credentials',
    enabled: true,
    label: 'Acme EMEA',
    credentialsVersion: 1,
    state: { consecutiveFailures: 0 },
    ...overrides,
  };
}

function tokenFor(orgId: string, accessToken = ACCESS_TOKEN): TokenRecord {
  return {
    schemaVersion: 1,
    orgId,
    accessToken,
    tokenType: 'bearer',
    issuedAt: '2026-03-01T12:00:00.000Z',
    expiresAt: '2026-03-02T12:00:00.000Z',
    refreshAt: '2026-03-02T06:00:00.000Z',
    region: 'mypurecloud.ie',
    apiBaseUrl: 'https://api.mypurecloud.ie',
    oauthClientId: 'client-1',
    scopes: ['analytics'],
  };
}

function auditFor(orgId: string, atMs: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    orgId,
    attemptId: randomUUID(),
    at: new Date(atMs).toISOString(),
    outcome: 'success',
    trigger: 'schedule',
    reason: 'due',
    durationMs: 120,
    attempts: 1,
    brokerVersion: '0.1.0',
    ...overrides,
  };
}

class FixedClock implements Clock {
  constructor(public nowMs: number) {}
  now(): number {
    return this.nowMs;
  }
  async sleep(): Promise<void> {}
}

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

let root: string;
let dataDir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'file-store-'));
  dataDir = join(root, 'data');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('FileStore', () => {
  it('creates directories with mode 0700 and files with mode 0600 even under a permissive umask', async () => {
    const previousUmask = process.umask(0o000);
    try {
      const store = new FileStore({ dataDir });
      const org = await store.registry.put(newOrg());
      await store.vault.write(tokenFor(org.orgId), { attemptId: 'a1' });
      await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET });
      await store.audit.append(auditFor(org.orgId, Date.now()));
      await store.lease.acquire(org.orgId, 'owner-1', 60_000, Date.now());

      const entries = walk(dataDir);
      const dirs = [dataDir, ...entries.filter((p) => statSync(p).isDirectory())];
      const files = entries.filter((p) => statSync(p).isFile());
      expect(dirs).toHaveLength(8);
      expect(files.map((f) => f.slice(dataDir.length + 1)).sort()).toEqual([
        `audit/${org.orgId}.jsonl`,
        `credentials/${org.orgId}.json`,
        `leases/${org.orgId}.fence.json`,
        `leases/${org.orgId}.lock`,
        `registry/${org.orgId}.json`,
        `tokens/${org.orgId}.json`,
      ]);
      for (const dir of dirs) expect([dir, modeOf(dir)]).toEqual([dir, 0o700]);
      for (const file of files) expect([file, modeOf(file)]).toEqual([file, 0o600]);
    } finally {
      process.umask(previousUmask);
    }
  });

  it('tightens an existing data directory and files that are too open', () => {
    mkdirSync(join(dataDir, 'registry'), { recursive: true });
    const stray = join(dataDir, 'registry', `${randomUUID()}.json`);
    writeFileSync(stray, '{}');
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'registry'), 0o777);
    chmodSync(stray, 0o644);

    new FileStore({ dataDir });

    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(join(dataDir, 'registry'))).toBe(0o700);
    expect(modeOf(stray)).toBe(0o600);
  });

  it('refuses a data directory path that is a file', () => {
    writeFileSync(dataDir, 'not a directory');
    expect(() => new FileStore({ dataDir })).toThrow(StoreError);
    expect(() => new FileStore({ dataDir })).toThrow(/not a directory|ENOTDIR|EEXIST/);
  });

  it('defaults the data directory to .broker-data under the working directory', () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      const store = new FileStore();
      expect(store.dataDir).toBe(join(root, '.broker-data'));
      expect(modeOf(join(root, '.broker-data'))).toBe(0o700);
    } finally {
      process.chdir(cwd);
    }
  });

  it('rejects unknown and invalid options', () => {
    expect(() => new FileStore({ dataDir, dataDirectory: 'x' } as never)).toThrow(/unknown FileStore option "dataDirectory"/);
    expect(() => new FileStore({ dataDir, auditRetentionDays: 0 })).toThrow(ValidationError);
    expect(() => new FileStore({ dataDir: '' })).toThrow(/dataDir/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('rejects org ids that are not UUIDs before they reach a path', async () => {
    const store = new FileStore({ dataDir });
    const outside = join(root, 'escaped');
    const bad = ['../escaped', '../../etc/passwd', '..', `${randomUUID()}/../../escaped`, 'a/b', '', '0'.repeat(36)];
    for (const orgId of bad) {
      const handle = { orgId, owner: 'o', fencingToken: 1, expiresAtMs: 0 };
      const calls: Array<() => Promise<unknown>> = [
        () => store.registry.get(orgId),
        () => store.registry.put(newOrg({ orgId })),
        () => store.registry.recordState(orgId, 1, { consecutiveFailures: 0 }),
        () => store.registry.remove(orgId),
        () => store.registry.listPage({ cursor: orgId }),
        () => store.vault.write(tokenFor(orgId), { attemptId: 'a' }),
        () => store.vault.read(orgId),
        () => store.vault.remove(orgId),
        () => store.credentials.read({ ...newOrg({ orgId }), version: 1 }),
        () => store.credentials.save({ orgId }, { clientId: 'c', clientSecret: 's' }),
        () => store.credentials.readCurrent({ ...newOrg({ orgId }), version: 1 }),
        () => store.credentials.rotateRefreshToken({ ...newOrg({ orgId }), version: 1 }, { credentials: { clientId: 'c', clientSecret: 's' }, version: 'v', extras: {} }, 'r', 'a'),
        () => store.journal.record(handle, { kind: 'received', refreshToken: 'r', attemptId: 'a', atMs: 0, clientId: 'c', credentialsVersion: 1 }),
        () => store.journal.read(orgId),
        () => store.journal.clear(handle, 'a'),
        () => store.credentials.remove({ orgId }),
        () => store.audit.append(auditFor(orgId, Date.now())),
        () => store.audit.query(orgId),
        () => store.lease.acquire(orgId, 'o', 1000, 0),
        () => store.lease.renew(handle, 1000, 0),
        () => store.lease.release(handle),
      ];
      for (const call of calls) {
        const err = await call().then(() => undefined, (e: unknown) => e);
        expect(err, `${orgId}: ${call.toString()}`).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).field).toBe('orgId');
      }
    }
    expect(existsSync(outside)).toBe(false);
    expect(readdirSync(root)).toEqual(['data']);
    expect(walk(dataDir).filter((p) => statSync(p).isFile())).toEqual([]);
  });

  it('keeps every port’s data across a restart on the same directory', async () => {
    const first = new FileStore({ dataDir });
    const org = await first.registry.put(newOrg({ grantType: 'refresh_token' }));
    await first.vault.write(tokenFor(org.orgId), { attemptId: 'a1' });
    await first.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: 'rt-1' });
    await first.credentials.rotateRefreshToken(org, await first.credentials.readCurrent(org), REFRESH_TOKEN, 'attempt-1');
    const audit = auditFor(org.orgId, Date.now());
    await first.audit.append(audit);
    const lease = await first.lease.acquire(org.orgId, 'owner-1', 60_000, T0);

    const second = new FileStore({ dataDir });
    expect(await second.registry.get(org.orgId)).toEqual(org);
    expect(await second.vault.read(org.orgId)).toEqual(tokenFor(org.orgId));
    expect(await second.credentials.read(org)).toEqual({ clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN });
    expect(await second.audit.query(org.orgId)).toEqual([audit]);
    expect(await second.lease.acquire(org.orgId, 'owner-2', 60_000, T0 + 1)).toBeUndefined();
    const next = await second.lease.acquire(org.orgId, 'owner-2', 60_000, T0 + 60_001);
    expect(next?.fencingToken).toBe((lease?.fencingToken ?? 0) + 1);
  });

  it('never reads temp files or stray names as data', async () => {
    const store = new FileStore({ dataDir });
    const org = await store.registry.put(newOrg());
    const other = randomUUID();
    writeFileSync(join(dataDir, 'registry', `.${other}.json.123.${randomUUID()}.tmp`), JSON.stringify({ ...newOrg({ orgId: other }), version: 1 }));
    writeFileSync(join(dataDir, 'registry', 'notes.json'), '{}');
    writeFileSync(join(dataDir, 'registry', `${other}.json.bak`), '{}');
    writeFileSync(join(dataDir, 'credentials', `.${org.orgId}.json.1.x.tmp`), JSON.stringify({ clientId: 'c', clientSecret: 's' }));

    expect((await store.registry.listPage()).items.map((o) => o.orgId)).toEqual([org.orgId]);
    await expect(store.credentials.read(org)).rejects.toMatchObject({ code: 'credentials_unavailable' });
  });

  it('deletes temp files left by a crashed writer at start-up but leaves young ones to their writer', () => {
    const dir = join(dataDir, 'tokens');
    mkdirSync(dir, { recursive: true });
    const old = join(dir, `.${randomUUID()}.json.999.${randomUUID()}.tmp`);
    const young = join(dir, `.${randomUUID()}.json.999.${randomUUID()}.tmp`);
    writeFileSync(old, '{');
    writeFileSync(young, '{');
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(old, hourAgo, hourAgo);

    new FileStore({ dataDir });

    expect(existsSync(old)).toBe(false);
    expect(existsSync(young)).toBe(true);
  });
});

describe('FileOrgRegistry', () => {
  let store: FileStore;
  beforeEach(() => {
    store = new FileStore({ dataDir });
  });

  it('creates an org at version 1 with expectedVersion null and refuses to create it twice', async () => {
    const org = newOrg({ credentialsSecretId: 'custom/secret', state: { consecutiveFailures: 1, lastErrorCode: 'rate_limited', credentialsVersionUsed: 1 } });
    const stored = await store.registry.put(org, { expectedVersion: null });
    expect(stored).toEqual({ ...org, version: 1 });
    expect(await store.registry.get(org.orgId)).toEqual(stored);

    const err = await store.registry.put({ ...org, label: 'changed' }, { expectedVersion: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ code: 'version_conflict', orgId: org.orgId });
    expect(await store.registry.get(org.orgId)).toEqual(stored);
  });

  it('replaces an org only at the expected version and bumps the version', async () => {
    const org = newOrg();
    await store.registry.put(org);
    const v2 = await store.registry.put({ ...org, enabled: false }, { expectedVersion: 1 });
    expect(v2).toMatchObject({ enabled: false, version: 2 });

    await expect(store.registry.put({ ...org, label: 'stale' }, { expectedVersion: 1 })).rejects.toMatchObject({ code: 'version_conflict' });
    await expect(store.registry.put(newOrg(), { expectedVersion: 1 })).rejects.toMatchObject({ code: 'version_conflict' });
    expect(await store.registry.get(org.orgId)).toEqual(v2);

    expect(await store.registry.put({ ...org, label: 'any' })).toMatchObject({ label: 'any', version: 3 });
  });

  it('rejects an invalid org and writes nothing', async () => {
    const org = newOrg({ region: 'moon-base-1' });
    const err = await store.registry.put(org).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/region/);
    await expect(store.registry.put({ ...newOrg(), credentialsVersion: -1 })).rejects.toThrow(/credentialsVersion/);
    await expect(store.registry.put(newOrg(), { expectedVersion: 1.5 })).rejects.toThrow(ValidationError);
    await expect(store.registry.put(newOrg(), { expectedVerison: 1 } as never)).rejects.toThrow(/unknown put option key "expectedVerison"/);
    expect(await store.registry.get(org.orgId)).toBeUndefined();
    expect(readdirSync(join(dataDir, 'registry'))).toEqual([]);
  });

  it('records state at the expected version and refuses a stale or missing record', async () => {
    const org = await store.registry.put(newOrg({ label: 'kept' }));
    const state = { consecutiveFailures: 0, lastOutcome: 'success' as const, expiresAtMs: T0 + DAY_MS, credentialsVersionUsed: 1 };
    const next = await store.registry.recordState(org.orgId, 1, state);
    expect(next).toEqual({ ...org, state, version: 2 });

    await expect(store.registry.recordState(org.orgId, 1, { consecutiveFailures: 5 })).rejects.toBeInstanceOf(ConflictError);
    expect(await store.registry.get(org.orgId)).toEqual(next);
    await expect(store.registry.recordState(randomUUID(), 1, state)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.registry.recordState(org.orgId, 2, { consecutiveFailures: -1 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('lets exactly one of two instances win a concurrent compare-and-set', async () => {
    const other = new FileStore({ dataDir });
    const org = await store.registry.put(newOrg());
    const results = await Promise.allSettled([
      ...Array.from({ length: 5 }, (_, i) => store.registry.recordState(org.orgId, 1, { consecutiveFailures: i })),
      ...Array.from({ length: 5 }, (_, i) => other.registry.recordState(org.orgId, 1, { consecutiveFailures: 10 + i })),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'version_conflict' });
    expect((await store.registry.get(org.orgId))?.version).toBe(2);
  });

  it('pages through orgs in id order with the last id as cursor', async () => {
    const ids = Array.from({ length: 5 }, () => randomUUID()).sort();
    for (const orgId of [...ids].reverse()) await store.registry.put(newOrg({ orgId }));

    const first = await store.registry.listPage({ limit: 2 });
    expect(first.items.map((o) => o.orgId)).toEqual(ids.slice(0, 2));
    expect(first.cursor).toBe(ids[1]);
    const second = await store.registry.listPage({ limit: 2, cursor: first.cursor });
    expect(second.items.map((o) => o.orgId)).toEqual(ids.slice(2, 4));
    const last = await store.registry.listPage({ limit: 2, cursor: second.cursor });
    expect(last).toEqual({ items: [await store.registry.get(ids[4] as string)] });
    expect((await store.registry.listPage()).items).toHaveLength(5);
    expect(await store.registry.listPage({ cursor: ids[4] })).toEqual({ items: [] });

    await expect(store.registry.listPage({ limit: 0 })).rejects.toThrow(ValidationError);
    await expect(store.registry.listPage({ limit: 1001 })).rejects.toThrow(/limit/);
  });

  it('removes the registry entry, token and credentials but keeps the audit trail', async () => {
    const org = await store.registry.put(newOrg());
    await store.vault.write(tokenFor(org.orgId), { attemptId: 'a1' });
    await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET });
    const audit = auditFor(org.orgId, Date.now());
    await store.audit.append(audit);

    await store.registry.remove(org.orgId);
    await store.registry.remove(org.orgId);

    expect(await store.registry.get(org.orgId)).toBeUndefined();
    expect(await store.vault.read(org.orgId)).toBeUndefined();
    await expect(store.credentials.read(org)).rejects.toMatchObject({ code: 'credentials_unavailable' });
    expect(await store.audit.query(org.orgId)).toEqual([audit]);
  });

  it('treats upper- and lower-case spellings of an org id as the same org', async () => {
    const orgId = randomUUID();
    await store.registry.put(newOrg({ orgId }));
    expect(await store.registry.get(orgId.toUpperCase())).toMatchObject({ orgId });
  });

  it('reports a damaged registry file as a permanent store error', async () => {
    const org = await store.registry.put(newOrg());
    writeFileSync(join(dataDir, 'registry', `${org.orgId}.json`), '{"orgId":');
    const err = await store.registry.get(org.orgId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).failureClass).toBe('permanent');
  });

  describe('with damaged registry files among healthy ones', () => {
    let healthy: string[];
    let corrupt: string;
    let invalid: string;

    beforeEach(async () => {
      const ids = Array.from({ length: 7 }, () => randomUUID()).sort();
      // Damaged files at the start, in the middle and at the end of the id order.
      [corrupt, invalid] = [ids[0] as string, ids[3] as string];
      healthy = ids.filter((id) => id !== corrupt && id !== invalid);
      for (const orgId of ids) await store.registry.put(newOrg({ orgId }));
      writeFileSync(join(dataDir, 'registry', `${corrupt}.json`), readFileSync(join(dataDir, 'registry', `${corrupt}.json`), 'utf8').slice(0, 30));
      const record = JSON.parse(readFileSync(join(dataDir, 'registry', `${invalid}.json`), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(dataDir, 'registry', `${invalid}.json`), JSON.stringify({ ...record, region: 'moon-base-1', state: { consecutiveFailures: -1 } }));
    });

    it('lists the healthy orgs and reports each damaged file with its problem, location and remedy', async () => {
      const page = await store.registry.listPage();
      expect(page.items.map((o) => o.orgId)).toEqual(healthy);
      expect(page.cursor).toBeUndefined();
      expect(page.unreadable).toEqual([
        { orgId: corrupt, problem: 'not valid JSON', location: join(dataDir, 'registry', `${corrupt}.json`), remedy: expect.stringContaining('Restore the file from a backup') },
        { orgId: invalid, problem: 'fields fail the schema: region, state.consecutiveFailures', location: join(dataDir, 'registry', `${invalid}.json`), remedy: expect.stringContaining(`orgs add --local --data-dir ${dataDir} --org-id ${invalid}`) },
      ]);
      // Problems name fields, never values.
      expect(JSON.stringify(page.unreadable)).not.toContain('moon-base-1');
    });

    it('throws registry_unavailable naming the file and the remedy from get', async () => {
      for (const orgId of [corrupt, invalid]) {
        const err = await store.registry.get(orgId).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UnreadableRecordError);
        expect(err).toMatchObject({ code: 'registry_unavailable', failureClass: 'permanent', orgId, unreadable: { orgId, location: join(dataDir, 'registry', `${orgId}.json`) } });
        expect((err as Error).message).toContain(join(dataDir, 'registry', `${orgId}.json`));
        expect((err as Error).message).toMatch(/Restore the file from a backup, or delete it and register the org again/);
      }
      expect(await store.registry.get(healthy[0] as string)).toMatchObject({ orgId: healthy[0] });
    });

    it('reaches every healthy org and reports every damaged file when paging with a small limit', async () => {
      const seen: string[] = [];
      const unreadable: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.registry.listPage({ limit: 2, ...(cursor ? { cursor } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((o) => o.orgId));
        unreadable.push(...(page.unreadable ?? []).map((u) => u.orgId));
        cursor = page.cursor;
        pages++;
      } while (cursor);
      expect(seen).toEqual(healthy);
      expect(unreadable).toEqual([corrupt, invalid]);
      expect(pages).toBe(3);
    });

    it('refuses to overwrite a damaged file, and changes nothing on a read', async () => {
      const path = join(dataDir, 'registry', `${corrupt}.json`);
      const before = readFileSync(path, 'utf8');
      await expect(store.registry.put(newOrg({ orgId: corrupt }))).rejects.toBeInstanceOf(UnreadableRecordError);
      await expect(store.registry.recordState(corrupt, 1, { consecutiveFailures: 0 })).rejects.toMatchObject({ code: 'registry_unavailable' });
      await store.registry.listPage();
      expect(readFileSync(path, 'utf8')).toBe(before);
    });

    it('reports a registry file that answers for another org', async () => {
      const copy = randomUUID();
      writeFileSync(join(dataDir, 'registry', `${copy}.json`), readFileSync(join(dataDir, 'registry', `${healthy[0]}.json`)));
      const page = await store.registry.listPage();
      expect(page.items.map((o) => o.orgId)).toEqual(healthy);
      expect(page.unreadable).toContainEqual(expect.objectContaining({ orgId: copy, problem: 'its orgId field does not match the file name' }));
    });
  });
});

describe('FileTokenVault', () => {
  let store: FileStore;
  let orgId: string;
  beforeEach(() => {
    store = new FileStore({ dataDir });
    orgId = randomUUID();
  });

  it('returns undefined for an org without a token', async () => {
    expect(await store.vault.read(orgId)).toBeUndefined();
    expect(await store.vault.readPrevious(orgId)).toBeUndefined();
  });

  it('makes each write current and keeps the one it replaced as previous', async () => {
    await store.vault.write(tokenFor(orgId, 'token-1'), { attemptId: 'a1' });
    expect(await store.vault.read(orgId)).toEqual(tokenFor(orgId, 'token-1'));
    expect(await store.vault.readPrevious(orgId)).toBeUndefined();

    await store.vault.write(tokenFor(orgId, 'token-2'), { attemptId: 'a2' });
    await store.vault.write(tokenFor(orgId, 'token-3'), { attemptId: 'a3' });
    expect((await store.vault.read(orgId))?.accessToken).toBe('token-3');
    expect((await store.vault.readPrevious(orgId))?.accessToken).toBe('token-2');
  });

  it('treats a repeated write with the same attemptId as a no-op', async () => {
    await store.vault.write(tokenFor(orgId, 'token-1'), { attemptId: 'a1' });
    await store.vault.write(tokenFor(orgId, 'token-2'), { attemptId: 'a2' });
    const before = readFileSync(join(dataDir, 'tokens', `${orgId}.json`), 'utf8');

    await store.vault.write(tokenFor(orgId, 'token-2'), { attemptId: 'a2' });
    await store.vault.write(tokenFor(orgId, 'token-1'), { attemptId: 'a1' });

    expect(readFileSync(join(dataDir, 'tokens', `${orgId}.json`), 'utf8')).toBe(before);
    expect((await store.vault.read(orgId))?.accessToken).toBe('token-2');
    expect((await store.vault.readPrevious(orgId))?.accessToken).toBe('token-1');
  });

  it('refuses a different token under an attemptId already used, without naming either token', async () => {
    await store.vault.write(tokenFor(orgId, 'token-1'), { attemptId: 'a1' });
    const err = await store.vault.write(tokenFor(orgId, ACCESS_TOKEN), { attemptId: 'a1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'vault_write_failed' });
    expect((err as StoreError).failureClass).toBe('permanent');
    expect((err as Error).message).not.toContain(ACCESS_TOKEN);
    expect((await store.vault.read(orgId))?.accessToken).toBe('token-1');
  });

  it('rejects an invalid record or attemptId with the field names and never the token', async () => {
    const bad = { ...tokenFor(orgId), tokenType: 'mac', apiBaseUrl: 'not a url' } as unknown as TokenRecord;
    const err = await store.vault.write(bad, { attemptId: 'a1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/tokenType.*apiBaseUrl|apiBaseUrl.*tokenType/);
    expect((err as Error).message).not.toContain(ACCESS_TOKEN);
    await expect(store.vault.write(tokenFor(orgId), { attemptId: '' })).rejects.toThrow(/attemptId/);
    expect(await store.vault.read(orgId)).toBeUndefined();
  });

  it('reads a token that fails the schema as missing and names it without echoing its content or touching the file', async () => {
    await store.vault.write(tokenFor(orgId), { attemptId: 'a1' });
    const path = join(dataDir, 'tokens', `${orgId}.json`);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { current: { value: string } };
    file.current.value = JSON.stringify({ ...tokenFor(orgId), schemaVersion: 2 });
    writeFileSync(path, JSON.stringify(file));
    const before = readFileSync(path, 'utf8');

    expect(await store.vault.read(orgId)).toBeUndefined();
    const unreadable = await store.vault.listUnreadable();
    expect(unreadable).toEqual([{ orgId, problem: 'the current token: fields fail the schema: schemaVersion', location: path, remedy: expect.stringMatching(/next sweep refreshes/) }]);
    expect(JSON.stringify(unreadable)).not.toContain(ACCESS_TOKEN);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it.each([
    ['truncated', (text: string) => text.slice(0, 40), /not valid JSON/],
    ['emptied', () => '', /empty/],
    ['edited into another shape', () => JSON.stringify({ current: { value: 7 } }), /fields fail the schema: current\.attemptId, current\.value, current\.writtenAtMs/],
  ])('reads a %s token file as missing, and the next write replaces it whole', async (_name, damage, problem) => {
    await store.vault.write(tokenFor(orgId, 'token-1'), { attemptId: 'a1' });
    const path = join(dataDir, 'tokens', `${orgId}.json`);
    writeFileSync(path, damage(readFileSync(path, 'utf8')));
    const damaged = readFileSync(path, 'utf8');

    expect(await store.vault.read(orgId)).toBeUndefined();
    expect(await store.vault.readPrevious(orgId)).toBeUndefined();
    expect(await store.vault.read(orgId)).toBeUndefined();
    expect(readFileSync(path, 'utf8')).toBe(damaged);
    expect(await store.vault.listUnreadable()).toEqual([expect.objectContaining({ orgId, problem: expect.stringMatching(problem), location: path })]);

    await store.vault.write(tokenFor(orgId, 'token-2'), { attemptId: 'a2' });
    expect((await store.vault.read(orgId))?.accessToken).toBe('token-2');
    expect(await store.vault.readPrevious(orgId)).toBeUndefined();
    expect(await store.vault.listUnreadable()).toEqual([]);
  });

  it('reads a token file holding another org\'s token as missing', async () => {
    await store.vault.write(tokenFor(orgId), { attemptId: 'a1' });
    const other = randomUUID();
    writeFileSync(join(dataDir, 'tokens', `${other}.json`), readFileSync(join(dataDir, 'tokens', `${orgId}.json`)));
    expect(await store.vault.read(other)).toBeUndefined();
    expect((await store.vault.listUnreadable()).map((u) => [u.orgId, u.problem])).toEqual([[other, 'the current token belongs to another org']]);
  });

  it('removes the token', async () => {
    await store.vault.write(tokenFor(orgId), { attemptId: 'a1' });
    await store.vault.remove(orgId);
    expect(await store.vault.read(orgId)).toBeUndefined();
  });
});

describe('FileCredentialStore', () => {
  let store: FileStore;
  let org: OrgRecord;
  beforeEach(() => {
    store = new FileStore({ dataDir });
    org = { ...newOrg({ grantType: 'refresh_token' }), version: 1 };
  });

  it('reports missing credentials as a permanent credentials_unavailable', async () => {
    const err = await store.credentials.read(org).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'credentials_unavailable', orgId: org.orgId });
    expect((err as StoreError).failureClass).toBe('permanent');
    await expect(store.credentials.readCurrent(org)).rejects.toMatchObject({ code: 'credentials_unavailable' });
  });

  it('saves, reads and replaces the refresh token durably across instances', async () => {
    await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: 'rt-1' });
    expect(await store.credentials.read(org)).toEqual({ clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: 'rt-1' });
    expect(await store.credentials.rotateRefreshToken(org, await store.credentials.readCurrent(org), REFRESH_TOKEN, 'attempt-1')).toBe('written');
    expect(await new FileStore({ dataDir }).credentials.read(org)).toEqual({ clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN });
  });

  it('keeps credentials an operator saved after an attempt read them, and writes nothing', async () => {
    await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: 'rt-1' });
    const before = await store.credentials.readCurrent(org);
    await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: 'rt-operator' });
    expect(await store.credentials.rotateRefreshToken(org, before, REFRESH_TOKEN, 'attempt-1')).toBe('changed');
    expect((await store.credentials.read(org)).refreshToken).toBe('rt-operator');
    // The same token written twice (a retry) is a no-op that succeeds.
    const now = await store.credentials.readCurrent(org);
    expect(await store.credentials.rotateRefreshToken(org, now, REFRESH_TOKEN, 'attempt-2')).toBe('written');
    expect(await store.credentials.rotateRefreshToken(org, now, REFRESH_TOKEN, 'attempt-2')).toBe('written');
    expect((await store.credentials.read(org)).refreshToken).toBe(REFRESH_TOKEN);
  });

  it('rejects invalid credentials without echoing the secret', async () => {
    const err = await store.credentials.save(org, { clientId: '', clientSecret: CLIENT_SECRET }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain('clientId');
    expect((err as Error).message).not.toContain(CLIENT_SECRET);
    await expect(store.credentials.rotateRefreshToken(org, { credentials: { clientId: 'id', clientSecret: 's' }, version: 'v', extras: {} }, '', 'a')).rejects.toThrow(/refresh token/);
    await expect(store.credentials.read(org)).rejects.toMatchObject({ code: 'credentials_unavailable' });
  });

  it('reports damaged credentials without echoing the secret', async () => {
    writeFileSync(join(dataDir, 'credentials', `${org.orgId}.json`), JSON.stringify({ clientId: 7, clientSecret: CLIENT_SECRET }));
    const err = await store.credentials.read(org).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'credentials_unavailable' });
    expect((err as Error).message).toContain('clientId');
    expect((err as Error).message).not.toContain(CLIENT_SECRET);
  });

  it('keeps a truncated credentials file a permanent error naming the file and the remedy, never a missing one', async () => {
    await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN });
    const path = join(dataDir, 'credentials', `${org.orgId}.json`);
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 25));
    const before = readFileSync(path, 'utf8');
    const err = await store.credentials.read(org).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreadableRecordError);
    expect(err).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent', orgId: org.orgId });
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(/not valid JSON.*Restore the file from a backup, or store the org's credentials again/);
    expect((err as Error).message).not.toContain(before);
    await expect(store.credentials.readCurrent(org)).rejects.toMatchObject({ code: 'credentials_unavailable' });
    await expect(store.credentials.rotateRefreshToken(org, { credentials: { clientId: 'id', clientSecret: CLIENT_SECRET }, version: 'v', extras: {} }, 'rt-2', 'a')).rejects.toMatchObject({ code: 'credentials_unavailable' });
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('removes credentials', async () => {
    await store.credentials.save(org, { clientId: 'id', clientSecret: CLIENT_SECRET });
    await store.credentials.remove(org);
    await expect(store.credentials.read(org)).rejects.toMatchObject({ code: 'credentials_unavailable' });
  });
});

describe('FileAuditLog', () => {
  let clock: FixedClock;
  let store: FileStore;
  let orgId: string;
  beforeEach(() => {
    clock = new FixedClock(T0);
    store = new FileStore({ dataDir, clock, auditRetentionDays: 30 });
    orgId = randomUUID();
  });

  const auditPath = () => join(dataDir, 'audit', `${orgId}.jsonl`);

  it('returns an org’s records newest first, filtered by inclusive time bounds, outcome and limit', async () => {
    const records = [
      auditFor(orgId, T0 - 4000),
      auditFor(orgId, T0 - 1000, { outcome: 'failure', errorCode: 'rate_limited', errorClass: 'rate_limited', httpStatus: 429 }),
      auditFor(orgId, T0 - 3000, { outcome: 'failure', errorCode: 'invalid_client', errorClass: 'permanent', severity: 'critical' }),
      auditFor(orgId, T0 - 2000),
    ];
    for (const r of records) await store.audit.append(r);
    await store.audit.append(auditFor(randomUUID(), T0));
    const [r4000, r1000, r3000, r2000] = records;

    expect(await store.audit.query(orgId)).toEqual([r1000, r2000, r3000, r4000]);
    expect(await store.audit.query(orgId, { sinceMs: T0 - 3000, untilMs: T0 - 2000 })).toEqual([r2000, r3000]);
    expect(await store.audit.query(orgId, { failuresOnly: true })).toEqual([r1000, r3000]);
    expect(await store.audit.query(orgId, { limit: 1 })).toEqual([r1000]);
    await expect(store.audit.query(orgId, { limit: 0 })).rejects.toThrow(ValidationError);
    await expect(store.audit.query(orgId, { since: 1 } as never)).rejects.toThrow(/unknown audit query key "since"/);
  });

  it('lists failures across orgs newest first', async () => {
    const other = randomUUID();
    const a = auditFor(orgId, T0 - 3000, { outcome: 'failure', errorCode: 'timeout' });
    const b = auditFor(other, T0 - 2000, { outcome: 'failure', errorCode: 'invalid_grant' });
    const c = auditFor(orgId, T0 - 1000, { outcome: 'failure', errorCode: 'timeout' });
    for (const r of [a, b, c, auditFor(other, T0 - 500)]) await store.audit.append(r);

    expect(await store.audit.listFailures({ sinceMs: T0 - 10_000 })).toEqual([c, b, a]);
    expect(await store.audit.listFailures({ sinceMs: T0 - 2500, untilMs: T0 - 1500 })).toEqual([b]);
    expect(await store.audit.listFailures({ sinceMs: 0, limit: 2 })).toEqual([c, b]);
  });

  it('drops records older than the retention on read and compacts them away', async () => {
    const old = Array.from({ length: 3 }, (_, i) => auditFor(orgId, T0 - 40 * DAY_MS + i, { outcome: 'failure' }));
    const fresh = auditFor(orgId, T0 - DAY_MS);
    for (const r of [...old, fresh]) await store.audit.append(r);
    expect(readFileSync(auditPath(), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(await store.audit.listFailures({ sinceMs: 0 })).toEqual([]);

    expect(await store.audit.query(orgId)).toEqual([fresh]);
    expect(readFileSync(auditPath(), 'utf8')).toBe(`${JSON.stringify(fresh)}\n`);
    expect(modeOf(auditPath())).toBe(0o600);
  });

  it('keeps records it cannot interpret through compaction, for a newer broker sharing the directory', async () => {
    const current = auditFor(orgId, T0 - 1000);
    const fromNewerVersion = JSON.stringify({ ...auditFor(orgId, T0 - 500), trigger: 'webhook' });
    await store.audit.append(current);
    writeFileSync(auditPath(), `${readFileSync(auditPath(), 'utf8')}${fromNewerVersion}\nnot json\n`);

    expect(await store.audit.query(orgId)).toEqual([current]);
    await store.audit.compact(orgId);
    expect(readFileSync(auditPath(), 'utf8')).toBe(`${JSON.stringify(current)}\n${fromNewerVersion}\n`);
  });

  it('ignores a line torn by a crash and keeps every record before and after it', async () => {
    const before = auditFor(orgId, T0 - 2000);
    await store.audit.append(before);
    const torn = JSON.stringify(auditFor(orgId, T0 - 1500)).slice(0, 40);
    writeFileSync(auditPath(), readFileSync(auditPath(), 'utf8') + torn);
    expect(await store.audit.query(orgId)).toEqual([before]);

    const after = auditFor(orgId, T0 - 1000);
    await store.audit.append(after);
    expect(await store.audit.query(orgId)).toEqual([after, before]);
    expect(readFileSync(auditPath(), 'utf8').split('\n')).toEqual([JSON.stringify(before), torn, JSON.stringify(after), '']);

    await store.audit.compact(orgId);
    expect(readFileSync(auditPath(), 'utf8')).toBe(`${JSON.stringify(before)}\n${JSON.stringify(after)}\n`);
  });

  it('drops keys an audit record does not define, so a stray token never reaches the file', async () => {
    const record = { ...auditFor(orgId, T0), accessToken: ACCESS_TOKEN } as AuditRecord;
    await store.audit.append(record);
    expect(readFileSync(auditPath(), 'utf8')).not.toContain(ACCESS_TOKEN);
    const [stored] = await store.audit.query(orgId);
    expect(stored).not.toHaveProperty('accessToken');
  });

  it('rejects an invalid record and writes nothing', async () => {
    await expect(store.audit.append(auditFor(orgId, T0, { at: 'yesterday' }))).rejects.toThrow(/at/);
    await expect(store.audit.append(auditFor(orgId, T0, { outcome: 'maybe' as never }))).rejects.toThrow(ValidationError);
    expect(existsSync(auditPath())).toBe(false);
    await expect(store.audit.listFailures({} as never)).rejects.toThrow(/sinceMs/);
  });
});

describe('FileLease', () => {
  let store: FileStore;
  let orgId: string;
  beforeEach(async () => {
    store = new FileStore({ dataDir });
    orgId = (await store.registry.put(newOrg())).orgId;
  });

  it('grants a free lease, refuses a live one and hands an expired one over with a larger fencing token', async () => {
    const first = await store.lease.acquire(orgId, 'owner-1', 1000, T0);
    expect(first).toEqual({ orgId, owner: 'owner-1', fencingToken: 1, expiresAtMs: T0 + 1000 });
    expect(await store.lease.acquire(orgId, 'owner-2', 1000, T0 + 999)).toBeUndefined();

    const second = await store.lease.acquire(orgId, 'owner-2', 1000, T0 + 1000);
    expect(second).toEqual({ orgId, owner: 'owner-2', fencingToken: 2, expiresAtMs: T0 + 2000 });

    expect(await store.lease.renew(first!, 1000, T0 + 1001)).toBeUndefined();
    await store.lease.release(first!);
    expect(await store.lease.acquire(orgId, 'owner-3', 1000, T0 + 1500)).toBeUndefined();
  });

  it('renews a held lease, releases it, and never reuses a fencing token', async () => {
    const held = await store.lease.acquire(orgId, 'owner-1', 1000, T0);
    const renewed = await store.lease.renew(held!, 5000, T0 + 900);
    expect(renewed).toEqual({ ...held, expiresAtMs: T0 + 5900 });
    expect(await store.lease.acquire(orgId, 'owner-2', 1000, T0 + 2000)).toBeUndefined();

    await store.lease.release(renewed!);
    const next = await store.lease.acquire(orgId, 'owner-2', 1000, T0 + 2000);
    expect(next?.fencingToken).toBe(2);
    expect(existsSync(join(dataDir, 'leases', `${orgId}.lock`))).toBe(true);
    await store.lease.release(next!);
    expect(existsSync(join(dataDir, 'leases', `${orgId}.lock`))).toBe(false);

    const afterRestart = await new FileStore({ dataDir }).lease.acquire(orgId, 'owner-3', 1000, T0);
    expect(afterRestart?.fencingToken).toBe(3);
  });

  it('lets the owner of a live lease take it again with a new fencing token', async () => {
    await store.lease.acquire(orgId, 'owner-1', 1000, T0);
    expect(await store.lease.acquire(orgId, 'owner-1', 1000, T0 + 10)).toMatchObject({ fencingToken: 2, expiresAtMs: T0 + 1010 });
  });

  it('renews a lapsed lease that nobody took over', async () => {
    const held = await store.lease.acquire(orgId, 'owner-1', 1000, T0);
    expect(await store.lease.renew(held!, 1000, T0 + 5000)).toMatchObject({ fencingToken: 1, expiresAtMs: T0 + 6000 });
  });

  it('keeps the fencing counter when the org is removed and registered again', async () => {
    await store.lease.acquire(orgId, 'owner-1', 1000, T0);
    await store.registry.remove(orgId);
    await expect(store.lease.acquire(orgId, 'owner-1', 1000, T0 + 5000)).rejects.toBeInstanceOf(NotFoundError);
    await store.registry.put(newOrg({ orgId }));
    expect(await store.lease.acquire(orgId, 'owner-2', 1000, T0 + 5000)).toMatchObject({ fencingToken: 2 });
  });

  it('takes over a lock file left unreadable by a crash', async () => {
    await store.lease.acquire(orgId, 'owner-1', 1000, T0);
    writeFileSync(join(dataDir, 'leases', `${orgId}.lock`), '');
    expect(await store.lease.acquire(orgId, 'owner-2', 1000, T0)).toMatchObject({ owner: 'owner-2', fencingToken: 2 });
  });

  it('rejects invalid arguments', async () => {
    await expect(store.lease.acquire(orgId, '', 1000, T0)).rejects.toThrow(/owner/);
    await expect(store.lease.acquire(orgId, 'o', 0, T0)).rejects.toThrow(/ttlMs/);
    await expect(store.lease.acquire(orgId, 'o', 1000, Number.NaN)).rejects.toThrow(/nowMs/);
  });

  it('grants the lease to exactly one of many concurrent callers across two instances', async () => {
    const other = new FileStore({ dataDir });
    const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).lease.acquire(orgId, `owner-${i}`, 60_000, T0));
    const handles = (await Promise.all(attempts)).filter((h) => h !== undefined);
    expect(handles).toHaveLength(1);
    expect(handles[0]?.fencingToken).toBe(1);
    const lock = JSON.parse(readFileSync(join(dataDir, 'leases', `${orgId}.lock`), 'utf8')) as { owner: string };
    expect(lock.owner).toBe(handles[0]?.owner);
  });

  it('hands an expired lease to exactly one of many concurrent callers across two instances', async () => {
    const other = new FileStore({ dataDir });
    await store.lease.acquire(orgId, 'crashed-holder', 1000, T0);
    const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).lease.acquire(orgId, `owner-${i}`, 60_000, T0 + 5000));
    const handles = (await Promise.all(attempts)).filter((h) => h !== undefined);
    expect(handles).toHaveLength(1);
    expect(handles[0]?.fencingToken).toBe(2);
    const lock = JSON.parse(readFileSync(join(dataDir, 'leases', `${orgId}.lock`), 'utf8')) as { owner: string };
    expect(lock.owner).toBe(handles[0]?.owner);
  });
});

describe('FileMutex', () => {
  const mutexPath = () => join(dataDir, 'test.mutex');
  beforeEach(() => {
    mkdirSync(dataDir, { recursive: true });
  });

  it('serialises critical sections across instances', async () => {
    const a = new FileMutex();
    const b = new FileMutex();
    let inside = 0;
    let maxInside = 0;
    const section = async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await new Promise((r) => setTimeout(r, 2));
      inside--;
    };
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).run(mutexPath(), section)));
    expect(maxInside).toBe(1);
    expect(existsSync(mutexPath())).toBe(false);
  });

  it('takes over a mutex whose holder process is dead', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(mutexPath(), JSON.stringify({ pid: dead, host: hostname(), nonce: 'x', acquiredAtMs: Date.now() }));
    expect(await new FileMutex({ waitTimeoutMs: 200 }).run(mutexPath(), async () => 'ran')).toBe('ran');
  });

  it('takes over an unreadable mutex only once it is older than the grace period', async () => {
    writeFileSync(mutexPath(), '');
    await expect(new FileMutex({ waitTimeoutMs: 50 }).run(mutexPath(), async () => 'ran')).rejects.toBeInstanceOf(MutexTimeoutError);
    const old = new Date(Date.now() - 10_000);
    utimesSync(mutexPath(), old, old);
    expect(await new FileMutex({ waitTimeoutMs: 200 }).run(mutexPath(), async () => 'ran')).toBe('ran');
  });

  it('waits for a live holder in another process and times out', async () => {
    writeFileSync(mutexPath(), JSON.stringify({ pid: process.ppid, host: hostname(), nonce: 'x', acquiredAtMs: Date.now() }));
    await expect(new FileMutex({ waitTimeoutMs: 50 }).run(mutexPath(), async () => 'ran')).rejects.toBeInstanceOf(MutexTimeoutError);
    expect(existsSync(mutexPath())).toBe(true);
  });

  it('reports a store operation blocked by a held org mutex as a transient store error', async () => {
    const store = new FileStore({ dataDir, lockWaitTimeoutMs: 50 });
    const orgId = randomUUID();
    writeFileSync(join(dataDir, 'locks', `${orgId}.mutex`), JSON.stringify({ pid: process.ppid, host: hostname(), nonce: 'x', acquiredAtMs: Date.now() }));
    const err = await store.vault.write(tokenFor(orgId), { attemptId: 'a1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'vault_write_failed', orgId });
    expect((err as Error).message).toMatch(/timed out waiting for the org lock/);
    expect((err as StoreError).failureClass).toBe('transient');
    expect(await store.vault.read(orgId)).toBeUndefined();
  });
});
