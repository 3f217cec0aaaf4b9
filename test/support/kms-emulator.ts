/**
 * A KMS emulator for tests: a node:http server on 127.0.0.1 that speaks the service's awsJson1_1
 * wire protocol (`X-Amz-Target: TrentService.<Operation>`, SigV4 for `kms`), so the real
 * `@aws-sdk/client-kms` client (signing, retries, error deserialisation and all) runs against it
 * unchanged through its `endpoint` option. The plumbing is aws-json-server.ts, shared with the
 * Secrets Manager emulator.
 *
 * Symmetric encryption keys only, with the semantics envelope encryption depends on:
 * - Every key has its own random 256-bit master key that never leaves the emulator. A ciphertext blob
 *   is AES-256-GCM under it, with the key id inside the blob and, as additional authenticated data,
 *   the key id and the canonical encryption context (entries sorted by key). So Decrypt succeeds only
 *   with the same key and exactly the same context: a different, missing or extra context entry, a
 *   tampered blob, or a blob moved to another key answers InvalidCiphertextException, as KMS does.
 *   An empty context is the same as none, as in KMS.
 * - Decrypt's KeyId is optional; when given and it names another key than the blob's, the answer is
 *   IncorrectKeyException (KMS's answer), not InvalidCiphertextException.
 * - Keys are addressed by id, key ARN, alias name (`alias/...`) or alias ARN. An unknown key is
 *   NotFoundException; a disabled one (DisableKey) is DisabledException for every cryptographic call.
 * - Blobs are base64 on the wire; the blob format is the emulator's own, opaque to callers as KMS's is.
 *
 * Operations: CreateKey, DescribeKey, EnableKey, DisableKey, CreateAlias, GenerateDataKey, Encrypt,
 * Decrypt. Not emulated: asymmetric and HMAC keys, grants, key policies and access checks, key
 * rotation, deletion, custom key stores, DryRun, Recipient (Nitro enclaves).
 *
 * Test hooks: `calls` (per operation and `total`), `requests` (operation, SDK attempt number,
 * outcome; never bodies, so never plaintext), `injectFault`, `keyIds()`, `keyState()`, and `close()`.
 * The emulator never logs and never keeps a plaintext or a data key.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { AwsJsonEmulator, epochSeconds, type Json, lowerFirst, optionalInteger, optionalString, requiredString, ServiceError, validation } from './aws-json-server.js';
import { type EmulatorClientOptions, emulatorClientConfig } from './aws-wire.js';

export type { CallCounts, FaultSpec, RecordedRequest } from './aws-json-server.js';
export type { EmulatorClientOptions } from './aws-wire.js';

/** Operations the emulator implements. Anything else answers UnknownOperationException. */
export const KMS_EMULATED_OPERATIONS = ['CreateKey', 'DescribeKey', 'EnableKey', 'DisableKey', 'CreateAlias', 'GenerateDataKey', 'Encrypt', 'Decrypt'] as const;

export type KmsEmulatedOperation = (typeof KMS_EMULATED_OPERATIONS)[number];

/** Static fake credentials the emulator accepts (and {@link createKmsEmulatorClient} signs with). */
export const KMS_EMULATOR_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIAKMSEMULATOR00000',
  secretAccessKey: 'kms-emulator-secret-access-key-not-a-real-one',
});

export interface KmsEmulatorOptions {
  /** @default 'us-east-1' */
  region?: string;
  /** @default '123456789012' */
  accountId?: string;
  /**
   * Check every request's SigV4 signature against {@link KMS_EMULATOR_CREDENTIALS}, the region and
   * the `kms` service, as AWS does.
   * @default true
   */
  verifySignatures?: boolean;
  /** Time source for CreationDate. @default Date.now */
  now?: () => number;
}

/** A key's state as DescribeKey reports it. */
export type KmsKeyState = 'Enabled' | 'Disabled';

interface StoredKey {
  keyId: string;
  arn: string;
  description: string;
  createdMs: number;
  enabled: boolean;
  /** The master key: AES-256, random per key, never on the wire. */
  material: Buffer;
}

/** What the shared plumbing needs to know about KMS. */
const SERVICE = {
  targetPrefix: 'TrentService',
  signingName: 'kms',
  faultStatuses: { KMSInternalException: 500, KeyUnavailableException: 500, InternalFailure: 500, DependencyTimeoutException: 503 },
  faultMessages: {
    ThrottlingException: 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
    KMSInternalException: 'An internal error occurred.',
    AccessDeniedException: 'User is not authorized to perform this action',
  },
};

