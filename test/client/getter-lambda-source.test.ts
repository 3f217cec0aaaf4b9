/**
 * The getter Lambda source, error by error with exact values: the real LambdaClient against the Lambda
 * emulator hosting stub getters (and its fault injection for service errors), plus a bare HTTP
 * endpoint for the answers the emulator never gives (a payload that is not JSON, a function error
 * the runtime did not describe). Checks codes, failure classes, Retry-After, the org, the cause, and
 * that no token or getter detail leaks into a message.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTokenClient, GetterInvocationError, TokenClientError, type TokenClient } from '../../lambdas/client/index.js';
import type { GetTokenResponse } from '../../lambdas/core/token-getter.js';
import { emulatorClientConfig } from '../support/aws-wire.js';
import { createLambdaEmulatorClient, LAMBDA_EMULATOR_CREDENTIALS, LambdaEmulator } from '../support/lambda-emulator.js';
import { LambdaClient as SdkLambdaClient } from '@aws-sdk/client-lambda';
import { DAY, MINUTE, ORG_A, ORG_C, rejectionOf, T0 } from './fixtures.js';

const STUB = 'gtb-source-stub';
const TOKEN = 'stub-access-token-SECRETVALUE';

let lambda: LambdaEmulator;
let lambdaClient: LambdaClient;
let stub: (event: unknown) => unknown = () => null;

const okResponse = (orgId: string, expiresAt: string): GetTokenResponse => ({
  orgId,
  accessToken: TOKEN,
  tokenType: 'bearer',
  expiresAt,
  apiBaseUrl: 'https://api.mypurecloud.ie',
  region: 'mypurecloud.ie',
});

const stubClient = (options: { clock?: { now(): number }; maxAgeMs?: number; refreshMarginMs?: number } = {}): TokenClient =>
  createTokenClient({ source: { getterFunctionName: STUB, client: lambdaClient }, ...options });

/** The failure of one getToken(ORG_A) through the stub, with its message checked for the token. */
async function failureOf<E extends TokenClientError = TokenClientError>(tokens: TokenClient = stubClient()): Promise<E> {
  const err = await rejectionOf<E>(tokens.getToken(ORG_A));
  expect(err).toBeInstanceOf(TokenClientError);
  expect(`${err.message} ${String(err.stack)}`).not.toContain('SECRETVALUE');
  return err;
}

beforeAll(async () => {
  lambda = await LambdaEmulator.start();
  lambdaClient = createLambdaEmulatorClient(lambda, { maxAttempts: 1 });
  lambda.register(STUB, (event) => stub(event), { timeoutMs: 2_000 });
});

afterAll(async () => {
  lambdaClient?.destroy();
  await lambda?.close();
});

beforeEach(() => {
  lambda.resetCounts();
  lambda.clearFaults();
});

