/**
 * The rotation protocol on its own (lambdas/core/rotation.ts): what `resume`, `beginSpend`,
 * `endSpend`, `secure` and `settle` leave in the journal and the credentials, what they throw, and
 * how long `retryUntil` keeps a durable write going. In-memory stores, a manual clock, and small
 * wrappers of the CredentialStore and RefreshTokenJournal ports that fail on cue.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryCredentialStore, InMemoryLease, InMemoryRefreshTokenJournal, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { BrokerError, ConflictError, StoreError } from '../../lambdas/core/errors.js';
import { createRotation, credentialsChanged, fingerprint, type Rotation, retryUntil, spendInDoubt } from '../../lambdas/core/rotation.js';
import type {
  ClientCredentials,
  CredentialStore,
  CurrentCredentials,
  JournalEntry,
  LeaseHandle,
  LogFields,
  LogLevel,
  OrgRecord,
  PendingRefreshToken,
  RefreshTokenJournal,
  RotationWrite,
} from '../../lambdas/core/ports.js';

const ORG = '0b000000-0000-4000-8000-000000000001';
const T0 = Date.parse('2026-04-01T00:00:00Z');
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const SHA256_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** A failure the wrappers below throw: transient unless told otherwise. */
const storeDown = (transient = true) => new StoreError('vault_write_failed', 'store down', { transient });

/** Journal whose `record` (per entry kind) and `clear` fail while their counters are positive. */
class FaultyJournal implements RefreshTokenJournal {
  failRecord: Record<JournalEntry['kind'], number> = { spending: 0, received: 0 };
  recordError: Error = storeDown();
  failClear = 0;
  readonly clears: string[] = [];

  constructor(readonly inner: InMemoryRefreshTokenJournal) {}

  async record(handle: LeaseHandle, entry: JournalEntry): Promise<void> {
    if (this.failRecord[entry.kind] > 0) {
      this.failRecord[entry.kind]--;
      throw this.recordError;
    }
    return this.inner.record(handle, entry);
  }

  read(orgId: string): Promise<JournalEntry | undefined> {
    return this.inner.read(orgId);
  }

  async clear(handle: LeaseHandle, attemptId: string): Promise<void> {
    this.clears.push(attemptId);
    if (this.failClear > 0) {
      this.failClear--;
      throw storeDown();
    }
    return this.inner.clear(handle, attemptId);
  }
}

/** Credential store whose `rotateRefreshToken` fails while `failRotate` is positive, and records its calls. */
class FaultyCredentials implements CredentialStore {
  failRotate = 0;
  rotateError: Error = storeDown();
  failReadCurrent = 0;
  readonly rotations: Array<{ refreshToken: string; attemptId: string; fromVersion: string; atMs: number }> = [];

  constructor(readonly inner: InMemoryCredentialStore, private readonly clock: ManualClock) {}

  read(org: OrgRecord): Promise<ClientCredentials> {
    return this.inner.read(org);
  }

  async readCurrent(org: OrgRecord): Promise<CurrentCredentials> {
    if (this.failReadCurrent > 0) {
      this.failReadCurrent--;
      throw storeDown();
    }
    return this.inner.readCurrent(org);
  }

  async rotateRefreshToken(org: OrgRecord, from: CurrentCredentials, refreshToken: string, attemptId: string): Promise<RotationWrite> {
    this.rotations.push({ refreshToken, attemptId, fromVersion: from.version, atMs: this.clock.now() });
    if (this.failRotate > 0) {
      this.failRotate--;
      throw this.rotateError;
    }
    return this.inner.rotateRefreshToken(org, from, refreshToken, attemptId);
  }

  save(org: Pick<OrgRecord, 'orgId'>, credentials: ClientCredentials): Promise<void> {
    return this.inner.save(org, credentials);
  }
}

interface Logged {
  level: LogLevel;
  message: string;
  fields?: LogFields;
}

let clock: ManualClock;
let lease: InMemoryLease;
let journal: FaultyJournal;
let store: InMemoryCredentialStore;
let credentials: FaultyCredentials;
let logs: Logged[];
let rotation: Rotation;
let handle: LeaseHandle;
let org: OrgRecord;

