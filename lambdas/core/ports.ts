/**
 * The ports the refresh engine talks through. Adapters implement them for AWS (Secrets Manager,
 * DynamoDB), for memory (tests) and for files (local mode). Core code depends only on these shapes.
 */
import type { ErrorCode, FailureClass } from './errors.js';

export type GrantType = 'client_credentials' | 'refresh_token';

/** What the broker remembers about an org's current token and its last attempt. No secrets. */
export interface TokenState {
  issuedAtMs?: number;
  expiresAtMs?: number;
  refreshAtMs?: number;
  /** From tokens/me `dateTokenIdles`, when Genesys reports an idle timeout. */
  idlesAtMs?: number;
  /** Earliest time the next attempt may run after a failure. */
  nextAttemptAtMs?: number;
  lastAttemptAtMs?: number;
  lastOutcome?: 'success' | 'failure';
  lastErrorCode?: ErrorCode;
  lastErrorClass?: FailureClass;
  consecutiveFailures: number;
  /** The registry's `credentialsVersion` the last attempt used; a mismatch means an operator changed them. */
  credentialsVersionUsed?: number;
  oauthClientId?: string;
  /**
   * When a consumer last reported the current token rejected by Genesys and the broker checked it
   * (GET tokens/me); such checks run at most once per org per `REJECTION_CHECK_INTERVAL_MS`.
   */
  rejectionCheckedAtMs?: number;
}

/** One org in the registry. */
export interface OrgRecord {
  /** Genesys Cloud organization id (a UUID). */
  orgId: string;
  /** Region domain, for example `mypurecloud.ie` (validated against the region table). */
  region: string;
  grantType: GrantType;
  /** Where the client credentials live; defaults to `<prefix>/credentials/<orgId>`. */
  credentialsSecretId?: string;
  enabled: boolean;
  label?: string;
  /** Bumped by operators whenever the org's credentials change; a mismatch forces a refresh. */
  credentialsVersion: number;
  state: TokenState;
  /** Optimistic-locking version of this record. */
  version: number;
}

/**
 * An org whose stored record exists but cannot be read or parsed (a torn or hand-edited file): a
 * store that can tell reports it instead of failing the whole listing. Never holds a stored value.
 */
export interface UnreadableOrg {
  orgId: string;
  /** What is wrong, without values: `not valid JSON`, or the fields that fail the schema. */
  problem: string;
  /** Where the record lives, for the operator (a file path). */
  location: string;
  /** What the operator should do about it. */
  remedy: string;
}

/**
 * A page of orgs; `cursor` is absent on the last page. `unreadable` lists the orgs in this page's
 * range whose records could not be read; they are not in `items` (the DynamoDB registry never has any).
 */
export interface OrgPage {
  items: OrgRecord[];
  cursor?: string;
  unreadable?: UnreadableOrg[];
}

export interface OrgRegistry {
  /** The org's record; an unreadable one throws `UnreadableRecordError` (`registry_unavailable`, permanent). */
  get(orgId: string): Promise<OrgRecord | undefined>;
  /** Pages through every org, reporting unreadable records beside the page. Never reads a secret. */
  listPage(options?: { cursor?: string; limit?: number }): Promise<OrgPage>;
  /**
   * Creates or replaces an org's configuration (operator action). `expectedVersion` of `null` means
   * "must not exist yet"; undefined means "any version". Returns the stored record.
   */
  put(org: Omit<OrgRecord, 'version'>, options?: { expectedVersion?: number | null }): Promise<OrgRecord>;
  /** Records the outcome of an attempt if the record is still at `expectedVersion`; else `version_conflict`. */
  recordState(orgId: string, expectedVersion: number, state: TokenState): Promise<OrgRecord>;
  remove(orgId: string): Promise<void>;
}

/** An org's client credentials. Held in memory only while an org is being refreshed. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** Authorization-code clients only: the current single-use refresh token. */
  refreshToken?: string;
}

/** Credentials as read at the start of an attempt: what a rotated refresh token is written onto. */
export interface CurrentCredentials {
  readonly credentials: ClientCredentials;
  /** The stored version they were read at (a Secrets Manager VersionId, a file's content hash). */
  readonly version: string;
  /** Other keys of the stored value (an operator's notes), kept when the value is rewritten. */
  readonly extras: Readonly<Record<string, unknown>>;
}

/** What writing a rotated refresh token into the credentials came to. */
export type RotationWrite = 'written' | 'changed';

