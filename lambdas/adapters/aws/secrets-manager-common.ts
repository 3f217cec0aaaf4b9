/**
 * What the Secrets Manager token vault and credential store share: option validation, the
 * ClientRequestToken rules, and the "put a new version, or create the secret" write. Exceptions are
 * classified by aws-errors.ts, like every other AWS adapter's.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  type PutSecretValueCommandOutput,
  type SecretsManagerClient,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import { ValidationError } from '../../core/errors.js';
import { sdkErrorName } from './aws-errors.js';
import { assertSecretPrefix, SECRET_TAG_KEYS } from './secret-names.js';
import type { WriteLimiter } from './write-limiter.js';

/** Length rule of ClientRequestToken (it becomes the new version's VersionId). */
const CLIENT_REQUEST_TOKEN = /^[A-Za-z0-9-]{32,64}$/;

/**
 * The ClientRequestToken for a write made on behalf of `attemptId`. A usable attempt id (32 to 64
 * letters, digits and hyphens, such as the engine's UUIDs) is used as it is, so the secret's VersionId
 * equals the audit record's attemptId; anything else is hashed into a UUID-shaped token. Either way
 * the same attempt always yields the same token, which makes a retried write a no-op.
 */
export function clientRequestTokenFor(attemptId: string): string {
  if (typeof attemptId !== 'string' || attemptId.length === 0 || attemptId.length > 1024) {
    throw new ValidationError('attemptId must be a non-empty string of at most 1024 characters', { field: 'attemptId' });
  }
  if (CLIENT_REQUEST_TOKEN.test(attemptId)) return attemptId;
  const hex = createHash('sha256').update(`genesys-token-broker/attempt/${attemptId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A fresh ClientRequestToken for writes that have no attempt to be idempotent with. */
export function randomClientRequestToken(): string {
  return randomUUID();
}

/** Validates extra tags once, at construction: AWS rules plus the keys the broker reserves. */
export function validateExtraTags(tags: Record<string, string> | undefined, reserved: readonly string[]): Tag[] {
  const entries = Object.entries(tags ?? {});
  if (entries.length + reserved.length > 50) {
    throw new ValidationError(`at most ${50 - reserved.length} extra tags are allowed, got ${entries.length}`, { code: 'invalid_config', field: 'tags' });
  }
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > 128) throw new ValidationError(`tag key ${JSON.stringify(key)} must be 1 to 128 characters`, { code: 'invalid_config', field: 'tags' });
    if (key.toLowerCase().startsWith('aws:')) throw new ValidationError(`tag key ${JSON.stringify(key)} uses the reserved aws: prefix`, { code: 'invalid_config', field: 'tags' });
    if (reserved.includes(key)) throw new ValidationError(`tag key ${JSON.stringify(key)} is set by the broker itself`, { code: 'invalid_config', field: 'tags' });
    if (typeof value !== 'string' || value.length > 256) throw new ValidationError(`tag ${JSON.stringify(key)} must have a string value of at most 256 characters`, { code: 'invalid_config', field: 'tags' });
  }
  return entries.map(([Key, Value]) => ({ Key, Value }));
}

/** Validates a recovery window once, at construction. */
export function validateRecoveryWindow(days: number | undefined, fallback: number): number {
  const value = days ?? fallback;
  if (!Number.isSafeInteger(value) || value < 7 || value > 30) {
    throw new ValidationError(`recoveryWindowInDays must be an integer from 7 to 30, got ${String(value)}`, { code: 'invalid_config', field: 'recoveryWindowInDays' });
  }
  return value;
}

/** One "write a new current version" request. */
export interface UpsertRequest {
  client: SecretsManagerClient;
  limiter?: WriteLimiter | undefined;
  /** Secret name or ARN to put to; also the name created when the secret does not exist. */
  secretId: string;
  secretString: string;
  clientRequestToken: string;
  /** Used only when the secret has to be created. */
  create: { kmsKeyId?: string | undefined; tags: Tag[]; description: string };
  /**
   * The secret most likely does not exist yet (a new org's first token): try CreateSecret first, so
   * a new org costs one write, not a failed PutSecretValue plus a CreateSecret.
   */
  createFirst?: boolean;
}

/** How the value was stored. */
export type UpsertOutcome = 'put' | 'created';

/**
 * Stores `secretString` as the secret's new AWSCURRENT version: PutSecretValue, and CreateSecret when
 * the secret does not exist yet. Two writers may race to create: the loser's CreateSecret fails with
 * ResourceExistsException and it falls back to PutSecretValue. The same ClientRequestToken is used
 * throughout, so a repeat of the whole sequence (or of any single call) adds no second version.
 * Every call goes through the limiter. SDK exceptions propagate for the caller to map.
 */
export async function putOrCreateSecretValue(request: UpsertRequest): Promise<UpsertOutcome> {
  const { client, limiter, secretId, secretString, clientRequestToken } = request;
  const put = async (): Promise<PutSecretValueCommandOutput> => {
    await limiter?.acquire();
    return client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: secretString, ClientRequestToken: clientRequestToken }));
  };
  /** CreateSecret; false when the secret exists already (someone created it, or it is not new). */
  const create = async (): Promise<boolean> => {
    try {
      await limiter?.acquire();
      await client.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString: secretString,
          ClientRequestToken: clientRequestToken,
          Description: request.create.description,
          Tags: request.create.tags,
          ...(request.create.kmsKeyId === undefined ? {} : { KmsKeyId: request.create.kmsKeyId }),
        }),
      );
      return true;
    } catch (err) {
      if (sdkErrorName(err) !== 'ResourceExistsException') throw err;
      return false;
    }
  };
  if (request.createFirst) {
    if (await create()) return 'created';
    await put();
    return 'put';
  }
  try {
    await put();
    return 'put';
  } catch (err) {
    if (sdkErrorName(err) !== 'ResourceNotFoundException') throw err;
  }
  if (await create()) return 'created';
  // Someone created the secret between our PutSecretValue and CreateSecret.
  await put();
  return 'put';
}

/**
 * Cancels a secret's scheduled deletion (an org re-added within its recovery window): writes to a
 * secret scheduled for deletion fail until then. False when there is no such secret; restoring a
 * secret that is not scheduled for deletion is a no-op that succeeds.
 */
export async function restoreSecret(client: SecretsManagerClient, secretId: string): Promise<boolean> {
  try {
    await client.send(new RestoreSecretCommand({ SecretId: secretId }));
    return true;
  } catch (err) {
    if (sdkErrorName(err) === 'ResourceNotFoundException') return false;
    throw err;
  }
}

/** Schedules a secret for deletion; a secret that is already gone or already scheduled is fine. */
export async function scheduleSecretDeletion(client: SecretsManagerClient, secretId: string, recoveryWindowInDays: number): Promise<'scheduled' | 'absent'> {
  try {
    await client.send(new DeleteSecretCommand({ SecretId: secretId, RecoveryWindowInDays: recoveryWindowInDays }));
    return 'scheduled';
  } catch (err) {
    const name = sdkErrorName(err);
    // InvalidRequestException here means "already scheduled for deletion": the outcome we want.
    if (name === 'ResourceNotFoundException' || name === 'InvalidRequestException') return 'absent';
    throw err;
  }
}

/** Options every Secrets Manager-backed store takes. */
export interface SecretStoreOptions {
  client: SecretsManagerClient;
  secretPrefix: string;
  kmsKeyId?: string;
  tags?: Record<string, string>;
  limiter?: WriteLimiter;
  recoveryWindowInDays?: number;
}

/** Validated settings of a Secrets Manager-backed store. */
export interface SecretStoreSettings {
  client: SecretsManagerClient;
  prefix: string;
  kmsKeyId: string | undefined;
  extraTags: Tag[];
  limiter: WriteLimiter | undefined;
  recoveryWindowInDays: number;
}

const SECRET_STORE_OPTION_KEYS = new Set(['client', 'secretPrefix', 'kmsKeyId', 'tags', 'limiter', 'recoveryWindowInDays']);

/** Validates a store's options (unknown keys rejected, errors name the option) into settings. */
export function secretStoreSettings(storeName: string, options: SecretStoreOptions, defaultRecoveryWindowDays: number): SecretStoreSettings {
  for (const key of Object.keys(options)) {
    if (!SECRET_STORE_OPTION_KEYS.has(key)) throw new ValidationError(`unknown ${storeName} option ${key}`, { code: 'invalid_config', field: key });
  }
  if (!options.client) throw new ValidationError('client is required', { code: 'invalid_config', field: 'client' });
  assertSecretPrefix(options.secretPrefix);
  if (options.kmsKeyId !== undefined && (typeof options.kmsKeyId !== 'string' || options.kmsKeyId.length === 0 || options.kmsKeyId.length > 2048)) {
    throw new ValidationError('kmsKeyId must be a key id, ARN or alias of 1 to 2048 characters', { code: 'invalid_config', field: 'kmsKeyId' });
  }
  return {
    client: options.client,
    prefix: options.secretPrefix,
    kmsKeyId: options.kmsKeyId,
    extraTags: validateExtraTags(options.tags, Object.values(SECRET_TAG_KEYS)),
    limiter: options.limiter,
    recoveryWindowInDays: validateRecoveryWindow(options.recoveryWindowInDays, defaultRecoveryWindowDays),
  };
}
