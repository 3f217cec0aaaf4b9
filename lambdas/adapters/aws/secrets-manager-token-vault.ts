/**
 * TokenVault on AWS Secrets Manager: one secret per org, `<prefix>/tokens/<orgId>`, whose AWSCURRENT
 * version is the org's current TokenRecord (schemaVersion 1, the contract consumers parse) and whose
 * AWSPREVIOUS version is the token before it, still valid for a while and handy during a cut-over.
 *
 * Writes are idempotent per attempt: the version's ClientRequestToken is derived from the attempt id,
 * so a write retried by the SDK, by the engine or after a Lambda timeout adds no second version (the
 * service ignores a repeated token with the same value). The first write of an org creates the
 * secret with the configured KMS key and tags. Every CreateSecret and PutSecretValue passes through
 * the shared WriteLimiter.
 *
 * Throttling is retried by the SDK client's retry strategy (standard mode classifies
 * ThrottlingException and 5xx as retryable, with jittered backoff); the adapter tests prove it against
 * the emulator. Give the refresher's client `maxAttempts` of 5 or so; what still fails surfaces as a
 * transient StoreError and the engine's policy schedules the next attempt.
 *
 * Costs: one PutSecretValue per refresh and one GetSecretValue per uncached read; Secrets Manager
 * bills per secret per month plus per 10,000 API calls.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BrokerError, StoreError, ValidationError } from '../../core/errors.js';
import type { TokenRecord, TokenVault } from '../../core/ports.js';
import { isOrgId, parseTokenRecord, serializeTokenRecord, tokenRecordSchema } from '../../core/token-record.js';
import { MANAGED_BY_TAG_VALUE, SECRET_TAG_KEYS, tokenSecretName } from './secret-names.js';
import {
  clientRequestTokenFor,
  putOrCreateSecretValue,
  restoreSecret,
  scheduleSecretDeletion,
  type SecretStoreSettings,
  secretStoreSettings,
} from './secrets-manager-common.js';
import { sdkErrorName, toStoreError } from './aws-errors.js';
import type { WriteLimiter } from './write-limiter.js';

/** Default recovery window when an org's token secret is removed. */
export const DEFAULT_TOKEN_RECOVERY_WINDOW_DAYS = 7;

/** Options for {@link SecretsManagerTokenVault}. */
export interface SecretsManagerTokenVaultOptions {
  client: SecretsManagerClient;
  /** Prefix of every broker secret; token secrets are `<prefix>/tokens/<orgId>`. */
  secretPrefix: string;
  /**
   * KMS key (id, ARN or alias) for secrets this vault creates. Existing secrets keep their key.
   * @default - the account's `aws/secretsmanager` key
   */
  kmsKeyId?: string;
  /**
   * Extra tags on secrets this vault creates. `org-id` and `managed-by` are always set and cannot be
   * overridden.
   * @default - none
   */
  tags?: Record<string, string>;
  /**
   * Rate limiter shared by every Secrets Manager writer in the process.
   * @default - no limit
   */
  limiter?: WriteLimiter;
  /**
   * Days a removed org's token secret can still be restored.
   * @default 7
   */
  recoveryWindowInDays?: number;
  /**
   * Called after this vault created an org's token secret (its first write). Awaited, so give it
   * something bounded that never throws: the token is written by then.
   * @default - nothing
   */
  onCreated?: (orgId: string) => Promise<void>;
  /**
   * The account and Region the secrets live in, when that is not the client's own (a reader in
   * another account): secrets are then named by partial ARN, as Secrets Manager requires across accounts.
   * @default - the client's own account and Region (secrets named by name)
   */
  owner?: SecretOwner;
}

/** Where a broker's secrets are, for a reader in another account. */
export interface SecretOwner {
  /** The broker's AWS account id (12 digits). */
  accountId: string;
  /** The broker's Region, for example `eu-west-1`. */
  region: string;
  /** @default 'aws' */
  partition?: string;
}

/** What a read of an org's token secret found (see {@link SecretsManagerTokenVault.lookup}). */
export type TokenLookup = { status: 'found'; record: TokenRecord } | { status: 'absent'; why: 'no_secret' | 'deleted'; cause: unknown };

/** The Secrets Manager client type, for callers that pass their own without importing the SDK. */
export type { SecretsManagerClient };