const stored = async () => (await store.read(org)).refreshToken;
const pending = (refreshToken: string, attemptId = 'attempt-now'): PendingRefreshToken => ({ kind: 'received', refreshToken, attemptId, atMs: clock.now(), clientId: 'client-a', credentialsVersion: 3 });

/** Leaves `entry` in the journal as a worker whose lease then ran out would, and takes the org over. */
async function leftByDeadAttempt(entry: JournalEntry): Promise<void> {
  await lease.release(handle);
  const dead = (await lease.acquire(ORG, 'dead-worker', 60_000, clock.now()))!;
  await journal.inner.record(dead, entry);
  clock.advance(60_000 + 30_000);
  handle = (await lease.acquire(ORG, 'worker-1', 60_000, clock.now(), 30_000))!;
}

beforeEach(async () => {
  clock = new ManualClock(T0);
  lease = new InMemoryLease();
  journal = new FaultyJournal(new InMemoryRefreshTokenJournal(lease));
  store = new InMemoryCredentialStore({ [ORG]: { clientId: 'client-a', clientSecret: 'secret-a', refreshToken: 'rt-1' } });
  credentials = new FaultyCredentials(store, clock);
  logs = [];
  rotation = createRotation({ credentials, journal, clock, telemetry: { log: (level, message, fields) => logs.push({ level, message, ...(fields ? { fields } : {}) }), metric: () => undefined } });
  handle = (await lease.acquire(ORG, 'worker-1', 60_000, clock.now()))!;
  org = { orgId: ORG, region: 'mypurecloud.ie', grantType: 'refresh_token', enabled: true, credentialsVersion: 3, state: { consecutiveFailures: 0 }, version: 7 };
});

describe('retryUntil', () => {
  it('returns the first success without pausing', async () => {
    let tries = 0;
    expect(await retryUntil(clock, T0 + 10_000, async () => ++tries)).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('pauses 100, 200, 400 ... ms, at most 2 s, between tries and reports each failure with its try number', async () => {
    const failures: Array<[unknown, number]> = [];
    const error = storeDown();
    let tries = 0;
    const result = await retryUntil(clock, T0 + 60_000, async () => {
      if (++tries <= 8) throw error;
      return 'stored';
    }, (err, n) => failures.push([err, n]));
    expect(result).toBe('stored');
    expect(clock.sleeps).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
    expect(failures).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => [error, n]));
  });

  it('gives up with the last error when the next try would start at the deadline', async () => {
    const tried: number[] = [];
    const write = async () => {
      tried.push(clock.now());
      throw storeDown();
    };
    // 100 ms pause after the first try would end exactly at the deadline: no second try.
    await expect(retryUntil(clock, T0 + 100, write)).rejects.toMatchObject({ code: 'vault_write_failed' });
    expect(tried).toEqual([T0]);
    expect(clock.sleeps).toEqual([]);
  });

  it('tries again when the pause ends just before the deadline', async () => {
    const tried: number[] = [];
    const last = new StoreError('registry_write_failed', 'still down');
    const write = async () => {
      tried.push(clock.now());
      throw tried.length === 1 ? storeDown() : last;
    };
    await expect(retryUntil(clock, T0 + 101, write)).rejects.toBe(last);
    expect(tried).toEqual([T0, T0 + 100]);
    expect(clock.sleeps).toEqual([100]);
  });

  it('tries once even when the deadline has passed', async () => {
    expect(await retryUntil(clock, T0 - 1, async () => 'once')).toBe('once');
    const error = storeDown();
    let tries = 0;
    await expect(retryUntil(clock, T0 - 1, async () => {
      tries++;
      throw error;
    })).rejects.toBe(error);
    expect(tries).toBe(1);
  });

  it('never retries a lost lease, however much time is left', async () => {
    const lost = new ConflictError('lease_held', 'lease lost');
    const failures: number[] = [];
    let tries = 0;
    await expect(retryUntil(clock, T0 + 60_000, async () => {
      tries++;
      throw lost;
    }, (_err, n) => failures.push(n))).rejects.toBe(lost);
    expect(tries).toBe(1);
    expect(failures).toEqual([1]);
    expect(clock.sleeps).toEqual([]);
  });
});