/** First byte of every blob this emulator issues. */
const BLOB_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_PLAINTEXT_BYTES = 4096;
const MAX_CIPHERTEXT_BYTES = 6144;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
const DATA_KEY_BYTES: Readonly<Record<string, number>> = { AES_256: 32, AES_128: 16 };

// KMS's own message: it says nothing about which part did not match.
const invalidCiphertext = () => new ServiceError('InvalidCiphertextException', 'The ciphertext is invalid or was not encrypted under this key and encryption context.');

/** The KMS emulator. Start it with {@link KmsEmulator.start}. */
export class KmsEmulator extends AwsJsonEmulator<KmsEmulatedOperation> {
  readonly #now: () => number;
  readonly #keys = new Map<string, StoredKey>();
  /** Alias name (`alias/...`) to key id. */
  readonly #aliases = new Map<string, string>();

  private constructor(options: KmsEmulatorOptions) {
    super(SERVICE, {
      region: options.region ?? 'us-east-1',
      accountId: options.accountId ?? '123456789012',
      credentials: KMS_EMULATOR_CREDENTIALS,
      verifySignatures: options.verifySignatures ?? true,
    });
    this.#now = options.now ?? Date.now;
  }

  /** Starts an emulator on 127.0.0.1 and an ephemeral port. */
  static async start(options: KmsEmulatorOptions = {}): Promise<KmsEmulator> {
    const emulator = new KmsEmulator(options);
    await emulator.listen();
    return emulator;
  }

  /** Forgets every key, alias, fault and count. */
  reset(): void {
    this.#keys.clear();
    this.#aliases.clear();
    this.clearFaults();
    this.resetCalls();
  }

  /**
   * Test hook: a symmetric key with a chosen id (a UUID), as a deployed stack's key would already
   * exist; returns its ARN. CreateKey picks random ids.
   */
  addKey(keyId: string = randomUUID()): { keyId: string; arn: string } {
    const key = this.#newKey(keyId, '');
    return { keyId: key.keyId, arn: key.arn };
  }

  /** Ids of the keys created so far, oldest first. */
  keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** The state of a key (by id, ARN or alias), or undefined when there is no such key. */
  keyState(keyId: string): KmsKeyState | undefined {
    const key = this.#find(keyId);
    return key === undefined ? undefined : key.enabled ? 'Enabled' : 'Disabled';
  }

  // ---- Operations ------------------------------------------------------------------------------

  protected dispatch(operation: string, input: Json): Json {
    switch (operation) {
      case 'CreateKey':
        return this.#createKey(input);
      case 'DescribeKey':
        return { KeyMetadata: this.#metadata(this.#resolve(requiredString(input, 'KeyId', 1, 2048))) };
      case 'EnableKey':
        this.#resolve(requiredString(input, 'KeyId', 1, 2048)).enabled = true;
        return {};
      case 'DisableKey':
        this.#resolve(requiredString(input, 'KeyId', 1, 2048)).enabled = false;
        return {};
      case 'CreateAlias':
        return this.#createAlias(input);
      case 'GenerateDataKey':
        return this.#generateDataKey(input);
      case 'Encrypt':
        return this.#encrypt(input);
      case 'Decrypt':
        return this.#decrypt(input);
      default:
        throw new ServiceError('UnknownOperationException', `The emulator does not implement ${operation}`);
    }
  }

  #createKey(input: Json): Json {
    const description = optionalString(input, 'Description', 0, 8192) ?? '';
    const keyUsage = optionalString(input, 'KeyUsage', 1, 64) ?? 'ENCRYPT_DECRYPT';
    const keySpec = optionalString(input, 'KeySpec', 1, 64) ?? optionalString(input, 'CustomerMasterKeySpec', 1, 64) ?? 'SYMMETRIC_DEFAULT';
    if (keyUsage !== 'ENCRYPT_DECRYPT' || keySpec !== 'SYMMETRIC_DEFAULT') {
      throw new ServiceError('UnsupportedOperationException', 'The emulator only creates symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).');
    }
    return { KeyMetadata: this.#metadata(this.#newKey(randomUUID(), description)) };
  }

  #newKey(keyId: string, description: string): StoredKey {
    const key: StoredKey = {
      keyId,
      arn: `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`,
      description,
      createdMs: this.#now(),
      enabled: true,
      material: randomBytes(32),
    };
    this.#keys.set(keyId, key);
    return key;
  }

