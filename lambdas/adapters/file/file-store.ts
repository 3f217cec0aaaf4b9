/**
 * The embedded, file-backed store for local mode: every port of `core/ports.ts` (TokenVault,
 * CredentialStore, OrgRegistry, AuditLog, Lease) over plain files in one private data directory.
 *
 * Layout (directories 0700, files 0600; ids are lower-cased so case-insensitive file systems agree):
 * ```
 * <dataDir>/registry/<orgId>.json          the OrgRecord
 * <dataDir>/tokens/<orgId>.json            { current, previous } token versions, like Secrets Manager stages
 * <dataDir>/credentials/<orgId>.json       ClientCredentials
 * <dataDir>/audit/<orgId>.jsonl            one AuditRecord per line, append-only
 * <dataDir>/leases/<orgId>.lock            the held lease: owner, expiry, fencing token
 * <dataDir>/leases/<orgId>.fence.json      the last fencing token handed out (survives release and remove)
 * <dataDir>/locks/<orgId>.mutex            short cross-process mutex around read-modify-writes
 * ```
 * Every whole-file write is temp file + fsync + rename + directory fsync; audit appends are fsynced, and a
 * line torn by a crash is skipped on read. Reads take no lock: a rename makes a file change atomically.
 * Org ids are checked with `isOrgId` before they become part of a path, so no input can leave the directory.
 *
 * The ports share method names (`read`, `remove`), so one object cannot implement them all; `FileStore`
 * exposes one adapter per port, all sharing the same directory and mutex.
 */
import { BROKER_SETTINGS } from '../../core/settings.js';
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { BrokerError, ConflictError, type ErrorCode, NotFoundError, StoreError, ValidationError } from '../../core/errors.js';
import type {
  AuditLog,
  AuditQuery,
  AuditRecord,
  ClientCredentials,
  Clock,
  CredentialStore,
  Lease,
  LeaseHandle,
  OrgPage,
  OrgRecord,
  OrgRegistry,
  TokenRecord,
  TokenState,
  TokenVault,
} from '../../core/ports.js';
import { systemClock } from '../../core/ports.js';
import { findRegion } from '../../core/regions.js';
import { isOrgId, parseTokenRecord, tokenRecordSchema } from '../../core/token-record.js';
import {
  FILE_MODE,
  PrivateDirError,
  appendLineDurable,
  createExclusive,
  ensurePrivateDir,
  errnoCode,
  fsyncDir,
  isTempName,
  readTextIfExists,
  splitLines,
  tempPathFor,
  unlinkIfExists,
  writeFileAtomic,
} from './atomic-file.js';
import { FileMutex, MutexTimeoutError } from './file-mutex.js';

/** Default data directory, relative to the working directory. */
export const DEFAULT_DATA_DIR = '.broker-data';
/** Default wait for a held org lock. */
export const DEFAULT_LOCK_WAIT_TIMEOUT_MS = 10_000;
/** Days an audit item lives before TTL removes it, unless configured (the broker-wide default). */
export const DEFAULT_AUDIT_RETENTION_DAYS = BROKER_SETTINGS.auditRetentionDays.default;
/** Default and largest page size of `registry.listPage` (as the DynamoDB registry). */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1_000;
/** Default and largest result count of audit queries (as the DynamoDB audit log). */
export const DEFAULT_AUDIT_QUERY_LIMIT = 100;
export const MAX_AUDIT_QUERY_LIMIT = 1_000;
/** Temp files older than this at start-up are debris from a crashed writer and are deleted. */
const STALE_TEMP_MS = 10 * 60_000;
/** Compact an org's audit file after this many appends by one store instance. */
const COMPACT_EVERY_APPENDS = 500;
const DAY_MS = 86_400_000;

/** File errors that a retry cannot fix. */
const PERMANENT_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR']);

const SUBDIRS = ['registry', 'tokens', 'credentials', 'audit', 'leases', 'locks'] as const;
type Subdir = (typeof SUBDIRS)[number];

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
}

const OPTION_KEYS = new Set(['dataDir', 'clock', 'auditRetentionDays', 'lockWaitTimeoutMs']);

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

  constructor(options: FileStoreOptions = {}) {
    const files = new StoreFiles(validateOptions(options));
    this.dataDir = files.dataDir;
    this.registry = new FileOrgRegistry(files);
    this.vault = new FileTokenVault(files);
    this.credentials = new FileCredentialStore(files);
    this.audit = new FileAuditLog(files);
    this.lease = new FileLease(files);
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
  return { dataDir, clock, auditRetentionDays: days, lockWaitTimeoutMs };
}

// ---------------------------------------------------------------------------------------------------
// Shared plumbing

