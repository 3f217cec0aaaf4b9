/**
 * In-memory implementations of every port. They serve unit tests and any single-process use; values
 * are cloned on the way in and out so callers cannot mutate stored state by accident, as with a
 * real store.
 */
import { ConflictError, NotFoundError, StoreError } from '../../core/errors.js';
import type {
  AuditLog,
  AuditQuery,
  AuditRecord,
  ClientCredentials,
  CredentialStore,
  CurrentCredentials,
  Lease,
  LeaseHandle,
  OrgPage,
  OrgRecord,
  OrgRegistry,
  JournalEntry,
  RefreshTokenJournal,
  RotationWrite,
  TokenRecord,
  TokenState,
  TokenVault,
} from '../../core/ports.js';

const clone = <T>(value: T): T => structuredClone(value);

export class InMemoryOrgRegistry implements OrgRegistry {
  readonly #orgs = new Map<string, OrgRecord>();

  constructor(orgs: Omit<OrgRecord, 'version'>[] = []) {
    for (const org of orgs) this.#orgs.set(org.orgId, { ...clone(org), version: 1 });
  }

  async get(orgId: string): Promise<OrgRecord | undefined> {
    const org = this.#orgs.get(orgId);
    return org ? clone(org) : undefined;
  }

  async listPage(options: { cursor?: string; limit?: number } = {}): Promise<OrgPage> {
    const limit = options.limit ?? 100;
    const ids = [...this.#orgs.keys()].sort();
    const start = options.cursor ? ids.findIndex((id) => id > options.cursor!) : 0;
    const slice = start < 0 ? [] : ids.slice(start, start + limit);
    const items = slice.map((id) => clone(this.#orgs.get(id)!));
    const last = slice.at(-1);
    return start >= 0 && start + limit < ids.length && last ? { items, cursor: last } : { items };
  }

  async put(org: Omit<OrgRecord, 'version'>, options: { expectedVersion?: number | null } = {}): Promise<OrgRecord> {
    const current = this.#orgs.get(org.orgId);
    if (options.expectedVersion === null && current) {
      throw new ConflictError('version_conflict', `org ${org.orgId} already exists`, { orgId: org.orgId });
    }
    if (typeof options.expectedVersion === 'number' && current?.version !== options.expectedVersion) {
      throw new ConflictError('version_conflict', `org ${org.orgId} changed since version ${options.expectedVersion}`, { orgId: org.orgId });
    }
    const stored: OrgRecord = { ...clone(org), version: (current?.version ?? 0) + 1 };
    this.#orgs.set(org.orgId, stored);
    return clone(stored);
  }

  async recordState(orgId: string, expectedVersion: number, state: TokenState): Promise<OrgRecord> {
    const current = this.#orgs.get(orgId);
    if (!current) throw new NotFoundError('org_not_found', `org ${orgId} is not registered`, { orgId });
    if (current.version !== expectedVersion) {
      throw new ConflictError('version_conflict', `org ${orgId} changed since version ${expectedVersion}`, { orgId });
    }
    const stored: OrgRecord = { ...current, state: clone(state), version: current.version + 1 };
    this.#orgs.set(orgId, stored);
    return clone(stored);
  }

  async remove(orgId: string): Promise<void> {
    this.#orgs.delete(orgId);
  }
}

export class InMemoryCredentialStore implements CredentialStore {
  readonly #byOrg = new Map<string, ClientCredentials>();
  readonly #versions = new Map<string, number>();
  /** Every refresh token ever stored per org, oldest first (tests assert none is lost). */
  readonly refreshTokenHistory = new Map<string, string[]>();

  constructor(initial: Record<string, ClientCredentials> = {}) {
    for (const [orgId, creds] of Object.entries(initial)) this.#byOrg.set(orgId, clone(creds));
  }

  async read(org: Pick<OrgRecord, 'orgId'>): Promise<ClientCredentials> {
    const creds = this.#byOrg.get(org.orgId);
    if (!creds) throw new StoreError('credentials_unavailable', `no credentials stored for org ${org.orgId}`, { orgId: org.orgId, transient: false });
    return clone(creds);
  }

  async readCurrent(org: Pick<OrgRecord, 'orgId'>): Promise<CurrentCredentials> {
    return { credentials: await this.read(org), version: String(this.#versions.get(org.orgId) ?? 0), extras: {} };
  }

  async rotateRefreshToken(org: Pick<OrgRecord, 'orgId'>, from: CurrentCredentials, refreshToken: string, _attemptId?: string): Promise<RotationWrite> {
    const current = await this.readCurrent(org);
    if (current.credentials.refreshToken === refreshToken) return 'written';
    if (current.version !== from.version || current.credentials.clientId !== from.credentials.clientId) return 'changed';
    this.#set(org.orgId, { ...from.credentials, refreshToken });
    const history = this.refreshTokenHistory.get(org.orgId) ?? [];
    history.push(refreshToken);
    this.refreshTokenHistory.set(org.orgId, history);
    return 'written';
  }

  async save(org: Pick<OrgRecord, 'orgId'>, credentials: ClientCredentials): Promise<void> {
    this.#set(org.orgId, credentials);
  }

  #set(orgId: string, credentials: ClientCredentials): void {
    this.#byOrg.set(orgId, clone(credentials));
    this.#versions.set(orgId, (this.#versions.get(orgId) ?? 0) + 1);
  }

  async remove(org: Pick<OrgRecord, 'orgId'>): Promise<void> {
    this.#byOrg.delete(org.orgId);
  }
}

/** Keeps the current and previous token per org, like Secrets Manager's AWSCURRENT and AWSPREVIOUS. */
export class InMemoryTokenVault implements TokenVault {
  readonly #current = new Map<string, { record: TokenRecord; attemptId: string }>();
  readonly #previous = new Map<string, TokenRecord>();
  writes = 0;

  async write(record: TokenRecord, options: { attemptId: string; firstWrite?: boolean }): Promise<void> {
    const existing = this.#current.get(record.orgId);
    if (existing?.attemptId === options.attemptId) return; // idempotent retry
    this.writes++;
    if (existing) this.#previous.set(record.orgId, existing.record);
    this.#current.set(record.orgId, { record: clone(record), attemptId: options.attemptId });
  }

  async read(orgId: string): Promise<TokenRecord | undefined> {
    const entry = this.#current.get(orgId);
    return entry ? clone(entry.record) : undefined;
  }

  async readPrevious(orgId: string): Promise<TokenRecord | undefined> {
    const record = this.#previous.get(orgId);
    return record ? clone(record) : undefined;
  }

  async remove(orgId: string): Promise<void> {
    this.#current.delete(orgId);
    this.#previous.delete(orgId);
  }
}

export class InMemoryAuditLog implements AuditLog {
  readonly records: AuditRecord[] = [];

  async append(record: AuditRecord): Promise<void> {
    this.records.push(clone(record));
  }

  async query(orgId: string, query: AuditQuery = {}): Promise<AuditRecord[]> {
    return this.#select((r) => r.orgId === orgId, query);
  }

  async listFailures(query: { sinceMs: number; untilMs?: number; limit?: number }): Promise<AuditRecord[]> {
    return this.#select(() => true, { ...query, failuresOnly: true });
  }

  #select(match: (r: AuditRecord) => boolean, query: AuditQuery): AuditRecord[] {
    const since = query.sinceMs ?? -Infinity;
    const until = query.untilMs ?? Infinity;
    const selected = this.records
      .filter((r) => match(r) && (!query.failuresOnly || r.outcome === 'failure'))
      .filter((r) => {
        const at = Date.parse(r.at);
        return at >= since && at <= until;
      })
      .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    return clone(query.limit !== undefined ? selected.slice(0, query.limit) : selected);
  }
}

export class InMemoryLease implements Lease {
  readonly #held = new Map<string, { owner: string; expiresAtMs: number; fencingToken: number }>();
  readonly #fencing = new Map<string, number>();

  async acquire(orgId: string, owner: string, ttlMs: number, nowMs: number, takeoverGraceMs = 0): Promise<LeaseHandle | undefined> {
    const held = this.#held.get(orgId);
    if (held && held.expiresAtMs + takeoverGraceMs > nowMs && held.owner !== owner) return undefined;
    const fencingToken = (this.#fencing.get(orgId) ?? 0) + 1;
    this.#fencing.set(orgId, fencingToken);
    const lease = { owner, expiresAtMs: nowMs + ttlMs, fencingToken };
    this.#held.set(orgId, lease);
    return { orgId, ...lease };
  }

  async renew(handle: LeaseHandle, ttlMs: number, nowMs: number): Promise<LeaseHandle | undefined> {
    const held = this.#held.get(handle.orgId);
    if (!held || held.owner !== handle.owner || held.fencingToken !== handle.fencingToken) return undefined;
    held.expiresAtMs = nowMs + ttlMs;
    return { ...handle, expiresAtMs: held.expiresAtMs };
  }

  async release(handle: LeaseHandle): Promise<void> {
    if (this.holds(handle)) this.#held.delete(handle.orgId);
  }

  /** Whether `handle` is still the org's current lease (same owner and fencing token). */
  holds(handle: LeaseHandle): boolean {
    const held = this.#held.get(handle.orgId);
    return held !== undefined && held.owner === handle.owner && held.fencingToken === handle.fencingToken;
  }
}

/** The refresh token journal in memory, fenced by an {@link InMemoryLease}. */
export class InMemoryRefreshTokenJournal implements RefreshTokenJournal {
  readonly #entries = new Map<string, JournalEntry>();
  /** Every entry recorded, oldest first (tests assert none is lost). */
  readonly recorded: JournalEntry[] = [];

  constructor(private readonly lease: InMemoryLease) {}

  async record(handle: LeaseHandle, entry: JournalEntry): Promise<void> {
    if (!this.lease.holds(handle)) throw new ConflictError('lease_held', `lease on org ${handle.orgId} was lost before the journal write`, { orgId: handle.orgId });
    this.#entries.set(handle.orgId, clone(entry));
    this.recorded.push(clone(entry));
  }

  async read(orgId: string): Promise<JournalEntry | undefined> {
    const entry = this.#entries.get(orgId);
    return entry ? clone(entry) : undefined;
  }

  async clear(handle: LeaseHandle, attemptId: string): Promise<void> {
    if (this.#entries.get(handle.orgId)?.attemptId === attemptId && this.lease.holds(handle)) this.#entries.delete(handle.orgId);
  }
}

/** A clock tests drive by hand: `sleep` advances time instead of waiting. */
export class ManualClock {
  #nowMs: number;
  readonly sleeps: number[] = [];

  constructor(startMs = Date.parse('2026-01-01T00:00:00Z')) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.#nowMs += Math.max(0, ms);
  }

  advance(ms: number): void {
    this.#nowMs += ms;
  }

  set(ms: number): void {
    this.#nowMs = ms;
  }
}