  #createAlias(input: Json): Json {
    const aliasName = requiredString(input, 'AliasName', 1, 256);
    if (!ALIAS_NAME.test(aliasName)) throw validation('aliasName', 'Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$');
    if (aliasName.startsWith('alias/aws/')) throw new ServiceError('InvalidAliasNameException', 'Alias must not begin with alias/aws/.');
    const targetKeyId = requiredString(input, 'TargetKeyId', 1, 2048);
    if (targetKeyId.startsWith('alias/') || targetKeyId.includes(':alias/')) throw validation('targetKeyId', 'an alias cannot point to another alias');
    const key = this.#resolve(targetKeyId);
    if (this.#aliases.has(aliasName)) throw new ServiceError('AlreadyExistsException', `An alias with the name ${this.#aliasArn(aliasName)} already exists`);
    this.#aliases.set(aliasName, key.keyId);
    return {};
  }

  #generateDataKey(input: Json): Json {
    const key = this.#usable(requiredString(input, 'KeyId', 1, 2048));
    const context = encryptionContext(input);
    const keySpec = optionalString(input, 'KeySpec', 1, 16);
    const numberOfBytes = optionalInteger(input, 'NumberOfBytes', 1, 1024);
    if ((keySpec === undefined) === (numberOfBytes === undefined)) throw new ServiceError('ValidationException', 'Please specify either number of bytes or key spec.');
    if (keySpec !== undefined && DATA_KEY_BYTES[keySpec] === undefined) throw validation('keySpec', 'Member must satisfy enum value set: [AES_256, AES_128]');
    const plaintext = randomBytes(numberOfBytes ?? DATA_KEY_BYTES[keySpec!]!);
    const blob = seal(key, plaintext, context);
    const reply = { CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn };
    plaintext.fill(0);
    return reply;
  }

  #encrypt(input: Json): Json {
    const key = this.#usable(requiredString(input, 'KeyId', 1, 2048));
    const plaintext = blobMember(input, 'Plaintext', MAX_PLAINTEXT_BYTES);
    this.#symmetricDefault(input);
    const blob = seal(key, plaintext, encryptionContext(input));
    plaintext.fill(0);
    return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  #decrypt(input: Json): Json {
    const blob = blobMember(input, 'CiphertextBlob', MAX_CIPHERTEXT_BYTES);
    const context = encryptionContext(input);
    this.#symmetricDefault(input);
    const named = optionalString(input, 'KeyId', 1, 2048);
    const parsed = parseBlob(blob);
    const key = parsed === undefined ? undefined : this.#keys.get(parsed.keyId);
    if (named !== undefined) {
      const wanted = this.#resolve(named);
      if (key !== undefined && key.keyId !== wanted.keyId) {
        throw new ServiceError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
      }
    }
    if (parsed === undefined || key === undefined) throw invalidCiphertext();
    if (!key.enabled) throw disabled(key);
    const plaintext = open(key, parsed, context);
    const reply = { Plaintext: plaintext.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    plaintext.fill(0);
    return reply;
  }

  #symmetricDefault(input: Json): void {
    const algorithm = optionalString(input, 'EncryptionAlgorithm', 1, 64);
    if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
      throw new ServiceError('InvalidKeyUsageException', `The encryption algorithm ${algorithm.slice(0, 64)} is not supported by a symmetric encryption KMS key.`);
    }
  }

  #metadata(key: StoredKey): Json {
    return {
      AWSAccountId: this.accountId,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: epochSeconds(key.createdMs),
      Enabled: key.enabled,
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    };
  }

  // ---- Lookup ----------------------------------------------------------------------------------

  #aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:${aliasName}`;
  }

  /** Key id, key ARN, alias name or alias ARN; ARNs of another region or account find nothing. */
  #find(keyId: string): StoredKey | undefined {
    const arn = /^arn:aws:kms:([^:]+):(\d{12}):((?:key|alias)\/.+)$/.exec(keyId);
    if (arn && (arn[1] !== this.region || arn[2] !== this.accountId)) return undefined;
    const local = arn ? arn[3]! : keyId;
    if (local.startsWith('alias/')) {
      const target = this.#aliases.get(local);
      return target === undefined ? undefined : this.#keys.get(target);
    }
    return this.#keys.get(local.startsWith('key/') ? local.slice('key/'.length) : local);
  }

  #resolve(keyId: string): StoredKey {
    const key = this.#find(keyId);
    if (key) return key;
    if (keyId.startsWith('alias/') || keyId.includes(':alias/')) {
      throw new ServiceError('NotFoundException', `Alias ${keyId.startsWith('alias/') ? this.#aliasArn(keyId) : keyId} is not found.`);
    }
    const arn = keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
    throw new ServiceError('NotFoundException', `Key '${arn}' does not exist`);
  }

  /** A key that exists and is enabled, for the cryptographic operations. */
  #usable(keyId: string): StoredKey {
    const key = this.#resolve(keyId);
    if (!key.enabled) throw disabled(key);
    return key;
  }
}

