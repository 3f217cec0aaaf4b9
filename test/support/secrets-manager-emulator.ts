/**
 * A Secrets Manager emulator for tests: a node:http server on 127.0.0.1 that speaks the service's
 * awsJson1_1 wire protocol, so the real `@aws-sdk/client-secrets-manager` client (signing, retries,
 * error deserialisation and all) runs against it unchanged through its `endpoint` option.
 *
 * Wire protocol, as the real service: `POST /` with `X-Amz-Target: secretsmanager.<Operation>` and
 * `Content-Type: application/x-amz-json-1.1`, SigV4-signed; replies are JSON with timestamps as epoch
 * seconds; errors carry `{"__type": "<Name>", "message": "..."}` plus the `x-amzn-ErrorType` header,
 * with HTTP 400 for client faults and 5xx for server faults, so the SDK raises the modelled exception
 * class and its retry strategy classifies throttling and server errors as it would in AWS.
 *
 * Semantics follow the API reference: ARNs with a six-character random suffix; names or full or
 * partial ARNs as SecretId; staging labels (a new AWSCURRENT demotes the old one to AWSPREVIOUS and
 * strips AWSPREVIOUS from the version before it); ClientRequestToken idempotency (same token and value
 * is a no-op returning the existing version, same token and a different value is
 * ResourceExistsException); scheduled deletion with a 7-30 day recovery window, during which the
 * secret answers InvalidRequestException to reads and writes, and RestoreSecret.
 *
 * Test hooks: `calls` (per operation and `total`), `requests` (operation, SDK attempt number,
 * outcome; never bodies), `injectFault`, read-only inspection of stored secrets and versions, an
 * injectable clock, and `close()`. The emulator never logs; values are only reachable through the
 * inspection methods the tests call themselves.
 *
 * The HTTP, SigV4, error, fault and counting plumbing is aws-json-server.ts, shared with the KMS emulator.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  AwsJsonEmulator,
  epochSeconds,
  type Json,
  lowerFirst,
  optionalInteger,
  optionalString,
  requiredString,
  ServiceError,
  validation,
} from './aws-json-server.js';
import { type EmulatorClientOptions, emulatorClientConfig } from './aws-wire.js';

export type { CallCounts, FaultSpec, RecordedRequest } from './aws-json-server.js';
export type { EmulatorClientOptions } from './aws-wire.js';

/** Operations the emulator implements. Anything else answers UnknownOperationException. */
export const EMULATED_OPERATIONS = [
  'CreateSecret',
  'GetSecretValue',
  'PutSecretValue',
  'DescribeSecret',
  'DeleteSecret',
  'RestoreSecret',
  'TagResource',
  'UntagResource',
  'ListSecrets',
  'ListSecretVersionIds',
  'PutResourcePolicy',
  'GetResourcePolicy',
  'DeleteResourcePolicy',
] as const;

export type EmulatedOperation = (typeof EMULATED_OPERATIONS)[number];

/** Static fake credentials the emulator accepts (and the helper client signs with). */
export const EMULATOR_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIAEMULATOR00000000',
  secretAccessKey: 'emulator-secret-access-key-not-a-real-one',
});

export interface SecretsManagerEmulatorOptions {
  /** @default 'us-east-1' */
  region?: string;
  /** @default '123456789012' */
  accountId?: string;
  /**
   * Check every request's SigV4 signature against `EMULATOR_CREDENTIALS`, region and service, as AWS
   * does; a wrong region in the client then fails here as it would there.
   * @default true
   */
  verifySignatures?: boolean;
  /**
   * Time source for CreatedDate, deletion dates and the expiry of recovery windows.
   * @default Date.now
   */
  now?: () => number;
  /** @default 100, the service's approximate quota of versions per secret */
  maxVersionsPerSecret?: number;
}

/** A stored version, as tests inspect it. */
export interface EmulatedVersion {
  versionId: string;
  stages: string[];
  secretString?: string;
  secretBinary?: Uint8Array;
  createdDate: Date;
}

/** A stored secret, as tests inspect it. */
export interface EmulatedSecret {
  name: string;
  arn: string;
  description?: string;
  kmsKeyId?: string;
  tags: Record<string, string>;
  createdDate: Date;
  lastChangedDate: Date;
  /** When DeleteSecret was called; absent unless scheduled for deletion. */
  deletedDate?: Date;
  /** When the recovery window ends and the secret is gone for good. */
  deletionDate?: Date;
  /** Oldest first, including deprecated (unlabelled) versions. */
  versions: EmulatedVersion[];
  /** The resource policy (PutResourcePolicy's JSON text), absent when the secret has none. */
  resourcePolicy?: string;
  /** Whether the last PutResourcePolicy asked for BlockPublicPolicy. */
  blockPublicPolicy?: boolean;
}

