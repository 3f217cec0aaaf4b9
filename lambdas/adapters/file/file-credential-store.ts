import * as z from 'zod';
import { createHash } from 'node:crypto';
import { StoreError, UnreadableRecordError, ValidationError } from '../../core/errors.js';
import type { ClientCredentials, CredentialStore, CurrentCredentials, OrgRecord, RotationWrite } from '../../core/ports.js';
import { fsyncDir, readTextIfExists, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import { type StoreFiles, parseInput, parseStored, requireOrgId } from './store-files.js';

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
    return parseStoredCredentials(text, orgId, path, this.#files.dataDir);
  }

  /** The credentials and the version they were read at: a hash of the file's content. */
  async readCurrent(org: OrgRecord): Promise<CurrentCredentials> {
    const orgId = requireOrgId(org?.orgId);
    const path = this.#files.file('credentials', orgId, '.json');
    const text = await this.#files.guard(orgId, 'credentials_unavailable', 'reading credentials', () => readTextIfExists(path));
    return { credentials: parseStoredCredentials(text, orgId, path, this.#files.dataDir), version: versionOf(text!), extras: {} };
  }

  /**
   * Writes a rotated refresh token onto the credentials read as `from`, under the org's mutex, when
   * the file still holds that version and client; fsynced (file and directory) before it resolves.
   */
  async rotateRefreshToken(org: OrgRecord, from: CurrentCredentials, refreshToken: string, _attemptId: string): Promise<RotationWrite> {
    const orgId = requireOrgId(org?.orgId);
    if (typeof refreshToken !== 'string' || refreshToken.length === 0) {
      throw new ValidationError(`refresh token for org ${orgId} must be a non-empty string`, { field: 'refreshToken', orgId });
    }
    const path = this.#files.file('credentials', orgId, '.json');
    return this.#files.locked(orgId, 'refresh_token_persist_failed', 'storing the refresh token', async () => {
      const text = await readTextIfExists(path);
      const stored = parseStoredCredentials(text, orgId, path, this.#files.dataDir);
      if (stored.refreshToken === refreshToken) return 'written';
      if (versionOf(text!) !== from.version || stored.clientId !== from.credentials.clientId) return 'changed';
      await writeFileAtomic(path, JSON.stringify({ ...from.credentials, refreshToken }));
      return 'written';
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

/** A file's version: the first 16 hex digits of its content's SHA-256. */
function versionOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * The org's credentials from the file's text. Missing or damaged credentials stay a permanent error for
 * this org: unlike a token, the broker cannot re-create them, so the message says where and what to do.
 */
function parseStoredCredentials(text: string | undefined, orgId: string, path: string, dataDir: string): ClientCredentials {
  const remedy =
    `Restore the file from a backup, or store the org's credentials again (genesys-token-broker orgs add --local --data-dir ${dataDir} --org-id ${orgId} ..., ` +
    'or restart local mode when broker.config.json lists the org); a refresh_token org then needs a new refresh token.';
  if (text === undefined) {
    throw new StoreError('credentials_unavailable', `no credentials stored for org ${orgId} (${path}). ${remedy}`, { orgId, transient: false });
  }
  const parsed = parseStored(credentialsSchema, text);
  if (!parsed.ok) throw new UnreadableRecordError('credentials_unavailable', 'credentials file', { orgId, problem: parsed.problem, location: path, remedy });
  const { clientId, clientSecret, refreshToken } = parsed.value;
  return refreshToken === undefined ? { clientId, clientSecret } : { clientId, clientSecret, refreshToken };
}