/** Paths, the per-org mutex and error mapping shared by the adapters of one FileStore. */
class StoreFiles {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly retentionMs: number;
  readonly #mutex: FileMutex;

  constructor(options: Required<FileStoreOptions>) {
    this.#mutex = new FileMutex({ waitTimeoutMs: options.lockWaitTimeoutMs });
    this.dataDir = resolve(options.dataDir);
    this.clock = options.clock;
    this.retentionMs = options.auditRetentionDays * DAY_MS;
    try {
      ensurePrivateDir(this.dataDir);
      for (const sub of SUBDIRS) {
        ensurePrivateDir(join(this.dataDir, sub));
        removeStaleTempFiles(join(this.dataDir, sub));
      }
    } catch (err) {
      const detail = err instanceof PrivateDirError ? err.message : `cannot prepare data directory ${this.dataDir} (${errnoCode(err)})`;
      throw new StoreError('invalid_config', detail, { cause: err, transient: false });
    }
  }

  dir(sub: Subdir): string {
    return join(this.dataDir, sub);
  }

  /** The file of `orgId` in `sub`. The id is validated here, before it can reach any path. */
  file(sub: Subdir, orgId: string, extension: string): string {
    return join(this.dataDir, sub, `${orgKey(orgId)}${extension}`);
  }

  /** Runs a read-modify-write for one org under its cross-process mutex; failures become `code`. */
  async locked<T>(orgId: string, code: ErrorCode, what: string, fn: () => Promise<T>): Promise<T> {
    const mutexPath = this.file('locks', orgId, '.mutex');
    return this.guard(orgId, code, what, () => this.#mutex.run(mutexPath, fn));
  }

  /**
   * Maps fs and mutex failures to a StoreError with `code` (permanent for permission and file-type
   * errors, which no retry fixes; transient otherwise); BrokerErrors pass through.
   */
  async guard<T>(orgId: string | undefined, code: ErrorCode, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      const errno = errnoCode(err);
      const why = err instanceof MutexTimeoutError ? 'timed out waiting for the org lock' : `file error ${errno}`;
      throw new StoreError(code, `${what}${orgId === undefined ? '' : ` for org ${orgId}`} failed: ${why}`, {
        cause: err,
        transient: !PERMANENT_ERRNOS.has(errno),
        ...(orgId === undefined ? {} : { orgId }),
      });
    }
  }

  /** Org ids that have a file with `extension` in `sub`, sorted. Temp files and strays never match. */
  async listOrgIds(sub: Subdir, extension: string): Promise<string[]> {
    const ids: string[] = [];
    for (const name of await readdir(this.dir(sub))) {
      if (!name.endsWith(extension)) continue;
      const id = name.slice(0, -extension.length);
      if (isOrgId(id) && id === id.toLowerCase()) ids.push(id);
    }
    return ids.sort();
  }
}

function removeStaleTempFiles(dir: string): void {
  const cutoff = Date.now() - STALE_TEMP_MS;
  for (const name of readdirSync(dir)) {
    if (!isTempName(name)) continue;
    const path = join(dir, name);
    // A young temp file may belong to a live writer in another process; leave it alone.
    if (lstatSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
  }
}

/** Returns `orgId` unchanged when it is a UUID; otherwise throws before it can reach any path. */
function requireOrgId(orgId: unknown): string {
  if (!isOrgId(orgId)) {
    const shown = typeof orgId === 'string' ? JSON.stringify(orgId.slice(0, 64)) : typeof orgId;
    throw new ValidationError(`orgId must be a UUID, got ${shown}`, { field: 'orgId' });
  }
  return orgId;
}

/** The path form of an org id: validated, lower-cased. */
function orgKey(orgId: unknown): string {
  return requireOrgId(orgId).toLowerCase();
}

/** Field paths of a failed parse, never the values (some fields hold secrets). */
function issueFields(error: z.ZodError): string {
  return [...new Set(error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
}

function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string, orgId?: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const fields = issueFields(parsed.error);
    throw new ValidationError(`invalid ${what}${orgId ? ` for org ${orgId}` : ''} (${fields})`, {
      field: fields,
      ...(orgId ? { orgId } : {}),
    });
  }
  return parsed.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function rejectUnknownKeys(value: object | undefined, allowed: readonly string[], what: string): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object') throw new ValidationError(`${what} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ValidationError(`unknown ${what} key ${JSON.stringify(key)}; allowed: ${allowed.join(', ')}`, { field: key });
  }
}

const optionalInt = (min: number) => z.number().int().min(min).optional();
const nonNegativeInt = z.number().int().min(0);
const instant = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 instant');

// ---------------------------------------------------------------------------------------------------
// OrgRegistry