/** The token vault on Secrets Manager. */
export class SecretsManagerTokenVault implements TokenVault {
  readonly #s: SecretStoreSettings;
  readonly #onCreated: ((orgId: string) => Promise<void>) | undefined;
  readonly #arnPrefix: string;

  constructor(options: SecretsManagerTokenVaultOptions) {
    const { onCreated, owner, ...store } = options ?? {};
    this.#s = secretStoreSettings('SecretsManagerTokenVault', store, DEFAULT_TOKEN_RECOVERY_WINDOW_DAYS);
    if (onCreated !== undefined && typeof onCreated !== 'function') throw new ValidationError('onCreated must be a function', { code: 'invalid_config', field: 'onCreated' });
    this.#onCreated = onCreated;
    this.#arnPrefix = owner === undefined ? '' : ownerArnPrefix(owner);
  }

  /** The secret name holding `orgId`'s token. */
  secretName(orgId: string): string {
    return `${this.#arnPrefix}${tokenSecretName(this.#s.prefix, orgId)}`;
  }

  /**
   * Makes `record` the org's AWSCURRENT token (the previous one becomes AWSPREVIOUS). Repeating a
   * write with the same `attemptId` and record is a no-op; the same `attemptId` with a different
   * record is refused, since a version can never change.
   */
  async write(record: TokenRecord, options: { attemptId: string; firstWrite?: boolean }): Promise<void> {
    const parsed = tokenRecordSchema.safeParse(record);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
      const orgId = typeof record?.orgId === 'string' && isOrgId(record.orgId) ? record.orgId : undefined;
      throw new ValidationError(`token record${orgId ? ` for org ${orgId}` : ''} is invalid (${fields})`, { field: fields, ...(orgId ? { orgId } : {}) });
    }
    const orgId = record.orgId;
    const secretId = this.secretName(orgId);
    const clientRequestToken = clientRequestTokenFor(options?.attemptId);
    let outcome: Awaited<ReturnType<typeof putOrCreateSecretValue>>;
    try {
      outcome = await putOrCreateSecretValue({
        client: this.#s.client,
        limiter: this.#s.limiter,
        secretId,
        secretString: serializeTokenRecord(record),
        clientRequestToken,
        createFirst: options.firstWrite === true,
        create: {
          kmsKeyId: this.#s.kmsKeyId,
          tags: [{ Key: SECRET_TAG_KEYS.orgId, Value: orgId }, { Key: SECRET_TAG_KEYS.managedBy, Value: MANAGED_BY_TAG_VALUE }, ...this.#s.extraTags],
          description: `Genesys Cloud access token for org ${orgId}, written by ${MANAGED_BY_TAG_VALUE}`,
        },
      });
    } catch (err) {
      throw this.#writeError(err, orgId);
    }
    if (outcome === 'created') await this.#onCreated?.(orgId);
  }

  /** The org's AWSCURRENT token, or undefined when it has none (never written, or removed). */
  async read(orgId: string): Promise<TokenRecord | undefined> {
    return this.#readStage(orgId, 'AWSCURRENT');
  }

  /**
   * The org's AWSCURRENT token, or why there is none: `no_secret` (never written, or no current
   * version) or `deleted` (scheduled for deletion: the org was removed), with the SDK exception as
   * `cause`. Other failures throw a StoreError `token_unavailable` whose `cause` is the SDK exception,
   * so a caller can tell access denied from throttling without reading a message.
   */
  async lookup(orgId: string): Promise<TokenLookup> {
    return this.#lookupStage(orgId, 'AWSCURRENT');
  }

  /** The token before the current one (AWSPREVIOUS), or undefined. */
  async readPrevious(orgId: string): Promise<TokenRecord | undefined> {
    return this.#readStage(orgId, 'AWSPREVIOUS');
  }

