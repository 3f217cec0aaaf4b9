/**
 * RefreshTokenJournal over `pending/<orgId>.json`: local mode's write-ahead log of refresh token spends.
 *
 * `record` writes the entry with the store's crash-safe recipe (temp file, fsync, rename, directory
 * fsync) while the org's lease file still names the caller (owner and fencing token), under the org's
 * mutex. A crash between the temp file's fsync and its rename strands the newest entry in a temp file
 * (`pending/.<orgId>.json.<pid>.<uuid>.tmp`): `read` reads those too and returns the newest complete
 * entry, so a stranded token is recovered, never lost; temp files in `pending/` are never deleted as
 * debris, only by `clear` once the entry they hold is no newer than the one cleared.
 *
 * The file holds the token in plaintext, like `credentials/`: the directory is 0700 and files 0600,
 * and the store lives on the operator's own machine.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ConflictError } from '../../core/errors.js';
import type { JournalEntry, LeaseHandle, PendingRefreshToken, RefreshTokenJournal } from '../../core/ports.js';
import { fsyncDir, readTextIfExists, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import { orgKey, parseJson, type SameKeys, type StoreFiles } from './store-files.js';

const common = { attemptId: z.string().min(1), atMs: z.number(), clientId: z.string().min(1), credentialsVersion: z.number().int().min(0) };
const spendingSchema = z.object({ kind: z.literal('spending'), ...common, presented: z.string().min(1) });
const receivedSchema = z.object({ kind: z.literal('received'), ...common, refreshToken: z.string().min(1) });
const entrySchema = z.discriminatedUnion('kind', [spendingSchema, receivedSchema]);
const _spendingKeysMatch: SameKeys<Extract<JournalEntry, { kind: 'spending' }>, z.infer<typeof spendingSchema>> = true;
const _receivedKeysMatch: SameKeys<PendingRefreshToken, z.infer<typeof receivedSchema>> = true;

const lockSchema = z.object({ owner: z.string(), fencingToken: z.number() });

export class FileRefreshTokenJournal implements RefreshTokenJournal {
  readonly #files: StoreFiles;

  /** @internal Built by {@link FileStore}. */
  constructor(files: StoreFiles) {
    this.#files = files;
  }

  async record(handle: LeaseHandle, entry: JournalEntry): Promise<void> {
    const orgId = handle.orgId;
    const valid = entrySchema.parse(entry);
    await this.#files.locked(orgId, 'refresh_token_persist_failed', 'writing the refresh token journal', async () => {
      await this.#assertHolds(handle);
      await writeFileAtomic(this.#files.file('pending', orgId, '.json'), JSON.stringify(valid));
    });
  }

  async read(orgId: string): Promise<JournalEntry | undefined> {
    return this.#files.guard(orgId, 'refresh_token_persist_failed', 'reading the refresh token journal', async () => {
      const candidates = await this.#candidates(orgId);
      return candidates.reduce<JournalEntry | undefined>((newest, c) => (newest === undefined || c.entry.atMs > newest.atMs ? c.entry : newest), undefined);
    });
  }

  async clear(handle: LeaseHandle, attemptId: string): Promise<void> {
    const orgId = handle.orgId;
    await this.#files.locked(orgId, 'refresh_token_persist_failed', 'clearing the refresh token journal', async () => {
      // Like a fenced conditional delete: a holder that lost the lease removes nothing.
      if (!(await this.#holds(handle))) return;
      const candidates = await this.#candidates(orgId);
      // The newest entry of the attempt (its spend note and its received token share the id).
      const cleared = candidates.filter((c) => c.entry.attemptId === attemptId).sort((a, b) => b.entry.atMs - a.entry.atMs)[0];
      if (!cleared) return;
      let removed = false;
      // Everything as old as the cleared entry is done with: the file, and stranded temps.
      for (const c of candidates) {
        if (c.entry.atMs <= cleared.entry.atMs) removed = (await unlinkIfExists(c.path)) || removed;
      }
      if (removed) await fsyncDir(this.#files.dir('pending'));
    });
  }

  /** The pending file and every complete temp file of the org; torn or unreadable ones are skipped. */
  async #candidates(orgId: string): Promise<Array<{ path: string; entry: JournalEntry }>> {
    const key = orgKey(orgId);
    const dir = this.#files.dir('pending');
    const names = (await readdir(dir)).filter((name) => name === `${key}.json` || (name.startsWith(`.${key}.json.`) && name.endsWith('.tmp')));
    const found: Array<{ path: string; entry: JournalEntry }> = [];
    for (const name of names) {
      const path = join(dir, name);
      const parsed = entrySchema.safeParse(parseJson((await readTextIfExists(path)) ?? ''));
      if (parsed.success) found.push({ path, entry: parsed.data });
    }
    return found;
  }

  /** The write is fenced: only the holder of the org's lease (same owner and fencing token) may write. */
  async #assertHolds(handle: LeaseHandle): Promise<void> {
    if (!(await this.#holds(handle))) {
      throw new ConflictError('lease_held', `lease on org ${handle.orgId} was lost; the refresh token journal was not written`, { orgId: handle.orgId });
    }
  }

  async #holds(handle: LeaseHandle): Promise<boolean> {
    const lock = lockSchema.safeParse(parseJson((await readTextIfExists(this.#files.file('leases', handle.orgId, '.lock'))) ?? ''));
    return lock.success && lock.data.owner === handle.owner && lock.data.fencingToken === handle.fencingToken;
  }
}