interface StoredVersion {
  versionId: string;
  secretString?: string;
  /** Base64, as on the wire. */
  secretBinary?: string;
  stages: string[];
  createdMs: number;
}

interface StoredSecret {
  name: string;
  arn: string;
  description?: string;
  kmsKeyId?: string;
  tags: Map<string, string>;
  versions: Map<string, StoredVersion>;
  createdMs: number;
  lastChangedMs: number;
  lastAccessedMs?: number;
  deletedMs?: number;
  deletionDateMs?: number;
  resourcePolicy?: string;
  blockPublicPolicy?: boolean;
  seq: number;
}

/** What the shared plumbing needs to know about Secrets Manager. */
const SERVICE = {
  targetPrefix: 'secretsmanager',
  signingName: 'secretsmanager',
  faultStatuses: { InternalServiceError: 500, InternalFailure: 500, ServiceUnavailable: 503 },
  faultMessages: {
    ThrottlingException: 'Rate exceeded',
    InternalServiceError: 'An error occurred on the server side.',
    ServiceUnavailable: 'Service Unavailable',
    AccessDeniedException: 'User is not authorized to perform this action',
  },
};

const DAY_MS = 86_400_000;
const SECRET_NAME_CHARS = /^[A-Za-z0-9/_+=.@-]+$/;
const SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const FILTER_KEYS = new Set(['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all']);

const notFound = () => new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
const markedForDeletion = () =>
  new ServiceError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");

function randomSuffix(): string {
  const bytes = randomBytes(6);
  return [...bytes].map((b) => SUFFIX_CHARS[b % SUFFIX_CHARS.length]).join('');
}

/** The Secrets Manager emulator. Start it with {@link SecretsManagerEmulator.start}. */
export class SecretsManagerEmulator extends AwsJsonEmulator<EmulatedOperation> {
  readonly #now: () => number;
  readonly #maxVersions: number;
  readonly #secrets = new Map<string, StoredSecret>();
  #seq = 0;

  private constructor(options: SecretsManagerEmulatorOptions) {
    super(SERVICE, {
      region: options.region ?? 'us-east-1',
      accountId: options.accountId ?? '123456789012',
      credentials: EMULATOR_CREDENTIALS,
      verifySignatures: options.verifySignatures ?? true,
    });
    this.#now = options.now ?? Date.now;
    this.#maxVersions = options.maxVersionsPerSecret ?? 100;
  }

  /** Starts an emulator on 127.0.0.1 and an ephemeral port. */
  static async start(options: SecretsManagerEmulatorOptions = {}): Promise<SecretsManagerEmulator> {
    const emulator = new SecretsManagerEmulator(options);
    await emulator.listen();
    return emulator;
  }

  /** Forgets every secret, fault and count. */
  reset(): void {
    this.#secrets.clear();
    this.clearFaults();
    this.resetCalls();
  }

  /** A snapshot of one secret (by name or ARN), including one scheduled for deletion. */
  secret(secretId: string): EmulatedSecret | undefined {
    this.#purgeExpired();
    const s = this.#resolve(secretId);
    if (!s) return undefined;
    return {
      name: s.name,
      arn: s.arn,
      ...(s.description === undefined ? {} : { description: s.description }),
      ...(s.kmsKeyId === undefined ? {} : { kmsKeyId: s.kmsKeyId }),
      tags: Object.fromEntries(s.tags),
      createdDate: new Date(s.createdMs),
      lastChangedDate: new Date(s.lastChangedMs),
      ...(s.deletedMs === undefined ? {} : { deletedDate: new Date(s.deletedMs) }),
      ...(s.deletionDateMs === undefined ? {} : { deletionDate: new Date(s.deletionDateMs) }),
      ...(s.resourcePolicy === undefined ? {} : { resourcePolicy: s.resourcePolicy, blockPublicPolicy: s.blockPublicPolicy === true }),
      versions: [...s.versions.values()].map((v) => ({
        versionId: v.versionId,
        stages: [...v.stages],
        ...(v.secretString === undefined ? {} : { secretString: v.secretString }),
        ...(v.secretBinary === undefined ? {} : { secretBinary: new Uint8Array(Buffer.from(v.secretBinary, 'base64')) }),
        createdDate: new Date(v.createdMs),
      })),
    };
  }

