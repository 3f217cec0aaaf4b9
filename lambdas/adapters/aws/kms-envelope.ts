/**
 * Envelope encryption with KMS, for a secret the broker must keep outside Secrets Manager (the rotated
 * refresh token it writes ahead into DynamoDB): KMS issues a fresh AES-256 data key per value, the
 * value is encrypted locally with AES-256-GCM, and only the data key's KMS ciphertext travels with it.
 *
 * Both layers are bound to an encryption context (a small map naming the org and the purpose): KMS
 * binds the data key to it, and the local cipher authenticates it as additional data. A value sealed
 * for one org therefore opens only with that org's context; another context, a changed byte in any
 * part, or a data key from another envelope fails, permanently, without saying more than that.
 *
 * The sealed form is one self-describing string,
 * `v1.<encrypted data key>.<iv>.<auth tag>.<ciphertext>`, each part base64url without padding.
 * `v1` fixes the algorithms: KMS GenerateDataKey AES_256, AES-256-GCM with a random 12-byte IV and a
 * 16-byte tag, and the context as JSON of its entries sorted by key (prefixed by a domain string) as
 * the GCM additional data.
 *
 * Errors: bad options or input are ValidationError; KMS failures are StoreError
 * `credentials_unavailable` (what is sealed here is a credential), transient or permanent by the one
 * classifier every AWS adapter uses (aws-errors.ts): throttling, 5xx and network failures are
 * transient, a disabled or missing key, access denied and InvalidCiphertextException permanent. When
 * the context has an `orgId` entry, errors carry it. No message carries the plaintext, the data key or
 * the sealed string.
 *
 * Honest limits: the plaintext data key and the plaintext bytes are zeroed after use, but the
 * plaintext also exists as a JavaScript string (the caller's and the one `open` returns), which no
 * code can wipe. Each seal and each open is one KMS call (no data key caching), so KMS request quotas
 * and per-request charges apply per value.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { StoreError, ValidationError } from '../../core/errors.js';
import { toStoreError } from './aws-errors.js';

/** The KMS client type, for callers that pass their own without importing the SDK. */
export type { KMSClient };

export interface KmsEnvelope {
  /** Encrypts `plaintext` under a fresh data key bound to `context`; returns a self-describing string (version, encrypted data key, iv, tag, ciphertext; base64url). */
  seal(plaintext: string, context: Record<string, string>): Promise<string>;
  /** Reverses seal; the same context is required. */
  open(sealed: string, context: Record<string, string>): Promise<string>;
}

export interface KmsEnvelopeOptions {
  /** The symmetric KMS key: key id, key ARN, alias name (`alias/...`) or alias ARN. */
  keyId: string;
  /**
   * The client to call KMS with (tests pass an emulator-backed one).
   * @default - a KMSClient with the SDK's defaults: region and credentials from the environment
   */
  client?: KMSClient;
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;
/** KMS's limit on a ciphertext blob; an encrypted data key is far smaller. */
const MAX_ENCRYPTED_KEY_BYTES = 6144;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Separates our additional data from any other use of the same data: the format is part of it. */
const AAD_DOMAIN = 'genesys-token-broker/kms-envelope/v1\n';
const OPTION_KEYS = new Set(['keyId', 'client']);

/** An envelope sealer and opener on one KMS key. Options are validated here, once. */
export function createKmsEnvelope(options: KmsEnvelopeOptions): KmsEnvelope {
  if (typeof options !== 'object' || options === null) throw new ValidationError('createKmsEnvelope needs an options object', { code: 'invalid_config' });
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new ValidationError(`unknown createKmsEnvelope option ${key}`, { code: 'invalid_config', field: key });
  }
  const { keyId } = options;
  if (typeof keyId !== 'string' || keyId.trim().length === 0 || keyId.length > 2048) {
    throw new ValidationError('keyId must be a KMS key id, key ARN, alias name or alias ARN of 1 to 2048 characters', { code: 'invalid_config', field: 'keyId' });
  }
  if (options.client !== undefined && typeof (options.client as { send?: unknown } | null)?.send !== 'function') {
    throw new ValidationError('client must be a KMSClient', { code: 'invalid_config', field: 'client' });
  }
  const client = options.client ?? new KMSClient({});

