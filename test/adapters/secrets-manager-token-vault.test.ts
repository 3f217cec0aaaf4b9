import { CreateSecretCommand, DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError, StoreError, ValidationError } from '../../lambdas/core/errors.js';
import type { Clock, TokenRecord } from '../../lambdas/core/ports.js';
import { SecretsManagerTokenVault, type SecretsManagerTokenVaultOptions } from '../../lambdas/adapters/aws/secrets-manager-token-vault.js';
import { WriteLimiter } from '../../lambdas/adapters/aws/write-limiter.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { caught, errorText } from '../support/caught.js';

const PREFIX = 'gtb-test';
const ORG = '0a1b2c3d-0000-4000-8000-000000000001';
const OTHER_ORG = '0a1b2c3d-0000-4000-8000-000000000002';
const ATTEMPT_1 = '11111111-1111-4111-8111-111111111111';
const ATTEMPT_2 = '22222222-2222-4222-8222-222222222222';
const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-00000000abcd';

function tokenRecord(accessToken: string, orgId = ORG): TokenRecord {
  return {
    schemaVersion: 1,
    orgId,
    accessToken,
    tokenType: 'bearer',
    issuedAt: '2026-03-01T00:00:00.000Z',
    expiresAt: '2026-03-02T00:00:00.000Z',
    refreshAt: '2026-03-01T18:00:00.000Z',
    region: 'mypurecloud.ie',
    apiBaseUrl: 'https://api.mypurecloud.ie',
    oauthClientId: 'client-1',
    scopes: ['conversations'],
  };
}

const SECRET_TOKEN_1 = 'at-SECRET-first-0123456789abcdef';
const SECRET_TOKEN_2 = 'at-SECRET-second-fedcba9876543210';



class CountingClock implements Clock {
  readonly sleeps: number[] = [];
  now(): number {
    return 0;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
  }
}

