/**
 * The embedded, file-backed store for local mode: every port of `core/ports.ts` (TokenVault,
 * CredentialStore, OrgRegistry, AuditLog, Lease, RefreshTokenJournal) over plain files in one private
 * data directory.
 *
 * Layout (directories 0700, files 0600; ids are lower-cased so case-insensitive file systems agree):
 * ```
 * <dataDir>/registry/<orgId>.json          the OrgRecord
 * <dataDir>/tokens/<orgId>.json            { current, previous } token versions, like Secrets Manager stages
 * <dataDir>/credentials/<orgId>.json       ClientCredentials
 * <dataDir>/pending/<orgId>.json           a rotated refresh token held write-ahead until the credentials have it
 * <dataDir>/audit/<orgId>.jsonl            one AuditRecord per line, append-only
 * <dataDir>/leases/<orgId>.lock            the held lease: owner, expiry, fencing token
 * <dataDir>/leases/<orgId>.fence.json      the last fencing token handed out (survives release and remove)
 * <dataDir>/locks/<orgId>.mutex            short cross-process mutex around read-modify-writes
 * ```
 * Every whole-file write is temp file + fsync + rename + directory fsync; audit appends are fsynced, and a
 * line torn by a crash is skipped on read. Reads take no lock: a rename makes a file change atomically.
 * Org ids are checked with `isOrgId` before they become part of a path, so no input can leave the directory.
 *
 * A file damaged anyway (truncated by a full disk, edited by hand) touches only its org, and no read
 * changes it: a registry file is left out of `listPage` and reported in its `unreadable` (`get` throws
 * `UnreadableRecordError`); a token file reads as missing, so the next sweep refreshes the org and the
 * write replaces it; a credentials file stays a permanent `credentials_unavailable`, since only an
 * operator can restore credentials. Messages say where the file is and what to do, never what it holds.
 *
 * The ports share method names (`read`, `remove`), so one object cannot implement them all; `FileStore`
 * exposes one adapter per port, all sharing the same directory and mutex. Each adapter has its own file
 * (file-org-registry.ts, file-token-vault.ts, file-credential-store.ts, file-audit-log.ts, file-lease.ts),
 * as adapters/aws does; what they share (paths, the mutex, error mapping, validation) is store-files.ts.
 * This module re-exports them, so importers need only this one.
 */
import { ValidationError } from '../../core/errors.js';
import { type Clock, systemClock } from '../../core/ports.js';
import { BROKER_SETTINGS } from '../../core/settings.js';
import { FileAuditLog } from './file-audit-log.js';
import { FileCredentialStore } from './file-credential-store.js';
import { FileLease } from './file-lease.js';
import { FileOrgRegistry } from './file-org-registry.js';
import { FileRefreshTokenJournal } from './file-refresh-token-journal.js';
import { FileTokenVault } from './file-token-vault.js';
import { StoreFiles } from './store-files.js';

export { DEFAULT_AUDIT_QUERY_LIMIT, FileAuditLog, MAX_AUDIT_QUERY_LIMIT } from './file-audit-log.js';
export { FileCredentialStore } from './file-credential-store.js';
export { FileLease } from './file-lease.js';
export { DEFAULT_PAGE_LIMIT, FileOrgRegistry, MAX_PAGE_LIMIT } from './file-org-registry.js';
export { FileRefreshTokenJournal } from './file-refresh-token-journal.js';
export { FileTokenVault } from './file-token-vault.js';

/** Default data directory, relative to the working directory. */
export const DEFAULT_DATA_DIR = '.broker-data';
/** Default wait for a held org lock. */
export const DEFAULT_LOCK_WAIT_TIMEOUT_MS = 10_000;
/** Days an audit item lives before TTL removes it, unless configured (the broker-wide default). */
export const DEFAULT_AUDIT_RETENTION_DAYS = BROKER_SETTINGS.auditRetentionDays.default;