export interface CredentialStore {
  read(org: OrgRecord): Promise<ClientCredentials>;
  /** The credentials with the version they were read at, for {@link CredentialStore.rotateRefreshToken}. */
  readCurrent(org: OrgRecord): Promise<CurrentCredentials>;
  /**
   * Writes `refreshToken` into the credentials read at the start of the attempt (`from`, never a
   * re-read), idempotently for `attemptId`. When they are no longer the current version, or name
   * another client (an operator replaced them meanwhile), writes nothing and answers `changed`;
   * storing the token that is already current answers `written`.
   */
  rotateRefreshToken(org: OrgRecord, from: CurrentCredentials, refreshToken: string, attemptId: string): Promise<RotationWrite>;
  /** Stores a whole credential set (operator onboarding). */
  save(org: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>, credentials: ClientCredentials): Promise<void>;
  remove?(org: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>): Promise<void>;
}

/**
 * The token value handed to consumers: schemaVersion 1 of the secret value. Documented in README;
 * changing a field is a breaking change for every consumer.
 */
export interface TokenRecord {
  schemaVersion: 1;
  orgId: string;
  accessToken: string;
  tokenType: 'bearer';
  /** ISO-8601 UTC instants. */
  issuedAt: string;
  expiresAt: string;
  refreshAt: string;
  /** Region domain, for example `mypurecloud.ie`. */
  region: string;
  /** Where consumers send API calls, for example `https://api.mypurecloud.ie`. */
  apiBaseUrl: string;
  oauthClientId: string;
  scopes: string[];
  /** When Genesys said the token idles out if unused (tokens/me `dateTokenIdles`); past it, it is not served. */
  idlesAt?: string;
}

/**
 * One org's entry in the refresh token journal: the write-ahead log of refresh_token spends. Never
 * logged; stores encrypt the token at rest (KMS on AWS).
 *
 * - `spending`: written (durably) right before a refresh token is presented to Genesys. Until the
 *   answer is recorded, the outcome of that request is unknown: Genesys may have spent the token. An
 *   attempt that finds a `spending` entry of a dead attempt stops instead of presenting the token again.
 * - `received`: the rotated refresh token Genesys answered with, made durable the moment it arrived,
 *   before validation, verification or any other write; kept until the credentials hold it.
 */
export type JournalEntry =
  | {
      kind: 'spending';
      /** The attempt presenting the token. */
      attemptId: string;
      atMs: number;
      /** The OAuth client whose rotation chain it belongs to. */
      clientId: string;
      /** The org's credentialsVersion at the time: a later one means an operator replaced the credentials. */
      credentialsVersion: number;
      /** SHA-256 prefix of the presented token: tells a stale intent (the credentials moved on) from a live one. */
      presented: string;
    }
  | {
      kind: 'received';
      /** The attempt that received it; its credentials write is idempotent on this id. */
      attemptId: string;
      atMs: number;
      clientId: string;
      credentialsVersion: number;
      refreshToken: string;
    };

/** A rotated refresh token held write-ahead. */
export type PendingRefreshToken = Extract<JournalEntry, { kind: 'received' }>;

/** The refresh token journal: at most one entry per org, fenced by the org's lease. */
export interface RefreshTokenJournal {
  /**
   * Makes `entry` durable for its org while `handle` still holds the org's lease (fenced: a holder
   * that lost the lease gets `lease_held` and writes nothing). Replaces the org's previous entry.
   */
  record(handle: LeaseHandle, entry: JournalEntry): Promise<void>;
  /** The org's entry, if one is there. */
  read(orgId: string): Promise<JournalEntry | undefined>;
  /**
   * Removes the org's entry when it is `attemptId`'s (a newer one is kept), while `handle` holds the
   * lease; otherwise removes nothing and does not throw (a fenced conditional delete).
   */
  clear(handle: LeaseHandle, attemptId: string): Promise<void>;
}

export interface TokenVault {
  /**
   * Writes a new current token. `attemptId` makes a retried write idempotent; `firstWrite` says the
   * org never had a token, so the store may create it in one call rather than try an update first.
   */
  write(record: TokenRecord, options: { attemptId: string; firstWrite?: boolean }): Promise<void>;
  read(orgId: string): Promise<TokenRecord | undefined>;
  remove?(orgId: string): Promise<void>;
  /**
   * Orgs whose stored token exists but cannot be read (a torn or hand-edited file). `read` answers
   * undefined for them, and a sweep refreshes them at once rather than at their refresh mark, which
   * rewrites the token. Only stores that can tell cheaply implement it (local mode's files).
   */
  listUnreadable?(): Promise<UnreadableOrg[]>;
}

export type AuditTrigger = 'schedule' | 'manual' | 'getter' | 'cli' | 'local';
export type AuditOutcome = 'success' | 'failure';

/** One refresh attempt. Never holds a token or a secret. */
export interface AuditRecord {
  orgId: string;
  attemptId: string;
  /** ISO-8601 start time of the attempt. */
  at: string;
  outcome: AuditOutcome;
  trigger: AuditTrigger;
  reason: string;
  durationMs: number;
  /** HTTP requests made to Genesys in this attempt. */
  attempts: number;
  errorCode?: ErrorCode;
  errorClass?: FailureClass;
  httpStatus?: number;
  severity?: 'critical';
  /** Secret-free description of the failure. */
  message?: string;
  expiresAt?: string;
  oauthClientId?: string;
  oauthClientName?: string;
  scopes?: string[];
  requestId?: string;
  brokerVersion: string;
}

