import * as z from 'zod';
import { StoreError, ValidationError } from '../../core/errors.js';
import type { TokenRecord, TokenVault, UnreadableOrg } from '../../core/ports.js';
import { tokenRecordSchema } from '../../core/token-record.js';
import { fsyncDir, readTextIfExists, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import { type StoreFiles, parseInput, parseStored, rejectUnknownKeys, requireOrgId } from './store-files.js';

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
      // A file that cannot be parsed holds no token anyone can use: the new one replaces it whole.
      const read = await readTokenFile(path);
      const existing = read?.ok ? read.value : undefined;
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

  /**
   * The current token, or undefined when none was written, or when the file cannot yield this org's
   * token (truncated, edited by hand, failing the schema): such a token is as good as missing, and the
   * next sweep refreshes the org and replaces the file ({@link FileTokenVault.listUnreadable} tells
   * it which). A read never deletes or rewrites the file.
   */
  async read(orgId: string): Promise<TokenRecord | undefined> {
    return this.#readStage(orgId, 'current');
  }

  /** The token the current one replaced (Secrets Manager's AWSPREVIOUS), if any and readable. */
  async readPrevious(orgId: string): Promise<TokenRecord | undefined> {
    return this.#readStage(orgId, 'previous');
  }

  async remove(orgId: string): Promise<void> {
    const path = this.#files.file('tokens', orgId, '.json');
    await this.#files.locked(orgId, 'vault_write_failed', 'removing the token', async () => {
      if (await unlinkIfExists(path)) await fsyncDir(this.#files.dir('tokens'));
    });
  }

  /**
   * Every token file that exists but cannot yield its org's current token. Reads each file once (no
   * lock: writes are atomic renames); a file that vanishes meanwhile is not reported.
   */
  async listUnreadable(): Promise<UnreadableOrg[]> {
    const ids = await this.#files.guard(undefined, 'token_unavailable', 'listing the tokens', () => this.#files.listOrgIds('tokens', '.json'));
    const unreadable: UnreadableOrg[] = [];
    for (const orgId of ids) {
      const path = this.#files.file('tokens', orgId, '.json');
      const found = await this.#files.guard(orgId, 'token_unavailable', 'reading the token', () => readStage(path, orgId, 'current'));
      if (found && !found.ok) unreadable.push({ orgId, problem: found.problem, location: path, remedy: TOKEN_REMEDY });
    }
    return unreadable;
  }

  async #readStage(orgId: string, stage: 'current' | 'previous'): Promise<TokenRecord | undefined> {
    const path = this.#files.file('tokens', orgId, '.json');
    const found = await this.#files.guard(orgId, 'token_unavailable', 'reading the token', () => readStage(path, orgId, stage));
    return found?.ok ? found.value : undefined;
  }
}

/** Nothing for an operator to do: the broker re-creates a token, unlike credentials or registry records. */
const TOKEN_REMEDY = 'None needed: the token reads as missing, and the next sweep refreshes the org and replaces the file.';

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

async function readTokenFile(path: string): Promise<Parsed<TokenFile> | undefined> {
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : parseStored(tokenFileSchema, text);
}

/** One stage's token from the file: undefined when the file or the stage is absent. */
async function readStage(path: string, orgId: string, stage: 'current' | 'previous'): Promise<Parsed<TokenRecord> | undefined> {
  const file = await readTokenFile(path);
  if (!file?.ok) return file;
  const version = file.value[stage];
  if (!version) return undefined;
  const record = parseStored(tokenRecordSchema, version.value);
  if (!record.ok) return { ok: false, problem: `the ${stage} token: ${record.problem}` };
  if (record.value.orgId.toLowerCase() !== orgId.toLowerCase()) return { ok: false, problem: `the ${stage} token belongs to another org` };
  return { ok: true, value: record.value as TokenRecord };
}
