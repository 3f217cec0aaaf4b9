import {
  AlreadyExistsException,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisabledException,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  KMSInternalException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKmsEmulatorClient, KMS_EMULATOR_CREDENTIALS, KmsEmulator } from './kms-emulator.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const ORG_A = { orgId: '0a1b2c3d-0000-4000-8000-00000000000a', purpose: 'refresh-token' };
const ORG_B = { orgId: '0a1b2c3d-0000-4000-8000-00000000000b', purpose: 'refresh-token' };
const SECRET = 'rt-SECRET-0123456789abcdef';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string => new TextDecoder().decode(data);

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('KmsEmulator', () => {
  let emulator: KmsEmulator;
  let client: KMSClient;
  let keyId: string;
  let keyArn: string;

  const createKey = async (): Promise<{ id: string; arn: string }> => {
    const out = await client.send(new CreateKeyCommand({ Description: 'broker' }));
    return { id: out.KeyMetadata!.KeyId!, arn: out.KeyMetadata!.Arn! };
  };
  const encrypt = async (context: Record<string, string> | undefined, plaintext = SECRET, key = keyId): Promise<Uint8Array> =>
    (await client.send(new EncryptCommand({ KeyId: key, Plaintext: bytes(plaintext), EncryptionContext: context }))).CiphertextBlob!;
  const decrypt = (blob: Uint8Array, context?: Record<string, string>, key?: string) =>
    client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, ...(key === undefined ? {} : { KeyId: key }) }));

  beforeAll(async () => {
    emulator = await KmsEmulator.start({ now: () => T0 });
    client = createKmsEmulatorClient(emulator, { maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
  });

  beforeEach(async () => {
    emulator.reset();
    ({ id: keyId, arn: keyArn } = await createKey());
    emulator.resetCalls();
  });

  describe('wire protocol', () => {
    it('answers errors with __type, message, x-amzn-ErrorType and HTTP 400', async () => {
      const raw = await KmsEmulator.start({ verifySignatures: false });
      try {
        const res = await fetch(raw.endpoint, {
          method: 'POST',
          headers: { 'x-amz-target': 'TrentService.DescribeKey', 'content-type': 'application/x-amz-json-1.1' },
          body: JSON.stringify({ KeyId: 'alias/missing' }),
        });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
        expect(res.headers.get('x-amzn-errortype')).toBe('NotFoundException');
        expect(await res.json()).toEqual({ __type: 'NotFoundException', message: 'Alias arn:aws:kms:us-east-1:123456789012:alias/missing is not found.' });
      } finally {
        await raw.close();
      }
    });

    it('answers an operation it does not implement with UnknownOperationException', async () => {
      const raw = await KmsEmulator.start({ verifySignatures: false });
      try {
        const res = await fetch(raw.endpoint, { method: 'POST', headers: { 'x-amz-target': 'TrentService.Sign', 'content-type': 'application/x-amz-json-1.1' }, body: '{}' });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { __type: string }).__type).toBe('UnknownOperationException');
      } finally {
        await raw.close();
      }
    });
  });

  describe('signatures', () => {
    it('refuses an unsigned request, a wrong secret key, a wrong region and an unknown access key, and counts none of them', async () => {
      const unsigned = await fetch(emulator.endpoint, { method: 'POST', headers: { 'x-amz-target': 'TrentService.DescribeKey', 'content-type': 'application/x-amz-json-1.1' }, body: '{}' });
      expect(unsigned.status).toBe(403);
      expect(((await unsigned.json()) as { __type: string }).__type).toBe('MissingAuthenticationTokenException');

      const wrongRegion = createKmsEmulatorClient(emulator, { region: 'eu-west-1', maxAttempts: 1 });
      const wrongKey = new KMSClient({
        endpoint: emulator.endpoint,
        region: emulator.region,
        maxAttempts: 1,
        credentials: { accessKeyId: KMS_EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-right-secret-key' },
      });
      const unknownKey = new KMSClient({ endpoint: emulator.endpoint, region: emulator.region, maxAttempts: 1, credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' } });
      try {
        const region = await rejectionOf(wrongRegion.send(new DescribeKeyCommand({ KeyId: keyId })));
        expect(region.name).toBe('InvalidSignatureException');
        expect(region.message).toContain('eu-west-1');
        expect((await rejectionOf(wrongKey.send(new DescribeKeyCommand({ KeyId: keyId })))).name).toBe('InvalidSignatureException');
        expect((await rejectionOf(unknownKey.send(new DescribeKeyCommand({ KeyId: keyId })))).name).toBe('UnrecognizedClientException');
      } finally {
        wrongRegion.destroy();
        wrongKey.destroy();
        unknownKey.destroy();
      }
      expect(emulator.calls).toEqual({ total: 0 });
    });
  });

  describe('keys and aliases', () => {
    it('creates a symmetric key and describes it by id, ARN, alias and alias ARN', async () => {
      await client.send(new CreateAliasCommand({ AliasName: 'alias/broker', TargetKeyId: keyId }));
      for (const id of [keyId, keyArn, 'alias/broker', 'arn:aws:kms:us-east-1:123456789012:alias/broker']) {
        const { KeyMetadata } = await client.send(new DescribeKeyCommand({ KeyId: id }));
        expect(KeyMetadata).toMatchObject({
          KeyId: keyId,
          Arn: `arn:aws:kms:us-east-1:123456789012:key/${keyId}`,
          AWSAccountId: '123456789012',
          Description: 'broker',
          Enabled: true,
          KeyState: 'Enabled',
          KeyUsage: 'ENCRYPT_DECRYPT',
          KeySpec: 'SYMMETRIC_DEFAULT',
          EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
        });
        expect(KeyMetadata?.CreationDate).toEqual(new Date(T0));
      }
      expect(emulator.keyIds()).toEqual([keyId]);
    });

    it('answers NotFoundException for an unknown key, alias or an ARN of another region', async () => {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'alias/nope', `arn:aws:kms:eu-west-1:123456789012:key/${keyId}`]) {
        const err = await rejectionOf(client.send(new DescribeKeyCommand({ KeyId: id })));
        expect(err).toBeInstanceOf(NotFoundException);
      }
      expect(await rejectionOf(client.send(new GenerateDataKeyCommand({ KeyId: 'alias/nope', KeySpec: 'AES_256' })))).toBeInstanceOf(NotFoundException);
    });

    it('refuses a second alias of the same name and a reserved alias name', async () => {
      await client.send(new CreateAliasCommand({ AliasName: 'alias/one', TargetKeyId: keyId }));
      expect(await rejectionOf(client.send(new CreateAliasCommand({ AliasName: 'alias/one', TargetKeyId: keyId })))).toBeInstanceOf(AlreadyExistsException);
      expect((await rejectionOf(client.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: keyId })))).name).toBe('InvalidAliasNameException');
    });
  });

  describe('GenerateDataKey, Encrypt and Decrypt', () => {
    it('generates a 256-bit data key and its blob, which Decrypt turns back into the same key', async () => {
      const out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: ORG_A }));
      expect(out.KeyId).toBe(keyArn);
      expect(out.Plaintext).toHaveLength(32);
      const back = await decrypt(out.CiphertextBlob!, ORG_A);
      expect(Buffer.from(back.Plaintext!).equals(Buffer.from(out.Plaintext!))).toBe(true);
      expect(back.KeyId).toBe(keyArn);
      const again = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: ORG_A }));
      expect(Buffer.from(again.Plaintext!).equals(Buffer.from(out.Plaintext!))).toBe(false);
    });

    it('takes NumberOfBytes instead of KeySpec, and refuses both or neither', async () => {
      expect((await client.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 64 }))).Plaintext).toHaveLength(64);
      expect((await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_128' }))).Plaintext).toHaveLength(16);
      expect((await rejectionOf(client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', NumberOfBytes: 32 })))).name).toBe('ValidationException');
      expect((await rejectionOf(client.send(new GenerateDataKeyCommand({ KeyId: keyId })))).name).toBe('ValidationException');
    });

    it('round-trips Encrypt and Decrypt, with or without KeyId, through an alias, whatever the order of the context', async () => {
      await client.send(new CreateAliasCommand({ AliasName: 'alias/broker', TargetKeyId: keyId }));
      const blob = await encrypt({ b: '2', a: '1' }, SECRET, 'alias/broker');
      expect(text((await decrypt(blob, { a: '1', b: '2' })).Plaintext)).toBe(SECRET);
      expect(text((await decrypt(blob, { b: '2', a: '1' }, 'alias/broker')).Plaintext)).toBe(SECRET);
      expect(text((await decrypt(blob, { a: '1', b: '2' }, keyArn)).Plaintext)).toBe(SECRET);
      expect(Buffer.from(blob).toString('latin1')).not.toContain(SECRET);
    });

    it('treats an empty encryption context as none', async () => {
      expect(text((await decrypt(await encrypt(undefined), {})).Plaintext)).toBe(SECRET);
      expect(text((await decrypt(await encrypt({}))).Plaintext)).toBe(SECRET);
    });
  });

  describe('ciphertext binding', () => {
    it.each([
      ['another org', ORG_B],
      ['no context', undefined],
      ['an extra entry', { ...ORG_A, extra: 'x' }],
      ['a missing entry', { orgId: ORG_A.orgId }],
      ['a renamed key', { orgid: ORG_A.orgId, purpose: ORG_A.purpose }],
      ['a value differing in case', { ...ORG_A, purpose: 'Refresh-Token' }],
    ])('refuses to decrypt with %s as InvalidCiphertextException', async (_name, context) => {
      const blob = await encrypt(ORG_A);
      const err = await rejectionOf(decrypt(blob, context));
      expect(err).toBeInstanceOf(InvalidCiphertextException);
      expect(err.$metadata?.httpStatusCode).toBe(400);
      expect(err.message).not.toContain(ORG_A.orgId);
    });

    it('refuses a blob changed anywhere, or cut short, as InvalidCiphertextException', async () => {
      const blob = await encrypt(ORG_A);
      const keyIdAt = 2;
      const ivAt = 2 + blob[1]!;
      for (const at of [0, keyIdAt + 3, ivAt, ivAt + 12, ivAt + 28, blob.length - 1]) {
        const tampered = Uint8Array.from(blob);
        tampered[at] = tampered[at]! ^ 0x01;
        expect(await rejectionOf(decrypt(tampered, ORG_A))).toBeInstanceOf(InvalidCiphertextException);
      }
      expect(await rejectionOf(decrypt(blob.subarray(0, ivAt + 20), ORG_A))).toBeInstanceOf(InvalidCiphertextException);
      expect(text((await decrypt(blob, ORG_A)).Plaintext)).toBe(SECRET);
    });

    it('refuses a blob moved to another key as InvalidCiphertextException, and a Decrypt naming another key as IncorrectKeyException', async () => {
      const other = await createKey();
      const blob = await encrypt(ORG_A);
      const moved = Buffer.from(Buffer.from(blob).toString('latin1').replace(keyId, other.id), 'latin1');
      expect(moved.equals(Buffer.from(blob))).toBe(false);
      expect(await rejectionOf(decrypt(moved, ORG_A))).toBeInstanceOf(InvalidCiphertextException);
      expect(await rejectionOf(decrypt(blob, ORG_A, other.id))).toBeInstanceOf(IncorrectKeyException);
      expect(await rejectionOf(decrypt(blob, ORG_A, 'alias/nope'))).toBeInstanceOf(NotFoundException);
    });
  });

  describe('disabled keys', () => {
    it('answers DisabledException to every cryptographic call until the key is enabled again', async () => {
      const blob = await encrypt(ORG_A);
      await client.send(new DisableKeyCommand({ KeyId: keyArn }));
      expect(emulator.keyState(keyId)).toBe('Disabled');
      expect((await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata).toMatchObject({ Enabled: false, KeyState: 'Disabled' });
      for (const call of [
        () => client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })),
        () => encrypt(ORG_A),
        () => decrypt(blob, ORG_A),
        () => decrypt(blob, ORG_A, keyId),
      ]) {
        const err = await rejectionOf(call());
        expect(err).toBeInstanceOf(DisabledException);
        expect(err.$metadata?.httpStatusCode).toBe(400);
      }
      await client.send(new EnableKeyCommand({ KeyId: keyId }));
      expect(emulator.keyState(keyId)).toBe('Enabled');
      expect(text((await decrypt(blob, ORG_A)).Plaintext)).toBe(SECRET);
    });
  });

  describe('test hooks', () => {
    it('counts calls per operation and in total, faulted and refused ones included', async () => {
      const blob = await encrypt(ORG_A);
      await decrypt(blob, ORG_A);
      await rejectionOf(decrypt(blob, ORG_B));
      emulator.injectFault('Decrypt', { type: 'AccessDeniedException' });
      await rejectionOf(decrypt(blob, ORG_A));
      expect(emulator.calls).toEqual({ total: 4, Encrypt: 1, Decrypt: 3 });
      expect(emulator.callCount('Decrypt')).toBe(3);
      expect(emulator.callCount('GenerateDataKey')).toBe(0);
      expect(emulator.requests.map((r) => [r.operation, r.outcome])).toEqual([
        ['Encrypt', 'ok'],
        ['Decrypt', 'ok'],
        ['Decrypt', 'InvalidCiphertextException'],
        ['Decrypt', 'AccessDeniedException'],
      ]);
    });

    it('records requests without their bodies: no plaintext, no data key, no blob', async () => {
      const dataKey = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: ORG_A }));
      const blob = await encrypt(ORG_A);
      await decrypt(blob, ORG_A);
      const recorded = JSON.stringify(emulator.requests);
      for (const value of [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(dataKey.Plaintext!).toString('base64'), Buffer.from(blob).toString('base64'), ORG_A.orgId]) {
        expect(recorded).not.toContain(value);
      }
    });

    it('injects throttling that the SDK retries: the third attempt succeeds', async () => {
      const retrying = createKmsEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 1 });
      try {
        emulator.injectFault('GenerateDataKey', { type: 'ThrottlingException', times: 2 });
        const out = await retrying.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
        expect(out.Plaintext).toHaveLength(32);
        expect(out.$metadata.attempts).toBe(3);
        expect(emulator.requests.map((r) => [r.attempt, r.outcome])).toEqual([
          [1, 'ThrottlingException'],
          [2, 'ThrottlingException'],
          [3, 'ok'],
        ]);
        expect(new Set(emulator.requests.map((r) => r.invocationId)).size).toBe(1);
      } finally {
        retrying.destroy();
      }
    });

    it('retries a reset connection, surfaces a lasting KMSInternalException after the last attempt, and does not retry AccessDeniedException', async () => {
      const retrying = createKmsEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 1 });
      try {
        emulator.injectFault('Encrypt', { type: 'ConnectionReset' });
        const out = await retrying.send(new EncryptCommand({ KeyId: keyId, Plaintext: bytes(SECRET) }));
        expect(out.$metadata.attempts).toBe(2);

        emulator.injectFault('Decrypt', { type: 'KMSInternalException', times: 5 });
        const internal = await rejectionOf(retrying.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob })));
        expect(internal).toBeInstanceOf(KMSInternalException);
        expect(internal.$metadata).toMatchObject({ httpStatusCode: 500, attempts: 3 });
        emulator.clearFaults();

        emulator.injectFault('*', { type: 'AccessDeniedException', times: 5 });
        const denied = await rejectionOf(retrying.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob })));
        expect(denied.name).toBe('AccessDeniedException');
        expect(denied.$metadata).toMatchObject({ httpStatusCode: 400, attempts: 1 });
      } finally {
        retrying.destroy();
      }
    });
  });
});
