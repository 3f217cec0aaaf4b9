/**
 * createTokenClient with the Secrets Manager source: the real SecretsManagerClient against the
 * emulator, tokens written the way the refresher writes them (SecretsManagerTokenVault) or by a bare
 * PutSecretValue, and an injected clock for the cache.
 */
import { CreateSecretCommand, DeleteSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { SecretsManagerTokenVault } from '../../lambdas/adapters/aws/secrets-manager-token-vault.js';
import { createTokenClient, TokenClientError, type TokenClient, type TokenClientOptions } from '../../lambdas/client/index.js';
import { BrokerError, ValidationError } from '../../lambdas/core/errors.js';
import type { TokenRecord } from '../../lambdas/core/ports.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { DAY, MINUTE, ORG_A, ORG_B, ORG_C, rejectionOf, T0, tokenRecord } from './fixtures.js';

const PREFIX = 'gtb-client';

describe('createTokenClient with the Secrets Manager source', () => {
  let sm: SecretsManagerEmulator;
  let smClient: SecretsManagerClient;
  let vault: SecretsManagerTokenVault;
  let nowMs = T0;
  const clock = { now: () => nowMs };
  let attempt = 0;

  const write = async (record: TokenRecord): Promise<void> => vault.write(record, { attemptId: `attempt-${++attempt}` });
  const gets = (): number => sm.callCount('GetSecretValue');
  const client = (options: Partial<TokenClientOptions> = {}): TokenClient => createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock, ...options });

  beforeAll(async () => {
    sm = await SecretsManagerEmulator.start();
    // One attempt, so an injected fault reaches the client instead of being retried away.
    smClient = createEmulatorClient(sm, { maxAttempts: 1 });
    vault = new SecretsManagerTokenVault({ client: smClient, secretPrefix: PREFIX });
  });

  afterAll(async () => {
    smClient.destroy();
    await sm.close();
  });

  beforeEach(() => {
    nowMs = T0;
    sm.reset();
  });

  it('returns the AWSCURRENT token of the org with its API base URL and region', async () => {
    const record = tokenRecord(ORG_A);
    await write(record);
    sm.resetCalls();
    const token = await client().getToken(ORG_A);
    expect(token).toEqual({ orgId: ORG_A, accessToken: record.accessToken, expiresAt: record.expiresAt, apiBaseUrl: 'https://api.mypurecloud.ie', region: 'mypurecloud.ie' });
    expect(Object.isFrozen(token)).toBe(true);
    expect(gets()).toBe(1);
    expect(sm.requests).toEqual([expect.objectContaining({ operation: 'GetSecretValue', outcome: 'ok' })]);
  });

  it('serves repeated calls from the cache without calling Secrets Manager', async () => {
    await write(tokenRecord(ORG_A));
    sm.resetCalls();
    const tokens = client();
    const first = await tokens.getToken(ORG_A);
    for (let i = 0; i < 20; i++) {
      nowMs += 10_000;
      expect(await tokens.getToken(ORG_A)).toBe(first);
    }
    expect(gets()).toBe(1);
    expect(sm.callCount()).toBe(1);
  });

  it('keeps one cache entry per org and accepts an uppercase org id as the same org', async () => {
    await write(tokenRecord(ORG_A));
    await write(tokenRecord(ORG_B));
    sm.resetCalls();
    const tokens = client();
    const a = await tokens.getToken(ORG_A);
    const b = await tokens.getToken(ORG_B);
    expect(a.accessToken).not.toBe(b.accessToken);
    expect(await tokens.getToken(ORG_A.toUpperCase())).toBe(a);
    expect(gets()).toBe(2);
  });

  it('reads the source again once maxAgeMs has passed', async () => {
    await write(tokenRecord(ORG_A));
    sm.resetCalls();
    const tokens = client({ maxAgeMs: 60_000 });
    await tokens.getToken(ORG_A);
    nowMs += 59_999;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
    nowMs += 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(2);
  });

  it('caches a token until the broker has written its replacement: one read per lifetime, not one per 5 minutes', async () => {
    const record = tokenRecord(ORG_A, { lifetimeMs: DAY });
    await write(record);
    sm.resetCalls();
    nowMs = T0;
    const tokens = client();
    await tokens.getToken(ORG_A);
    const refreshAtMs = Date.parse(record.refreshAt);
    // Until the mark plus a sweep interval, whatever the time: no read.
    for (const at of [T0 + MINUTE, T0 + 6 * 3_600_000, refreshAtMs, refreshAtMs + 5 * MINUTE - 1]) {
      nowMs = at;
      expect((await tokens.getToken(ORG_A)).accessToken).toBe(record.accessToken);
    }
    expect(gets()).toBe(1);
    // The broker's sweep after the mark wrote the replacement; within the jitter minute it is read.
    const next = tokenRecord(ORG_A, { issuedAtMs: refreshAtMs + MINUTE });
    await write(next);
    nowMs = refreshAtMs + 6 * MINUTE;
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(next.accessToken);
    expect(gets()).toBe(2);
  });

  it('looks again one sweep interval later at a token already past its refresh mark (the broker is late)', async () => {
    const record = tokenRecord(ORG_A, { lifetimeMs: DAY });
    await write(record);
    sm.resetCalls();
    nowMs = Date.parse(record.refreshAt) + 10 * MINUTE;
    const tokens = client();
    await tokens.getToken(ORG_A);
    nowMs += 5 * MINUTE - 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
    nowMs += 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(2);
  });

  it('refetches a cached token once it comes within the refresh margin of its expiry', async () => {
    // A refresh mark at expiry isolates the margin rule from the replacement rule.
    const record = { ...tokenRecord(ORG_A, { lifetimeMs: DAY }), refreshAt: new Date(T0 + DAY).toISOString() };
    await write(record);
    sm.resetCalls();
    const tokens = client({ maxAgeMs: 2 * DAY, refreshMarginMs: 5 * MINUTE });
    await tokens.getToken(ORG_A);
    const expiresAtMs = Date.parse(record.expiresAt);
    nowMs = expiresAtMs - 5 * MINUTE - 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
    // The broker has refreshed meanwhile: the refetch picks the new token up.
    const next = tokenRecord(ORG_A, { issuedAtMs: nowMs });
    await write(next);
    nowMs += 1;
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(next.accessToken);
    expect(gets()).toBe(2);
  });

  it('caps the refresh margin at 10% of a short token lifetime', async () => {
    // A 10-minute token: a 5-minute margin would halve its useful life; 10% is 1 minute.
    const record = tokenRecord(ORG_A, { lifetimeMs: 10 * MINUTE });
    await write(record);
    sm.resetCalls();
    const tokens = client({ maxAgeMs: DAY, refreshMarginMs: 5 * MINUTE });
    await tokens.getToken(ORG_A);
    nowMs = Date.parse(record.expiresAt) - MINUTE - 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
    nowMs += 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(2);
  });

  it('serves a token already inside its margin but re-reads it within seconds, not on every call', async () => {
    const record = tokenRecord(ORG_A, { lifetimeMs: DAY });
    await write(record);
    sm.resetCalls();
    nowMs = Date.parse(record.expiresAt) - 2 * MINUTE;
    const tokens = client();
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(record.accessToken);
    nowMs += 4_999;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
    nowMs += 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(2);
  });

  it('picks up a rotated AWSCURRENT after invalidate, and not before', async () => {
    const first = tokenRecord(ORG_A);
    await write(first);
    const tokens = client();
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(first.accessToken);

    const rotated = tokenRecord(ORG_A, { issuedAtMs: T0 + MINUTE });
    await smClient.send(new PutSecretValueCommand({ SecretId: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(rotated) }));
    sm.resetCalls();
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(first.accessToken);
    expect(gets()).toBe(0);

    tokens.invalidate(ORG_A);
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(rotated.accessToken);
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(rotated.accessToken);
    expect(gets()).toBe(1);
  });

  it('hands out the idle time Genesys reported and never serves a cached token past it', async () => {
    const record = { ...tokenRecord(ORG_A), idlesAt: new Date(T0 + 20 * MINUTE).toISOString() };
    await write(record);
    nowMs = T0;
    const tokens = client({ maxAgeMs: DAY });
    expect(await tokens.getToken(ORG_A)).toMatchObject({ accessToken: record.accessToken, idlesAt: record.idlesAt });
    sm.resetCalls();
    nowMs = T0 + 20 * MINUTE - 1;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(0);
    // At the idle time the cached entry is done: the next call reads the secret.
    nowMs = T0 + 20 * MINUTE;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
  });

  it('does not let a fetch that was in flight during invalidate repopulate the cache', async () => {
    const first = tokenRecord(ORG_A);
    await write(first);
    sm.resetCalls();
    const tokens = client();
    const inFlight = tokens.getToken(ORG_A);
    tokens.invalidate(ORG_A);
    await inFlight;
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(2);
  });

  it('makes one fetch for 100 concurrent calls and hands every caller the same token', async () => {
    await write(tokenRecord(ORG_A));
    sm.resetCalls();
    const tokens = client();
    const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken(ORG_A)));
    expect(gets()).toBe(1);
    expect(new Set(results).size).toBe(1);
  });

  it('does not cache a failed fetch: concurrent callers share the failure and the next call reads again', async () => {
    const record = tokenRecord(ORG_A);
    await write(record);
    sm.resetCalls();
    sm.injectFault('GetSecretValue', { type: 'ThrottlingException' });
    const tokens = client();
    const failures = await Promise.all(Array.from({ length: 5 }, () => rejectionOf<TokenClientError>(tokens.getToken(ORG_A))));
    expect(gets()).toBe(1);
    for (const err of failures) {
      expect(err).toBeInstanceOf(TokenClientError);
      expect(err.code).toBe('token_unavailable');
      expect(err.failureClass).toBe('transient');
      expect(err.message).toContain('ThrottlingException');
    }
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(record.accessToken);
    expect(gets()).toBe(2);
  });

  describe('from another account (brokerAccount)', () => {
    it('reads the secret by its partial ARN in the broker\'s account and Region', async () => {
      const record = tokenRecord(ORG_A);
      await write(record);
      const remote = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient, brokerAccount: { accountId: '123456789012', region: 'us-east-1' } }, clock });
      expect(await remote.getToken(ORG_A)).toMatchObject({ accessToken: record.accessToken });
      // Another account's secret of that name is another secret.
      const elsewhere = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient, brokerAccount: { accountId: '999999999999', region: 'us-east-1' } }, clock });
      await expect(elsewhere.getToken(ORG_A)).rejects.toMatchObject({
        code: 'token_unavailable',
        message: expect.stringContaining(`arn:aws:secretsmanager:us-east-1:999999999999:secret:${PREFIX}/tokens/${ORG_A}`),
      });
    });

    it('names both sides of a cross-account grant when access is denied', async () => {
      sm.injectFault('GetSecretValue', { type: 'AccessDeniedException', times: 1 });
      const remote = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient, brokerAccount: { accountId: '123456789012', region: 'us-east-1' } }, clock });
      await expect(remote.getToken(ORG_A)).rejects.toMatchObject({ code: 'access_denied', message: expect.stringContaining("From another account, both sides must allow it: the broker's stack grants this role") });
      sm.injectFault('GetSecretValue', { type: 'AccessDeniedException', times: 1 });
      await expect(client().getToken(ORG_A)).rejects.toMatchObject({ code: 'access_denied', message: expect.not.stringContaining('From another account') });
    });

    it.each([
      [{ accountId: '12345', region: 'us-east-1' }, 'source.brokerAccount.accountId', 'brokerAccount.accountId must be a 12-digit AWS account id'],
      [{ accountId: '123456789012', region: 'Ireland' }, 'source.brokerAccount.region', 'brokerAccount.region must be an AWS Region such as eu-west-1'],
      [{ accountId: '123456789012', region: 'eu-west-1', partition: 'azure' }, 'source.brokerAccount.partition', 'brokerAccount.partition must be aws, aws-cn or aws-us-gov'],
    ])('refuses a malformed broker account %j, naming the field', (brokerAccount, field, message) => {
      expect(() => createTokenClient({ source: { secretPrefix: PREFIX, client: smClient, brokerAccount: brokerAccount as never }, clock })).toThrow(
        expect.objectContaining({ code: 'invalid_config', field, message: `createTokenClient: ${message}` }),
      );
    });
  });

  describe('bad org ids', () => {
    const bad: Array<[string, unknown]> = [
      ['an empty string', ''],
      ['a name', 'acme'],
      ['a path', `../credentials/${ORG_A}`],
      ['a UUID with a suffix', `${ORG_A}/x`],
      ['a UUID without dashes', ORG_A.replaceAll('-', '')],
      ['a number', 42],
      ['null', null],
      ['undefined', undefined],
      ['an object', { orgId: ORG_A }],
    ];

    it.each(bad)('rejects %s with invalid_request and calls nothing', async (_label, orgId) => {
      const tokens = client();
      const err = await rejectionOf<TokenClientError>(tokens.getToken(orgId as string));
      expect(err).toBeInstanceOf(TokenClientError);
      expect(err.code).toBe('invalid_request');
      expect(err.failureClass).toBe('permanent');
      expect(sm.callCount()).toBe(0);
    });

    it('rejects a bad org id in invalidate too', () => {
      expect(() => client().invalidate('acme')).toThrow(expect.objectContaining({ code: 'invalid_request' }));
    });
  });

  describe('typed errors', () => {
    const expectNoToken = (err: Error, ...tokens: string[]): void => {
      for (const t of tokens) expect(`${err.message} ${String(err.stack)}`).not.toContain(t);
    };

    it('reports a missing token secret as token_unavailable saying the secret does not exist yet', async () => {
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_C));
      expect(err).toBeInstanceOf(TokenClientError);
      expect(err).toBeInstanceOf(BrokerError);
      expect(err.code).toBe('token_unavailable');
      expect(err.orgId).toBe(ORG_C);
      expect(err.message).toContain(`token secret ${PREFIX}/tokens/${ORG_C} does not exist yet`);
      expect((err.cause as Error).name).toBe('ResourceNotFoundException');
    });

    it('reports a token secret scheduled for deletion (org removed) as org_not_found', async () => {
      await write(tokenRecord(ORG_A));
      await smClient.send(new DeleteSecretCommand({ SecretId: tokenSecretName(PREFIX, ORG_A), RecoveryWindowInDays: 7 }));
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('org_not_found');
      expect(err.message).toMatch(/scheduled for deletion.*removed/);
    });

    it('reports access denied as access_denied naming the grantReadToken grant to add', async () => {
      const record = tokenRecord(ORG_A);
      await write(record);
      sm.injectFault('GetSecretValue', { type: 'AccessDeniedException' });
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('access_denied');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain(`broker.grantReadToken(thisFunction, '${ORG_A}')`);
      expectNoToken(err, record.accessToken);
    });

    it('reports a KMS decryption failure as access_denied naming kms:Decrypt', async () => {
      await write(tokenRecord(ORG_A));
      sm.injectFault('GetSecretValue', { type: 'DecryptionFailure' });
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('access_denied');
      expect(err.message).toMatch(/kms:Decrypt.*grantReadToken/);
    });

    it('reports an expired stored token as token_unavailable and does not hand it out', async () => {
      const record = tokenRecord(ORG_A, { lifetimeMs: DAY });
      await write(record);
      nowMs = Date.parse(record.expiresAt);
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain(`expired at ${record.expiresAt}`);
      expectNoToken(err, record.accessToken);
    });

    it('reports a value that is not a schema v1 record as token_unavailable naming fields, never values', async () => {
      const record = tokenRecord(ORG_A);
      const broken = { ...record, schemaVersion: 2, apiBaseUrl: 'not a url' };
      await smClient.send(new CreateSecretCommand({ Name: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(broken) }));
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toMatch(/schemaVersion/);
      expect(err.message).toMatch(/apiBaseUrl/);
      expectNoToken(err, record.accessToken);
    });

    it('reports a value that is not JSON as token_unavailable', async () => {
      await smClient.send(new CreateSecretCommand({ Name: tokenSecretName(PREFIX, ORG_A), SecretString: 'SECRETVALUE-not-json' }));
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain('not valid JSON');
      expectNoToken(err, 'SECRETVALUE-not-json');
    });

    it('refuses a secret holding another org token', async () => {
      const foreign = tokenRecord(ORG_B);
      await smClient.send(new CreateSecretCommand({ Name: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(foreign) }));
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain('different org');
      expectNoToken(err, foreign.accessToken);
    });

    it('refuses a binary secret', async () => {
      await smClient.send(new CreateSecretCommand({ Name: tokenSecretName(PREFIX, ORG_A), SecretBinary: new Uint8Array([1, 2, 3]) }));
      const err = await rejectionOf<TokenClientError>(client().getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain('binary');
    });

    it('reports a 5xx after the SDK retries as transient token_unavailable', async () => {
      const retrying = createEmulatorClient(sm, { maxAttempts: 3, retryBackoffMs: 1 });
      try {
        await write(tokenRecord(ORG_A));
        sm.resetCalls();
        sm.injectFault('GetSecretValue', { type: 'InternalServiceError', times: 3 });
        const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: retrying }, clock });
        const err = await rejectionOf<TokenClientError>(tokens.getToken(ORG_A));
        expect(err.code).toBe('token_unavailable');
        expect(err.failureClass).toBe('transient');
        expect(gets()).toBe(3);
      } finally {
        retrying.destroy();
      }
    });
  });

  describe('options', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['an unknown option', { source: { secretPrefix: PREFIX }, maxAge: 5 }, /unknown option\(s\): maxAge/],
      ['both sources', { source: { secretPrefix: PREFIX, getterFunctionName: 'getter' } }, /exactly one of secretPrefix and getterFunctionName/],
      ['no source', {}, /source must be/],
      ['an unknown source option', { source: { secretPrefix: PREFIX, region: 'eu-west-1' } }, /unknown source option\(s\): region/],
      ['a prefix ending in a slash', { source: { secretPrefix: 'gtb/' } }, /must not end with a slash/],
      ['a negative maxAgeMs', { source: { secretPrefix: PREFIX }, maxAgeMs: -1 }, /maxAgeMs must be a non-negative integer/],
      ['a fractional refreshMarginMs', { source: { secretPrefix: PREFIX }, refreshMarginMs: 1.5 }, /refreshMarginMs must be a non-negative integer/],
      ['a bad function name', { source: { getterFunctionName: 'has space' } }, /getterFunctionName must be a Lambda function name or ARN/],
      ['a client that is not an SDK client', { source: { secretPrefix: PREFIX, client: {} } }, /source.client must be an AWS SDK v3 client/],
    ];

    it.each(cases)('refuses %s with invalid_config', (_label, options, message) => {
      let thrown: unknown;
      try {
        createTokenClient(options as TokenClientOptions);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ValidationError);
      expect((thrown as ValidationError).code).toBe('invalid_config');
      expect((thrown as Error).message).toMatch(message);
    });

    it('never caches with maxAgeMs 0 but still shares one fetch among concurrent calls', async () => {
      await write(tokenRecord(ORG_A));
      sm.resetCalls();
      const tokens = client({ maxAgeMs: 0 });
      await Promise.all([tokens.getToken(ORG_A), tokens.getToken(ORG_A), tokens.getToken(ORG_A)]);
      expect(gets()).toBe(1);
      await tokens.getToken(ORG_A);
      expect(gets()).toBe(2);
    });
  });
});