const tokenStateSchema = z.object({
  issuedAtMs: z.number().optional(),
  expiresAtMs: z.number().optional(),
  refreshAtMs: z.number().optional(),
  idlesAtMs: z.number().optional(),
  nextAttemptAtMs: z.number().optional(),
  lastAttemptAtMs: z.number().optional(),
  lastOutcome: z.enum(['success', 'failure']).optional(),
  lastErrorCode: z.string().min(1).optional(),
  lastErrorClass: z.enum(['permanent', 'rate_limited', 'transient']).optional(),
  consecutiveFailures: nonNegativeInt,
  credentialsVersionUsed: optionalInt(0),
  oauthClientId: z.string().optional(),
});

const orgInputSchema = z.object({
  orgId: z.string().refine(isOrgId, 'must be a UUID'),
  region: z.string().refine((r) => findRegion(r) !== undefined, 'must be a known Genesys Cloud region'),
  grantType: z.enum(['client_credentials', 'refresh_token']),
  credentialsSecretId: z.string().min(1).optional(),
  enabled: z.boolean(),
  label: z.string().optional(),
  credentialsVersion: nonNegativeInt,
  state: tokenStateSchema,
});

const storedOrgSchema = orgInputSchema.extend({ version: z.number().int().min(1) });

/**
 * Compile-time guard: unknown keys are stripped on write, so a field the port gains but a schema here
 * lacks would be silently lost. These lines stop compiling instead.
 */
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
const _stateKeysMatch: SameKeys<TokenState, z.infer<typeof tokenStateSchema>> = true;
const _orgKeysMatch: SameKeys<OrgRecord, z.infer<typeof storedOrgSchema>> = true;

/**
 * OrgRegistry over `registry/<orgId>.json`, with optimistic versions enforced under the org's mutex so
 * that two processes cannot both win a compare-and-set.
 */
export class FileOrgRegistry implements OrgRegistry {
  readonly #files: StoreFiles;

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  async get(orgId: string): Promise<OrgRecord | undefined> {
    const path = this.#files.file('registry', orgId, '.json');
    const text = await this.#files.guard(orgId, 'registry_write_failed', 'reading the registry', () => readTextIfExists(path));
    return text === undefined ? undefined : parseStoredOrg(text, orgId);
  }

  /** Pages through orgs in org-id order; `cursor` is the last org id of the previous page. */
  async listPage(options: { cursor?: string; limit?: number } = {}): Promise<OrgPage> {
    rejectUnknownKeys(options, ['cursor', 'limit'], 'listPage option');
    const limit = options.limit ?? DEFAULT_PAGE_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new ValidationError(`listPage limit must be an integer from 1 to ${MAX_PAGE_LIMIT}, got ${String(limit)}`, { field: 'limit' });
    }
    const after = options.cursor === undefined ? undefined : orgKey(options.cursor);
    const ids = await this.#files.guard(undefined, 'registry_write_failed', 'listing the registry', () => this.#files.listOrgIds('registry', '.json'));
    const remaining = after === undefined ? ids : ids.filter((id) => id > after);
    const items: OrgRecord[] = [];
    let index = 0;
    for (; index < remaining.length && items.length < limit; index++) {
      // An org removed since readdir is simply skipped.
      const record = await this.get(remaining[index] as string);
      if (record) items.push(record);
    }
    const last = items.at(-1);
    return index < remaining.length && last ? { items, cursor: last.orgId } : { items };
  }

  async put(org: Omit<OrgRecord, 'version'>, options: { expectedVersion?: number | null } = {}): Promise<OrgRecord> {
    rejectUnknownKeys(options, ['expectedVersion'], 'put option');
    const expected = options.expectedVersion;
    if (expected !== undefined && expected !== null && !(Number.isInteger(expected) && expected >= 0)) {
      throw new ValidationError(`expectedVersion must be null or a non-negative integer, got ${String(expected)}`, { field: 'expectedVersion' });
    }
    const orgId = requireOrgId((org as Partial<OrgRecord> | undefined)?.orgId);
    const input = parseInput(orgInputSchema, org, 'org record', orgId);
    const path = this.#files.file('registry', orgId, '.json');
    return this.#files.locked(orgId, 'registry_write_failed', 'writing the registry', async () => {
      const text = await readTextIfExists(path);
      const existing = text === undefined ? undefined : parseStoredOrg(text, orgId);
      if (expected === null && existing) {
        throw new ConflictError('version_conflict', `org ${orgId} already exists (version ${existing.version})`, { orgId });
      }
      if (typeof expected === 'number' && existing?.version !== expected) {
        const actual = existing ? `version ${existing.version}` : 'no record';
        throw new ConflictError('version_conflict', `org ${orgId} is at ${actual}, expected version ${expected}`, { orgId });
      }
      const stored = { ...input, version: (existing?.version ?? 0) + 1 } as OrgRecord;
      await writeFileAtomic(path, JSON.stringify(stored));
      return stored;
    });
  }

  async recordState(orgId: string, expectedVersion: number, state: TokenState): Promise<OrgRecord> {
    const key = orgKey(orgId);
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0) {
      throw new ValidationError(`expectedVersion must be a non-negative integer, got ${String(expectedVersion)}`, { field: 'expectedVersion', orgId });
    }
    const parsedState = parseInput(tokenStateSchema, state, 'token state', orgId) as TokenState;
    const path = this.#files.file('registry', key, '.json');
    return this.#files.locked(orgId, 'registry_write_failed', 'recording state', async () => {
      const text = await readTextIfExists(path);
      if (text === undefined) throw new NotFoundError('org_not_found', `org ${orgId} is not registered`, { orgId });
      const existing = parseStoredOrg(text, orgId);
      if (existing.version !== expectedVersion) {
        throw new ConflictError('version_conflict', `org ${orgId} is at version ${existing.version}, expected version ${expectedVersion}`, { orgId });
      }
      const stored: OrgRecord = { ...existing, state: parsedState, version: existing.version + 1 };
      await writeFileAtomic(path, JSON.stringify(stored));
      return stored;
    });
  }

  /** Removes the org's registry entry, token and credentials. Its audit trail and fencing counter stay. */
  async remove(orgId: string): Promise<void> {
    const paths = [
      this.#files.file('registry', orgId, '.json'),
      this.#files.file('tokens', orgId, '.json'),
      this.#files.file('credentials', orgId, '.json'),
    ];
    await this.#files.locked(orgId, 'registry_write_failed', 'removing the org', async () => {
      for (const path of paths) {
        if (await unlinkIfExists(path)) await fsyncDir(dirname(path));
      }
    });
  }
}