describe('fingerprint', () => {
  it('is the first 32 hex digits of the SHA-256 of the token', async () => {
    expect(await fingerprint('abc')).toBe(SHA256_ABC.slice(0, 32));
  });

  it('hashes a missing token as the empty string', async () => {
    expect(await fingerprint(undefined)).toBe(SHA256_EMPTY.slice(0, 32));
    expect(await fingerprint('')).toBe(SHA256_EMPTY.slice(0, 32));
  });
});

describe('spendInDoubt and credentialsChanged', () => {
  it('names the org and the attempt of a spend in doubt, and no token', () => {
    const err = spendInDoubt(ORG, 'attempt-9');
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: 'refresh_outcome_unknown', orgId: ORG, failureClass: 'permanent' });
    expect(err.message).toBe(`attempt attempt-9 presented the refresh token of org ${ORG} and stopped before recording Genesys' answer; the token may be spent and is not presented again: re-authorize the org`);
  });

  it('names the org whose credentials were replaced during a refresh, as a transient conflict', () => {
    const err = credentialsChanged(ORG);
    expect(err).toMatchObject({ code: 'credentials_changed_during_refresh', orgId: ORG, failureClass: 'transient' });
    expect(err.message).toBe(`credentials of org ${ORG} were replaced while a refresh ran; the operator's are kept and the rotated refresh token stays write-ahead for inspection`);
  });
});

