import { z } from 'zod';
import { StoreError, ValidationError } from '../../core/errors.js';
import type { TokenRecord, TokenVault } from '../../core/ports.js';
import { parseTokenRecord, tokenRecordSchema } from '../../core/token-record.js';
import { fsyncDir, readTextIfExists, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import { type StoreFiles, parseInput, parseJson, rejectUnknownKeys, requireOrgId } from './store-files.js';

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

  /** `firstWrite` changes nothing here: a file is created and replaced by the same atomic write. */
  async write(record: TokenRecord, options: { attemptId: string; firstWrite?: boolean }): Promise<void> {
    rejectUnknownKeys(options, ['attemptId', 'firstWrite'], 'vault write option');
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
