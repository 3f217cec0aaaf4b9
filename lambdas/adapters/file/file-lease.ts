import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as z from 'zod';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { Lease, LeaseHandle } from '../../core/ports.js';
import { FILE_MODE, createExclusive, fsyncDir, readTextIfExists, tempPathFor, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import { type StoreFiles, nonNegativeInt, parseJson } from './store-files.js';

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

  async acquire(orgId: string, owner: string, ttlMs: number, nowMs: number, takeoverGraceMs = 0): Promise<LeaseHandle | undefined> {
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
      if (current && current.expiresAtMs + takeoverGraceMs > nowMs && current.owner !== owner) return undefined;
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