  /**
   * Schedules the org's token secret for deletion after the recovery window. Consumers reading it get
   * nothing from now on; `restore` undoes it within the window. Removing an absent secret is fine.
   */
  async remove(orgId: string): Promise<void> {
    const secretId = this.secretName(orgId);
    try {
      await scheduleSecretDeletion(this.#s.client, secretId, this.#s.recoveryWindowInDays);
    } catch (err) {
      throw toStoreError(err, 'vault_write_failed', 'Secrets Manager DeleteSecret of the token secret', orgId);
    }
  }

  /**
   * Cancels a scheduled deletion (an org re-added within the recovery window): writes to a secret
   * scheduled for deletion fail until then. Returns false when there is no such secret.
   */
  async restore(orgId: string): Promise<boolean> {
    try {
      return await restoreSecret(this.#s.client, this.secretName(orgId));
    } catch (err) {
      throw toStoreError(err, 'vault_write_failed', 'Secrets Manager RestoreSecret of the token secret', orgId);
    }
  }

  async #readStage(orgId: string, stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<TokenRecord | undefined> {
    const found = await this.#lookupStage(orgId, stage);
    return found.status === 'found' ? found.record : undefined;
  }

  async #lookupStage(orgId: string, stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<TokenLookup> {
    const secretId = this.secretName(orgId);
    let text: string | undefined;
    try {
      const out = await this.#s.client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
      text = out.SecretString;
    } catch (err) {
      // Not found covers "no such secret" and "no version with that label"; InvalidRequestException on
      // a read means the secret is scheduled for deletion: the org was removed.
      switch (sdkErrorName(err)) {
        case 'ResourceNotFoundException':
          return { status: 'absent', why: 'no_secret', cause: err };
        case 'InvalidRequestException':
          return { status: 'absent', why: 'deleted', cause: err };
        default:
          throw toStoreError(err, 'token_unavailable', `Secrets Manager GetSecretValue (${stage}) of the token secret`, orgId);
      }
    }
    if (text === undefined) {
      throw new StoreError('token_unavailable', `token secret for org ${orgId} holds binary data, not a token record`, { orgId, transient: false });
    }
    const record = parseTokenRecord(text, orgId);
    if (record.orgId !== orgId) {
      // Never hand one org's token to a caller asking for another.
      throw new BrokerError('token_unavailable', `token secret for org ${orgId} holds a token for a different org`, { orgId });
    }
    return { status: 'found', record };
  }

  #writeError(err: unknown, orgId: string): BrokerError {
    switch (sdkErrorName(err)) {
      case 'ResourceExistsException':
        return new StoreError('vault_write_failed', `token write for org ${orgId} reused an attempt id with a different token (a secret version cannot change)`, {
          cause: err,
          orgId,
          transient: false,
        });
      case 'InvalidRequestException':
        return new StoreError('vault_write_failed', `token secret for org ${orgId} cannot be written (scheduled for deletion?); restore it or wait for the recovery window`, {
          cause: err,
          orgId,
          transient: false,
        });
      default:
        return toStoreError(err, 'vault_write_failed', 'Secrets Manager PutSecretValue/CreateSecret of the token secret', orgId);
    }
  }
}

/**
 * A read-only view of the token vault, for consumers (the client library's Secrets Manager source).
 * Without a client it builds one with the SDK's defaults (the Lambda's region and role).
 */
export function createTokenSecretReader(options: { secretPrefix: string; client?: SecretsManagerClient; owner?: SecretOwner }): Pick<SecretsManagerTokenVault, 'lookup' | 'secretName'> {
  return new SecretsManagerTokenVault({ secretPrefix: options.secretPrefix, client: options.client ?? new SecretsManagerClient({}), ...(options.owner ? { owner: options.owner } : {}) });
}

/** `arn:<partition>:secretsmanager:<region>:<account>:secret:`, after checking each part. */
function ownerArnPrefix(owner: SecretOwner): string {
  const { accountId, region, partition = 'aws' } = owner ?? ({} as SecretOwner);
  if (typeof accountId !== 'string' || !/^\d{12}$/.test(accountId)) throw new ValidationError('owner.accountId must be a 12-digit AWS account id', { code: 'invalid_config', field: 'owner.accountId' });
  if (typeof region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new ValidationError('owner.region must be an AWS Region such as eu-west-1', { code: 'invalid_config', field: 'owner.region' });
  if (!['aws', 'aws-cn', 'aws-us-gov'].includes(partition)) throw new ValidationError('owner.partition must be aws, aws-cn or aws-us-gov', { code: 'invalid_config', field: 'owner.partition' });
  return `arn:${partition}:secretsmanager:${region}:${accountId}:secret:`;
}