function parseStoredOrg(text: string, orgId: string): OrgRecord {
  const parsed = storedOrgSchema.safeParse(parseJson(text));
  if (!parsed.success) {
    throw new StoreError('registry_write_failed', `registry file of org ${orgId} is unreadable (${issueFields(parsed.error)})`, { orgId, transient: false });
  }
  return parsed.data as OrgRecord;
}

// ---------------------------------------------------------------------------------------------------
// TokenVault

/** One stored token version: the serialized secret value, as Secrets Manager would hold it. */
const tokenVersionSchema = z.object({ attemptId: z.string().min(1), value: z.string(), writtenAtMs: z.number() });
const tokenFileSchema = z.object({ current: tokenVersionSchema, previous: tokenVersionSchema.optional() });
type TokenFile = z.infer<typeof tokenFileSchema>;

/**
 * TokenVault over `tokens/<orgId>.json`. A write makes the new token current and keeps the one it
 * replaces as previous (Secrets Manager's AWSCURRENT/AWSPREVIOUS). A retried write with an `attemptId`
 * that is already current or previous changes nothing; the same `attemptId` with a different token is
 * refused, as Secrets Manager refuses a reused ClientRequestToken with a different value.
 */
export class FileTokenVault implements TokenVault {
  readonly #files: StoreFiles;

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  async write(record: TokenRecord, options: { attemptId: string }): Promise<void> {
    rejectUnknownKeys(options, ['attemptId'], 'vault write option');
    const attemptId = options?.attemptId;
    if (typeof attemptId !== 'string' || attemptId.length === 0) throw new ValidationError('attemptId must be a non-empty string', { field: 'attemptId' });
    const orgId = requireOrgId((record as Partial<TokenRecord> | undefined)?.orgId);
    const value = JSON.stringify(parseInput(tokenRecordSchema, record, 'token record', orgId));
    const path = this.#files.file('tokens', orgId, '.json');
    await this.#files.locked(orgId, 'vault_write_failed', 'writing the token', async () => {
      const existing = await readTokenFile(path, orgId);
      const sameAttempt = [existing?.current, existing?.previous].find((v) => v?.attemptId === attemptId);
      if (sameAttempt) {
        if (sameAttempt.value === value) return;
        throw new StoreError('vault_write_failed', `attempt ${attemptId} already wrote a different token for org ${orgId}`, { orgId, transient: false });
      }
      const next: TokenFile = { current: { attemptId, value, writtenAtMs: this.#files.clock.now() } };
      if (existing) next.previous = existing.current;
      await writeFileAtomic(path, JSON.stringify(next));
    });
  }

  /** The current token, or undefined when none was written. */
  async read(orgId: string): Promise<TokenRecord | undefined> {
    return this.#readStage(orgId, 'current');
  }