/** A real KMSClient pointed at the emulator with static fake credentials. */
export function createKmsEmulatorClient(emulator: KmsEmulator, options: EmulatorClientOptions = {}): KMSClient {
  return new KMSClient(emulatorClientConfig(emulator, options));
}

// ---- Ciphertext blobs ------------------------------------------------------------------------------

const disabled = (key: StoredKey) => new ServiceError('DisabledException', `${key.arn} is disabled.`);

interface ParsedBlob {
  keyId: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/**
 * The encryption context in one canonical form: entries sorted by key, as JSON (unambiguous whatever
 * the keys and values hold). KMS treats an empty context as none.
 */
function canonicalContext(context: Record<string, string>): string {
  return JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function additionalData(keyId: string, context: Record<string, string>): Buffer {
  return Buffer.from(`kms-emulator/v${BLOB_VERSION}\n${keyId}\n${canonicalContext(context)}`, 'utf8');
}

/** `version(1) | keyIdLength(1) | keyId | iv(12) | tag(16) | ciphertext`, AES-256-GCM under the key's master key. */
function seal(key: StoredKey, plaintext: Buffer, context: Record<string, string>): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.material, iv);
  cipher.setAAD(additionalData(key.keyId, context));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const keyId = Buffer.from(key.keyId, 'ascii');
  return Buffer.concat([Buffer.from([BLOB_VERSION, keyId.length]), keyId, iv, cipher.getAuthTag(), ciphertext]);
}

function parseBlob(blob: Buffer): ParsedBlob | undefined {
  if (blob.length < 2 || blob[0] !== BLOB_VERSION) return undefined;
  const keyIdEnd = 2 + blob[1]!;
  if (blob.length < keyIdEnd + IV_BYTES + TAG_BYTES) return undefined;
  return {
    keyId: blob.subarray(2, keyIdEnd).toString('ascii'),
    iv: blob.subarray(keyIdEnd, keyIdEnd + IV_BYTES),
    tag: blob.subarray(keyIdEnd + IV_BYTES, keyIdEnd + IV_BYTES + TAG_BYTES),
    ciphertext: blob.subarray(keyIdEnd + IV_BYTES + TAG_BYTES),
  };
}

function open(key: StoredKey, blob: ParsedBlob, context: Record<string, string>): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.material, blob.iv);
    decipher.setAAD(additionalData(key.keyId, context));
    decipher.setAuthTag(blob.tag);
    return Buffer.concat([decipher.update(blob.ciphertext), decipher.final()]);
  } catch {
    // GCM authentication failed: another context, another key, or a changed byte.
    throw invalidCiphertext();
  }
}

// ---- Input parsing -------------------------------------------------------------------------------

/** A base64 blob member, decoded; sizes are checked on the decoded bytes, as KMS does. */
function blobMember(input: Json, member: string, maxBytes: number): Buffer {
  const value = input[member];
  if (value === undefined || value === null) throw validation(lowerFirst(member), 'Member must not be null');
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) throw new ServiceError('SerializationException', `${member} must be base64 text`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < 1 || bytes.length > maxBytes) throw validation(lowerFirst(member), `Member must have length between 1 and ${maxBytes}`);
  return bytes;
}

/** The EncryptionContext member: a map of strings to strings, absent meaning empty. */
function encryptionContext(input: Json): Record<string, string> {
  const value = input.EncryptionContext;
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ServiceError('SerializationException', 'EncryptionContext must be a map of strings');
  const entries = Object.entries(value as Json);
  if (entries.some(([, v]) => typeof v !== 'string')) throw new ServiceError('SerializationException', 'EncryptionContext must be a map of strings');
  return Object.fromEntries(entries) as Record<string, string>;
}