describe('SecretsManagerTokenVault', () => {
  let emulator: SecretsManagerEmulator;
  let client: SecretsManagerClient;
  let fastRetryClient: SecretsManagerClient;
  const clients: SecretsManagerClient[] = [];

  const vault = (options: Partial<SecretsManagerTokenVaultOptions> = {}) =>
    new SecretsManagerTokenVault({ client: fastRetryClient, secretPrefix: PREFIX, kmsKeyId: KMS_KEY, ...options });
  const secretName = `${PREFIX}/tokens/${ORG}`;

  beforeAll(async () => {
    emulator = await SecretsManagerEmulator.start();
    client = createEmulatorClient(emulator, { maxAttempts: 1 });
    fastRetryClient = createEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 1 });
    clients.push(client, fastRetryClient);
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await emulator.close();
  });

  beforeEach(() => emulator.reset());

  describe('write', () => {
    it('creates the secret on the first write, with the KMS key, org and managed-by tags, and the attempt as VersionId', async () => {
      await vault({ tags: { team: 'cx' } }).write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      const described = await client.send(new DescribeSecretCommand({ SecretId: secretName }));
      expect(described.KmsKeyId).toBe(KMS_KEY);
      expect(described.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'org-id', Value: ORG },
          { Key: 'managed-by', Value: 'genesys-token-broker' },
          { Key: 'team', Value: 'cx' },
        ]),
      );
      expect(described.Tags).toHaveLength(3);
      expect(described.VersionIdsToStages).toEqual({ [ATTEMPT_1]: ['AWSCURRENT'] });
      expect(described.Description).toContain(ORG);
      expect(described.Description).not.toContain(SECRET_TOKEN_1);
      expect(emulator.calls).toMatchObject({ PutSecretValue: 1, CreateSecret: 1 });
      expect(await vault().read(ORG)).toEqual(tokenRecord(SECRET_TOKEN_1));
    });

    it('moves AWSCURRENT to the second write and the first to AWSPREVIOUS', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      const described = await client.send(new DescribeSecretCommand({ SecretId: secretName }));
      expect(described.VersionIdsToStages).toEqual({ [ATTEMPT_1]: ['AWSPREVIOUS'], [ATTEMPT_2]: ['AWSCURRENT'] });
      expect((await v.read(ORG))?.accessToken).toBe(SECRET_TOKEN_2);
      expect((await v.readPrevious(ORG))?.accessToken).toBe(SECRET_TOKEN_1);
      expect(emulator.calls.CreateSecret).toBe(1);
    });

    it('adds no version when a write is retried with the same attemptId', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      expect(emulator.calls.PutSecretValue).toBe(3);
      expect(emulator.versions(secretName).map((x) => [x.versionId, x.stages])).toEqual([
        [ATTEMPT_1, ['AWSPREVIOUS']],
        [ATTEMPT_2, ['AWSCURRENT']],
      ]);
    });

    it('lets a late retry of an older attempt change nothing, so it cannot take AWSCURRENT back', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      expect((await v.read(ORG))?.accessToken).toBe(SECRET_TOKEN_2);
      expect(emulator.versions(secretName)).toHaveLength(2);
    });

    it('adds no version when the reply to a write is lost and the SDK retries it', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      emulator.injectFault('PutSecretValue', { type: 'ConnectionReset', afterProcessing: true });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      expect(emulator.requests.filter((r) => r.operation === 'PutSecretValue').map((r) => r.outcome)).toEqual(['ResourceNotFoundException', 'ConnectionReset', 'ok']);
      expect(emulator.versions(secretName)).toHaveLength(2);
      expect(emulator.versionWithStage(secretName)?.versionId).toBe(ATTEMPT_2);
    });

    it('derives a stable UUID-shaped token from an attempt id that is not a valid ClientRequestToken', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: 'attempt-7' });
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: 'attempt-7' });
      const versions = emulator.versions(secretName);
      expect(versions).toHaveLength(1);
      expect(versions[0]?.versionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: 'attempt-8' });
      expect(emulator.versions(secretName)).toHaveLength(2);
    });

    it('refuses to reuse an attemptId for a different token, without naming either token', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      const err = await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_1 }));
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('vault_write_failed');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain(ORG);
      expect(errorText(err)).not.toContain(SECRET_TOKEN_1);
      expect(errorText(err)).not.toContain(SECRET_TOKEN_2);
      expect((await v.read(ORG))?.accessToken).toBe(SECRET_TOKEN_1);
    });

    it('falls back to PutSecretValue when another writer creates the secret first', async () => {
      const v = vault();
      await Promise.all([v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 }), v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 })]);
      expect(emulator.calls.CreateSecret).toBe(2);
      expect(emulator.requests.filter((r) => r.operation === 'CreateSecret').map((r) => r.outcome).sort()).toEqual(['ResourceExistsException', 'ok']);
      expect(emulator.calls.PutSecretValue).toBe(3);
      const versions = emulator.versions(secretName);
      expect(versions.map((x) => x.versionId).sort()).toEqual([ATTEMPT_1, ATTEMPT_2]);
      expect(versions.filter((x) => x.stages.includes('AWSCURRENT'))).toHaveLength(1);
    });

    it('retries ThrottlingException with the SDK default retry strategy: two throttles, then success', async () => {
      const defaultClient = createEmulatorClient(emulator);
      clients.push(defaultClient);
      const v = vault({ client: defaultClient });
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      emulator.resetCalls();
      emulator.injectFault('PutSecretValue', { type: 'ThrottlingException', times: 2 });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      expect(emulator.calls).toEqual({ total: 3, PutSecretValue: 3 });
      expect(emulator.requests.map((r) => [r.attempt, r.outcome])).toEqual([
        [1, 'ThrottlingException'],
        [2, 'ThrottlingException'],
        [3, 'ok'],
      ]);
      expect(emulator.versionWithStage(secretName)?.versionId).toBe(ATTEMPT_2);
    });

    it('reports throttling that outlasts the retries as a transient vault_write_failed', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      emulator.resetCalls();
      emulator.injectFault('PutSecretValue', { type: 'ThrottlingException', times: 3 });
      const err = await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 }));
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('vault_write_failed');
      expect(err.failureClass).toBe('transient');
      expect(err.message).toMatch(new RegExp(`org ${ORG}.*ThrottlingException`));
      expect(emulator.calls.PutSecretValue).toBe(3);
      expect((await v.read(ORG))?.accessToken).toBe(SECRET_TOKEN_1);
    });

    it('retries InternalServiceError and reports AccessDeniedException as permanent', async () => {
      const v = vault();
      emulator.injectFault('PutSecretValue', { type: 'InternalServiceError', times: 2 });
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      expect(emulator.calls.PutSecretValue).toBe(3);
      emulator.injectFault('PutSecretValue', { type: 'AccessDeniedException' });
      const err = await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 }));
      expect(err.code).toBe('vault_write_failed');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain('AccessDeniedException');
    });

    it('sends every CreateSecret and PutSecretValue through the limiter', async () => {
      const clock = new CountingClock();
      const limiter = new WriteLimiter({ ratePerSecond: 10, burst: 1, clock });
      const v = vault({ limiter });
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      await v.write(tokenRecord(SECRET_TOKEN_1, OTHER_ORG), { attemptId: ATTEMPT_1 });
      const writes = emulator.callCount('PutSecretValue') + emulator.callCount('CreateSecret');
      // Two new secrets (PutSecretValue answered not found, then CreateSecret) and one plain put.
      expect(writes).toBe(5);
      expect(limiter.granted).toBe(writes);
      expect(clock.sleeps).toEqual([100, 200, 300, 400]);
    });

    it('rejects an invalid record or org id without calling Secrets Manager', async () => {
      const v = vault();
      const broken = { ...tokenRecord(SECRET_TOKEN_1), accessToken: '', apiBaseUrl: 'not a url' };
      const err = await caught(v.write(broken, { attemptId: ATTEMPT_1 }));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toContain('accessToken');
      expect(err.message).toContain('apiBaseUrl');
      const badOrg = await caught(v.write(tokenRecord(SECRET_TOKEN_1, '../../etc'), { attemptId: ATTEMPT_1 }));
      expect(badOrg).toBeInstanceOf(ValidationError);
      expect(errorText(badOrg)).not.toContain(SECRET_TOKEN_1);
      expect(await caught(v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: '' }))).toBeInstanceOf(ValidationError);
      expect(emulator.calls.total).toBe(0);
    });
  });

  describe('read', () => {
    it('returns undefined for an org that has no token secret', async () => {
      expect(await vault().read(ORG)).toBeUndefined();
      expect(await vault().readPrevious(ORG)).toBeUndefined();
      expect(emulator.calls.GetSecretValue).toBe(2);
    });

    it('reports a malformed stored value as token_unavailable without echoing it', async () => {
      const notJson = `{"accessToken":"${SECRET_TOKEN_1}"`;
      await client.send(new CreateSecretCommand({ Name: secretName, SecretString: notJson }));
      const err = await caught(vault().read(ORG));
      expect(err).toBeInstanceOf(BrokerError);
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain(ORG);
      expect(errorText(err)).not.toContain(SECRET_TOKEN_1);

      const wrongShape = JSON.stringify({ ...tokenRecord(SECRET_TOKEN_2), tokenType: SECRET_TOKEN_2, expiresAt: 'soon' });
      await client.send(new CreateSecretCommand({ Name: `${PREFIX}/tokens/${OTHER_ORG}`, SecretString: wrongShape }));
      const shapeErr = await caught(vault().read(OTHER_ORG));
      expect(shapeErr.code).toBe('token_unavailable');
      expect(shapeErr.message).toMatch(/tokenType/);
      expect(shapeErr.message).toMatch(/expiresAt/);
      expect(errorText(shapeErr)).not.toContain(SECRET_TOKEN_2);
    });

    it('refuses to return a token stored for a different org', async () => {
      await client.send(new CreateSecretCommand({ Name: secretName, SecretString: JSON.stringify(tokenRecord(SECRET_TOKEN_1, OTHER_ORG)) }));
      const err = await caught(vault().read(ORG));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain('different org');
      expect(errorText(err)).not.toContain(SECRET_TOKEN_1);
    });

    it('reports throttling that outlasts the retries as a transient token_unavailable', async () => {
      await vault().write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      emulator.injectFault('GetSecretValue', { type: 'ThrottlingException', times: 3 });
      const err = await caught(vault().read(ORG));
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('token_unavailable');
      expect(err.failureClass).toBe('transient');
    });
  });

  describe('remove and restore', () => {
    it('schedules the secret for deletion with a 7-day recovery window, after which reads return undefined', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      const before = Date.now();
      await v.remove(ORG);
      const stored = emulator.secret(secretName);
      expect(stored?.deletedDate).toBeDefined();
      const windowMs = stored!.deletionDate!.getTime() - stored!.deletedDate!.getTime();
      expect(windowMs).toBe(7 * 86_400_000);
      expect(stored!.deletedDate!.getTime()).toBeGreaterThanOrEqual(before);
      expect(await v.read(ORG)).toBeUndefined();
      await v.remove(ORG);
      await v.remove(OTHER_ORG);
    });

    it('honours a configured recovery window', async () => {
      const v = vault({ recoveryWindowInDays: 30 });
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      await v.remove(ORG);
      const stored = emulator.secret(secretName)!;
      expect(stored.deletionDate!.getTime() - stored.deletedDate!.getTime()).toBe(30 * 86_400_000);
    });

    it('refuses writes to a removed org until it is restored', async () => {
      const v = vault();
      await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
      await v.remove(ORG);
      const err = await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 }));
      expect(err.code).toBe('vault_write_failed');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain('scheduled for deletion');
      expect(await v.restore(ORG)).toBe(true);
      await v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 });
      expect((await v.read(ORG))?.accessToken).toBe(SECRET_TOKEN_2);
      expect(await v.restore(OTHER_ORG)).toBe(false);
    });
  });

  describe('configuration', () => {
    it.each<[string, Partial<SecretsManagerTokenVaultOptions>, RegExp]>([
      ['a prefix with a trailing slash', { secretPrefix: 'broker/' }, /secretPrefix|slash/],
      ['a prefix with a space', { secretPrefix: 'my broker' }, /letters, digits/],
      ['a reserved tag key', { tags: { 'managed-by': 'me' } }, /set by the broker/],
      ['an aws: tag key', { tags: { 'aws:owner': 'me' } }, /reserved aws: prefix/],
      ['a recovery window of 3 days', { recoveryWindowInDays: 3 }, /recoveryWindowInDays/],
      ['an unknown option', { kmsKey: 'x' } as Partial<SecretsManagerTokenVaultOptions>, /unknown SecretsManagerTokenVault option kmsKey/],
    ])('rejects %s with invalid_config', (_label, options, message) => {
      let err: unknown;
      try {
        vault(options);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).code).toBe('invalid_config');
      expect((err as Error).message).toMatch(message);
    });
  });

  it('never puts a token value into any error it raises', async () => {
    const v = vault();
    const errors: unknown[] = [];
    await v.write(tokenRecord(SECRET_TOKEN_1), { attemptId: ATTEMPT_1 });
    errors.push(await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_1 })));
    emulator.injectFault('PutSecretValue', { type: 'ThrottlingException', times: 3 });
    errors.push(await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 })));
    emulator.injectFault('PutSecretValue', { type: 'InternalServiceError', times: 3 });
    errors.push(await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 })));
    errors.push(await caught(v.write({ ...tokenRecord(SECRET_TOKEN_2), scopes: [SECRET_TOKEN_2, 7] as unknown as string[] }, { attemptId: ATTEMPT_2 })));
    await v.remove(ORG);
    errors.push(await caught(v.write(tokenRecord(SECRET_TOKEN_2), { attemptId: ATTEMPT_2 })));
    expect(errors).toHaveLength(5);
    for (const err of errors) {
      expect(err).toBeInstanceOf(BrokerError);
      expect(errorText(err)).not.toContain(SECRET_TOKEN_1);
      expect(errorText(err)).not.toContain(SECRET_TOKEN_2);
      expect(errorText(err)).not.toContain('at-SECRET');
    }
  });
});