  /** The token the current one replaced (Secrets Manager's AWSPREVIOUS), if any. */
  async readPrevious(orgId: string): Promise<TokenRecord | undefined> {
    return this.#readStage(orgId, 'previous');
  }

  async remove(orgId: string): Promise<void> {
    const path = this.#files.file('tokens', orgId, '.json');
    await this.#files.locked(orgId, 'vault_write_failed', 'removing the token', async () => {
      if (await unlinkIfExists(path)) await fsyncDir(this.#files.dir('tokens'));
    });
  }

  async #readStage(orgId: string, stage: 'current' | 'previous'): Promise<TokenRecord | undefined> {
    const path = this.#files.file('tokens', orgId, '.json');
    const file = await this.#files.guard(orgId, 'token_unavailable', 'reading the token', () => readTokenFile(path, orgId));
    const version = file?.[stage];
    if (!version) return undefined;
    const record = parseTokenRecord(version.value, orgId);
    if (record.orgId.toLowerCase() !== orgId.toLowerCase()) {
      throw new StoreError('token_unavailable', `token file of org ${orgId} holds another org's token`, { orgId, transient: false });
    }
    return record;
  }
}

async function readTokenFile(path: string, orgId: string): Promise<TokenFile | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  const parsed = tokenFileSchema.safeParse(parseJson(text));
  if (!parsed.success) throw new StoreError('token_unavailable', `token file of org ${orgId} is unreadable`, { orgId, transient: false });
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------------
// CredentialStore

const credentialsSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
});

/**
 * CredentialStore over `credentials/<orgId>.json`. Keyed by org id; `credentialsSecretId` names a
 * Secrets Manager secret and has no meaning here, so it is ignored.
 */
export class FileCredentialStore implements CredentialStore {
  readonly #files: StoreFiles;

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  /** The org's credentials; missing or unreadable ones are a permanent `credentials_unavailable`. */
  async read(org: OrgRecord): Promise<ClientCredentials> {
    const orgId = requireOrgId(org?.orgId);
    const path = this.#files.file('credentials', orgId, '.json');
    const text = await this.#files.guard(orgId, 'credentials_unavailable', 'reading credentials', () => readTextIfExists(path));
    return parseStoredCredentials(text, orgId);
  }

  /** Stores a rotated refresh token; fsynced (file and directory) before the promise resolves. */
  async replaceRefreshToken(org: OrgRecord, refreshToken: string): Promise<void> {
    const orgId = requireOrgId(org?.orgId);
    if (typeof refreshToken !== 'string' || refreshToken.length === 0) {
      throw new ValidationError(`refresh token for org ${orgId} must be a non-empty string`, { field: 'refreshToken', orgId });
    }
    const path = this.#files.file('credentials', orgId, '.json');
    await this.#files.locked(orgId, 'refresh_token_persist_failed', 'storing the refresh token', async () => {
      const current = parseStoredCredentials(await readTextIfExists(path), orgId);
      await writeFileAtomic(path, JSON.stringify({ ...current, refreshToken }));
    });
  }

  async save(org: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>, credentials: ClientCredentials): Promise<void> {
    const orgId = requireOrgId(org?.orgId);
    const parsed = parseInput(credentialsSchema, credentials, 'credentials', orgId);
    const path = this.#files.file('credentials', orgId, '.json');
    await this.#files.locked(orgId, 'credentials_unavailable', 'saving credentials', () => writeFileAtomic(path, JSON.stringify(parsed)));
  }

  async remove(org: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>): Promise<void> {
    const orgId = requireOrgId(org?.orgId);
    const path = this.#files.file('credentials', orgId, '.json');
    await this.#files.locked(orgId, 'credentials_unavailable', 'removing credentials', async () => {
      if (await unlinkIfExists(path)) await fsyncDir(this.#files.dir('credentials'));
    });
  }
}

function parseStoredCredentials(text: string | undefined, orgId: string): ClientCredentials {
  if (text === undefined) throw new StoreError('credentials_unavailable', `no credentials stored for org ${orgId}`, { orgId, transient: false });
  const parsed = credentialsSchema.safeParse(parseJson(text));
  if (!parsed.success) {
    throw new StoreError('credentials_unavailable', `stored credentials of org ${orgId} are unreadable (${issueFields(parsed.error)})`, { orgId, transient: false });
  }
  const { clientId, clientSecret, refreshToken } = parsed.data;
  return refreshToken === undefined ? { clientId, clientSecret } : { clientId, clientSecret, refreshToken };
}

// ---------------------------------------------------------------------------------------------------
// AuditLog