describe('Rotation.resume', () => {
  it('presents the stored refresh token when the journal is empty', async () => {
    const current = await credentials.readCurrent(org);
    const resumed = await rotation.resume(org, current, handle);
    expect(resumed.current).toBe(current);
    expect(resumed.refreshToken).toBe('rt-1');
    expect(credentials.rotations).toEqual([]);
    expect(journal.clears).toEqual([]);
  });

  it("stops with refresh_outcome_unknown when a dead attempt's spend note names the token the credentials still hold", async () => {
    const spend: JournalEntry = { kind: 'spending', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3, presented: await fingerprint('rt-1') };
    await leftByDeadAttempt(spend);
    const current = await credentials.readCurrent(org);
    const err = await rotation.resume(org, current, handle).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: 'refresh_outcome_unknown', orgId: ORG, message: spendInDoubt(ORG, 'dead-attempt').message });
    // The note stays: every later attempt stops too, until an operator re-authorizes the org.
    expect(await journal.read(ORG)).toEqual(spend);
    expect(journal.clears).toEqual([]);
    expect(await stored()).toBe('rt-1');
  });

  it('clears a stale spend note whose token the credentials have moved past, and presents the stored token', async () => {
    await leftByDeadAttempt({ kind: 'spending', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3, presented: await fingerprint('rt-0') });
    const current = await credentials.readCurrent(org);
    const resumed = await rotation.resume(org, current, handle);
    expect(resumed).toEqual({ current, refreshToken: 'rt-1' });
    expect(resumed.current).toBe(current);
    expect(journal.clears).toEqual(['dead-attempt']);
    expect(await journal.read(ORG)).toBeUndefined();
    expect(logs).toEqual([]);
  });

  it('still presents the stored token when a stale spend note cannot be cleared, and warns', async () => {
    const stale: JournalEntry = { kind: 'spending', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3, presented: await fingerprint('rt-0') };
    await leftByDeadAttempt(stale);
    journal.failClear = 1;
    const current = await credentials.readCurrent(org);
    expect(await rotation.resume(org, current, handle)).toEqual({ current, refreshToken: 'rt-1' });
    expect(await journal.read(ORG)).toEqual(stale);
    expect(logs).toEqual([{ level: 'warn', message: 'refresh token journal entry not cleared', fields: { orgId: ORG, errorCode: 'vault_write_failed' } }]);
  });

  it('writes a token an interrupted attempt received into the credentials, then presents it and clears the entry', async () => {
    await leftByDeadAttempt({ kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 });
    const current = await credentials.readCurrent(org);
    const resumed = await rotation.resume(org, current, handle);
    expect(resumed.refreshToken).toBe('rt-2');
    // Built on the credentials read at the start, idempotent on the attempt that received the token.
    expect(credentials.rotations).toEqual([{ refreshToken: 'rt-2', attemptId: 'dead-attempt', fromVersion: current.version, atMs: clock.now() }]);
    expect(await stored()).toBe('rt-2');
    // The credentials it returns are the ones now stored, so the next write builds on their version.
    expect(resumed.current).toEqual(await store.readCurrent(org));
    expect(resumed.current.version).not.toBe(current.version);
    expect(journal.clears).toEqual(['dead-attempt']);
    expect(await journal.read(ORG)).toBeUndefined();
  });

  it('presents a received token the credentials already hold without writing it again', async () => {
    await store.save(org, { clientId: 'client-a', clientSecret: 'secret-a', refreshToken: 'rt-2' });
    await leftByDeadAttempt({ kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 });
    const current = await credentials.readCurrent(org);
    const resumed = await rotation.resume(org, current, handle);
    expect(resumed).toEqual({ current, refreshToken: 'rt-2' });
    expect(resumed.current).toBe(current);
    expect(credentials.rotations).toEqual([]);
    expect(await journal.read(ORG)).toBeUndefined();
  });

  it('keeps a received token in the journal and presents nothing while the credentials refuse it', async () => {
    const received: JournalEntry = { kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 };
    await leftByDeadAttempt(received);
    credentials.failRotate = 1;
    const cause = storeDown(true);
    credentials.rotateError = cause;
    const err = await rotation.resume(org, await credentials.readCurrent(org), handle).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'credentials_unavailable', orgId: ORG, failureClass: 'transient', cause });
    expect((err as Error).message).toBe(`the rotated refresh token held write-ahead for org ${ORG} could not be written into its credentials; it stays in the journal and is presented once they take it`);
    expect(await journal.read(ORG)).toEqual(received);
    expect(journal.clears).toEqual([]);
    expect(await stored()).toBe('rt-1');
    expect(logs).toEqual([{ level: 'warn', message: 'finishing an interrupted refresh token persist failed; the journal entry is kept and nothing is spent', fields: { orgId: ORG, errorCode: 'vault_write_failed' } }]);
  });

  it('reports a permanent refusal of the credentials as a permanent credentials_unavailable', async () => {
    await leftByDeadAttempt({ kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 });
    credentials.failRotate = 1;
    credentials.rotateError = storeDown(false);
    await expect(rotation.resume(org, await credentials.readCurrent(org), handle)).rejects.toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent' });
  });

  it('reports an unexpected error from the credentials as a permanent credentials_unavailable', async () => {
    await leftByDeadAttempt({ kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 });
    credentials.failRotate = 1;
    credentials.rotateError = new TypeError('socket hang up');
    await expect(rotation.resume(org, await credentials.readCurrent(org), handle)).rejects.toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent' });
    expect(logs).toEqual([expect.objectContaining({ level: 'warn', fields: { orgId: ORG, errorCode: 'internal_error' } })]);
  });

  it('keeps the received token in the journal when the credentials cannot be re-read after taking it', async () => {
    const received: JournalEntry = { kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 };
    await leftByDeadAttempt(received);
    const current = await credentials.readCurrent(org);
    credentials.failReadCurrent = 1;
    await expect(rotation.resume(org, current, handle)).rejects.toMatchObject({ code: 'credentials_unavailable' });
    expect(await journal.read(ORG)).toEqual(received);
  });

  it('throws credentials_changed_during_refresh, keeping the entry, when an operator replaced the credentials after they were read', async () => {
    const received: JournalEntry = { kind: 'received', refreshToken: 'rt-2', attemptId: 'dead-attempt', atMs: T0, clientId: 'client-a', credentialsVersion: 3 };
    await leftByDeadAttempt(received);
    const current = await credentials.readCurrent(org);
    await store.save(org, { clientId: 'client-a', clientSecret: 'secret-a', refreshToken: 'rt-operator' });
    const err = await rotation.resume(org, current, handle).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: 'credentials_changed_during_refresh', orgId: ORG });
    expect(await stored()).toBe('rt-operator');
    expect(await journal.read(ORG)).toEqual(received);
    expect(logs).toEqual([]);
  });

  it.each([
    ['another client', { clientId: 'client-old', credentialsVersion: 3 }],
    ['an older credentials version', { clientId: 'client-a', credentialsVersion: 2 }],
  ])('leaves a received entry of %s alone and presents the stored token', async (_what, owner) => {
    const entry: JournalEntry = { kind: 'received', refreshToken: 'rt-old-chain', attemptId: 'dead-attempt', atMs: T0, ...owner };
    await leftByDeadAttempt(entry);
    const current = await credentials.readCurrent(org);
    const resumed = await rotation.resume(org, current, handle);
    expect(resumed).toEqual({ current, refreshToken: 'rt-1' });
    expect(resumed.current).toBe(current);
    expect(credentials.rotations).toEqual([]);
    expect(await journal.read(ORG)).toEqual(entry);
    expect(journal.clears).toEqual([]);
    expect(logs).toEqual([{ level: 'warn', message: 'a refresh token journal entry belongs to credentials an operator replaced; it is left for inspection', fields: { orgId: ORG, attemptId: 'dead-attempt' } }]);
  });

  it.each([
    ['another client', { clientId: 'client-old', credentialsVersion: 3 }],
    ['an older credentials version', { clientId: 'client-a', credentialsVersion: 2 }],
  ])('does not stop on a spend note of %s, even for the same token', async (_what, owner) => {
    const entry: JournalEntry = { kind: 'spending', attemptId: 'dead-attempt', atMs: T0, presented: await fingerprint('rt-1'), ...owner };
    await leftByDeadAttempt(entry);
    const current = await credentials.readCurrent(org);
    expect(await rotation.resume(org, current, handle)).toEqual({ current, refreshToken: 'rt-1' });
    expect(await journal.read(ORG)).toEqual(entry);
  });
});

