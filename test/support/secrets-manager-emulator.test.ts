import {
  CreateSecretCommand,
  DeleteResourcePolicyCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  InternalServiceError,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  MalformedPolicyDocumentException,
  PublicPolicyException,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEmulatorClient, EMULATOR_CREDENTIALS, SecretsManagerEmulator } from './secrets-manager-emulator.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const DAY = 86_400_000;
const TOKEN_A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const TOKEN_B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('SecretsManagerEmulator', () => {
  let nowMs = T0;
  let emulator: SecretsManagerEmulator;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    emulator = await SecretsManagerEmulator.start({ now: () => nowMs, maxVersionsPerSecret: 5 });
    client = createEmulatorClient(emulator, { maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
  });

  beforeEach(() => {
    nowMs = T0;
    emulator.reset();
  });

  describe('wire protocol', () => {
    it('answers errors with __type, message, x-amzn-ErrorType and HTTP 400', async () => {
      const raw = await SecretsManagerEmulator.start({ verifySignatures: false });
      try {
        const res = await fetch(raw.endpoint, {
          method: 'POST',
          headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1' },
          body: JSON.stringify({ SecretId: 'missing' }),
        });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
        expect(res.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
        expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
        expect(await res.json()).toEqual({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
      } finally {
        await raw.close();
      }
    });

    it('refuses an unsigned request, a wrong region, a wrong key and an unknown access key', async () => {
      const unsigned = await fetch(emulator.endpoint, {
        method: 'POST',
        headers: { 'x-amz-target': 'secretsmanager.ListSecrets', 'content-type': 'application/x-amz-json-1.1' },
        body: '{}',
      });
      expect(unsigned.status).toBe(403);
      expect(((await unsigned.json()) as { __type: string }).__type).toBe('MissingAuthenticationTokenException');

      const wrongRegion = createEmulatorClient(emulator, { region: 'eu-west-1', maxAttempts: 1 });
      const wrongKey = new SecretsManagerClient({
        endpoint: emulator.endpoint,
        region: 'us-east-1',
        maxAttempts: 1,
        credentials: { accessKeyId: EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-right-secret-key' },
      });
      const unknownKey = new SecretsManagerClient({ endpoint: emulator.endpoint, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' } });
      try {
        expect((await rejectionOf(wrongRegion.send(new ListSecretsCommand({})))).name).toBe('InvalidSignatureException');
        expect((await rejectionOf(wrongKey.send(new ListSecretsCommand({})))).name).toBe('InvalidSignatureException');
        expect((await rejectionOf(unknownKey.send(new ListSecretsCommand({})))).name).toBe('UnrecognizedClientException');
      } finally {
        wrongRegion.destroy();
        wrongKey.destroy();
        unknownKey.destroy();
      }
    });

    it('answers an operation it does not implement with UnknownOperationException', async () => {
      const raw = await SecretsManagerEmulator.start({ verifySignatures: false });
      try {
        const reply = await fetch(raw.endpoint, {
          method: 'POST',
          headers: { 'x-amz-target': 'secretsmanager.RotateSecret', 'content-type': 'application/x-amz-json-1.1' },
          body: '{}',
        });
        expect(reply.status).toBe(400);
        expect(((await reply.json()) as { __type: string }).__type).toBe('UnknownOperationException');
      } finally {
        await raw.close();
      }
    });
  });

  describe('CreateSecret and DescribeSecret', () => {
    it('creates a secret with an ARN ending in a six-character suffix, its key, tags and first version', async () => {
      const out = await client.send(
        new CreateSecretCommand({ Name: 'app/tokens/one', SecretString: 'v1', KmsKeyId: 'alias/broker', Tags: [{ Key: 'team', Value: 'cx' }], Description: 'd', ClientRequestToken: TOKEN_A }),
      );
      expect(out.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:app\/tokens\/one-[A-Za-z0-9]{6}$/);
      expect(out.VersionId).toBe(TOKEN_A);
      const described = await client.send(new DescribeSecretCommand({ SecretId: 'app/tokens/one' }));
      expect(described).toMatchObject({
        ARN: out.ARN,
        Name: 'app/tokens/one',
        Description: 'd',
        KmsKeyId: 'alias/broker',
        Tags: [{ Key: 'team', Value: 'cx' }],
        VersionIdsToStages: { [TOKEN_A]: ['AWSCURRENT'] },
      });
      expect(described.CreatedDate).toEqual(new Date(T0));
      expect(described.DeletedDate).toBeUndefined();
    });

    it('omits KmsKeyId when the secret uses the default key, and creates no version without a value', async () => {
      const out = await client.send(new CreateSecretCommand({ Name: 'bare' }));
      expect(out.VersionId).toBeUndefined();
      const described = await client.send(new DescribeSecretCommand({ SecretId: 'bare' }));
      expect(described.KmsKeyId).toBeUndefined();
      expect(described.VersionIdsToStages).toEqual({});
      const err = await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'bare' })));
      expect(err).toBeInstanceOf(ResourceNotFoundException);
      expect(err.message).toContain('staging label: AWSCURRENT');
    });

    it('refuses a duplicate name with ResourceExistsException but ignores a retried create with the same token and value', async () => {
      await client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'v', ClientRequestToken: TOKEN_A }));
      const retried = await client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'v', ClientRequestToken: TOKEN_A }));
      expect(retried.VersionId).toBe(TOKEN_A);
      expect(emulator.versions('dup')).toHaveLength(1);
      expect(await rejectionOf(client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'v', ClientRequestToken: TOKEN_B })))).toBeInstanceOf(ResourceExistsException);
      expect(await rejectionOf(client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'other', ClientRequestToken: TOKEN_A })))).toBeInstanceOf(ResourceExistsException);
    });

    it('rejects a name outside the allowed characters and a short ClientRequestToken', async () => {
      expect(await rejectionOf(client.send(new CreateSecretCommand({ Name: 'bad name!', SecretString: 'v' })))).toBeInstanceOf(InvalidParameterException);
      const err = await rejectionOf(client.send(new CreateSecretCommand({ Name: 'ok', SecretString: 'the-value', ClientRequestToken: 'short' })));
      expect(err.name).toBe('ValidationException');
      expect(err.message).toContain('clientRequestToken');
      expect(err.message).not.toContain('short');
      expect(emulator.secretNames()).toEqual([]);
    });
  });

  describe('GetSecretValue', () => {
    it('finds a secret by name, full ARN and partial ARN, and not by an ARN with another suffix', async () => {
      const { ARN } = await client.send(new CreateSecretCommand({ Name: 'find/me', SecretString: 'v' }));
      const partial = ARN!.slice(0, -7);
      for (const id of ['find/me', ARN!, partial]) {
        expect((await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString).toBe('v');
      }
      const other = `${partial}-ZZZZZZ`;
      expect(await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: other })))).toBeInstanceOf(ResourceNotFoundException);
    });

    it('reads by VersionId and by VersionStage, and rejects a stage the version does not carry', async () => {
      await client.send(new CreateSecretCommand({ Name: 's', SecretString: 'one', ClientRequestToken: TOKEN_A }));
      await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two', ClientRequestToken: TOKEN_B }));
      expect((await client.send(new GetSecretValueCommand({ SecretId: 's', VersionId: TOKEN_A }))).SecretString).toBe('one');
      const previous = await client.send(new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPREVIOUS' }));
      expect(previous).toMatchObject({ SecretString: 'one', VersionId: TOKEN_A, VersionStages: ['AWSPREVIOUS'] });
      expect(await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 's', VersionId: TOKEN_A, VersionStage: 'AWSCURRENT' })))).toBeInstanceOf(
        InvalidRequestException,
      );
      expect(await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPENDING' })))).toBeInstanceOf(ResourceNotFoundException);
    });
  });

  describe('PutSecretValue', () => {
    it('moves AWSCURRENT to the new version, AWSPREVIOUS to the old one, and drops the older AWSPREVIOUS', async () => {
      await client.send(new CreateSecretCommand({ Name: 'rot', SecretString: 'v1' }));
      const v2 = await client.send(new PutSecretValueCommand({ SecretId: 'rot', SecretString: 'v2' }));
      const v3 = await client.send(new PutSecretValueCommand({ SecretId: 'rot', SecretString: 'v3' }));
      expect(v3.VersionStages).toEqual(['AWSCURRENT']);
      const versions = emulator.versions('rot');
      expect(versions.map((v) => [v.secretString, v.stages])).toEqual([
        ['v1', []],
        ['v2', ['AWSPREVIOUS']],
        ['v3', ['AWSCURRENT']],
      ]);
      const described = await client.send(new DescribeSecretCommand({ SecretId: 'rot' }));
      expect(described.VersionIdsToStages).toEqual({ [v2.VersionId!]: ['AWSPREVIOUS'], [v3.VersionId!]: ['AWSCURRENT'] });
    });

    it('treats a repeated token with the same value as a no-op and with another value as ResourceExistsException', async () => {
      await client.send(new CreateSecretCommand({ Name: 'idem', SecretString: 'v1' }));
      const first = await client.send(new PutSecretValueCommand({ SecretId: 'idem', SecretString: 'v2', ClientRequestToken: TOKEN_B }));
      const again = await client.send(new PutSecretValueCommand({ SecretId: 'idem', SecretString: 'v2', ClientRequestToken: TOKEN_B }));
      expect(again.VersionId).toBe(first.VersionId);
      expect(again.VersionStages).toEqual(['AWSCURRENT']);
      expect(emulator.versions('idem')).toHaveLength(2);
      expect(await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'idem', SecretString: 'v3', ClientRequestToken: TOKEN_B })))).toBeInstanceOf(
        ResourceExistsException,
      );
      expect(emulator.versionWithStage('idem')?.secretString).toBe('v2');
    });

    it('attaches only the requested stages when VersionStages leaves out AWSCURRENT', async () => {
      await client.send(new CreateSecretCommand({ Name: 'pending', SecretString: 'v1' }));
      await client.send(new PutSecretValueCommand({ SecretId: 'pending', SecretString: 'v2', VersionStages: ['AWSPENDING'] }));
      expect(emulator.versions('pending').map((v) => v.stages)).toEqual([['AWSCURRENT'], ['AWSPENDING']]);
    });

    it('fails with ResourceNotFoundException for a missing secret', async () => {
      expect(await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'nope', SecretString: 'v' })))).toBeInstanceOf(ResourceNotFoundException);
    });

    it('prunes deprecated versions older than a day and refuses a new version when it cannot make room', async () => {
      await client.send(new CreateSecretCommand({ Name: 'many', SecretString: 'v0' }));
      for (let i = 1; i < 5; i++) await client.send(new PutSecretValueCommand({ SecretId: 'many', SecretString: `v${i}` }));
      const err = await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'many', SecretString: 'v5' })));
      expect(err.name).toBe('LimitExceededException');
      nowMs = T0 + DAY + 1;
      await client.send(new PutSecretValueCommand({ SecretId: 'many', SecretString: 'v5' }));
      expect(emulator.versions('many').map((v) => v.secretString)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
    });
  });

  describe('PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy', () => {
    const policy = (principal: unknown) =>
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: principal, Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });

    it('keeps the policy text, answers it by name or ARN, and deletes it (twice is fine)', async () => {
      const { ARN } = await client.send(new CreateSecretCommand({ Name: 'pol', SecretString: 'v' }));
      expect((await client.send(new GetResourcePolicyCommand({ SecretId: 'pol' }))).ResourcePolicy).toBeUndefined();
      const text = policy({ AWS: 'arn:aws:iam::210987654321:role/reader' });
      expect(await client.send(new PutResourcePolicyCommand({ SecretId: ARN, ResourcePolicy: text, BlockPublicPolicy: true }))).toMatchObject({ ARN, Name: 'pol' });
      expect((await client.send(new GetResourcePolicyCommand({ SecretId: 'pol' }))).ResourcePolicy).toBe(text);
      expect(emulator.secret('pol')).toMatchObject({ resourcePolicy: text, blockPublicPolicy: true });
      await client.send(new DeleteResourcePolicyCommand({ SecretId: 'pol' }));
      await client.send(new DeleteResourcePolicyCommand({ SecretId: 'pol' }));
      expect((await client.send(new GetResourcePolicyCommand({ SecretId: 'pol' }))).ResourcePolicy).toBeUndefined();
      expect(emulator.secret('pol')).not.toHaveProperty('resourcePolicy');
    });

    it('refuses a public policy with BlockPublicPolicy, a malformed one always, and an unknown secret', async () => {
      await client.send(new CreateSecretCommand({ Name: 'pub', SecretString: 'v' }));
      for (const principal of ['*', { AWS: '*' }, { AWS: ['arn:aws:iam::210987654321:root', '*'] }]) {
        expect(await rejectionOf(client.send(new PutResourcePolicyCommand({ SecretId: 'pub', ResourcePolicy: policy(principal), BlockPublicPolicy: true })))).toBeInstanceOf(PublicPolicyException);
      }
      expect(emulator.secret('pub')).not.toHaveProperty('resourcePolicy');
      // Without BlockPublicPolicy the service accepts it.
      await client.send(new PutResourcePolicyCommand({ SecretId: 'pub', ResourcePolicy: policy('*') }));
      expect(emulator.secret('pub')).toMatchObject({ resourcePolicy: policy('*'), blockPublicPolicy: false });
      for (const bad of ['{', JSON.stringify({ Statement: [] }), JSON.stringify({ Version: '2012-10-17', Statement: [] })]) {
        expect(await rejectionOf(client.send(new PutResourcePolicyCommand({ SecretId: 'pub', ResourcePolicy: bad })))).toBeInstanceOf(MalformedPolicyDocumentException);
      }
      expect(await rejectionOf(client.send(new PutResourcePolicyCommand({ SecretId: 'nope', ResourcePolicy: policy('*') })))).toBeInstanceOf(ResourceNotFoundException);
      expect(await rejectionOf(client.send(new DeleteResourcePolicyCommand({ SecretId: 'nope' })))).toBeInstanceOf(ResourceNotFoundException);
    });

    it('refuses policy writes on a secret scheduled for deletion', async () => {
      await client.send(new CreateSecretCommand({ Name: 'doomed', SecretString: 'v' }));
      await client.send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 7 }));
      expect(await rejectionOf(client.send(new PutResourcePolicyCommand({ SecretId: 'doomed', ResourcePolicy: policy({ AWS: 'arn:aws:iam::210987654321:root' }) })))).toBeInstanceOf(InvalidRequestException);
    });
  });

  describe('DeleteSecret and RestoreSecret', () => {
    it('schedules deletion: reads and writes fail with InvalidRequestException until RestoreSecret', async () => {
      await client.send(new CreateSecretCommand({ Name: 'del', SecretString: 'v' }));
      const out = await client.send(new DeleteSecretCommand({ SecretId: 'del', RecoveryWindowInDays: 7 }));
      expect(out.DeletionDate).toEqual(new Date(T0 + 7 * DAY));
      expect(await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'del' })))).toBeInstanceOf(InvalidRequestException);
      expect(await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'del', SecretString: 'w' })))).toBeInstanceOf(InvalidRequestException);
      expect(await rejectionOf(client.send(new CreateSecretCommand({ Name: 'del', SecretString: 'w' })))).toBeInstanceOf(InvalidRequestException);
      expect(await rejectionOf(client.send(new DeleteSecretCommand({ SecretId: 'del' })))).toBeInstanceOf(InvalidRequestException);
      expect((await client.send(new DescribeSecretCommand({ SecretId: 'del' }))).DeletedDate).toEqual(new Date(T0));
      await client.send(new RestoreSecretCommand({ SecretId: 'del' }));
      expect((await client.send(new GetSecretValueCommand({ SecretId: 'del' }))).SecretString).toBe('v');
      expect((await client.send(new DescribeSecretCommand({ SecretId: 'del' }))).DeletedDate).toBeUndefined();
    });

    it('removes the secret for good once the recovery window has passed', async () => {
      await client.send(new CreateSecretCommand({ Name: 'gone', SecretString: 'v' }));
      await client.send(new DeleteSecretCommand({ SecretId: 'gone', RecoveryWindowInDays: 10 }));
      nowMs = T0 + 10 * DAY;
      expect(await rejectionOf(client.send(new DescribeSecretCommand({ SecretId: 'gone' })))).toBeInstanceOf(ResourceNotFoundException);
      await client.send(new CreateSecretCommand({ Name: 'gone', SecretString: 'new' }));
    });

    it('validates the recovery window and its exclusion with ForceDeleteWithoutRecovery', async () => {
      await client.send(new CreateSecretCommand({ Name: 'w', SecretString: 'v' }));
      for (const input of [{ RecoveryWindowInDays: 6 }, { RecoveryWindowInDays: 31 }, { RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true }]) {
        expect(await rejectionOf(client.send(new DeleteSecretCommand({ SecretId: 'w', ...input })))).toBeInstanceOf(InvalidParameterException);
      }
      expect(emulator.secret('w')?.deletedDate).toBeUndefined();
    });

    it('deletes at once with ForceDeleteWithoutRecovery, freeing the name', async () => {
      await client.send(new CreateSecretCommand({ Name: 'f', SecretString: 'v' }));
      await client.send(new DeleteSecretCommand({ SecretId: 'f', ForceDeleteWithoutRecovery: true }));
      expect(emulator.secret('f')).toBeUndefined();
      await client.send(new CreateSecretCommand({ Name: 'f', SecretString: 'v' }));
      expect(await rejectionOf(client.send(new DeleteSecretCommand({ SecretId: 'missing' })))).toBeInstanceOf(ResourceNotFoundException);
    });
  });

  describe('TagResource, UntagResource and ListSecrets', () => {
    it('merges tags by key and removes them by key', async () => {
      await client.send(new CreateSecretCommand({ Name: 't', SecretString: 'v', Tags: [{ Key: 'a', Value: '1' }] }));
      await client.send(new TagResourceCommand({ SecretId: 't', Tags: [{ Key: 'a', Value: '2' }, { Key: 'b', Value: '3' }] }));
      expect(emulator.secret('t')?.tags).toEqual({ a: '2', b: '3' });
      await client.send(new UntagResourceCommand({ SecretId: 't', TagKeys: ['a'] }));
      expect(emulator.secret('t')?.tags).toEqual({ b: '3' });
    });

    it('filters by name prefix, pages with NextToken and hides secrets scheduled for deletion unless asked', async () => {
      for (const name of ['p/tokens/1', 'p/tokens/2', 'p/tokens/3', 'p/credentials/1', 'q/tokens/1']) {
        await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
      }
      await client.send(new DeleteSecretCommand({ SecretId: 'p/tokens/3' }));
      const filter = [{ Key: 'name' as const, Values: ['p/tokens/'] }];
      const first = await client.send(new ListSecretsCommand({ Filters: filter, MaxResults: 1, SortOrder: 'asc' }));
      expect(first.SecretList?.map((s) => s.Name)).toEqual(['p/tokens/1']);
      const second = await client.send(new ListSecretsCommand({ Filters: filter, MaxResults: 1, SortOrder: 'asc', NextToken: first.NextToken }));
      expect(second.SecretList?.map((s) => s.Name)).toEqual(['p/tokens/2']);
      expect(second.NextToken).toBeUndefined();
      const all = await client.send(new ListSecretsCommand({ Filters: filter, IncludePlannedDeletion: true, SortOrder: 'asc' }));
      expect(all.SecretList?.map((s) => s.Name)).toEqual(['p/tokens/1', 'p/tokens/2', 'p/tokens/3']);
      expect(all.SecretList?.[2]?.DeletedDate).toEqual(new Date(T0));
      expect(all.SecretList?.[0]?.SecretVersionsToStages).toBeDefined();
    });

    it('lists version ids with their stages, deprecated ones only on request', async () => {
      await client.send(new CreateSecretCommand({ Name: 'v', SecretString: '1' }));
      await client.send(new PutSecretValueCommand({ SecretId: 'v', SecretString: '2' }));
      await client.send(new PutSecretValueCommand({ SecretId: 'v', SecretString: '3' }));
      expect((await client.send(new ListSecretVersionIdsCommand({ SecretId: 'v' }))).Versions).toHaveLength(2);
      expect((await client.send(new ListSecretVersionIdsCommand({ SecretId: 'v', IncludeDeprecated: true }))).Versions).toHaveLength(3);
    });
  });

  describe('test hooks', () => {
    it('counts calls per operation and in total, faulted ones included', async () => {
      await client.send(new CreateSecretCommand({ Name: 'c', SecretString: 'v' }));
      await client.send(new GetSecretValueCommand({ SecretId: 'c' }));
      emulator.injectFault('GetSecretValue', { type: 'AccessDeniedException' });
      await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'c' })));
      expect(emulator.calls).toEqual({ total: 3, CreateSecret: 1, GetSecretValue: 2 });
      expect(emulator.callCount('GetSecretValue')).toBe(2);
      expect(emulator.callCount('PutSecretValue')).toBe(0);
      expect(emulator.requests.map((r) => r.outcome)).toEqual(['ok', 'ok', 'AccessDeniedException']);
    });

    it('injects throttling that the SDK retries: the third attempt succeeds', async () => {
      const retrying = createEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 1 });
      try {
        await retrying.send(new CreateSecretCommand({ Name: 'th', SecretString: 'v' }));
        emulator.resetCalls();
        emulator.injectFault('GetSecretValue', { type: 'ThrottlingException', times: 2 });
        const out = await retrying.send(new GetSecretValueCommand({ SecretId: 'th' }));
        expect(out.SecretString).toBe('v');
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

    it('answers InternalServiceError with HTTP 500 as the modelled exception class', async () => {
      emulator.injectFault('*', { type: 'InternalServiceError' });
      const err = await rejectionOf(client.send(new ListSecretsCommand({})));
      expect(err).toBeInstanceOf(InternalServiceError);
      expect(err.$metadata?.httpStatusCode).toBe(500);
    });

    it('fails only the requests whose input matches a fault\'s when', async () => {
      await client.send(new CreateSecretCommand({ Name: 'one', SecretString: 'v1' }));
      await client.send(new CreateSecretCommand({ Name: 'other', SecretString: 'v1' }));
      emulator.resetCalls();
      emulator.injectFault('PutSecretValue', { type: 'LimitExceededException', times: 2, when: { SecretId: 'one' } });
      await client.send(new PutSecretValueCommand({ SecretId: 'other', SecretString: 'v2' }));
      const err = await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'one', SecretString: 'v2' })));
      expect(err.name).toBe('LimitExceededException');
      await client.send(new PutSecretValueCommand({ SecretId: 'other', SecretString: 'v3' }));
      await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'one', SecretString: 'v2' })));
      await client.send(new PutSecretValueCommand({ SecretId: 'one', SecretString: 'v2' }));
      expect(emulator.requests.map((r) => r.outcome)).toEqual(['ok', 'LimitExceededException', 'ok', 'LimitExceededException', 'ok']);
      expect(emulator.versionWithStage('other')!.secretString).toBe('v3');
    });

    it('applies the operation before a lost reply when afterProcessing is set', async () => {
      await client.send(new CreateSecretCommand({ Name: 'lost', SecretString: 'v1' }));
      emulator.injectFault('PutSecretValue', { type: 'ConnectionReset', afterProcessing: true });
      await rejectionOf(client.send(new PutSecretValueCommand({ SecretId: 'lost', SecretString: 'v2', ClientRequestToken: TOKEN_A })));
      expect(emulator.versionWithStage('lost')?.versionId).toBe(TOKEN_A);
    });
  });
});