describe('getter Lambda source: what the getter answers', () => {
  it('caps a getter error message at 500 characters', async () => {
    const message = `${'m'.repeat(499)}!${'z'.repeat(100)}`;
    stub = () => ({ error: { code: 'org_disabled', message } });
    const err = await failureOf();
    expect(err.code).toBe('org_disabled');
    expect(err.message).toBe(message.slice(0, 500));
    expect(err.orgId).toBe(ORG_A);
  });

  it('quotes at most 64 characters of an error code it does not know', async () => {
    const code = `${'c'.repeat(64)}-and-more`;
    stub = () => ({ error: { code, message: 'the getter is confused', retryAfterSeconds: 0 } });
    const err = await failureOf();
    expect(err.code).toBe('token_unavailable');
    expect(err.message).toBe(`the getter is confused (${'c'.repeat(64)})`);
    expect(err.retryAfterSeconds).toBe(0);
  });

  it('names every field of an unexpected response, once, without their values', async () => {
    stub = () => ({ orgId: ORG_A, accessToken: '', tokenType: 'Bearer', expiresAt: 'tomorrow', apiBaseUrl: 'SECRETVALUE', region: '' });
    const err = await failureOf();
    expect(err.code).toBe('token_unavailable');
    expect(err.failureClass).toBe('transient');
    expect(err.orgId).toBe(ORG_A);
    expect(err.message).toBe(`getter function ${STUB} returned an unexpected response for org ${ORG_A} (accessToken, tokenType, expiresAt, apiBaseUrl, region)`);
  });

  it('calls a null response unexpected at its root', async () => {
    stub = () => null;
    const err = await failureOf();
    expect(err.message).toBe(`getter function ${STUB} returned an unexpected response for org ${ORG_A} ((root))`);
  });

  it('refuses, permanently, a token for another org', async () => {
    stub = () => okResponse(ORG_C, new Date(Date.now() + DAY).toISOString());
    const err = await failureOf();
    expect(err.code).toBe('token_unavailable');
    expect(err.failureClass).toBe('permanent');
    expect(err.orgId).toBe(ORG_A);
    expect(err.message).toBe(`getter function ${STUB} returned a token for a different org than ${ORG_A}`);
  });

  it('accepts the org id in upper case as the same org', async () => {
    stub = () => okResponse(ORG_A.toUpperCase(), new Date(Date.now() + DAY).toISOString());
    const token = await stubClient().getToken(ORG_A);
    expect(token.orgId).toBe(ORG_A);
    expect(token.accessToken).toBe(TOKEN);
  });

  it('refuses a token that has expired, saying it came from the getter', async () => {
    const expiresAt = new Date(T0).toISOString();
    stub = () => okResponse(ORG_A, expiresAt);
    const err = await failureOf(stubClient({ clock: { now: () => T0 } }));
    expect(err.code).toBe('token_unavailable');
    expect(err.orgId).toBe(ORG_A);
    expect(err.message).toBe(`token from the getter for org ${ORG_A} expired at ${expiresAt}; the broker has not refreshed it (check its refresh alarms)`);
  });

  it('takes what is left of the token as its lifetime, so the margin is 10% of that', async () => {
    // 10 minutes left: the margin is 1 minute, not the 5 minutes asked for.
    let nowMs = T0;
    const expiresAt = new Date(T0 + 10 * MINUTE).toISOString();
    stub = () => okResponse(ORG_A, expiresAt);
    const tokens = stubClient({ clock: { now: () => nowMs }, maxAgeMs: DAY, refreshMarginMs: 5 * MINUTE });
    await tokens.getToken(ORG_A);
    nowMs = T0 + 9 * MINUTE - 1;
    await tokens.getToken(ORG_A);
    expect(lambda.invocationCount(STUB)).toBe(1);
    nowMs = T0 + 9 * MINUTE;
    await tokens.getToken(ORG_A);
    expect(lambda.invocationCount(STUB)).toBe(2);
  });

  it.each([
    ['a name with a space', 'bad type'],
    ['a name of 101 characters', 'E'.repeat(101)],
  ])('reports a getter that throws an error with %s without naming its type', async (_label, name) => {
    stub = () => {
      throw Object.assign(new Error('internal detail SECRETVALUE'), { name });
    };
    const err = await failureOf<GetterInvocationError>();
    expect(err).toBeInstanceOf(GetterInvocationError);
    expect(err.functionError).toBe('Unhandled');
    expect(err.errorType).toBeUndefined();
    expect(err.message).toBe(`getter function ${STUB} failed for org ${ORG_A} (Unhandled); see the getter's logs`);
  });
});