const auditRecordSchema = z.object({
  orgId: z.string().refine(isOrgId, 'must be a UUID'),
  attemptId: z.string().min(1),
  at: instant,
  outcome: z.enum(['success', 'failure']),
  trigger: z.enum(['schedule', 'manual', 'getter', 'cli', 'local']),
  reason: z.string(),
  durationMs: z.number().min(0),
  attempts: nonNegativeInt,
  errorCode: z.string().min(1).optional(),
  errorClass: z.enum(['permanent', 'rate_limited', 'transient']).optional(),
  httpStatus: z.number().int().optional(),
  severity: z.literal('critical').optional(),
  message: z.string().optional(),
  expiresAt: instant.optional(),
  oauthClientId: z.string().optional(),
  oauthClientName: z.string().optional(),
  scopes: z.array(z.string()).optional(),
  requestId: z.string().optional(),
  brokerVersion: z.string(),
});

const _auditKeysMatch: SameKeys<AuditRecord, z.infer<typeof auditRecordSchema>> = true;

const AUDIT_QUERY_KEYS = ['sinceMs', 'untilMs', 'failuresOnly', 'limit'] as const;

interface AuditRead {
  /** Retained, well-formed records in file (append) order, with their parsed time. */
  records: { record: AuditRecord; atMs: number }[];
  /**
   * Lines compaction keeps: every retained JSON line, including ones this version's schema rejects
   * (a newer broker sharing the directory may write values this one does not know).
   */
  keptLines: string[];
  /** Records past retention. */
  expired: number;
  /** Lines that are not JSON: a torn append, or damage. */
  invalid: number;
}

/**
 * AuditLog over `audit/<orgId>.jsonl`: one fsynced line per record. Time bounds are inclusive.
 * Records older than the retention are never returned; an org's file is rewritten without them
 * (and without torn lines) every {@link COMPACT_EVERY_APPENDS} appends by an instance, when a query finds
 * that a quarter or more of it has expired, or on {@link FileAuditLog.compact}. Unknown record keys are
 * dropped before writing, so nothing a caller did not mean to audit reaches the file.
 */
export class FileAuditLog implements AuditLog {
  readonly #files: StoreFiles;
  readonly #appendsSinceCompaction = new Map<string, number>();

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  async append(record: AuditRecord): Promise<void> {
    const orgId = requireOrgId((record as Partial<AuditRecord> | undefined)?.orgId);
    const line = JSON.stringify(parseInput(auditRecordSchema, record, 'audit record', orgId));
    const key = orgKey(orgId);
    const path = this.#files.file('audit', orgId, '.jsonl');
    await this.#files.locked(orgId, 'audit_write_failed', 'appending to the audit log', async () => {
      await appendLineDurable(path, line);
      const count = (this.#appendsSinceCompaction.get(key) ?? 0) + 1;
      this.#appendsSinceCompaction.set(key, count);
      if (count >= COMPACT_EVERY_APPENDS) await this.#compactLocked(orgId, path);
    });
  }

  /** The org's records, newest first. */
  async query(orgId: string, query: AuditQuery = {}): Promise<AuditRecord[]> {
    const path = this.#files.file('audit', orgId, '.jsonl');
    const { sinceMs, untilMs, limit } = validateAuditQuery(query);
    const read = await this.#files.guard(orgId, 'audit_write_failed', 'reading the audit log', () => this.#read(path));
    if (read.expired > 0 && read.expired * 4 >= read.expired + read.records.length) {
      // Opportunistic: a failed compaction leaves the file as it was, which reads the same.
      await this.compact(orgId).catch(() => undefined);
    }
    const matches = read.records.filter(
      ({ record, atMs }) => (!query.failuresOnly || record.outcome === 'failure') && atMs >= sinceMs && atMs <= untilMs,
    );
    return newestFirst(matches, limit);
  }

  /** Failures across every org between `sinceMs` and `untilMs` (inclusive; defaults to now), newest first. */
  async listFailures(query: { sinceMs: number; untilMs?: number; limit?: number }): Promise<AuditRecord[]> {
    if (typeof query?.sinceMs !== 'number') throw new ValidationError('listFailures needs sinceMs', { field: 'sinceMs' });
    const { sinceMs, untilMs, limit } = validateAuditQuery({ ...query, untilMs: query.untilMs ?? this.#files.clock.now() }, ['sinceMs', 'untilMs', 'limit']);
    const ids = await this.#files.guard(undefined, 'audit_write_failed', 'listing audit logs', () => this.#files.listOrgIds('audit', '.jsonl'));
    const matches: AuditRead['records'] = [];
    for (const id of ids) {
      const read = await this.#files.guard(id, 'audit_write_failed', 'reading the audit log', () => this.#read(this.#files.file('audit', id, '.jsonl')));
      for (const entry of read.records) {
        if (entry.record.outcome === 'failure' && entry.atMs >= sinceMs && entry.atMs <= untilMs) matches.push(entry);
      }
    }
    return newestFirst(matches, limit);
  }

  /** Rewrites the org's audit file without expired records and lines that are not JSON (torn appends). */
  async compact(orgId: string): Promise<void> {
    const path = this.#files.file('audit', orgId, '.jsonl');
    await this.#files.locked(orgId, 'audit_write_failed', 'compacting the audit log', () => this.#compactLocked(orgId, path));
  }

  /** Caller holds the org's mutex, so no append can land in the file being replaced. */
  async #compactLocked(orgId: string, path: string): Promise<void> {
    this.#appendsSinceCompaction.set(orgKey(orgId), 0);
    const read = await this.#read(path);
    if (read.expired === 0 && read.invalid === 0) return;
    await writeFileAtomic(path, read.keptLines.map((line) => `${line}\n`).join(''));
  }

  async #read(path: string): Promise<AuditRead> {
    const text = await readTextIfExists(path);
    const result: AuditRead = { records: [], keptLines: [], expired: 0, invalid: 0 };
    if (text === undefined) return result;
    const cutoffMs = this.#files.clock.now() - this.#files.retentionMs;
    // The fragment after the last newline is an append that a crash cut short: ignored, never an error.
    const { lines, fragment } = splitLines(text);
    if (fragment.length > 0) result.invalid++;
    for (const line of lines) {
      const json = parseJson(line);
      if (json === null || typeof json !== 'object') {
        result.invalid++;
        continue;
      }
      const atMs = Date.parse(String((json as { at?: unknown }).at));
      if (atMs < cutoffMs) {
        result.expired++;
        continue;
      }
      result.keptLines.push(line);
      const parsed = auditRecordSchema.safeParse(json);
      if (parsed.success) result.records.push({ record: parsed.data as AuditRecord, atMs });
    }
    return result;
  }
}

