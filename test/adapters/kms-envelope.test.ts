import { CreateAliasCommand, CreateKeyCommand, DecryptCommand, DisableKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError, StoreError, ValidationError } from '../../lambdas/core/errors.js';
import { createKmsEnvelope, type KmsEnvelopeOptions } from '../../lambdas/adapters/aws/kms-envelope.js';
import { createKmsEmulatorClient, KmsEmulator } from '../support/kms-emulator.js';
import { caught, errorText } from '../support/caught.js';

const ORG_A = '0a1b2c3d-0000-4000-8000-00000000000a';
const ORG_B = '0a1b2c3d-0000-4000-8000-00000000000b';
const CONTEXT_A = { orgId: ORG_A, purpose: 'refresh-token' };
const CONTEXT_B = { orgId: ORG_B, purpose: 'refresh-token' };
const REFRESH_TOKEN = 'rt-SECRET-7f3a9c0e1d2b4a5f8e6c-ünïcødé';



/** The plaintext in every encoding it could leak in. */
const encodingsOf = (value: string): string[] => [value, ...(['base64', 'base64url', 'hex'] as const).map((encoding) => Buffer.from(value, 'utf8').toString(encoding))];

/** Flips one bit of the decoded part `index` (1-4) of a sealed string. */
function tamper(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('createKmsEnvelope', () => {
  let emulator: KmsEmulator;
  let client: KMSClient;
  let fastRetryClient: KMSClient;
  let keyId: string;
  const clients: KMSClient[] = [];

  const envelope = (options: Partial<KmsEnvelopeOptions> = {}) => createKmsEnvelope({ keyId, client: fastRetryClient, ...options });

  beforeAll(async () => {
    emulator = await KmsEmulator.start();
    client = createKmsEmulatorClient(emulator, { maxAttempts: 1 });
    fastRetryClient = createKmsEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 1 });
    clients.push(client, fastRetryClient);
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await emulator.close();
  });

  beforeEach(async () => {
    emulator.reset();
    keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    emulator.resetCalls();
  });

  describe('seal and open', () => {
    it('round-trips a value with one GenerateDataKey and one Decrypt', async () => {
      const e = envelope();
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      expect(await e.open(sealed, CONTEXT_A)).toBe(REFRESH_TOKEN);
      expect(emulator.calls).toEqual({ total: 2, GenerateDataKey: 1, Decrypt: 1 });
    });

    it('opens with the context entries in another order, and through an alias', async () => {
      await client.send(new CreateAliasCommand({ AliasName: 'alias/broker', TargetKeyId: keyId }));
      const e = envelope({ keyId: 'alias/broker' });
      const sealed = await e.seal(REFRESH_TOKEN, { purpose: 'refresh-token', orgId: ORG_A });
      expect(await e.open(sealed, CONTEXT_A)).toBe(REFRESH_TOKEN);
    });

    it('seals the same value differently each time', async () => {
      const e = envelope();
      const [one, two] = [await e.seal(REFRESH_TOKEN, CONTEXT_A), await e.seal(REFRESH_TOKEN, CONTEXT_A)];
      expect(one).not.toBe(two);
      const parts = [one, two].map((s) => s.split('.'));
      for (const index of [1, 2, 4]) expect(parts[0]![index]).not.toBe(parts[1]![index]);
      expect(await e.open(one, CONTEXT_A)).toBe(await e.open(two, CONTEXT_A));
    });

    it('writes v1 and four base64url parts, the IV 12 bytes and the tag 16, and neither the value nor any encoding of it', async () => {
      const sealed = await envelope().seal(REFRESH_TOKEN, CONTEXT_A);
      expect(sealed).toMatch(/^v1(\.[A-Za-z0-9_-]+){4}$/);
      const [, , iv, tag] = sealed.split('.');
      expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
      expect(Buffer.from(tag!, 'base64url')).toHaveLength(16);
      for (const leak of encodingsOf(REFRESH_TOKEN)) expect(sealed).not.toContain(leak);
      const recorded = JSON.stringify(emulator.requests);
      for (const leak of [...encodingsOf(REFRESH_TOKEN), sealed]) expect(recorded).not.toContain(leak);
    });

    it('binds the data key to the context in KMS too: its blob decrypts only with that context', async () => {
      const sealed = await envelope().seal(REFRESH_TOKEN, CONTEXT_A);
      const encryptedKey = Buffer.from(sealed.split('.')[1]!, 'base64url');
      expect((await client.send(new DecryptCommand({ CiphertextBlob: encryptedKey, EncryptionContext: CONTEXT_A }))).Plaintext).toHaveLength(32);
      expect((await caught(client.send(new DecryptCommand({ CiphertextBlob: encryptedKey })))).name).toBe('InvalidCiphertextException');
    });
  });

  describe('key hygiene', () => {
    it('zeroes the plaintext data key KMS handed over, after seal and after open', async () => {
      const spy = createKmsEmulatorClient(emulator, { maxAttempts: 1 });
      clients.push(spy);
      const outputs: Array<{ Plaintext?: Uint8Array }> = [];
      spy.middlewareStack.add(
        (next) => async (args) => {
          const result = await next(args);
          outputs.push(result.output as { Plaintext?: Uint8Array });
          return result;
        },
        { step: 'initialize', name: 'captureOutput' },
      );
      const e = envelope({ client: spy });
      expect(await e.open(await e.seal(REFRESH_TOKEN, CONTEXT_A), CONTEXT_A)).toBe(REFRESH_TOKEN);
      expect(outputs).toHaveLength(2);
      for (const output of outputs) {
        expect(output.Plaintext).toHaveLength(32);
        expect([...output.Plaintext!].every((b) => b === 0)).toBe(true);
      }
    });

    it('authenticates the context locally as well: with a KMS that ignored it, another org still cannot open', async () => {
      const careless = createKmsEmulatorClient(emulator, { maxAttempts: 1 });
      clients.push(careless);
      careless.middlewareStack.add(
        (next) => async (args) => {
          delete (args.input as { EncryptionContext?: unknown }).EncryptionContext;
          return next(args);
        },
        { step: 'initialize', name: 'dropEncryptionContext' },
      );
      const e = envelope({ client: careless });
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      expect(await e.open(sealed, CONTEXT_A)).toBe(REFRESH_TOKEN);
      const err = await caught(e.open(sealed, CONTEXT_B));
      expect(err).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent', orgId: ORG_B });
      expect(err.message).toMatch(/does not match its encryption context/);
    });
  });

  describe('what does not open', () => {
    it("refuses another org's context permanently, naming that org and not the value", async () => {
      const e = envelope();
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      const err = await caught(e.open(sealed, CONTEXT_B));
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent', orgId: ORG_B });
      expect(err.message).toContain(ORG_B);
      expect((err.cause as Error).name).toBe('InvalidCiphertextException');
      for (const leak of [...encodingsOf(REFRESH_TOKEN), sealed]) expect(errorText(err)).not.toContain(leak);
    });

    it.each([
      [1, 'the encrypted data key', 'InvalidCiphertextException'],
      [2, 'the IV', undefined],
      [3, 'the tag', undefined],
      [4, 'the ciphertext', undefined],
    ])('refuses a change to part %i (%s) permanently', async (index, _part, kmsError) => {
      const e = envelope();
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      const err = await caught(e.open(tamper(sealed, index), CONTEXT_A));
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent', orgId: ORG_A });
      if (kmsError) expect((err.cause as Error).name).toBe(kmsError);
      else expect(err.message).toMatch(/does not match its encryption context or was altered/);
      for (const leak of [...encodingsOf(REFRESH_TOKEN), sealed]) expect(errorText(err)).not.toContain(leak);
    });

    it("refuses a data key taken from another envelope of the same org", async () => {
      const e = envelope();
      const one = (await e.seal(REFRESH_TOKEN, CONTEXT_A)).split('.');
      const two = (await e.seal('rt-SECRET-other', CONTEXT_A)).split('.');
      const spliced = [one[0], two[1], one[2], one[3], one[4]].join('.');
      expect(await caught(e.open(spliced, CONTEXT_A))).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent' });
    });

    it('refuses a value sealed under another key, as KMS names it IncorrectKeyException', async () => {
      const otherKey = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const sealed = await envelope({ keyId: otherKey }).seal(REFRESH_TOKEN, CONTEXT_A);
      const err = await caught(envelope().open(sealed, CONTEXT_A));
      expect(err).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent' });
      expect((err.cause as Error).name).toBe('IncorrectKeyException');
    });

    it.each([
      ['another version', (s: string) => `v2${s.slice(2)}`],
      ['a missing part', (s: string) => s.split('.').slice(0, 4).join('.')],
      ['an extra part', (s: string) => `${s}.AAAA`],
      ['an empty part', (s: string) => s.replace(/\.[^.]+$/, '.')],
      ['padding', (s: string) => `${s}==`],
      ['standard base64 characters', (s: string) => s.replace(/\.[^.]+$/, '.ab+/')],
      ['a short IV', (s: string) => s.split('.').map((p, i) => (i === 2 ? p.slice(0, 8) : p)).join('.')],
      ['a short tag', (s: string) => s.split('.').map((p, i) => (i === 3 ? p.slice(0, 8) : p)).join('.')],
      ['not a string', () => 42 as unknown as string],
    ])('rejects a sealed string with %s as a ValidationError before calling KMS', async (_name, mangle) => {
      const e = envelope();
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      emulator.resetCalls();
      const bad = mangle(sealed);
      const err = await caught(e.open(bad, CONTEXT_A));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ code: 'invalid_request', field: 'sealed' });
      expect(err.message).not.toContain(typeof bad === 'string' ? bad.slice(3, 20) : 'x');
      expect(emulator.callCount()).toBe(0);
    });
  });

  describe('KMS failures', () => {
    it('gets past a throttled GenerateDataKey with the SDK retries', async () => {
      emulator.injectFault('GenerateDataKey', { type: 'ThrottlingException', times: 2 });
      const sealed = await envelope().seal(REFRESH_TOKEN, CONTEXT_A);
      expect(emulator.requests.map((r) => [r.operation, r.outcome])).toEqual([
        ['GenerateDataKey', 'ThrottlingException'],
        ['GenerateDataKey', 'ThrottlingException'],
        ['GenerateDataKey', 'ok'],
      ]);
      expect(await envelope().open(sealed, CONTEXT_A)).toBe(REFRESH_TOKEN);
    });

    it('surfaces throttling that outlasts the retries, and KMS internal errors, as transient', async () => {
      emulator.injectFault('GenerateDataKey', { type: 'ThrottlingException', times: 3 });
      const throttled = await caught(envelope().seal(REFRESH_TOKEN, CONTEXT_A));
      expect(throttled).toMatchObject({ code: 'credentials_unavailable', failureClass: 'transient', orgId: ORG_A });
      expect(throttled.message).toBe(`KMS GenerateDataKey failed for org ${ORG_A} (ThrottlingException)`);

      const sealed = await envelope().seal(REFRESH_TOKEN, CONTEXT_A);
      emulator.injectFault('Decrypt', { type: 'KMSInternalException', times: 3 });
      expect(await caught(envelope().open(sealed, CONTEXT_A))).toMatchObject({ code: 'credentials_unavailable', failureClass: 'transient' });
      emulator.injectFault('Decrypt', { type: 'ConnectionReset', times: 3 });
      expect(await caught(envelope().open(sealed, CONTEXT_A))).toMatchObject({ code: 'credentials_unavailable', failureClass: 'transient' });
    });

    it('fails permanently with a disabled key, for seal and open, without retrying', async () => {
      const sealed = await envelope().seal(REFRESH_TOKEN, CONTEXT_A);
      await client.send(new DisableKeyCommand({ KeyId: keyId }));
      emulator.resetCalls();
      for (const attempt of [envelope().seal(REFRESH_TOKEN, CONTEXT_A), envelope().open(sealed, CONTEXT_A)]) {
        const err = await caught(attempt);
        expect(err).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent', orgId: ORG_A });
        expect((err.cause as Error).name).toBe('DisabledException');
      }
      expect(emulator.calls).toEqual({ total: 2, GenerateDataKey: 1, Decrypt: 1 });
    });

    it('fails permanently with a key that does not exist, and with access denied', async () => {
      const missing = await caught(envelope({ keyId: 'alias/not-there' }).seal(REFRESH_TOKEN, CONTEXT_A));
      expect(missing).toMatchObject({ code: 'credentials_unavailable', failureClass: 'permanent' });
      expect((missing.cause as Error).name).toBe('NotFoundException');
      emulator.injectFault('GenerateDataKey', { type: 'AccessDeniedException' });
      expect(await caught(envelope().seal(REFRESH_TOKEN, CONTEXT_A))).toMatchObject({ failureClass: 'permanent' });
    });

    it('never puts the value, the data key or the sealed string into an error', async () => {
      const e = envelope();
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      const errors: BrokerError[] = [await caught(e.open(sealed, CONTEXT_B))];
      for (const index of [1, 2, 3, 4]) errors.push(await caught(e.open(tamper(sealed, index), CONTEXT_A)));
      errors.push(await caught(e.open(`${sealed}.x`, CONTEXT_A)));
      emulator.injectFault('GenerateDataKey', { type: 'KMSInternalException', times: 3 });
      errors.push(await caught(e.seal(REFRESH_TOKEN, CONTEXT_A)));
      await client.send(new DisableKeyCommand({ KeyId: keyId }));
      errors.push(await caught(e.seal(REFRESH_TOKEN, CONTEXT_A)), await caught(e.open(sealed, CONTEXT_A)));
      const text = errors.map(errorText).join('\n');
      for (const leak of [...encodingsOf(REFRESH_TOKEN), sealed, ...sealed.split('.').slice(1)]) expect(text).not.toContain(leak);
    });
  });

  describe('validation', () => {
    it.each([
      ['an empty keyId', { keyId: '' }, 'keyId'],
      ['a blank keyId', { keyId: '   ' }, 'keyId'],
      ['a keyId that is not a string', { keyId: 7 as unknown as string }, 'keyId'],
      ['a client that is not a client', { client: {} as KMSClient }, 'client'],
      ['an unknown option', { keyID: 'x' } as Partial<KmsEnvelopeOptions>, 'keyID'],
    ])('refuses %s as invalid_config naming the option', (_name, options, field) => {
      let thrown: unknown;
      try {
        createKmsEnvelope({ keyId, client: fastRetryClient, ...options });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ValidationError);
      expect(thrown).toMatchObject({ code: 'invalid_config', field });
    });

    it.each([
      ['an empty context', {}, 'context'],
      ['an empty value', { orgId: '' }, 'context.orgId'],
      ['a value that is not a string', { orgId: 1 as unknown as string }, 'context.orgId'],
      ['an empty key', { '': 'x' }, 'context'],
      ['no context at all', undefined as unknown as Record<string, string>, 'context'],
    ])('refuses %s as invalid_request, in seal and open, before calling KMS', async (_name, context, field) => {
      const e = envelope();
      const sealed = await e.seal(REFRESH_TOKEN, CONTEXT_A);
      emulator.resetCalls();
      for (const attempt of [e.seal(REFRESH_TOKEN, context), e.open(sealed, context)]) {
        const err = await caught(attempt);
        expect(err).toBeInstanceOf(ValidationError);
        expect(err).toMatchObject({ code: 'invalid_request', field });
      }
      expect(emulator.callCount()).toBe(0);
    });

    it('refuses an empty or non-string plaintext', async () => {
      for (const plaintext of ['', undefined as unknown as string]) {
        expect(await caught(envelope().seal(plaintext, CONTEXT_A))).toMatchObject({ code: 'invalid_request', field: 'plaintext' });
      }
      expect(emulator.callCount()).toBe(0);
    });
  });
});