describe('getter Lambda source: Lambda service errors', () => {
  it('reports a missing invoke permission as permanent access_denied, keeping the SDK exception', async () => {
    lambda.injectFault(STUB, { type: 'AccessDeniedException' });
    const err = await failureOf();
    expect(err.code).toBe('access_denied');
    expect(err.failureClass).toBe('permanent');
    expect(err.orgId).toBe(ORG_A);
    expect((err.cause as Error).name).toBe('AccessDeniedException');
    expect(err.message).toBe(`this function's role may not invoke getter function ${STUB} (AccessDeniedException); add broker.grantInvokeGetter(thisFunction) to the stack`);
  });

  it.each([
    ['no Retry-After', undefined, undefined],
    ['Retry-After 0', 0, 0],
    ['a fractional Retry-After, rounded up', 1.5, 2],
    ['a negative Retry-After, ignored', -1, undefined],
  ])('reports throttling with %s', async (_label, retryAfterSeconds, expected) => {
    lambda.injectFault(STUB, { type: 'TooManyRequestsException', ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
    const err = await failureOf();
    expect(err.code).toBe('token_unavailable');
    expect(err.failureClass).toBe('transient');
    expect(err.retryAfterSeconds).toBe(expected);
    expect((err.cause as Error).name).toBe('TooManyRequestsException');
    expect(err.message).toBe(`getter function ${STUB} is throttled (TooManyRequestsException)`);
    expect(lambda.invocationCount(STUB)).toBe(0);
  });

  it.each([
    ['InvalidParameterValueException', 400, 'permanent'],
    ['RequestTooLargeException', 413, 'permanent'],
    ['CodeVerificationFailedException', 499, 'permanent'],
    ['ResourceConflictException', 429, 'transient'],
    ['ServiceException', 500, 'transient'],
    ['EC2ThrottledException', 502, 'transient'],
  ])('reports %s (HTTP %i) as %s token_unavailable naming the exception', async (type, status, failureClass) => {
    lambda.injectFault(STUB, { type, status });
    const err = await failureOf();
    expect(err.code).toBe('token_unavailable');
    expect(err.failureClass).toBe(failureClass);
    expect(err.orgId).toBe(ORG_A);
    expect((err.cause as Error).name).toBe(type);
    expect(err.message).toBe(`invoking getter function ${STUB} failed for org ${ORG_A} (${type})`);
  });

  it('reports a getter endpoint nobody answers as transient token_unavailable', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const client = new SdkLambdaClient(emulatorClientConfig({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: LAMBDA_EMULATOR_CREDENTIALS }, { maxAttempts: 1 }));
    try {
      const err = await failureOf(createTokenClient({ source: { getterFunctionName: STUB, client } }));
      expect(err.code).toBe('token_unavailable');
      expect(err.failureClass).toBe('transient');
      expect(err.message).toMatch(new RegExp(`^invoking getter function ${STUB} failed for org ${ORG_A} \\(\\w+\\)$`));
    } finally {
      client.destroy();
    }
  });
});

describe('getter Lambda source: answers the emulator never gives', () => {
  // A bare Invoke endpoint: every request gets the answer the test set, whatever it asked.
  let server: Server;
  let client: SdkLambdaClient;
  let answer: { headers?: Record<string, string>; body: string } = { body: '' };
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer.body), ...answer.headers });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new SdkLambdaClient(emulatorClientConfig({ endpoint, region: 'us-east-1', credentials: LAMBDA_EMULATOR_CREDENTIALS }, { maxAttempts: 1 }));
  });

  afterAll(async () => {
    client?.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  beforeEach(() => {
    requests = 0;
  });

  const bare = (): TokenClient => createTokenClient({ source: { getterFunctionName: 'bare-getter', client } });

  it.each([
    ['text', 'SECRETVALUE is not JSON'],
    ['nothing', ''],
  ])('reports a payload of %s as token_unavailable', async (_label, body) => {
    answer = { body };
    const err = await failureOf(bare());
    expect(err.code).toBe('token_unavailable');
    expect(err.failureClass).toBe('transient');
    expect(err.orgId).toBe(ORG_A);
    expect(err.message).toBe(`getter function bare-getter returned a payload that is not JSON for org ${ORG_A}`);
    expect(requests).toBe(1);
  });

  it.each([
    ['a payload that is not JSON', 'Task failed SECRETVALUE'],
    ['an errorType that is not a string', '{"errorType":42,"errorMessage":"SECRETVALUE"}'],
    ['a JSON null', 'null'],
  ])('reports a function error with %s without an error type', async (_label, body) => {
    answer = { body, headers: { 'x-amz-function-error': 'Unhandled' } };
    const err = await failureOf<GetterInvocationError>(bare());
    expect(err).toBeInstanceOf(GetterInvocationError);
    expect(err.errorType).toBeUndefined();
    expect(err.message).toBe(`getter function bare-getter failed for org ${ORG_A} (Unhandled); see the getter's logs`);
  });

  it('keeps the legacy Handled function error and a well-formed error type', async () => {
    answer = { body: '{"errorType":"Runtime.ExitError","errorMessage":"SECRETVALUE"}', headers: { 'x-amz-function-error': 'Handled' } };
    const err = await failureOf<GetterInvocationError>(bare());
    expect(err.functionError).toBe('Handled');
    expect(err.errorType).toBe('Runtime.ExitError');
    expect(err.message).toBe(`getter function bare-getter failed for org ${ORG_A} (Handled: Runtime.ExitError); see the getter's logs`);
  });
});