function validateAuditQuery(query: AuditQuery, allowed: readonly string[] = AUDIT_QUERY_KEYS): { sinceMs: number; untilMs: number; limit: number } {
  rejectUnknownKeys(query, allowed, 'audit query');
  for (const field of ['sinceMs', 'untilMs'] as const) {
    const value = query[field];
    if (value !== undefined && (typeof value !== 'number' || Number.isNaN(value))) {
      throw new ValidationError(`audit query ${field} must be a number of epoch milliseconds, got ${String(value)}`, { field });
    }
  }
  if (query.failuresOnly !== undefined && typeof query.failuresOnly !== 'boolean') {
    throw new ValidationError('audit query failuresOnly must be a boolean', { field: 'failuresOnly' });
  }
  const limit = query.limit ?? DEFAULT_AUDIT_QUERY_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_QUERY_LIMIT) {
    throw new ValidationError(`audit query limit must be an integer from 1 to ${MAX_AUDIT_QUERY_LIMIT}, got ${String(query.limit)}`, { field: 'limit' });
  }
  return { sinceMs: query.sinceMs ?? Number.NEGATIVE_INFINITY, untilMs: query.untilMs ?? Number.POSITIVE_INFINITY, limit };
}

/** Newest first; records with the same instant keep reverse append order. */
function newestFirst(entries: AuditRead['records'], limit: number): AuditRecord[] {
  return entries
    .map((entry, index) => ({ ...entry, index }))
    .sort((a, b) => b.atMs - a.atMs || b.index - a.index)
    .slice(0, limit)
    .map(({ record }) => record);
}

// ---------------------------------------------------------------------------------------------------
// Lease

const lockSchema = z.object({
  orgId: z.string(),
  owner: z.string(),
  fencingToken: z.number().int().min(1),
  expiresAtMs: z.number(),
});
const fenceSchema = z.object({ fencingToken: nonNegativeInt });

/**
 * Lease over `leases/<orgId>.lock`, valid across processes on one machine (the broker and the CLI).
 *
 * - A free lease is taken by creating the lock file exclusively (`open(path, 'wx')`).
 * - An expired (or unreadable, crash-torn) lock is taken over by writing a new lock to a temp file,
 *   re-reading the lock to check it is still the one judged expired, renaming the temp file over it,
 *   and re-reading to confirm.
 * - The fencing token is `max(persisted counter, token in the old lock) + 1`; the counter
 *   (`<orgId>.fence.json`) is made durable before the lock names the new token, so a token is never
 *   handed out twice, even across a crash, a release, or the org's removal.
 * - Every step runs under the org's cross-process mutex (see file-mutex.ts), so two processes that
 *   both see the same expired lock are serialised: the second re-reads, finds a live lease, and gets
 *   undefined. Without the mutex, write-then-rename takeover keeps a race no re-read closes (both
 *   renames land, and each re-read can run before the other's rename); what remains is only the
 *   mutex's own crash-recovery race.
 * - A lease counts as held until `expiresAtMs`, by each caller's `nowMs`: all processes share one clock.
 * - Same semantics as the DynamoDB lease: the owner of a live lease may acquire it again (a new fencing
 *   token); an org that is not in the registry is refused with `org_not_found`; `renew` and `release`
 *   succeed while the lock still carries the handle's owner and fencing token, even just past expiry
 *   (an unchanged token proves nobody else acquired it in between).
 */