export interface FileStoreOptions {
  /**
   * Directory holding all state. Created with mode 0700; an existing directory that is wider is
   * tightened to 0700 (and files in it to 0600); one owned by another user is refused.
   * @default '.broker-data' under the current working directory
   */
  dataDir?: string;
  /** Source of "now" for audit retention. Lease calls take `nowMs` explicitly. @default systemClock */
  clock?: Clock;
  /** Audit records older than this are dropped on read and removed by compaction. @default 90 */
  auditRetentionDays?: number;
  /**
   * How long a write waits for another process (or call) holding the org's lock before failing with a
   * transient StoreError. Locks are held for milliseconds, so hitting this means a stuck process.
   * @default 10_000
   */
  lockWaitTimeoutMs?: number;
  /**
   * Open for reading only (the CLI's `status`, `orgs list`, `audit`, `token`): nothing is created,
   * tightened or deleted, and a missing data directory reads as an empty store. Writes are not blocked
   * here; a reader simply makes none.
   * @default false
   */
  readOnly?: boolean;
}

const OPTION_KEYS = new Set(['dataDir', 'clock', 'auditRetentionDays', 'lockWaitTimeoutMs', 'readOnly']);

/**
 * All ports over one data directory. Open several instances (or processes: the broker and the CLI) on
 * the same directory freely; they coordinate through per-org lock files.
 *
 * @example
 * const { registry, credentials, vault, audit, lease } = new FileStore({ dataDir: '.broker-data' });
 * const engine = createRefreshEngine({ registry, credentials, vault, audit, lease, oauth, clock });
 */
export class FileStore {
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  readonly registry: FileOrgRegistry;
  readonly vault: FileTokenVault;
  readonly credentials: FileCredentialStore;
  readonly audit: FileAuditLog;
  readonly lease: FileLease;
  readonly journal: FileRefreshTokenJournal;

  constructor(options: FileStoreOptions = {}) {
    const files = new StoreFiles(validateOptions(options));
    this.dataDir = files.dataDir;
    this.registry = new FileOrgRegistry(files);
    this.vault = new FileTokenVault(files);
    this.credentials = new FileCredentialStore(files);
    this.audit = new FileAuditLog(files);
    this.lease = new FileLease(files);
    this.journal = new FileRefreshTokenJournal(files);
  }
}

function validateOptions(options: FileStoreOptions): Required<FileStoreOptions> {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError('FileStore options must be an object', { code: 'invalid_config' });
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new ValidationError(`unknown FileStore option ${JSON.stringify(key)}; allowed: ${[...OPTION_KEYS].join(', ')}`, { code: 'invalid_config', field: key });
    }
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  if (typeof dataDir !== 'string' || dataDir.length === 0) {
    throw new ValidationError('FileStore dataDir must be a non-empty path', { code: 'invalid_config', field: 'dataDir' });
  }
  const days = options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
  if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0) {
    throw new ValidationError(`FileStore auditRetentionDays must be a positive number of days, got ${String(days)}`, { code: 'invalid_config', field: 'auditRetentionDays' });
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') {
    throw new ValidationError('FileStore clock must have a now() function', { code: 'invalid_config', field: 'clock' });
  }
  const lockWaitTimeoutMs = options.lockWaitTimeoutMs ?? DEFAULT_LOCK_WAIT_TIMEOUT_MS;
  if (typeof lockWaitTimeoutMs !== 'number' || !Number.isFinite(lockWaitTimeoutMs) || lockWaitTimeoutMs < 0) {
    throw new ValidationError(`FileStore lockWaitTimeoutMs must be a non-negative number, got ${String(lockWaitTimeoutMs)}`, { code: 'invalid_config', field: 'lockWaitTimeoutMs' });
  }
  const readOnly = options.readOnly ?? false;
  if (typeof readOnly !== 'boolean') {
    throw new ValidationError('FileStore readOnly must be true or false', { code: 'invalid_config', field: 'readOnly' });
  }
  return { dataDir, clock, auditRetentionDays: days, lockWaitTimeoutMs, readOnly };
}
