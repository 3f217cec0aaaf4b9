/**
 * What the file adapters of one FileStore share: the data directory and its subdirectories, the
 * per-org cross-process mutex (`locked`), the mapping of fs and mutex failures onto StoreError
 * (`guard`), org-id validation before an id becomes part of a path, and the zod helpers the ports'
 * schemas have in common. The directory layout is documented in file-store.ts.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { BrokerError, type ErrorCode, StoreError, ValidationError } from '../../core/errors.js';
import type { Clock } from '../../core/ports.js';
import { isOrgId } from '../../core/token-record.js';
import { PrivateDirError, ensurePrivateDir, errnoCode, isTempName } from './atomic-file.js';
import { FileMutex, MutexTimeoutError } from './file-mutex.js';

/** Temp files older than this at start-up are debris from a crashed writer and are deleted. */
const STALE_TEMP_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

/** File errors that a retry cannot fix. */
const PERMANENT_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR']);

const SUBDIRS = ['registry', 'tokens', 'credentials', 'pending', 'audit', 'leases', 'locks'] as const;
/**
 * Temp files here may be the only copy of a rotated refresh token (a crash between a temp file's fsync
 * and its rename): they are never deleted as debris. The journal recovers them (file-refresh-token-journal.ts).
 */
const KEEP_TEMP_FILES: ReadonlySet<Subdir> = new Set(['credentials', 'pending']);
export type Subdir = (typeof SUBDIRS)[number];

/** FileStore's options once validated, with every default filled in. */
export interface StoreFilesSettings {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly auditRetentionDays: number;
  readonly lockWaitTimeoutMs: number;
  readonly readOnly: boolean;
}

/** Paths, the per-org mutex and error mapping shared by the adapters of one FileStore. */
export class StoreFiles {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly retentionMs: number;
  readonly #mutex: FileMutex;

  constructor(options: StoreFilesSettings) {
    this.#mutex = new FileMutex({ waitTimeoutMs: options.lockWaitTimeoutMs });
    this.dataDir = resolve(options.dataDir);
    this.clock = options.clock;
    this.retentionMs = options.auditRetentionDays * DAY_MS;
    // A reader (status, orgs list, audit, token) leaves the disk as it found it: a missing directory
    // reads as an empty store instead of being created.
    if (options.readOnly) return;
    try {
      ensurePrivateDir(this.dataDir);
      for (const sub of SUBDIRS) {
        ensurePrivateDir(join(this.dataDir, sub));
        if (!KEEP_TEMP_FILES.has(sub)) removeStaleTempFiles(join(this.dataDir, sub));
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
    let names: string[];
    try {
      names = await readdir(this.dir(sub));
    } catch (err) {
      // Only a read-only store may lack its directories (nothing prepared them): that is no org.
      if (errnoCode(err) === 'ENOENT') return ids;
      throw err;
    }
    for (const name of names) {
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
export function requireOrgId(orgId: unknown): string {
  if (!isOrgId(orgId)) {
    const shown = typeof orgId === 'string' ? JSON.stringify(orgId.slice(0, 64)) : typeof orgId;
    throw new ValidationError(`orgId must be a UUID, got ${shown}`, { field: 'orgId' });
  }
  return orgId;
}

/** The path form of an org id: validated, lower-cased. */
export function orgKey(orgId: unknown): string {
  return requireOrgId(orgId).toLowerCase();
}

/** Field paths of a failed parse, never the values (some fields hold secrets). */
export function issueFields(error: { issues: ReadonlyArray<{ path: PropertyKey[] }> }): string {
  return [...new Set(error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
}

/** Any zod schema, classic or mini (token-record.ts uses zod/mini). */
type Schema<T> = z.core.$ZodType<T>;

export function parseInput<T>(schema: Schema<T>, value: unknown, what: string, orgId?: string): T {
  const parsed = z.safeParse(schema, value);
  if (!parsed.success) {
    const fields = issueFields(parsed.error);
    throw new ValidationError(`invalid ${what}${orgId ? ` for org ${orgId}` : ''} (${fields})`, {
      field: fields,
      ...(orgId ? { orgId } : {}),
    });
  }
  return parsed.data;
}

/**
 * Parses a stored file against its schema; on failure, says what is wrong without any value: an empty
 * file, text that is not JSON (typically a truncated write or a hand edit), or the fields that fail.
 */
export function parseStored<T>(schema: Schema<T>, text: string): { ok: true; value: T } | { ok: false; problem: string } {
  if (text.trim() === '') return { ok: false, problem: 'the file is empty' };
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    return { ok: false, problem: 'not valid JSON' };
  }
  const parsed = z.safeParse(schema, json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: `fields fail the schema: ${issueFields(parsed.error)}` };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function rejectUnknownKeys(value: object | undefined, allowed: readonly string[], what: string): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object') throw new ValidationError(`${what} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ValidationError(`unknown ${what} key ${JSON.stringify(key)}; allowed: ${allowed.join(', ')}`, { field: key });
  }
}

export const nonNegativeInt = z.number().int().min(0);

/**
 * Compile-time guard: unknown keys are stripped on write, so a field the port gains but a port file's
 * schema lacks would be silently lost. Each port file declares
 * `const _xKeysMatch: SameKeys<PortType, z.infer<typeof schema>> = true`; those lines stop compiling instead.
 */
export type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