export class FileLease implements Lease {
  readonly #files: StoreFiles;

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  async acquire(orgId: string, owner: string, ttlMs: number, nowMs: number): Promise<LeaseHandle | undefined> {
    const lockPath = this.#files.file('leases', orgId, '.lock');
    const fencePath = this.#files.file('leases', orgId, '.fence.json');
    const registryPath = this.#files.file('registry', orgId, '.json');
    validateLeaseArgs(owner, ttlMs, nowMs);
    // Leases live in the registry table in AWS mode; a failure here is reported the same way.
    return this.#files.locked(orgId, 'registry_write_failed', 'acquiring the lease', async () => {
      if ((await readTextIfExists(registryPath)) === undefined) {
        throw new NotFoundError('org_not_found', `org ${orgId} is not registered`, { orgId });
      }
      const currentText = await readTextIfExists(lockPath);
      const current = currentText === undefined ? undefined : parseLock(currentText);
      if (current && current.expiresAtMs > nowMs && current.owner !== owner) return undefined;
      const fence = fenceSchema.safeParse(parseJson((await readTextIfExists(fencePath)) ?? '{}'));
      const fencingToken = Math.max(fence.success ? fence.data.fencingToken : 0, current?.fencingToken ?? 0) + 1;
      await writeFileAtomic(fencePath, JSON.stringify({ fencingToken }));
      const handle: LeaseHandle = { orgId, owner, fencingToken, expiresAtMs: nowMs + ttlMs };
      const text = JSON.stringify(handle);
      const won = currentText === undefined ? await createExclusive(lockPath, text, { durable: true }) : await takeOver(lockPath, currentText, text);
      return won ? handle : undefined;
    });
  }

  async renew(handle: LeaseHandle, ttlMs: number, nowMs: number): Promise<LeaseHandle | undefined> {
    const lockPath = this.#files.file('leases', handle?.orgId, '.lock');
    validateLeaseArgs(handle.owner, ttlMs, nowMs);
    return this.#files.locked(handle.orgId, 'registry_write_failed', 'renewing the lease', async () => {
      const text = await readTextIfExists(lockPath);
      const current = text === undefined ? undefined : parseLock(text);
      if (!current || current.owner !== handle.owner || current.fencingToken !== handle.fencingToken) return undefined;
      const renewed: LeaseHandle = { ...handle, expiresAtMs: nowMs + ttlMs };
      await writeFileAtomic(lockPath, JSON.stringify(renewed));
      return renewed;
    });
  }

  /** Drops the lease if `handle` still holds it; a lost lease is left to its new holder. */
  async release(handle: LeaseHandle): Promise<void> {
    const lockPath = this.#files.file('leases', handle?.orgId, '.lock');
    await this.#files.locked(handle.orgId, 'registry_write_failed', 'releasing the lease', async () => {
      const text = await readTextIfExists(lockPath);
      const current = text === undefined ? undefined : parseLock(text);
      if (!current || current.owner !== handle.owner || current.fencingToken !== handle.fencingToken) return;
      if (await unlinkIfExists(lockPath)) await fsyncDir(this.#files.dir('leases'));
    });
  }
}

function validateLeaseArgs(owner: string, ttlMs: number, nowMs: number): void {
  if (typeof owner !== 'string' || owner.length === 0) throw new ValidationError('lease owner must be a non-empty string', { field: 'owner' });
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) throw new ValidationError(`lease ttlMs must be a positive number, got ${String(ttlMs)}`, { field: 'ttlMs' });
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new ValidationError(`lease nowMs must be a finite number, got ${String(nowMs)}`, { field: 'nowMs' });
}

/** A readable lock, or undefined for debris (a holder that crashed between create and write). */
function parseLock(text: string): LeaseHandle | undefined {
  const parsed = lockSchema.safeParse(parseJson(text));
  return parsed.success ? parsed.data : undefined;
}

/** Replaces the expired lock `expectedText` with `text`; false when the lock changed under us. */
async function takeOver(path: string, expectedText: string, text: string): Promise<boolean> {
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, 'wx', FILE_MODE);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if ((await readTextIfExists(path)) !== expectedText) return false;
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  await fsyncDir(dirname(path));
  return (await readTextIfExists(path)) === text;
}