  return {
    async seal(plaintext, context) {
      if (typeof plaintext !== 'string' || plaintext.length === 0) throw new ValidationError('plaintext must be a non-empty string', { field: 'plaintext' });
      const aad = additionalData(context);
      const orgId = orgOf(context);
      let out;
      try {
        out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }));
      } catch (err) {
        throw toStoreError(err, 'credentials_unavailable', 'KMS GenerateDataKey', orgId);
      }
      const dataKey = out.Plaintext;
      const encryptedKey = out.CiphertextBlob;
      try {
        if (!dataKey || dataKey.length !== DATA_KEY_BYTES || !encryptedKey || encryptedKey.length === 0) {
          throw permanent(`KMS GenerateDataKey returned no usable data key${orgSuffix(orgId)}`, orgId);
        }
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: TAG_BYTES });
        cipher.setAAD(aad);
        const bytes = Buffer.from(plaintext, 'utf8');
        const ciphertext = Buffer.concat([cipher.update(bytes), cipher.final()]);
        bytes.fill(0);
        const encoded = [encryptedKey, iv, cipher.getAuthTag(), ciphertext].map((part) => Buffer.from(part).toString('base64url'));
        return [VERSION, ...encoded].join('.');
      } finally {
        dataKey?.fill(0);
      }
    },

    async open(sealed, context) {
      const aad = additionalData(context);
      const orgId = orgOf(context);
      const parts = parseSealed(sealed);
      let out;
      try {
        // Naming the key makes KMS refuse a data key that some other key encrypted (IncorrectKeyException).
        out = await client.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: parts.encryptedKey, EncryptionContext: context }));
      } catch (err) {
        throw toStoreError(err, 'credentials_unavailable', 'KMS Decrypt of the data key', orgId);
      }
      const dataKey = out.Plaintext;
      let bytes: Buffer | undefined;
      try {
        if (!dataKey || dataKey.length !== DATA_KEY_BYTES) throw permanent(`KMS Decrypt returned no usable data key${orgSuffix(orgId)}`, orgId);
        const decipher = createDecipheriv('aes-256-gcm', dataKey, parts.iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad);
        decipher.setAuthTag(parts.tag);
        try {
          bytes = Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
        } catch (err) {
          // GCM authentication failed: the ciphertext, IV or tag was changed, or belongs to another context.
          throw permanent(`sealed value${orgSuffix(orgId)} does not match its encryption context or was altered`, orgId, err);
        }
        return bytes.toString('utf8');
      } finally {
        dataKey?.fill(0);
        bytes?.fill(0);
      }
    },
  };
}

interface SealedParts {
  encryptedKey: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Strict: five dot-separated parts, `v1` first, canonical unpadded base64url, exact IV and tag sizes. */
function parseSealed(sealed: unknown): SealedParts {
  const malformed = (what: string) => new ValidationError(`sealed value is malformed: ${what}`, { field: 'sealed' });
  if (typeof sealed !== 'string') throw malformed('not a string');
  const parts = sealed.split('.');
  if (parts.length !== 5) throw malformed(`expected 5 dot-separated parts, got ${parts.length}`);
  const [version, ...encoded] = parts as [string, string, string, string, string];
  if (version !== VERSION) throw malformed('unknown version');
  const names = ['encrypted data key', 'iv', 'tag', 'ciphertext'];
  const [encryptedKey, iv, tag, ciphertext] = encoded.map((part, i) => {
    const bytes = Buffer.from(part, 'base64url');
    // Re-encoding catches the leniency of Buffer.from: stray characters, padding, non-zero trailing bits.
    if (!BASE64URL.test(part) || bytes.toString('base64url') !== part) throw malformed(`${names[i]} is not canonical base64url`);
    return bytes;
  }) as [Buffer, Buffer, Buffer, Buffer];
  if (encryptedKey.length > MAX_ENCRYPTED_KEY_BYTES) throw malformed('encrypted data key is too long');
  if (iv.length !== IV_BYTES) throw malformed(`iv must be ${IV_BYTES} bytes`);
  if (tag.length !== TAG_BYTES) throw malformed(`tag must be ${TAG_BYTES} bytes`);
  return { encryptedKey, iv, tag, ciphertext };
}

/**
 * The context as GCM additional data: validated (at least one entry, non-empty string keys and
 * values), then its entries sorted by key as JSON, which is unambiguous whatever they contain. Errors
 * name the entry, never its value.
 */
function additionalData(context: unknown): Buffer {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new ValidationError('context must be an object of non-empty strings', { field: 'context' });
  }
  const entries = Object.entries(context);
  if (entries.length === 0) throw new ValidationError('context must name at least one entry (the org it belongs to)', { field: 'context' });
  for (const [key, value] of entries) {
    if (key.length === 0) throw new ValidationError('context keys must be non-empty', { field: 'context' });
    if (typeof value !== 'string' || value.length === 0) throw new ValidationError(`context value ${JSON.stringify(key)} must be a non-empty string`, { field: `context.${key}` });
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(AAD_DOMAIN + JSON.stringify(entries), 'utf8');
}

function orgOf(context: Record<string, string>): string | undefined {
  return typeof context.orgId === 'string' ? context.orgId : undefined;
}

function orgSuffix(orgId: string | undefined): string {
  return orgId === undefined ? '' : ` for org ${orgId}`;
}

function permanent(message: string, orgId: string | undefined, cause?: unknown): StoreError {
  return new StoreError('credentials_unavailable', message, { transient: false, ...(orgId === undefined ? {} : { orgId }), ...(cause === undefined ? {} : { cause }) });
}
