import { z } from 'zod';
import { StoreError, ValidationError } from '../../core/errors.js';
import type { ClientCredentials, CredentialStore, OrgRecord } from '../../core/ports.js';
import { fsyncDir, readTextIfExists, unlinkIfExists, writeFileAtomic } from './atomic-file.js';
import { type StoreFiles, issueFields, parseInput, parseJson, requireOrgId } from './store-files.js';

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