describe('Rotation.beginSpend and endSpend', () => {
  it('notes the spend with its attempt, time, client, credentials version and the fingerprint of the token, never the token', async () => {
    clock.advance(1_234);
    const current = await credentials.readCurrent(org);
    await rotation.beginSpend(org, current, handle, 'attempt-now', 'rt-1', clock.now() + 10_000);
    const noted = await journal.read(ORG);
    expect(noted).toEqual({ kind: 'spending', attemptId: 'attempt-now', atMs: T0 + 1_234, clientId: 'client-a', credentialsVersion: 3, presented: await fingerprint('rt-1') });
    expect(JSON.stringify(noted)).not.toContain('rt-1');
  });

  it('retries the spend note until it sticks, warning with each try', async () => {
    journal.failRecord.spending = 2;
    await rotation.beginSpend(org, await credentials.readCurrent(org), handle, 'attempt-now', 'rt-1', clock.now() + 10_000);
    expect(await journal.read(ORG)).toMatchObject({ kind: 'spending', attemptId: 'attempt-now' });
    expect(clock.sleeps).toEqual([100, 200]);
    expect(logs).toEqual([1, 2].map((n) => ({ level: 'warn', message: `journal write before a refresh token spend failed (try ${n})`, fields: { orgId: ORG, errorCode: 'vault_write_failed' } })));
  });

  it('throws when the spend cannot be noted before the deadline, leaving the journal empty', async () => {
    journal.failRecord.spending = Infinity;
    await expect(rotation.beginSpend(org, await credentials.readCurrent(org), handle, 'attempt-now', 'rt-1', clock.now() + 1_000)).rejects.toMatchObject({ code: 'vault_write_failed' });
    expect(clock.sleeps).toEqual([100, 200, 400]);
    expect(await journal.read(ORG)).toBeUndefined();
  });

  it('forgets the spend of its own attempt', async () => {
    await rotation.beginSpend(org, await credentials.readCurrent(org), handle, 'attempt-now', 'rt-1', clock.now() + 10_000);
    await rotation.endSpend(org, handle, 'attempt-now');
    expect(journal.clears).toEqual(['attempt-now']);
    expect(await journal.read(ORG)).toBeUndefined();
  });

  it('swallows a failed clear of the spend note and warns', async () => {
    await rotation.beginSpend(org, await credentials.readCurrent(org), handle, 'attempt-now', 'rt-1', clock.now() + 10_000);
    journal.failClear = 1;
    await rotation.endSpend(org, handle, 'attempt-now');
    expect(await journal.read(ORG)).toMatchObject({ kind: 'spending', attemptId: 'attempt-now' });
    expect(logs).toEqual([{ level: 'warn', message: 'refresh token journal entry not cleared', fields: { orgId: ORG, errorCode: 'vault_write_failed' } }]);
  });
});