  /** The versions of one secret, oldest first; empty when there is no such secret. */
  versions(secretId: string): EmulatedVersion[] {
    return this.secret(secretId)?.versions ?? [];
  }

  /** The version holding `stage` (AWSCURRENT by default), or undefined. */
  versionWithStage(secretId: string, stage = 'AWSCURRENT'): EmulatedVersion | undefined {
    return this.versions(secretId).find((v) => v.stages.includes(stage));
  }

  /** Names of stored secrets, in creation order. */
  secretNames(options: { includeScheduledForDeletion?: boolean } = {}): string[] {
    this.#purgeExpired();
    return [...this.#secrets.values()].filter((s) => options.includeScheduledForDeletion || s.deletedMs === undefined).map((s) => s.name);
  }

  // ---- Operations ------------------------------------------------------------------------------

  protected dispatch(operation: string, input: Json): Json {
    this.#purgeExpired();
    switch (operation) {
      case 'CreateSecret':
        return this.#createSecret(input);
      case 'GetSecretValue':
        return this.#getSecretValue(input);
      case 'PutSecretValue':
        return this.#putSecretValue(input);
      case 'DescribeSecret':
        return this.#describeSecret(input);
      case 'DeleteSecret':
        return this.#deleteSecret(input);
      case 'RestoreSecret':
        return this.#restoreSecret(input);
      case 'TagResource':
        return this.#tagResource(input);
      case 'UntagResource':
        return this.#untagResource(input);
      case 'ListSecrets':
        return this.#listSecrets(input);
      case 'ListSecretVersionIds':
        return this.#listSecretVersionIds(input);
      case 'PutResourcePolicy':
        return this.#putResourcePolicy(input);
      case 'GetResourcePolicy': {
        const secret = this.#existing(requiredString(input, 'SecretId', 1, 2048));
        return { ARN: secret.arn, Name: secret.name, ...(secret.resourcePolicy === undefined ? {} : { ResourcePolicy: secret.resourcePolicy }) };
      }
      case 'DeleteResourcePolicy': {
        // Deleting a policy the secret does not have succeeds, as on the service.
        const secret = this.#live(requiredString(input, 'SecretId', 1, 2048));
        delete secret.resourcePolicy;
        delete secret.blockPublicPolicy;
        return { ARN: secret.arn, Name: secret.name };
      }
      default:
        throw new ServiceError('UnknownOperationException', `The emulator does not implement ${operation}`);
    }
  }

  #createSecret(input: Json): Json {
    const name = requiredString(input, 'Name', 1, 512);
    if (!SECRET_NAME_CHARS.test(name)) {
      throw new ServiceError('InvalidParameterException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
    }
    const description = optionalString(input, 'Description', 0, 2048);
    const kmsKeyId = optionalString(input, 'KmsKeyId', 0, 2048);
    const value = secretValue(input);
    const token = optionalString(input, 'ClientRequestToken', 32, 64) ?? randomUUID();
    const tags = tagList(input, 'Tags');
    if (tags.length > 50) throw new ServiceError('ValidationException', "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50");

    const existing = this.#secrets.get(name);
    if (existing?.deletedMs !== undefined) {
      throw new ServiceError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
    }
    if (existing) {
      // A retried CreateSecret (same token, same value) is ignored, as the API reference describes.
      const version = existing.versions.get(token);
      if (version && value && sameValue(version, value)) {
        return { ARN: existing.arn, Name: existing.name, VersionId: version.versionId };
      }
      throw new ServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }
    const now = this.#now();
    const secret: StoredSecret = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${randomSuffix()}`,
      ...(description === undefined ? {} : { description }),
      ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
      tags: new Map(tags.map((t) => [t.Key, t.Value])),
      versions: new Map(),
      createdMs: now,
      lastChangedMs: now,
      seq: ++this.#seq,
    };
    if (value) secret.versions.set(token, { versionId: token, ...value, stages: ['AWSCURRENT'], createdMs: now });
    this.#secrets.set(name, secret);
    return { ARN: secret.arn, Name: secret.name, ...(value ? { VersionId: token } : {}) };
  }

  #getSecretValue(input: Json): Json {
    const secret = this.#live(requiredString(input, 'SecretId', 1, 2048));
    const versionId = optionalString(input, 'VersionId', 32, 64);
    const stage = optionalString(input, 'VersionStage', 1, 256);
    let version: StoredVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (!version) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
      if (stage !== undefined && !version.stages.includes(stage)) {
        throw new ServiceError('InvalidRequestException', 'You provided a VersionStage that is not associated to the provided VersionId.');
      }
    } else {
      const wanted = stage ?? 'AWSCURRENT';
      version = [...secret.versions.values()].find((v) => v.stages.includes(wanted));
      if (!version) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${wanted}`);
    }
    // The service records access to the day, not the instant.
    secret.lastAccessedMs = Math.floor(this.#now() / DAY_MS) * DAY_MS;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      ...(version.secretString === undefined ? {} : { SecretString: version.secretString }),
      ...(version.secretBinary === undefined ? {} : { SecretBinary: version.secretBinary }),
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.createdMs),
    };
  }

  #putSecretValue(input: Json): Json {
    const secretId = requiredString(input, 'SecretId', 1, 2048);
    const token = optionalString(input, 'ClientRequestToken', 32, 64) ?? randomUUID();
    const value = secretValue(input);
    const stages = optionalStringList(input, 'VersionStages', 1, 20, 1, 256);
    if (!value) throw new ServiceError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
    const secret = this.#live(secretId);

    const existing = secret.versions.get(token);
    if (existing) {
      if (!sameValue(existing, value)) {
        throw new ServiceError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: existing.versionId, VersionStages: [...existing.stages] };
    }
    this.#makeRoomForVersion(secret);
    const now = this.#now();
    const version: StoredVersion = { versionId: token, ...value, stages: [], createdMs: now };
    secret.versions.set(token, version);
    for (const stage of [...new Set(stages ?? ['AWSCURRENT'])]) this.#moveStage(secret, stage, version);
    secret.lastChangedMs = now;
    return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...version.stages] };
  }

  /** Moves a staging label onto `to`; moving AWSCURRENT demotes its old holder to AWSPREVIOUS. */
  #moveStage(secret: StoredSecret, stage: string, to: StoredVersion): void {
    const from = [...secret.versions.values()].find((v) => v !== to && v.stages.includes(stage));
    if (from) from.stages = from.stages.filter((s) => s !== stage);
    to.stages.push(stage);
    if (stage === 'AWSCURRENT' && from) {
      for (const v of secret.versions.values()) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
      from.stages.push('AWSPREVIOUS');
    }
  }

  /**
   * The service keeps about 100 versions: it drops deprecated (unlabelled) versions beyond that, but
   * never one younger than 24 hours, and refuses new versions when it cannot make room.
   */
  #makeRoomForVersion(secret: StoredSecret): void {
    if (secret.versions.size < this.#maxVersions) return;
    const cutoff = this.#now() - DAY_MS;
    for (const v of [...secret.versions.values()]) {
      if (secret.versions.size < this.#maxVersions) return;
      if (v.stages.length === 0 && v.createdMs <= cutoff) secret.versions.delete(v.versionId);
    }
    if (secret.versions.size >= this.#maxVersions) {
      throw new ServiceError('LimitExceededException', `You have exceeded the quota of ${this.#maxVersions} versions for the secret ${secret.name}.`);
    }
  }

  #describeSecret(input: Json): Json {
    const secret = this.#existing(requiredString(input, 'SecretId', 1, 2048));
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description === undefined ? {} : { Description: secret.description }),
      ...(secret.kmsKeyId === undefined ? {} : { KmsKeyId: secret.kmsKeyId }),
      LastChangedDate: epochSeconds(secret.lastChangedMs),
      ...(secret.lastAccessedMs === undefined ? {} : { LastAccessedDate: epochSeconds(secret.lastAccessedMs) }),
      ...(secret.deletedMs === undefined ? {} : { DeletedDate: epochSeconds(secret.deletedMs) }),
      ...(secret.tags.size === 0 ? {} : { Tags: [...secret.tags].map(([Key, Value]) => ({ Key, Value })) }),
      VersionIdsToStages: versionsToStages(secret),
      CreatedDate: epochSeconds(secret.createdMs),
    };
  }

  #deleteSecret(input: Json): Json {
    const secretId = requiredString(input, 'SecretId', 1, 2048);
    const window = input.RecoveryWindowInDays;
    const force = input.ForceDeleteWithoutRecovery;
    if (window !== undefined && window !== null && typeof window !== 'number') throw new ServiceError('SerializationException', 'RecoveryWindowInDays must be a number');
    if (force !== undefined && force !== null && typeof force !== 'boolean') throw new ServiceError('SerializationException', 'ForceDeleteWithoutRecovery must be a boolean');
    if (typeof window === 'number' && force === true) {
      throw new ServiceError('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    if (typeof window === 'number' && (!Number.isInteger(window) || window < 7 || window > 30)) {
      throw new ServiceError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const now = this.#now();
    const secret = this.#resolve(secretId);
    if (!secret) {
      // The service answers a forced delete of an unknown secret with success.
      if (force === true) return { ARN: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${secretId}-${randomSuffix()}`, Name: secretId, DeletionDate: epochSeconds(now) };
      throw notFound();
    }
    if (force === true) {
      this.#secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(now) };
    }
    if (secret.deletedMs !== undefined) {
      throw new ServiceError('InvalidRequestException', "You can't perform this operation on the secret because it was already scheduled for deletion.");
    }
    secret.deletedMs = now;
    secret.deletionDateMs = now + (typeof window === 'number' ? window : 30) * DAY_MS;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.deletionDateMs) };
  }

  #restoreSecret(input: Json): Json {
    const secret = this.#existing(requiredString(input, 'SecretId', 1, 2048));
    delete secret.deletedMs;
    delete secret.deletionDateMs;
    return { ARN: secret.arn, Name: secret.name };
  }

  /**
   * PutResourcePolicy: the document must be a JSON policy (MalformedPolicyDocumentException), and with
   * BlockPublicPolicy an Allow statement for any principal (`"*"` or `{"AWS": "*"}`) is refused
   * (PublicPolicyException), as the service's policy validation does.
   */
  #putResourcePolicy(input: Json): Json {
    const secret = this.#live(requiredString(input, 'SecretId', 1, 2048));
    const text = requiredString(input, 'ResourcePolicy', 1, 20_480);
    const block = input.BlockPublicPolicy;
    if (block !== undefined && block !== null && typeof block !== 'boolean') throw new ServiceError('SerializationException', 'BlockPublicPolicy must be a boolean');
    let policy: { Version?: unknown; Statement?: unknown };
    try {
      policy = JSON.parse(text) as typeof policy;
    } catch {
      throw new ServiceError('MalformedPolicyDocumentException', 'This resource policy contains a syntax error.');
    }
    const statements = Array.isArray(policy?.Statement) ? (policy.Statement as Record<string, unknown>[]) : policy?.Statement ? [policy.Statement as Record<string, unknown>] : [];
    if (typeof policy !== 'object' || policy === null || policy.Version !== '2012-10-17' || statements.length === 0) {
      throw new ServiceError('MalformedPolicyDocumentException', 'This resource policy contains an unsupported or missing Version or Statement.');
    }
    const isPublic = (principal: unknown): boolean => {
      if (principal === '*') return true;
      const aws = (principal as { AWS?: unknown } | undefined)?.AWS;
      return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
    };
    if (block === true && statements.some((st) => st.Effect === 'Allow' && isPublic(st.Principal))) {
      throw new ServiceError('PublicPolicyException', 'The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.');
    }
    secret.resourcePolicy = text;
    secret.blockPublicPolicy = block === true;
    return { ARN: secret.arn, Name: secret.name };
  }

  #tagResource(input: Json): Json {
    const secret = this.#live(requiredString(input, 'SecretId', 1, 2048));
    if (input.Tags === undefined || input.Tags === null) throw validation('tags', 'Member must not be null');
    const tags = tagList(input, 'Tags');
    const merged = new Map(secret.tags);
    for (const t of tags) merged.set(t.Key, t.Value);
    if (merged.size > 50) throw new ServiceError('LimitExceededException', 'A secret can have at most 50 tags.');
    secret.tags = merged;
    return {};
  }

  #untagResource(input: Json): Json {
    const secret = this.#live(requiredString(input, 'SecretId', 1, 2048));
    const keys = optionalStringList(input, 'TagKeys', 0, 50, 1, 128);
    if (keys === undefined) throw validation('tagKeys', 'Member must not be null');
    for (const key of keys) secret.tags.delete(key);
    return {};
  }

  #listSecrets(input: Json): Json {
    const includePlanned = input.IncludePlannedDeletion === true;
    const maxResults = optionalInteger(input, 'MaxResults', 1, 100) ?? 100;
    const sortOrder = optionalString(input, 'SortOrder', 3, 4) ?? 'desc';
    if (sortOrder !== 'asc' && sortOrder !== 'desc') throw validation('sortOrder', 'Member must satisfy enum value set: [asc, desc]');
    const filters = parseFilters(input.Filters);
    const matching = [...this.#secrets.values()]
      .filter((s) => includePlanned || s.deletedMs === undefined)
      .filter((s) => filters.every((f) => matchesFilter(s, f)))
      .sort((a, b) => (sortOrder === 'asc' ? a.seq - b.seq : b.seq - a.seq));
    const start = decodeNextToken(input.NextToken);
    const page = matching.slice(start, start + maxResults);
    const next = start + maxResults < matching.length ? encodeNextToken(start + maxResults) : undefined;
    return {
      SecretList: page.map((s) => ({
        ARN: s.arn,
        Name: s.name,
        ...(s.description === undefined ? {} : { Description: s.description }),
        ...(s.kmsKeyId === undefined ? {} : { KmsKeyId: s.kmsKeyId }),
        LastChangedDate: epochSeconds(s.lastChangedMs),
        ...(s.lastAccessedMs === undefined ? {} : { LastAccessedDate: epochSeconds(s.lastAccessedMs) }),
        ...(s.deletedMs === undefined ? {} : { DeletedDate: epochSeconds(s.deletedMs) }),
        ...(s.tags.size === 0 ? {} : { Tags: [...s.tags].map(([Key, Value]) => ({ Key, Value })) }),
        SecretVersionsToStages: versionsToStages(s),
        CreatedDate: epochSeconds(s.createdMs),
      })),
      ...(next === undefined ? {} : { NextToken: next }),
    };
  }

  #listSecretVersionIds(input: Json): Json {
    const secret = this.#existing(requiredString(input, 'SecretId', 1, 2048));
    const includeDeprecated = input.IncludeDeprecated === true;
    const maxResults = optionalInteger(input, 'MaxResults', 1, 100) ?? 100;
    const versions = [...secret.versions.values()].filter((v) => includeDeprecated || v.stages.length > 0);
    const start = decodeNextToken(input.NextToken);
    const page = versions.slice(start, start + maxResults);
    const next = start + maxResults < versions.length ? encodeNextToken(start + maxResults) : undefined;
    return {
      ARN: secret.arn,
      Name: secret.name,
      Versions: page.map((v) => ({ VersionId: v.versionId, VersionStages: [...v.stages], CreatedDate: epochSeconds(v.createdMs) })),
      ...(next === undefined ? {} : { NextToken: next }),
    };
  }

  // ---- Lookup ----------------------------------------------------------------------------------

  /** Name, full ARN, or partial ARN (without the random suffix). */
  #resolve(secretId: string): StoredSecret | undefined {
    if (!secretId.startsWith('arn:')) return this.#secrets.get(secretId);
    const m = /^arn:aws:secretsmanager:([^:]+):(\d{12}):secret:(.+)$/.exec(secretId);
    if (!m || m[1] !== this.region || m[2] !== this.accountId) return undefined;
    for (const s of this.#secrets.values()) if (s.arn === secretId) return s;
    return this.#secrets.get(m[3]!);
  }

  /** A secret that exists, scheduled for deletion or not. */
  #existing(secretId: string): StoredSecret {
    const secret = this.#resolve(secretId);
    if (!secret) throw notFound();
    return secret;
  }

  /** A secret that exists and is not scheduled for deletion. */
  #live(secretId: string): StoredSecret {
    const secret = this.#existing(secretId);
    if (secret.deletedMs !== undefined) throw markedForDeletion();
    return secret;
  }

  /** Secrets whose recovery window has passed are gone, as if the service had swept them. */
  #purgeExpired(): void {
    const now = this.#now();
    for (const [name, s] of this.#secrets) if (s.deletionDateMs !== undefined && s.deletionDateMs <= now) this.#secrets.delete(name);
  }
}

/** A real SecretsManagerClient pointed at the emulator with static fake credentials. */
export function createEmulatorClient(emulator: SecretsManagerEmulator, options: EmulatorClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient(emulatorClientConfig(emulator, options));
}

// ---- Input parsing -------------------------------------------------------------------------------

function optionalStringList(input: Json, member: string, minItems: number, maxItems: number, min: number, max: number): string[] | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ServiceError('SerializationException', `${member} must be a list of strings`);
  if (value.length < minItems || value.length > maxItems) throw validation(lowerFirst(member), `Member must have length between ${minItems} and ${maxItems}`);
  for (const v of value as string[]) {
    if (v.length < min || v.length > max) throw validation(lowerFirst(member), `Member must satisfy constraint: [Member must have length between ${min} and ${max}]`);
  }
  return value as string[];
}

function tagList(input: Json, member: string): Array<{ Key: string; Value: string }> {
  const value = input[member];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ServiceError('SerializationException', `${member} must be a list`);
  return value.map((t: unknown) => {
    const tag = (typeof t === 'object' && t !== null ? t : {}) as Json;
    const key = requiredString(tag, 'Key', 1, 128);
    const tagValue = optionalString(tag, 'Value', 0, 256) ?? '';
    return { Key: key, Value: tagValue };
  });
}

type SecretValue = { secretString: string } | { secretBinary: string };

/** The value members of a write: exactly one of SecretString and SecretBinary, or none. */
function secretValue(input: Json): SecretValue | undefined {
  const text = optionalString(input, 'SecretString', 1, 65_536);
  const binary = input.SecretBinary;
  if (binary !== undefined && binary !== null && typeof binary !== 'string') throw new ServiceError('SerializationException', 'SecretBinary must be base64 text');
  if (text !== undefined && typeof binary === 'string') {
    throw new ServiceError('InvalidParameterException', "You can't specify both a binary secret value and a string secret value in the same secret.");
  }
  if (typeof binary === 'string') {
    if (Buffer.from(binary, 'base64').length > 65_536) throw validation('secretBinary', 'Member must have length less than or equal to 65536');
    return { secretBinary: binary };
  }
  return text === undefined ? undefined : { secretString: text };
}

function sameValue(version: StoredVersion, value: SecretValue): boolean {
  return 'secretString' in value ? version.secretString === value.secretString : version.secretBinary === value.secretBinary;
}

function versionsToStages(secret: StoredSecret): Record<string, string[]> {
  // Versions without a label are deprecated and left out, as the service does.
  return Object.fromEntries([...secret.versions.values()].filter((v) => v.stages.length > 0).map((v) => [v.versionId, [...v.stages]]));
}

interface Filter {
  key: string;
  values: string[];
}

function parseFilters(raw: unknown): Filter[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.length > 10) throw validation('filters', 'Member must have length less than or equal to 10');
  return raw.map((f: unknown) => {
    const filter = (typeof f === 'object' && f !== null ? f : {}) as Json;
    const key = requiredString(filter, 'Key', 1, 32);
    if (!FILTER_KEYS.has(key)) throw validation('filters.member.key', `Member must satisfy enum value set: [${[...FILTER_KEYS].join(', ')}]`);
    const values = optionalStringList(filter, 'Values', 1, 10, 1, 512) ?? [];
    return { key, values };
  });
}

/** Prefix match; a value starting with `!` negates. Values of one filter are OR-ed. */
function matchesFilter(secret: StoredSecret, filter: Filter): boolean {
  const fields = (): string[] => {
    switch (filter.key) {
      case 'name':
        return [secret.name];
      case 'description':
        return secret.description === undefined ? [] : [secret.description];
      case 'tag-key':
        return [...secret.tags.keys()];
      case 'tag-value':
        return [...secret.tags.values()];
      case 'all':
        return [secret.name, ...(secret.description === undefined ? [] : [secret.description]), ...secret.tags.keys(), ...secret.tags.values()];
      default:
        return [];
    }
  };
  const candidates = fields();
  return filter.values.some((raw) => {
    const negate = raw.startsWith('!');
    const prefix = negate ? raw.slice(1) : raw;
    const hit = candidates.some((c) => c.startsWith(prefix));
    return negate ? !hit : hit;
  });
}

function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

function decodeNextToken(raw: unknown): number {
  if (raw === undefined || raw === null) return 0;
  if (typeof raw === 'string') {
    try {
      const parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { offset?: unknown };
      if (typeof parsed.offset === 'number' && Number.isInteger(parsed.offset) && parsed.offset >= 0) return parsed.offset;
    } catch {
      // fall through to the service's answer for a token it did not issue
    }
  }
  throw new ServiceError('InvalidNextTokenException', 'The NextToken value is invalid.');
}
