import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError, StoreError, ValidationError } from '../../lambdas/core/errors.js';
import type { ClientCredentials, Clock, OrgRecord } from '../../lambdas/core/ports.js';
import { SecretsManagerCredentialStore, type SecretsManagerCredentialStoreOptions } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import { WriteLimiter } from '../../lambdas/adapters/aws/write-limiter.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { caught, errorText } from '../support/caught.js';

const PREFIX = 'gtb-test';
const ORG = '0a1b2c3d-0000-4000-8000-0000000000c1';
const OTHER_ORG = '0a1b2c3d-0000-4000-8000-0000000000c2';
const KMS_KEY = 'alias/broker-credentials';
const DEFAULT_NAME = `${PREFIX}/credentials/${ORG}`;

const CLIENT_SECRET = 'cs-SECRET-0123456789abcdefghij';
const REFRESH_1 = 'rt-SECRET-first-aaaaaaaaaaaaaaaa';
const REFRESH_2 = 'rt-SECRET-second-bbbbbbbbbbbbbbb';
const REFRESH_3 = 'rt-SECRET-third-ccccccccccccccccc';
const ALL_SECRETS = [CLIENT_SECRET, REFRESH_1, REFRESH_2, REFRESH_3];

const creds = (refreshToken?: string): ClientCredentials => ({ clientId: 'client-1', clientSecret: CLIENT_SECRET, ...(refreshToken ? { refreshToken } : {}) });

function org(extra: Partial<OrgRecord> = {}): OrgRecord {
  return {
    orgId: ORG,
    region: 'mypurecloud.ie',
    grantType: 'refresh_token',
    enabled: true,
    credentialsVersion: 1,
    version: 1,
    state: { consecutiveFailures: 0 },
    ...extra,
  };
}



function expectNoSecretIn(err: unknown): void {
  const text = errorText(err);
  for (const secret of ALL_SECRETS) expect(text).not.toContain(secret);
  expect(text).not.toMatch(/(cs|rt)-SECRET/);
}

