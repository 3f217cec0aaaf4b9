/**
 * The genesysToken middy middleware and withTokenRetry: a consumer Lambda hosted in the Lambda
 * emulator reads its token through the real SecretsManagerClient from the Secrets Manager emulator.
 * The typed handler below is also the compile-time proof that `middy<..., Context & GenesysTokenContext>`
 * works (`npm run typecheck` covers test files).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { SecretsManagerTokenVault } from '../../lambdas/adapters/aws/secrets-manager-token-vault.js';
import {
  createTokenClient,
  genesysToken,
  isUnauthorizedError,
  TokenClientError,
  withTokenRetry,
  type GenesysToken,
  type GenesysTokenContext,
  type TokenClient,
} from '../../lambdas/client/index.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import type { TokenRecord } from '../../lambdas/core/ports.js';
import { createLambdaEmulatorClient, type EmulatedHandler, LambdaEmulator } from '../support/lambda-emulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { ORG_A, ORG_B, rejectionOf, T0, tokenRecord } from './fixtures.js';

const PREFIX = 'gtb-mw';

interface OrgEvent {
  tenant: { genesysOrgId: string };
}
interface Result {
  orgId: string;
  apiBaseUrl: string;
  region: string;
  tokenLength: number;
  expiresAt: string;
}

let sm: SecretsManagerEmulator;
let smClient: SecretsManagerClient;
let lambda: LambdaEmulator;
let lambdaClient: LambdaClient;
let vault: SecretsManagerTokenVault;
let attempt = 0;
const clock = { now: () => T0 };

const write = async (record: TokenRecord): Promise<void> => vault.write(record, { attemptId: `mw-attempt-${++attempt}` });
const gets = (): number => sm.callCount('GetSecretValue');
const invoke = async (name: string, event: unknown): Promise<{ payload: unknown; functionError?: string }> => {
  const out = await lambdaClient.send(new InvokeCommand({ FunctionName: name, Payload: new TextEncoder().encode(JSON.stringify(event)) }));
  return { payload: JSON.parse(new TextDecoder().decode(out.Payload)), ...(out.FunctionError ? { functionError: out.FunctionError } : {}) };
};

beforeAll(async () => {
  [sm, lambda] = await Promise.all([SecretsManagerEmulator.start(), LambdaEmulator.start()]);
  smClient = createEmulatorClient(sm, { maxAttempts: 1 });
  lambdaClient = createLambdaEmulatorClient(lambda, { maxAttempts: 1 });
  vault = new SecretsManagerTokenVault({ client: smClient, secretPrefix: PREFIX });
});

afterAll(async () => {
  smClient?.destroy();
  lambdaClient?.destroy();
  await Promise.all([sm?.close(), lambda?.close()]);
});

beforeEach(() => {
  sm.reset();
  lambda.resetCounts();
});

describe('genesysToken middleware', () => {
  it('puts the org token on context.genesysToken for a typed middy handler', async () => {
    const record = tokenRecord(ORG_A);
    await write(record);
    sm.resetCalls();
    let seen: GenesysToken | undefined;
    const handler = middy<OrgEvent, Result, Error, Context & GenesysTokenContext>()
      .use(genesysToken<OrgEvent>({ orgIdFrom: (event) => event.tenant.genesysOrgId }, { source: { secretPrefix: PREFIX, client: smClient }, clock }))
      .handler(async (_event, context) => {
        expectTypeOf(context.genesysToken).toEqualTypeOf<GenesysToken>();
        expectTypeOf(context.awsRequestId).toBeString();
        // @ts-expect-error the context carries no refresh token, nor anything but GenesysToken fields
        void context.genesysToken.refreshToken;
        seen = context.genesysToken;
        const { orgId, apiBaseUrl, region, accessToken, expiresAt } = context.genesysToken;
        return { orgId, apiBaseUrl, region, tokenLength: accessToken.length, expiresAt };
      });
    lambda.register('consumer-typed', handler as unknown as EmulatedHandler);

    const out = await invoke('consumer-typed', { tenant: { genesysOrgId: ORG_A } });
    expect(out.functionError).toBeUndefined();
    expect(out.payload).toEqual({ orgId: ORG_A, apiBaseUrl: 'https://api.mypurecloud.ie', region: 'mypurecloud.ie', tokenLength: record.accessToken.length, expiresAt: record.expiresAt });
    expect(seen?.accessToken).toBe(record.accessToken);
    expect(gets()).toBe(1);
  });

  it('infers the context type from the middleware without explicit generics', async () => {
    await write(tokenRecord(ORG_A));
    const handler = middy()
      .use(genesysToken({ orgId: ORG_A }, { source: { secretPrefix: PREFIX, client: smClient }, clock }))
      .handler(async (_event: unknown, context) => {
        expectTypeOf(context.genesysToken.apiBaseUrl).toBeString();
        return context.genesysToken.orgId;
      });
    lambda.register('consumer-inferred', handler as unknown as EmulatedHandler);
    expect((await invoke('consumer-inferred', {})).payload).toBe(ORG_A);
  });

  it('reuses its client cache across invocations of a warm container', async () => {
    await write(tokenRecord(ORG_A));
    sm.resetCalls();
    const handler = middy()
      .use(genesysToken({ orgId: ORG_A }, { source: { secretPrefix: PREFIX, client: smClient }, clock }))
      .handler(async (_event: unknown, context) => context.genesysToken.region);
    lambda.register('consumer-warm', handler as unknown as EmulatedHandler);
    for (let i = 0; i < 5; i++) expect((await invoke('consumer-warm', {})).payload).toBe('mypurecloud.ie');
    expect(lambda.invocationCount('consumer-warm')).toBe(5);
    expect(gets()).toBe(1);
  });

  it('shares the cache of a client passed in', async () => {
    await write(tokenRecord(ORG_A));
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    const first = await tokens.getToken(ORG_A);
    sm.resetCalls();
    const middleware = genesysToken({ orgId: ORG_A }, { client: tokens });
    expect(middleware.client).toBe(tokens);
    const handler = middy().use(middleware).handler(async (_event: unknown, context) => context.genesysToken.accessToken === first.accessToken);
    lambda.register('consumer-shared', handler as unknown as EmulatedHandler);
    expect((await invoke('consumer-shared', {})).payload).toBe(true);
    expect(gets()).toBe(0);
  });

  it('does not run the handler when the token cannot be had, and the error is typed', async () => {
    let ran = false;
    const handler = middy()
      .use(genesysToken({ orgId: ORG_B }, { source: { secretPrefix: PREFIX, client: smClient }, clock }))
      .handler(async () => {
        ran = true;
      });
    const err = await rejectionOf<TokenClientError>(handler({}, {} as Context & GenesysTokenContext));
    expect(err).toBeInstanceOf(TokenClientError);
    expect(err.code).toBe('token_unavailable');
    expect(ran).toBe(false);

    lambda.register('consumer-missing', handler as unknown as EmulatedHandler);
    const out = await invoke('consumer-missing', {});
    expect(out.functionError).toBe('Unhandled');
    expect(out.payload).toMatchObject({ errorType: 'TokenClientError' });
  });

  it('rejects an event whose org id is not a UUID with invalid_request and no AWS call', async () => {
    let ran = false;
    const handler = middy<OrgEvent>()
      .use(genesysToken<OrgEvent>({ orgIdFrom: (event) => event.tenant.genesysOrgId }, { source: { secretPrefix: PREFIX, client: smClient }, clock }))
      .handler(async () => {
        ran = true;
      });
    const err = await rejectionOf<TokenClientError>(handler({ tenant: { genesysOrgId: 'acme' } }, {} as Context & GenesysTokenContext));
    expect(err.code).toBe('invalid_request');
    expect(ran).toBe(false);
    expect(sm.callCount()).toBe(0);
  });

  const options = { source: { secretPrefix: PREFIX } };
  const config = (field: string) => ({ code: 'invalid_config', field });
  it.each([
    ['a fixed org id that is not a UUID', () => genesysToken({ orgId: 'acme' }, options), TokenClientError, /orgId must be/, { code: 'invalid_request' }],
    ['a null target', () => genesysToken(null as never, options), ValidationError, /first argument must be \{ orgId \} or \{ orgIdFrom \}/, config('target')],
    ['a target that is a string', () => genesysToken('acme' as never, options), ValidationError, /first argument/, config('target')],
    ['a target with neither orgId nor orgIdFrom', () => genesysToken({ tenant: ORG_A } as never, options), ValidationError, /first argument/, config('target')],
    ['both orgId and orgIdFrom', () => genesysToken({ orgId: ORG_A, orgIdFrom: () => ORG_A } as never, options), ValidationError, /\{ orgId \} or \{ orgIdFrom \}/, config('target')],
    ['an orgId with another key', () => genesysToken({ orgId: ORG_A, label: 'acme' } as never, options), ValidationError, /first argument/, config('target')],
    ['an orgIdFrom that is not a function', () => genesysToken({ orgIdFrom: 'tenant.orgId' } as never, options), ValidationError, /orgIdFrom must be a function/, config('orgIdFrom')],
    ['null options', () => genesysToken({ orgId: ORG_A }, null as never), ValidationError, /second argument must be \{ client \} or createTokenClient options/, config('options')],
    ['options that are a string', () => genesysToken({ orgId: ORG_A }, 'secrets' as never), ValidationError, /second argument/, config('options')],
    [
      'a client together with client options',
      () => genesysToken({ orgId: ORG_A }, { client: createTokenClient(options), maxAgeMs: 5, refreshMarginMs: 1 } as never),
      ValidationError,
      /either client or createTokenClient options, not both \(got maxAgeMs, refreshMarginMs\)/,
      config('maxAgeMs'),
    ],
    ['a client that is not a TokenClient', () => genesysToken({ orgId: ORG_A }, { client: {} as TokenClient }), ValidationError, /client must be a TokenClient/, config('client')],
    ['a null client', () => genesysToken({ orgId: ORG_A }, { client: null as never }), ValidationError, /client must be a TokenClient/, config('client')],
    ['a client without invalidate', () => genesysToken({ orgId: ORG_A }, { client: { getToken: async () => undefined } as never }), ValidationError, /client must be a TokenClient/, config('client')],
    ['a client without getToken', () => genesysToken({ orgId: ORG_A }, { client: { invalidate: () => undefined } as never }), ValidationError, /client must be a TokenClient/, config('client')],
    ['an unknown option', () => genesysToken({ orgId: ORG_A }, { source: { secretPrefix: PREFIX }, ttl: 5 } as never), ValidationError, /unknown option\(s\): ttl/, config('ttl')],
  ])('refuses %s when it is created', (_label, create, type, message, fields) => {
    let thrown: unknown;
    try {
      create();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(type);
    expect((thrown as Error).message).toMatch(message);
    expect(thrown).toMatchObject(fields);
  });

  it('is named genesysToken, for middy\'s timing and error reports', () => {
    expect(genesysToken({ orgId: ORG_A }, { source: { secretPrefix: PREFIX } }).name).toBe('genesysToken');
  });
});

describe('withTokenRetry', () => {
  const unauthorized = (): Error & { status: number } => Object.assign(new Error('Genesys answered 401'), { status: 401 });

  it('invalidates and retries once with the rotated token after a 401', async () => {
    const first = tokenRecord(ORG_A);
    await write(first);
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    await tokens.getToken(ORG_A);
    // The broker rotated the token early (say, an operator revoked the old one).
    const rotated = tokenRecord(ORG_A, { issuedAtMs: T0 + 1_000 });
    await smClient.send(new PutSecretValueCommand({ SecretId: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(rotated) }));
    sm.resetCalls();

    const used: string[] = [];
    const result = await withTokenRetry(tokens, ORG_A, async (token) => {
      used.push(token.accessToken);
      if (token.accessToken === first.accessToken) throw unauthorized();
      return 'called Genesys';
    });
    expect(result).toBe('called Genesys');
    expect(used).toEqual([first.accessToken, rotated.accessToken]);
    expect(gets()).toBe(1);
    // The fresh token is cached for everyone else.
    expect((await tokens.getToken(ORG_A)).accessToken).toBe(rotated.accessToken);
    expect(gets()).toBe(1);
  });

  /** The broker replaces the token: what happens between a 401 and the retry when it was quick. */
  const rotate = async (n: number) =>
    smClient.send(new PutSecretValueCommand({ SecretId: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(tokenRecord(ORG_A, { issuedAtMs: T0 + n * 1_000 })) }));

  it('gives up after the second 401', async () => {
    await write(tokenRecord(ORG_A));
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    let calls = 0;
    const err = await rejectionOf<Error & { status: number }>(
      withTokenRetry(tokens, ORG_A, async () => {
        calls++;
        await rotate(calls);
        throw unauthorized();
      }),
    );
    expect(err.status).toBe(401);
    expect(calls).toBe(2);
  });

  it('says so, without retrying, when the token secret still holds the token Genesys refused', async () => {
    const record = tokenRecord(ORG_A);
    await write(record);
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    let calls = 0;
    const err = await rejectionOf<TokenClientError>(
      withTokenRetry(tokens, ORG_A, async () => {
        calls++;
        throw unauthorized();
      }),
    );
    expect(calls).toBe(1);
    expect(err).toBeInstanceOf(TokenClientError);
    expect(err).toMatchObject({ code: 'token_unavailable', retryAfterSeconds: 60 });
    expect(err.message).toMatch(/still holds the token Genesys rejected/);
    expect(err.message).toMatch(/getter source/);
    expect(err.message).not.toContain(record.accessToken);
    // Once the broker has replaced it, the next call gets the new token.
    await rotate(1);
    expect((await tokens.getToken(ORG_A)).accessToken).not.toBe(record.accessToken);
  });

  it('does not retry or invalidate on other errors', async () => {
    await write(tokenRecord(ORG_A));
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    sm.resetCalls();
    let calls = 0;
    const err = await rejectionOf<Error & { status: number }>(
      withTokenRetry(tokens, ORG_A, async () => {
        calls++;
        throw Object.assign(new Error('forbidden'), { status: 403 });
      }),
    );
    expect(err.status).toBe(403);
    expect(calls).toBe(1);
    await tokens.getToken(ORG_A);
    expect(gets()).toBe(1);
  });

  it('uses a custom isUnauthorized', async () => {
    await write(tokenRecord(ORG_A));
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    let calls = 0;
    const result = await withTokenRetry(
      tokens,
      ORG_A,
      async () => {
        if (++calls === 1) {
          await rotate(1);
          throw new Error('HTTP 401 from my client');
        }
        return calls;
      },
      { isUnauthorized: (err) => err instanceof Error && err.message.includes('401') },
    );
    expect(result).toBe(2);
  });

  it('rejects a bad org id with invalid_request before calling fn', async () => {
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient }, clock });
    let called = false;
    const err = await rejectionOf<TokenClientError>(
      withTokenRetry(tokens, 'acme', async () => {
        called = true;
      }),
    );
    expect(err.code).toBe('invalid_request');
    expect(called).toBe(false);
  });
});

describe('isUnauthorizedError', () => {
  it.each([
    [{ status: 401 }, true],
    [{ statusCode: 401 }, true],
    [{ response: { status: 401 } }, true],
    [{ $metadata: { httpStatusCode: 401 } }, true],
    [new Response(null, { status: 401 }), true],
    [{ message: 'Invalid login credentials.', code: 'authentication.required', status: 401 }, true],
    [{ status: 401, statusText: 'Unauthorized', headers: {}, body: {}, text: '', error: {} }, true],
    [new Response(null, { status: 403 }), false],
    [{ status: 403 }, false],
    [{ status: '401' }, false],
    [new Error('401'), false],
    [null, false],
    ['401', false],
  ])('classifies %j as %s', (err, expected) => {
    expect(isUnauthorizedError(err)).toBe(expected);
  });
});