export interface AuditQuery {
  sinceMs?: number;
  untilMs?: number;
  failuresOnly?: boolean;
  limit?: number;
}

export interface AuditLog {
  append(record: AuditRecord): Promise<void>;
  /** Newest first. */
  query(orgId: string, query?: AuditQuery): Promise<AuditRecord[]>;
  /** Failures across all orgs in a time range, newest first. */
  listFailures(query: { sinceMs: number; untilMs?: number; limit?: number }): Promise<AuditRecord[]>;
}

/** The detail-types of the per-org events (org-events.ts decides which an attempt produces). */
export type OrgEventType = 'Genesys Token Refreshed' | 'Genesys Token Refresh Failed' | 'Genesys Org At Risk' | 'Genesys Org Needs Reauthorization';

/**
 * The `detail` of a per-org event: identifiers, outcomes and times, from the attempt's audit record and
 * the org's registry entry. Never a token, a secret or a token's hash. Documented in README; changing a
 * field is a breaking change for every rule and consumer.
 */
export interface OrgEventDetail {
  schemaVersion: 1;
  orgId: string;
  /** Region domain, for example `mypurecloud.ie`. */
  region: string;
  label?: string;
  attemptId: string;
  trigger: AuditTrigger;
  /** Why the attempt ran: `at_refresh_mark`, `forced`, `retry_due`, ... */
  reason: string;
  /** ISO-8601 expiry of the token now stored (the new one after a refresh), when there is one. */
  expiresAt?: string;
  errorCode?: ErrorCode;
  errorClass?: FailureClass;
  severity?: 'critical';
  /** `Genesys Org At Risk` only: the health the org entered (`at_risk`, `expired` or `failing`). */
  health?: string;
}

/** One per-org event, before it is put on a bus. */
export interface OrgEvent {
  detailType: OrgEventType;
  orgId: string;
  /** When it happened (the attempt's end), epoch milliseconds. */
  timeMs: number;
  detail: OrgEventDetail;
}

/** What a flush of an {@link OrgEventPublisher} came to, since the previous flush. */
export interface OrgEventFlushReport {
  published: number;
  /** Given up: refused for good, out of retries, past the flush deadline, or dropped from a full queue. */
  failed: number;
}

/**
 * Where per-org events go (EventBridge on AWS). Publishing must never fail or slow a refresh:
 * `publish` only queues, and sending happens in the background; `flush` waits for the queue, bounded
 * by a deadline, and counts what could not be sent.
 */
export interface OrgEventPublisher {
  /** Queues events and returns at once; never throws. */
  publish(events: readonly OrgEvent[]): void;
  /** Sends what is queued and waits until it is sent or `deadlineMs` passes; never throws. */
  flush(deadlineMs: number): Promise<OrgEventFlushReport>;
}

export interface LeaseHandle {
  orgId: string;
  owner: string;
  /** Increases on every acquisition of the same org; a holder with a smaller token has lost the lease. */
  fencingToken: number;
  expiresAtMs: number;
}

export interface Lease {
  /**
   * Takes the org's lease, or returns undefined when someone else holds it: unexpired, or expired
   * less than `takeoverGraceMs` ago. The grace covers a holder whose last write is still in flight
   * when its lease runs out, so nobody acts on the org until that write has landed or failed.
   */
  acquire(orgId: string, owner: string, ttlMs: number, nowMs: number, takeoverGraceMs?: number): Promise<LeaseHandle | undefined>;
  /** Extends a held lease; undefined when it was lost. */
  renew(handle: LeaseHandle, ttlMs: number, nowMs: number): Promise<LeaseHandle | undefined>;
  release(handle: LeaseHandle): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'critical';
export type LogFields = Record<string, string | number | boolean | undefined | string[]>;

/** Logs and metrics leave core through this sink; fields hold identifiers and decisions only. */
export interface Telemetry {
  log(level: LogLevel, message: string, fields?: LogFields): void;
  metric(name: string, value: number, unit: 'Count' | 'Seconds' | 'Milliseconds', dimensions?: Record<string, string>): void;
}

/**
 * The stores one broker runs on. Each world has one composition root that builds them: AWS
 * (`adapters/aws/aws-ports.ts`), files for local mode (`adapters/file/file-ports.ts`) and memory for
 * tests; the engine, the getter, the CLI and local mode take them from there.
 */
export interface BrokerPorts {
  registry: OrgRegistry;
  credentials: CredentialStore;
  vault: TokenVault;
  audit: AuditLog;
  lease: Lease;
  journal: RefreshTokenJournal;
  clock: Clock;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export const silentTelemetry: Telemetry = {
  log: () => undefined,
  metric: () => undefined,
};