describe('SecretsManagerCredentialStore', () => {
  let emulator: SecretsManagerEmulator;
  let client: SecretsManagerClient;
  let rawClient: SecretsManagerClient;

  const store = (options: Partial<SecretsManagerCredentialStoreOptions> = {}) =>
    new SecretsManagerCredentialStore({ client, secretPrefix: PREFIX, kmsKeyId: KMS_KEY, ...options });

  beforeAll(async () => {
    emulator = await SecretsManagerEmulator.start();
    client = createEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 1 });
    rawClient = createEmulatorClient(emulator, { maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    rawClient.destroy();
    await emulator.close();
  });

  beforeEach(() => emulator.reset());

  describe('save and read', () => {
    it('creates <prefix>/credentials/<orgId> with the KMS key and tags, and reads the same credentials back', async () => {
      await store().save(org(), creds(REFRESH_1));
      const described = await rawClient.send(new DescribeSecretCommand({ SecretId: DEFAULT_NAME }));
      expect(described.KmsKeyId).toBe(KMS_KEY);
      expect(described.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'org-id', Value: ORG },
          { Key: 'managed-by', Value: 'genesys-token-broker' },
        ]),
      );
      expect(await store().read(org())).toEqual(creds(REFRESH_1));
      expect(JSON.parse(emulator.versionWithStage(DEFAULT_NAME)!.secretString!)).toEqual(creds(REFRESH_1));
    });

    it('stores a second save as a new version, keeping the first as AWSPREVIOUS', async () => {
      await store().save(org(), creds(REFRESH_1));
      await store().save(org(), { clientId: 'client-2', clientSecret: CLIENT_SECRET });
      expect(await store().read(org())).toEqual({ clientId: 'client-2', clientSecret: CLIENT_SECRET });
      expect(emulator.versions(DEFAULT_NAME).map((v) => v.stages)).toEqual([['AWSPREVIOUS'], ['AWSCURRENT']]);
      expect(emulator.calls.CreateSecret).toBe(1);
    });

    it("uses the org's credentialsSecretId, by name or by ARN, instead of the default name", async () => {
      const { ARN } = await rawClient.send(new CreateSecretCommand({ Name: 'team/genesys/creds', SecretString: JSON.stringify(creds()) }));
      expect(await store().read(org({ credentialsSecretId: 'team/genesys/creds' }))).toEqual(creds());
      await store().save(org({ credentialsSecretId: ARN! }), creds(REFRESH_1));
      expect(await store().read(org({ credentialsSecretId: ARN! }))).toEqual(creds(REFRESH_1));
      expect(emulator.secret(DEFAULT_NAME)).toBeUndefined();
    });

    it('reports a missing secret as a permanent credentials_unavailable naming the org', async () => {
      const err = await caught(store().read(org()));
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('credentials_unavailable');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain(ORG);
      expect(err.message).toContain(DEFAULT_NAME);
    });

    it('reports a value that is not JSON as permanent, without echoing it', async () => {
      await rawClient.send(new CreateSecretCommand({ Name: DEFAULT_NAME, SecretString: `clientSecret=${CLIENT_SECRET}` }));
      const err = await caught(store().read(org()));
      expect(err.code).toBe('credentials_unavailable');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain('not valid JSON');
      expectNoSecretIn(err);
    });

    it('names the missing or invalid fields of a malformed value, never their values', async () => {
      await rawClient.send(new CreateSecretCommand({ Name: DEFAULT_NAME, SecretString: JSON.stringify({ clientId: REFRESH_1.length, clientSecret: '', refreshToken: [REFRESH_1] }) }));
      const err = await caught(store().read(org()));
      expect(err.code).toBe('credentials_unavailable');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toMatch(/clientId/);
      expect(err.message).toMatch(/clientSecret/);
      expect(err.message).toMatch(/refreshToken/);
      expectNoSecretIn(err);
    });

    it('reports throttling and server errors that outlast the retries as transient', async () => {
      await store().save(org(), creds());
      emulator.injectFault('GetSecretValue', { type: 'ThrottlingException', times: 3 });
      const throttled = await caught(store().read(org()));
      expect(throttled.code).toBe('credentials_unavailable');
      expect(throttled.failureClass).toBe('transient');
      expect(throttled.message).toContain('ThrottlingException');
      emulator.injectFault('GetSecretValue', { type: 'InternalServiceError', times: 3 });
      const failed = await caught(store().read(org()));
      expect(failed.failureClass).toBe('transient');
      emulator.injectFault('GetSecretValue', { type: 'ThrottlingException', times: 2 });
      expect(await store().read(org())).toEqual(creds());
    });

    it('rejects invalid credentials before calling Secrets Manager, naming fields only', async () => {
      const err = await caught(store().save(org(), { clientId: 'client-1', clientSecret: '', refreshToken: REFRESH_1, password: REFRESH_2 } as ClientCredentials));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toMatch(/clientSecret/);
      expect(err.message).toMatch(/password/);
      expectNoSecretIn(err);
      expect(await caught(store().save({ orgId: 'not-an-org' }, creds()))).toBeInstanceOf(ValidationError);
      expect(emulator.calls.total).toBe(0);
    });
  });

  describe('rotateRefreshToken', () => {
    const ATTEMPT = '4f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33';
    /** Writes a rotated token onto the credentials as they stand now. */
    async function rotate(s: SecretsManagerCredentialStore, token: string, attemptId = randomUUID(), o = org()) {
      return s.rotateRefreshToken(o, await s.readCurrent(o), token, attemptId);
    }

    it('reads the AWSCURRENT version with the credentials', async () => {
      await store().save(org(), creds(REFRESH_1));
      const current = await store().readCurrent(org());
      expect(current).toEqual({ credentials: creds(REFRESH_1), version: emulator.versionWithStage(DEFAULT_NAME)!.versionId, extras: {} });
    });

    it('writes the rotated token as the new AWSCURRENT version before returning, keeping the old as AWSPREVIOUS', async () => {
      await store().save(org(), creds(REFRESH_1));
      expect(await rotate(store(), REFRESH_2, ATTEMPT)).toBe('written');
      // Durable: the emulator already holds it the moment the call resolves.
      expect(JSON.parse(emulator.versionWithStage(DEFAULT_NAME)!.secretString!)).toEqual(creds(REFRESH_2));
      expect(JSON.parse(emulator.versionWithStage(DEFAULT_NAME, 'AWSPREVIOUS')!.secretString!)).toEqual(creds(REFRESH_1));
      // The version is the attempt's: a retry of the same write after a lost reply adds none.
      expect(emulator.versionWithStage(DEFAULT_NAME)!.versionId).toBe(ATTEMPT);
      expect(await rotate(store(), REFRESH_3)).toBe('written');
      expect(await store().read(org())).toEqual(creds(REFRESH_3));
      expect(emulator.versions(DEFAULT_NAME)).toHaveLength(3);
    });

    it('keeps keys other than the credentials when it rewrites the value', async () => {
      await rawClient.send(new CreateSecretCommand({ Name: DEFAULT_NAME, SecretString: JSON.stringify({ ...creds(REFRESH_1), note: 'owned by team cx' }) }));
      expect((await store().readCurrent(org())).extras).toEqual({ note: 'owned by team cx' });
      await rotate(store(), REFRESH_2);
      expect(JSON.parse(emulator.versionWithStage(DEFAULT_NAME)!.secretString!)).toEqual({ ...creds(REFRESH_2), note: 'owned by team cx' });
      expect(await store().read(org())).toEqual(creds(REFRESH_2));
    });

    it('writes nothing when the token is already the current one, so retries are free', async () => {
      await store().save(org(), creds(REFRESH_1));
      const before = await store().readCurrent(org());
      await store().rotateRefreshToken(org(), before, REFRESH_2, ATTEMPT);
      emulator.resetCalls();
      expect(await store().rotateRefreshToken(org(), before, REFRESH_2, ATTEMPT)).toBe('written');
      expect(emulator.calls).toEqual({ total: 1, GetSecretValue: 1 });
      expect(emulator.versions(DEFAULT_NAME)).toHaveLength(2);
    });

    it('keeps credentials an operator saved after the attempt read them, and says so', async () => {
      await store().save(org(), creds(REFRESH_1));
      const before = await store().readCurrent(org());
      await store().save(org(), { clientId: 'client-1', clientSecret: 'operator-rotated-secret-000000000', refreshToken: 'operator-fresh-token-123456789' });
      emulator.resetCalls();
      expect(await store().rotateRefreshToken(org(), before, REFRESH_2, ATTEMPT)).toBe('changed');
      expect(emulator.callCount('PutSecretValue')).toBe(0);
      expect((await store().read(org())).refreshToken).toBe('operator-fresh-token-123456789');
    });

    it('refuses to write onto credentials of another client', async () => {
      await store().save(org(), creds(REFRESH_1));
      const before = await store().readCurrent(org());
      const other = { ...before, credentials: { ...before.credentials, clientId: 'another-client' } };
      expect(await store().rotateRefreshToken(org(), other, REFRESH_2, ATTEMPT)).toBe('changed');
      expect(await store().read(org())).toEqual(creds(REFRESH_1));
    });

    it('adds a token to credentials that had none', async () => {
      await store().save(org(), creds());
      await rotate(store(), REFRESH_1);
      expect(await store().read(org())).toEqual(creds(REFRESH_1));
    });

    it('reports a write that outlasts the retries as a transient refresh_token_persist_failed without the token', async () => {
      await store().save(org(), creds(REFRESH_1));
      emulator.injectFault('PutSecretValue', { type: 'ThrottlingException', times: 3 });
      const err = await caught(rotate(store(), REFRESH_2));
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('refresh_token_persist_failed');
      expect(err.failureClass).toBe('transient');
      expect(err.message).toContain(ORG);
      expectNoSecretIn(err);
      expect(await store().read(org())).toEqual(creds(REFRESH_1));
    });

    it('treats a versions-quota refusal as transient: the write-ahead journal keeps the token meanwhile', async () => {
      await store().save(org(), creds(REFRESH_1));
      emulator.injectFault('PutSecretValue', { type: 'LimitExceededException', times: 3 });
      const err = await caught(rotate(store(), REFRESH_2));
      expect(err).toMatchObject({ code: 'refresh_token_persist_failed', failureClass: 'transient' });
    });

    it('fails permanently when the credentials secret does not exist, writing nothing', async () => {
      const err = await caught(store().readCurrent(org()));
      expect(err.code).toBe('credentials_unavailable');
      expect(err.failureClass).toBe('permanent');
      expect(emulator.callCount('PutSecretValue') + emulator.callCount('CreateSecret')).toBe(0);
      expectNoSecretIn(err);
    });

    it('rejects an empty token without calling Secrets Manager', async () => {
      await store().save(org(), creds(REFRESH_1));
      const before = await store().readCurrent(org());
      emulator.resetCalls();
      const err = await caught(store().rotateRefreshToken(org(), before, '', ATTEMPT));
      expect(err).toBeInstanceOf(ValidationError);
      expect(emulator.calls.total).toBe(0);
    });
  });

  describe('remove', () => {
    it('schedules the secret for deletion with a 7-day window; reads then fail permanently', async () => {
      await store().save(org(), creds(REFRESH_1));
      await store().remove(org());
      const stored = emulator.secret(DEFAULT_NAME)!;
      expect(stored.deletionDate!.getTime() - stored.deletedDate!.getTime()).toBe(7 * 86_400_000);
      const err = await caught(store().read(org()));
      expect(err.code).toBe('credentials_unavailable');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain('scheduled for deletion');
      await store().remove(org());
      await store().remove({ orgId: OTHER_ORG });
      const saveErr = await caught(store().save(org(), creds()));
      expect(saveErr.failureClass).toBe('permanent');
      expect(saveErr.message).toContain('scheduled for deletion');
    });
  });

  it('sends every CreateSecret and PutSecretValue through the limiter', async () => {
    const sleeps: number[] = [];
    const clock: Clock = { now: () => 0, sleep: async (ms) => void sleeps.push(ms) };
    const limiter = new WriteLimiter({ ratePerSecond: 50, burst: 1, clock });
    const s = store({ limiter });
    await s.save(org(), creds(REFRESH_1));
    await s.rotateRefreshToken(org(), await s.readCurrent(org()), REFRESH_2, randomUUID());
    await s.save(org({ orgId: OTHER_ORG }), creds());
    const writes = emulator.callCount('PutSecretValue') + emulator.callCount('CreateSecret');
    expect(writes).toBe(5);
    expect(limiter.granted).toBe(writes);
    expect(sleeps).toEqual([20, 40, 60, 80]);
  });

  it('never puts a credential value into any error it raises', async () => {
    const s = store();
    const errors: unknown[] = [];
    errors.push(await caught(s.read(org())));
    errors.push(await caught(s.readCurrent(org())));
    errors.push(await caught(s.save(org(), { clientId: CLIENT_SECRET, clientSecret: 42 } as unknown as ClientCredentials)));
    await rawClient.send(new CreateSecretCommand({ Name: DEFAULT_NAME, SecretString: JSON.stringify({ clientSecret: CLIENT_SECRET, refreshToken: 7 }) }));
    errors.push(await caught(s.read(org())));
    await rawClient.send(new CreateSecretCommand({ Name: `${PREFIX}/credentials/${OTHER_ORG}`, SecretString: JSON.stringify(creds(REFRESH_1)) }));
    emulator.injectFault('PutSecretValue', { type: 'InternalServiceError', times: 3 });
    const other = org({ orgId: OTHER_ORG });
    errors.push(await caught(s.rotateRefreshToken(other, await s.readCurrent(other), REFRESH_2, randomUUID())));
    emulator.injectFault('PutSecretValue', { type: 'AccessDeniedException' });
    errors.push(await caught(s.save(org({ orgId: OTHER_ORG }), creds(REFRESH_3))));
    expect(errors).toHaveLength(6);
    for (const err of errors) {
      expect(err).toBeInstanceOf(BrokerError);
      expectNoSecretIn(err);
    }
  });
});
