/**
 * CredentialStore on AWS Secrets Manager. An org's OAuth client credentials live in the secret the
 * org names (`credentialsSecretId`, a name or ARN, for operators who keep credentials elsewhere) or
 * by default in `<prefix>/credentials/<orgId>`, as JSON `{ clientId, clientSecret, refreshToken? }`.
 *
 * Authorization-code orgs get a new single-use refresh token on every refresh. The engine makes it
 * durable write-ahead first (the refresh token journal), then `rotateRefreshToken` writes it here as a
 * new AWSCURRENT version (the previous one stays as AWSPREVIOUS), idempotently per attempt, onto the
 * value read at the start of the attempt. Keys other than the three above (an operator's notes)
 * survive the rewrite.
 *
 * Errors are StoreError `credentials_unavailable` (and `refresh_token_persist_failed` when the new
 * refresh token could not be written): permanent when the secret is missing, scheduled for deletion,
 * malformed or refused (access denied, KMS), transient for throttling, 5xx and network failures.
 * Messages name the org, the secret and the failing fields, never a value.
 */
import { GetSecretValueCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { BrokerError, StoreError, ValidationError } from '../../core/errors.js';
import type { ClientCredentials, CredentialStore, CurrentCredentials, OrgRecord, RotationWrite } from '../../core/ports.js';
import { isOrgId } from '../../core/token-record.js';
import { credentialsSecretName, MANAGED_BY_TAG_VALUE, SECRET_TAG_KEYS } from './secret-names.js';
import {
  clientRequestTokenFor,
  putOrCreateSecretValue,
  randomClientRequestToken,
  restoreSecret,
  scheduleSecretDeletion,
  type SecretStoreSettings,
  secretStoreSettings,
} from './secrets-manager-common.js';
import { sdkErrorName, toStoreError } from './aws-errors.js';
import type { WriteLimiter } from './write-limiter.js';

/** Default recovery window when an org's credentials secret is removed. */
export const DEFAULT_CREDENTIALS_RECOVERY_WINDOW_DAYS = 7;

const credentialFields = {
  clientId: z.string().min(1).max(1024),
  clientSecret: z.string().min(1).max(4096),
  refreshToken: z.string().min(1).max(8192).optional(),
};

/** The stored credentials value. Extra keys (an operator's notes) are kept on rewrite but never returned. */
export const storedCredentialsSchema = z.looseObject(credentialFields);

/** What `save` accepts: exactly the ClientCredentials fields. */
const credentialsInputSchema = z.strictObject(credentialFields);

/** Options for {@link SecretsManagerCredentialStore}. */
export interface SecretsManagerCredentialStoreOptions {
  client: SecretsManagerClient;
  /** Prefix of every broker secret; default credential secrets are `<prefix>/credentials/<orgId>`. */
  secretPrefix: string;
  /**
   * KMS key (id, ARN or alias) for credential secrets `save` creates.
   * @default - the account's `aws/secretsmanager` key
   */
  kmsKeyId?: string;
  /**
   * Extra tags on secrets `save` creates; `org-id` and `managed-by` are always set.
   * @default - none
   */
  tags?: Record<string, string>;
  /**
   * Rate limiter shared by every Secrets Manager writer in the process.
   * @default - no limit
   */
  limiter?: WriteLimiter;
  /**
   * Days a removed credentials secret can still be restored.
   * @default 7
   */
  recoveryWindowInDays?: number;
}

type OrgRef = Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>;

/** The credential store on Secrets Manager. */
export class SecretsManagerCredentialStore implements CredentialStore {
  readonly #s: SecretStoreSettings;

  constructor(options: SecretsManagerCredentialStoreOptions) {
    this.#s = secretStoreSettings('SecretsManagerCredentialStore', options, DEFAULT_CREDENTIALS_RECOVERY_WINDOW_DAYS);
  }

  /** The secret id (name or ARN) holding the org's credentials. */
  secretId(org: OrgRef): string {
    if (!isOrgId(org?.orgId)) throw new ValidationError('orgId must be a Genesys Cloud organization id (UUID)', { field: 'orgId' });
    const custom = org.credentialsSecretId;
    if (custom === undefined) return credentialsSecretName(this.#s.prefix, org.orgId);
    if (typeof custom !== 'string' || custom.length === 0 || custom.length > 2048) {
      throw new ValidationError(`credentialsSecretId of org ${org.orgId} must be a secret name or ARN of 1 to 2048 characters`, { field: 'credentialsSecretId', orgId: org.orgId });
    }
    return custom;
  }

  /** The org's current credentials. */
  async read(org: OrgRecord): Promise<ClientCredentials> {
    return (await this.readCurrent(org)).credentials;
  }

  /** The org's current credentials, the AWSCURRENT VersionId they were read at, and any other keys. */
  async readCurrent(org: OrgRecord): Promise<CurrentCredentials> {
    const { stored, versionId } = await this.#readStored(org);
    const { clientId, clientSecret, refreshToken, ...extras } = stored;
    return {
      credentials: { clientId, clientSecret, ...(refreshToken === undefined ? {} : { refreshToken }) },
      version: versionId,
      extras,
    };
  }

  /**
   * Writes a rotated refresh token as the secret's new AWSCURRENT version, built from the value read
   * as `from` (its other keys kept) with a ClientRequestToken derived from `attemptId`, so a retry adds
   * no second version. Secrets Manager has no conditional put: right before the put, AWSCURRENT is
   * read once more and must still be the version `from` was read at, naming the same client;
   * otherwise an operator replaced the credentials and nothing is written (`changed`). What remains
   * is the window between that read and the put, milliseconds, in which an `orgs add` would be
   * overwritten; the CLI holds the org's lease around its writes, which closes it for the broker's own tools.
   */
  async rotateRefreshToken(org: OrgRecord, from: CurrentCredentials, refreshToken: string, attemptId: string): Promise<RotationWrite> {
    if (typeof refreshToken !== 'string' || refreshToken.length === 0 || refreshToken.length > 8192) {
      throw new ValidationError(`refresh token for org ${org?.orgId} must be a non-empty string of at most 8192 characters`, { field: 'refreshToken', orgId: org?.orgId });
    }
    const now = await this.readCurrent(org);
    if (now.credentials.refreshToken === refreshToken) return 'written';
    if (now.version !== from.version || now.credentials.clientId !== from.credentials.clientId) return 'changed';
    const secretId = this.secretId(org);
    const secretString = JSON.stringify({ ...from.extras, ...from.credentials, refreshToken });
    try {
      await this.#s.limiter?.acquire();
      await this.#s.client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: secretString, ClientRequestToken: clientRequestTokenFor(attemptId) }));
      return 'written';
    } catch (err) {
      const name = sdkErrorName(err);
      if (name === 'ResourceNotFoundException' || name === 'InvalidRequestException') {
        throw new StoreError('refresh_token_persist_failed', `credentials secret for org ${org.orgId} disappeared or was scheduled for deletion before the rotated refresh token was stored`, {
          cause: err,
          orgId: org.orgId,
          transient: false,
        });
      }
      throw toStoreError(err, 'refresh_token_persist_failed', 'Secrets Manager PutSecretValue of the rotated refresh token', org.orgId);
    }
  }

  /** Stores a whole credential set (operator onboarding), creating the secret when needed. */
  async save(org: OrgRef, credentials: ClientCredentials): Promise<void> {
    const secretId = this.secretId(org);
    const parsed = credentialsInputSchema.safeParse(credentials);
    if (!parsed.success) {
      const fields = issueFields(parsed.error.issues);
      throw new ValidationError(`credentials for org ${org.orgId} are invalid (${fields})`, { field: fields, orgId: org.orgId });
    }
    const { clientId, clientSecret, refreshToken } = parsed.data;
    const secretString = JSON.stringify({ clientId, clientSecret, ...(refreshToken === undefined ? {} : { refreshToken }) });
    try {
      await putOrCreateSecretValue({
        client: this.#s.client,
        limiter: this.#s.limiter,
        secretId,
        secretString,
        clientRequestToken: randomClientRequestToken(),
        create: {
          kmsKeyId: this.#s.kmsKeyId,
          tags: [{ Key: SECRET_TAG_KEYS.orgId, Value: org.orgId }, { Key: SECRET_TAG_KEYS.managedBy, Value: MANAGED_BY_TAG_VALUE }, ...this.#s.extraTags],
          description: `Genesys Cloud OAuth client credentials for org ${org.orgId}, used by ${MANAGED_BY_TAG_VALUE}`,
        },
      });
    } catch (err) {
      if (sdkErrorName(err) === 'InvalidRequestException') {
        throw new StoreError('credentials_unavailable', `credentials secret ${secretId} for org ${org.orgId} is scheduled for deletion; restore it first`, {
          cause: err,
          orgId: org.orgId,
          transient: false,
        });
      }
      throw toStoreError(err, 'credentials_unavailable', 'Secrets Manager saving the credentials secret', org.orgId);
    }
  }

  /**
   * Cancels a scheduled deletion of the org's credentials secret (an org re-added within the recovery
   * window). False when there is no such secret.
   */
  async restore(org: OrgRef): Promise<boolean> {
    try {
      return await restoreSecret(this.#s.client, this.secretId(org));
    } catch (err) {
      throw toStoreError(err, 'credentials_unavailable', 'Secrets Manager RestoreSecret of the credentials secret', org.orgId);
    }
  }

  /** Schedules the org's credentials secret for deletion after the recovery window. */
  async remove(org: OrgRef): Promise<void> {
    const secretId = this.secretId(org);
    try {
      await scheduleSecretDeletion(this.#s.client, secretId, this.#s.recoveryWindowInDays);
    } catch (err) {
      throw toStoreError(err, 'credentials_unavailable', 'Secrets Manager DeleteSecret of the credentials secret', org.orgId);
    }
  }

  async #readStored(org: OrgRef): Promise<{ secretId: string; versionId: string; stored: z.infer<typeof storedCredentialsSchema> }> {
    const secretId = this.secretId(org);
    const orgId = org.orgId;
    let text: string | undefined;
    let versionId: string;
    try {
      const out = await this.#s.client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
      text = out.SecretString;
      versionId = out.VersionId ?? '';
    } catch (err) {
      throw this.#readError(err, secretId, orgId);
    }
    if (text === undefined) throw permanent(`credentials secret ${secretId} for org ${orgId} holds binary data, not JSON`, orgId);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw permanent(`credentials secret ${secretId} for org ${orgId} is not valid JSON`, orgId);
    }
    const parsed = storedCredentialsSchema.safeParse(json);
    if (!parsed.success) {
      throw permanent(`credentials secret ${secretId} for org ${orgId} is missing or has invalid fields: ${issueFields(parsed.error.issues)}`, orgId);
    }
    return { secretId, versionId, stored: parsed.data };
  }

  #readError(err: unknown, secretId: string, orgId: string): BrokerError {
    switch (sdkErrorName(err)) {
      case 'ResourceNotFoundException':
        return permanent(`no credentials for org ${orgId}: secret ${secretId} does not exist or has no current version`, orgId, err);
      case 'InvalidRequestException':
        return permanent(`credentials secret ${secretId} for org ${orgId} is scheduled for deletion`, orgId, err);
      default:
        return toStoreError(err, 'credentials_unavailable', `Secrets Manager GetSecretValue of credentials secret ${secretId}`, orgId);
    }
  }
}

function permanent(message: string, orgId: string, cause?: unknown): StoreError {
  return new StoreError('credentials_unavailable', message, { orgId, transient: false, ...(cause === undefined ? {} : { cause }) });
}

/** Field paths of zod issues; zod's own messages are not used, so no value can leak through them. */
function issueFields(issues: readonly { path: readonly PropertyKey[]; keys?: readonly string[] }[]): string {
  const fields = issues.flatMap((i) => {
    const at = i.path.map(String).join('.');
    // unrecognized_keys issues carry the offending key names (names, not values).
    if (i.keys && i.keys.length > 0) return i.keys.map((k) => (at ? `${at}.${k}` : k));
    return [at || '(root)'];
  });
  return [...new Set(fields)].join(', ');
}