describe('Rotation.secure', () => {
  it('puts a rotated token in the journal and leaves the credentials alone', async () => {
    const received = pending('rt-2');
    expect(await rotation.secure(org, await credentials.readCurrent(org), handle, received, clock.now() + 5_000)).toEqual({ kind: 'journal' });
    expect(await journal.read(ORG)).toEqual(received);
    expect(credentials.rotations).toEqual([]);
    expect(await stored()).toBe('rt-1');
    expect(logs).toEqual([]);
  });

  it('retries the journal write, warning with each try', async () => {
    journal.failRecord.received = 1;
    expect(await rotation.secure(org, await credentials.readCurrent(org), handle, pending('rt-2'), clock.now() + 5_000)).toEqual({ kind: 'journal' });
    expect(clock.sleeps).toEqual([100]);
    expect(logs).toEqual([{ level: 'warn', message: 'journal write of a rotated refresh token failed (try 1)', fields: { orgId: ORG, errorCode: 'vault_write_failed' } }]);
  });

  it('writes the token straight into the credentials when the journal refuses it until the deadline', async () => {
    journal.failRecord.received = Infinity;
    const current = await credentials.readCurrent(org);
    expect(await rotation.secure(org, current, handle, pending('rt-2'), clock.now() + 250)).toEqual({ kind: 'credentials' });
    expect(await stored()).toBe('rt-2');
    expect(credentials.rotations).toEqual([{ refreshToken: 'rt-2', attemptId: 'attempt-now', fromVersion: current.version, atMs: T0 + 100 }]);
    expect(await journal.read(ORG)).toBeUndefined();
    expect(logs).toEqual([
      { level: 'warn', message: 'journal write of a rotated refresh token failed (try 1)', fields: { orgId: ORG, errorCode: 'vault_write_failed' } },
      { level: 'warn', message: 'journal write of a rotated refresh token failed (try 2)', fields: { orgId: ORG, errorCode: 'vault_write_failed' } },
      { level: 'error', message: 'the refresh token journal refused a rotated refresh token; writing it to the credentials directly', fields: { orgId: ORG, errorCode: 'vault_write_failed' } },
    ]);
  });

  it('goes straight to the credentials when the journal says the lease is lost', async () => {
    journal.failRecord.received = Infinity;
    journal.recordError = new ConflictError('lease_held', 'lease lost');
    expect(await rotation.secure(org, await credentials.readCurrent(org), handle, pending('rt-2'), clock.now() + 5_000)).toEqual({ kind: 'credentials' });
    expect(clock.sleeps).toEqual([]);
    expect(logs.map((l) => l.fields?.errorCode)).toEqual(['lease_held', 'lease_held']);
  });

  it('retries the credentials write when the journal refuses, warning with each try', async () => {
    journal.failRecord.received = Infinity;
    journal.recordError = new ConflictError('lease_held', 'lease lost');
    credentials.failRotate = 2;
    expect(await rotation.secure(org, await credentials.readCurrent(org), handle, pending('rt-2'), clock.now() + 5_000)).toEqual({ kind: 'credentials' });
    expect(clock.sleeps).toEqual([100, 200]);
    expect(credentials.rotations.map((r) => r.atMs)).toEqual([T0, T0 + 100, T0 + 300]);
    expect(logs.slice(2)).toEqual([1, 2].map((n) => ({ level: 'warn', message: `credentials write of a rotated refresh token failed (try ${n})`, fields: { orgId: ORG, errorCode: 'vault_write_failed' } })));
  });

  it('answers changed when the journal refuses and an operator replaced the credentials meanwhile, keeping theirs', async () => {
    journal.failRecord.received = Infinity;
    const current = await credentials.readCurrent(org);
    await store.save(org, { clientId: 'client-b', clientSecret: 'secret-b', refreshToken: 'rt-operator' });
    expect(await rotation.secure(org, current, handle, pending('rt-2'), clock.now() + 1_000)).toEqual({ kind: 'changed' });
    expect(await store.read(org)).toEqual({ clientId: 'client-b', clientSecret: 'secret-b', refreshToken: 'rt-operator' });
  });

  it('answers lost with the credentials error when neither store takes the token', async () => {
    journal.failRecord.received = Infinity;
    credentials.failRotate = Infinity;
    const cause = new StoreError('credentials_unavailable', 'secret store down', { transient: false });
    credentials.rotateError = cause;
    const secured = await rotation.secure(org, await credentials.readCurrent(org), handle, pending('rt-2'), clock.now() + 1_000);
    expect(secured).toEqual({ kind: 'lost', error: cause });
    expect(await stored()).toBe('rt-1');
  });

  it('answers lost with refresh_token_persist_failed when the credentials fail unexpectedly', async () => {
    journal.failRecord.received = Infinity;
    credentials.failRotate = Infinity;
    credentials.rotateError = new TypeError('socket hang up');
    const secured = await rotation.secure(org, await credentials.readCurrent(org), handle, pending('rt-2'), clock.now() + 1_000);
    expect(secured.kind).toBe('lost');
    if (secured.kind !== 'lost') throw new Error('unreachable');
    expect(secured.error).toMatchObject({ code: 'refresh_token_persist_failed', orgId: ORG, message: `unexpected TypeError for org ${ORG}` });
  });
});

