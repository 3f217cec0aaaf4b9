import { dirname } from 'node:path';
import * as z from 'zod';
import { ConflictError, NotFoundError, StoreError, UnreadableRecordError, ValidationError } from '../../core/errors.js';
import type { OrgPage, OrgRecord, OrgRegistry, TokenState, UnreadableOrg } from '../../core/ports.js';
import { findRegion } from '../../core/regions.js';
import { isOrgId } from '../../core/token-record.js';
import { errnoCode, fsyncDir, readTextIfExists, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import {
  type SameKeys,
  type StoreFiles,
  nonNegativeInt,
  orgKey,
  parseInput,
  parseStored,
  rejectUnknownKeys,
  requireOrgId,
} from './store-files.js';

/** Default and largest page size of `registry.listPage` (as the DynamoDB registry). */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1_000;

const optionalInt = (min: number) => z.number().int().min(min).optional();

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
  rejectionCheckedAtMs: z.number().optional(),
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

// Compile-time guards (see SameKeys): a field the port gains but these schemas lack stops compiling.
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

  /** The org's record; a file that cannot be read or parsed throws {@link UnreadableRecordError}. */
  async get(orgId: string): Promise<OrgRecord | undefined> {
    const entry = await this.#read(orgKey(orgId));
    if (entry === undefined || entry.ok) return entry?.record;
    throw new UnreadableRecordError('registry_unavailable', 'registry file', entry.unreadable);
  }

  /**
   * Pages through orgs in org-id order; `cursor` is the last org id of the previous page. A file that
   * cannot be read or parsed is left out of `items` and reported in `unreadable`, so one damaged file
   * never hides the others; it does not count towards `limit`.
   */
  async listPage(options: { cursor?: string; limit?: number } = {}): Promise<OrgPage> {
    rejectUnknownKeys(options, ['cursor', 'limit'], 'listPage option');
    const limit = options.limit ?? DEFAULT_PAGE_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new ValidationError(`listPage limit must be an integer from 1 to ${MAX_PAGE_LIMIT}, got ${String(limit)}`, { field: 'limit' });
    }
    const after = options.cursor === undefined ? undefined : orgKey(options.cursor);
    const ids = await this.#files.guard(undefined, 'registry_unavailable', 'listing the registry', () => this.#files.listOrgIds('registry', '.json'));
    const remaining = after === undefined ? ids : ids.filter((id) => id > after);
    const items: OrgRecord[] = [];
    const unreadable: UnreadableOrg[] = [];
    let index = 0;
    for (; index < remaining.length && items.length < limit; index++) {
      // An org removed since readdir is simply skipped.
      const entry = await this.#read(remaining[index] as string);
      if (entry?.ok) items.push(entry.record);
      else if (entry) unreadable.push(entry.unreadable);
    }
    // The cursor is the last id looked at, so the next page starts after the unreadable ones too.
    const last = remaining[index - 1];
    const page: OrgPage = index < remaining.length && last !== undefined ? { items, cursor: last } : { items };
    if (unreadable.length > 0) page.unreadable = unreadable;
    return page;
  }

  /**
   * Reads one registry file: undefined when there is none, the record, or what makes it unreadable.
   * A file error no retry fixes (permissions, a directory in its place) is unreadable too; a transient
   * one (too many open files) throws, so the caller tries again later rather than skip a good record.
   */
  async #read(key: string): Promise<{ ok: true; record: OrgRecord } | { ok: false; unreadable: UnreadableOrg } | undefined> {
    const path = this.#files.file('registry', key, '.json');
    let text: string | undefined;
    try {
      text = await this.#files.guard(key, 'registry_unavailable', 'reading the registry', () => readTextIfExists(path));
    } catch (err) {
      if (!(err instanceof StoreError) || err.failureClass !== 'permanent') throw err;
      return { ok: false, unreadable: this.#unreadable(key, path, `the file cannot be read (${errnoCode(err.cause)})`) };
    }
    if (text === undefined) return undefined;
    const parsed = parseStoredOrg(text, key);
    return parsed.ok ? { ok: true, record: parsed.value } : { ok: false, unreadable: this.#unreadable(key, path, parsed.problem) };
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
      const existing = text === undefined ? undefined : this.#parseOrThrow(text, orgId, path);
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
      const existing = this.#parseOrThrow(text, orgId, path);
      if (existing.version !== expectedVersion) {
        throw new ConflictError('version_conflict', `org ${orgId} is at version ${existing.version}, expected version ${expectedVersion}`, { orgId });
      }
      const stored: OrgRecord = { ...existing, state: parsedState, version: existing.version + 1 };
      await writeFileAtomic(path, JSON.stringify(stored));
      return stored;
    });
  }

  /** For writers: a damaged file is refused, never overwritten; the operator decides what replaces it. */
  #parseOrThrow(text: string, orgId: string, path: string): OrgRecord {
    const parsed = parseStoredOrg(text, orgKey(orgId));
    if (parsed.ok) return parsed.value;
    throw new UnreadableRecordError('registry_unavailable', 'registry file', this.#unreadable(orgKey(orgId), path, parsed.problem));
  }

  #unreadable(orgId: string, location: string, problem: string): UnreadableOrg {
    return { orgId, problem, location, remedy: registryRemedy(orgId, this.#files.dataDir) };
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

/** What to do about a registry file that cannot be read: the broker cannot re-create an org's record. */
export function registryRemedy(orgId: string, dataDir: string): string {
  return (
    'Restore the file from a backup, or delete it and register the org again ' +
    `(genesys-token-broker orgs add --local --data-dir ${dataDir} --org-id ${orgId} ..., or restart local mode when broker.config.json lists the org); ` +
    'until then the org is skipped and its token is not served.'
  );
}

function parseStoredOrg(text: string, key: string): { ok: true; value: OrgRecord } | { ok: false; problem: string } {
  const parsed = parseStored(storedOrgSchema, text);
  if (!parsed.ok) return parsed;
  // A file copied or renamed by hand would otherwise answer for another org.
  if (parsed.value.orgId.toLowerCase() !== key) return { ok: false, problem: 'its orgId field does not match the file name' };
  return { ok: true, value: parsed.value as OrgRecord };
}