describe('Rotation.settle', () => {
  it('mirrors the journal-held token into the credentials and clears the entry', async () => {
    const received = pending('rt-2');
    const current = await credentials.readCurrent(org);
    await rotation.secure(org, current, handle, received, clock.now() + 5_000);
    expect(await rotation.settle(org, current, handle, received, clock.now() + 2_000)).toBe('written');
    expect(await stored()).toBe('rt-2');
    expect(credentials.rotations).toEqual([{ refreshToken: 'rt-2', attemptId: 'attempt-now', fromVersion: current.version, atMs: T0 }]);
    expect(journal.clears).toEqual(['attempt-now']);
    expect(await journal.read(ORG)).toBeUndefined();
  });

  it('answers written even when the entry cannot be cleared, and warns', async () => {
    const received = pending('rt-2');
    const current = await credentials.readCurrent(org);
    await rotation.secure(org, current, handle, received, clock.now() + 5_000);
    journal.failClear = 1;
    expect(await rotation.settle(org, current, handle, received, clock.now() + 2_000)).toBe('written');
    expect(await journal.read(ORG)).toEqual(received);
    expect(logs).toEqual([{ level: 'warn', message: 'refresh token journal entry not cleared', fields: { orgId: ORG, errorCode: 'vault_write_failed' } }]);
  });

  it('keeps the token in the journal when the credentials refuse it until the deadline', async () => {
    const received = pending('rt-2');
    const current = await credentials.readCurrent(org);
    await rotation.secure(org, current, handle, received, clock.now() + 5_000);
    credentials.failRotate = Infinity;
    expect(await rotation.settle(org, current, handle, received, clock.now() + 2_000)).toBe('kept');
    expect(clock.sleeps).toEqual([100, 200, 400, 800]);
    expect(credentials.rotations).toHaveLength(5);
    expect(await journal.read(ORG)).toEqual(received);
    expect(journal.clears).toEqual([]);
    expect(await stored()).toBe('rt-1');
    expect(logs).toEqual([{ level: 'warn', message: 'credentials write of a rotated refresh token failed; the write-ahead entry keeps it for the next attempt', fields: { orgId: ORG, errorCode: 'vault_write_failed' } }]);
  });

  it('throws credentials_changed_during_refresh and keeps the journal entry when an operator replaced the credentials', async () => {
    const received = pending('rt-2');
    const current = await credentials.readCurrent(org);
    await rotation.secure(org, current, handle, received, clock.now() + 5_000);
    await store.save(org, { clientId: 'client-a', clientSecret: 'secret-new', refreshToken: 'rt-operator' });
    const err = await rotation.settle(org, current, handle, received, clock.now() + 2_000).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: 'credentials_changed_during_refresh', orgId: ORG });
    expect(await stored()).toBe('rt-operator');
    expect(await journal.read(ORG)).toEqual(received);
    expect(journal.clears).toEqual([]);
  });
});
