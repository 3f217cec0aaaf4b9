/**
 * createTokenClient with the getter Lambda source: the real LambdaClient against the Lambda emulator,
 * which hosts the real getter (createGetterHandler over dynalite and the Secrets Manager emulator),
 * the real refresher it asks for on-demand refreshes (over the same stores and the Genesys simulator),
 * and small stub getters for the error shapes the real one is hard to provoke.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import { createTokenClient, GetterInvocationError, TokenClientError, type TokenClient, withTokenRetry } from '../../lambdas/client/index.js';
import { ENV } from '../../lambdas/core/env-names.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import type { GetTokenError, GetTokenResponse } from '../../lambdas/core/token-getter.js';
import { createGetterHandler } from '../../lambdas/handlers/getter.js';
import { createRefresherHandler } from '../../lambdas/handlers/refresher.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { createLambdaEmulatorClient, LambdaEmulator } from '../support/lambda-emulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { DAY, MINUTE, ORG_A, ORG_B, ORG_C, rejectionOf } from './fixtures.js';
import { captureOutput } from '../support/captured-output.js';

const ORG_REVOKED = '0c11e000-0000-4000-8000-0000000000de';
/** Orgs of the rejected-token tests: each check is limited to once a minute per org. */
const ORG_REJECTED = '0c11e000-0000-4000-8000-0000000000e1';
const ORG_VOUCHED = '0c11e000-0000-4000-8000-0000000000e2';
const GETTER = 'gtb-getter';
const REFRESHER = 'gtb-refresher';
const STUB = 'gtb-stub-getter';
const PREFIX = 'gtb-client-getter';
const CLIENT_SECRETS: Record<string, string> = {
  [ORG_A]: 'client-secret-A-getter-0123456789',
  [ORG_REVOKED]: 'client-secret-D-getter-0123456789',
  [ORG_REJECTED]: 'client-secret-E-getter-0123456789',
  [ORG_VOUCHED]: 'client-secret-F-getter-0123456789',
};

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let sim: GenesysSimulator;
let lambda: LambdaEmulator;
let lambdaClient: LambdaClient;
let output: string[] = [];
let stub: (event: unknown) => unknown = () => null;

const getterClient = (options: { clock?: { now(): number }; functionName?: string } = {}): TokenClient =>
  createTokenClient({ source: { getterFunctionName: options.functionName ?? GETTER, client: lambdaClient }, ...(options.clock ? { clock: options.clock } : {}) });

const okResponse = (orgId: string, expiresAt: string, accessToken = 'stub-token-SECRETVALUE'): GetTokenResponse => ({
  orgId,
  accessToken,
  tokenType: 'bearer',
  expiresAt,
  apiBaseUrl: 'https://api.mypurecloud.ie',
  region: 'mypurecloud.ie',
});

beforeAll(async () => {
  [ddb, sm, sim, lambda] = await Promise.all([startDynalite(), SecretsManagerEmulator.start(), GenesysSimulator.start(), LambdaEmulator.start()]);
  lambdaClient = createLambdaEmulatorClient(lambda, { maxAttempts: 1 });

  const names = { registry: 'client-registry', audit: 'client-audit' };
  await ddb.createTables(names);
  const dynamoDb = ddb.client();
  const secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 3 });
  const registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: names.registry });
  const credentials = new SecretsManagerCredentialStore({ client: secretsManager, secretPrefix: PREFIX });
  const register = async (orgId: string, options: { enabled: boolean; withClient: boolean }): Promise<void> => {
    const clientId = `getter-client-${orgId.slice(-2)}`;
    if (options.withClient) {
      sim.addOrg({ orgId, region: 'mypurecloud.ie' });
      sim.addClient({ clientId, clientSecret: CLIENT_SECRETS[orgId]!, orgId });
    }
    const org: Omit<OrgRecord, 'version'> = { orgId, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: options.enabled, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
    await registry.put(org);
    if (options.withClient) await credentials.save(org, { clientId, clientSecret: CLIENT_SECRETS[orgId]! });
  };
  await register(ORG_A, { enabled: true, withClient: true });
  await register(ORG_B, { enabled: false, withClient: false });
  await register(ORG_REVOKED, { enabled: true, withClient: true });
  await register(ORG_REJECTED, { enabled: true, withClient: true });
  await register(ORG_VOUCHED, { enabled: true, withClient: true });
  sim.revokeClient(`getter-client-${ORG_REVOKED.slice(-2)}`);

  const env = { [ENV.secretPrefix]: PREFIX, [ENV.registryTable]: names.registry, [ENV.auditTable]: names.audit, [ENV.refresherFunction]: REFRESHER };
  const getter = createGetterHandler({ env, overrides: { secretsManager, dynamoDb, lambda: lambdaClient } });
  const refresher = createRefresherHandler({ env, overrides: { genesysBaseUrl: sim.resolver, secretsManager, dynamoDb } });
  lambda.register(REFRESHER, refresher as unknown as (event: unknown, context: import('aws-lambda').Context) => unknown, { timeoutMs: 20_000 });
  lambda.register(GETTER, getter as unknown as (event: unknown, context: import('aws-lambda').Context) => unknown, { timeoutMs: 20_000 });
  lambda.register(STUB, (event) => stub(event), { timeoutMs: 500 });
});

afterAll(async () => {
  lambdaClient?.destroy();
  await Promise.all([ddb?.close(), sm?.close(), sim?.close(), lambda?.close()]);
});

beforeEach(() => {
  lambda.resetCounts();
  lambda.clearFaults();
  output = [];
  // Powertools writes log lines and EMF to stdout and stderr: keep them, quietly, to search them.
  captureOutput(output);
  return () => vi.restoreAllMocks();
});

describe('createTokenClient with the getter Lambda source', () => {
  describe('against the real getter', () => {
    it('returns the token the getter refreshed on demand, and serves the next call from the cache', async () => {
      const tokens = getterClient();
      const token = await tokens.getToken(ORG_A);
      expect(token).toMatchObject({ orgId: ORG_A, apiBaseUrl: 'https://api.mypurecloud.ie', region: 'mypurecloud.ie' });
      expect(sim.issuedAccessTokens(`getter-client-${ORG_A.slice(-2)}`)).toContain(token.accessToken);
      expect(Date.parse(token.expiresAt)).toBeGreaterThan(Date.now() + DAY - 10 * MINUTE);
      expect(await tokens.getToken(ORG_A)).toBe(token);
      expect(lambda.invocationCount(GETTER)).toBe(1);
      // The getter logs decisions, never the token it hands out.
      expect(output.join('')).not.toContain(token.accessToken);
    });

    it('after a 401, has the broker check the refused token and serves its replacement: one check, one new token', async () => {
      const tokens = getterClient();
      const clientId = `getter-client-${ORG_REJECTED.slice(-2)}`;
      const first = await tokens.getToken(ORG_REJECTED);
      const before = sim.counts(clientId);
      // Genesys revoked the token: tokens/me answers 401 for it, as the consumer's API call did.
      sim.injectFault(clientId, { kind: 'status', status: 401 }, { endpoint: 'tokens/me', times: 1 });
      const calls: string[] = [];
      const result = await withTokenRetry(tokens, ORG_REJECTED, async (token) => {
        calls.push(token.accessToken);
        if (token.accessToken === first.accessToken) throw Object.assign(new Error('Unauthorized'), { status: 401 });
        return 'ok';
      });
      expect(result).toBe('ok');
      expect(calls).toHaveLength(2);
      expect(calls[1]).not.toBe(first.accessToken);
      expect(sim.issuedAccessTokens(clientId).at(-1)).toBe(calls[1]);
      expect(sim.counts(clientId).token - before.token).toBe(1);
      // The refused token went to the getter and no further: no log line holds it.
      expect(output.join('')).not.toContain(first.accessToken);
      // A second report of the same refused token within the minute asks Genesys nothing more.
      tokens.invalidate(ORG_REJECTED, first);
      expect((await tokens.getToken(ORG_REJECTED)).accessToken).toBe(calls[1]);
      expect(sim.counts(clientId).token - before.token).toBe(1);
    });

    it('serves the same token again when Genesys vouches for it (tokens/me answers 200)', async () => {
      const tokens = getterClient();
      const clientId = `getter-client-${ORG_VOUCHED.slice(-2)}`;
      const first = await tokens.getToken(ORG_VOUCHED);
      const before = sim.counts(clientId);
      tokens.invalidate(ORG_VOUCHED, first);
      const again = await tokens.getToken(ORG_VOUCHED);
      expect(again.accessToken).toBe(first.accessToken);
      expect(sim.counts(clientId).token).toBe(before.token);
      expect(sim.counts(clientId).tokensMe).toBeGreaterThan(before.tokensMe);
    });

    it('makes one invocation for 100 concurrent calls', async () => {
      const tokens = getterClient();
      const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken(ORG_A)));
      expect(lambda.invocationCount(GETTER)).toBe(1);
      expect(new Set(results.map((t) => t.accessToken)).size).toBe(1);
    });

    it('reports an unregistered org as org_not_found', async () => {
      const err = await rejectionOf<TokenClientError>(getterClient().getToken(ORG_C));
      expect(err).toBeInstanceOf(TokenClientError);
      expect(err.code).toBe('org_not_found');
      expect(err.message).toContain(ORG_C);
    });

    it('reports a disabled org as org_disabled', async () => {
      const err = await rejectionOf<TokenClientError>(getterClient().getToken(ORG_B));
      expect(err.code).toBe('org_disabled');
      expect(err.failureClass).toBe('permanent');
    });

    it('reports an org whose refresh fails as token_unavailable without any secret in the message', async () => {
      const err = await rejectionOf<TokenClientError>(getterClient().getToken(ORG_REVOKED));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toContain(ORG_REVOKED);
      expect(err.message).not.toContain(CLIENT_SECRETS[ORG_REVOKED]);
    });

    it('rejects a bad org id with invalid_request without invoking the getter', async () => {
      const err = await rejectionOf<TokenClientError>(getterClient().getToken('not-an-org'));
      expect(err.code).toBe('invalid_request');
      expect(lambda.invocationCount()).toBe(0);
      expect(lambda.requests).toHaveLength(0);
    });

    it('does not cache a failure: the next call invokes the getter again', async () => {
      const tokens = getterClient();
      await rejectionOf(tokens.getToken(ORG_C));
      await rejectionOf(tokens.getToken(ORG_C));
      expect(lambda.invocationCount(GETTER)).toBe(2);
    });
  });

  describe('against stub getters', () => {
    const codes = ['invalid_request', 'org_not_found', 'org_disabled', 'token_unavailable'] as const;

    it.each(codes)('maps the getter error %s onto the same code and message', async (code) => {
      stub = (): GetTokenError => ({ error: { code, message: `getter says ${code}` } });
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err).toBeInstanceOf(TokenClientError);
      expect(err.code).toBe(code);
      expect(err.message).toBe(`getter says ${code}`);
      expect(err.orgId).toBe(ORG_A);
      expect(err.retryAfterSeconds).toBeUndefined();
    });

    it('carries retryAfterSeconds of a token_unavailable error', async () => {
      stub = (): GetTokenError => ({ error: { code: 'token_unavailable', message: 'last refresh failed (rate_limited)', retryAfterSeconds: 30 } });
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.retryAfterSeconds).toBe(30);
      expect(err.failureClass).toBe('transient');
    });

    it('maps an error code it does not know to token_unavailable, keeping the code in the message', async () => {
      stub = () => ({ error: { code: 'quota_exceeded', message: 'too many orgs' } });
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toBe('too many orgs (quota_exceeded)');
    });

    it('sends { orgId } and passes the lowercased org id', async () => {
      const events: unknown[] = [];
      stub = (event) => {
        events.push(event);
        return okResponse(ORG_A, new Date(Date.now() + DAY).toISOString());
      };
      await getterClient({ functionName: STUB }).getToken(ORG_A.toUpperCase());
      expect(events).toEqual([{ orgId: ORG_A }]);
    });

    it('refetches a token that comes within the refresh margin of its expiry', async () => {
      let nowMs = Date.parse('2026-03-01T12:00:00Z');
      const expiresAt = new Date(nowMs + DAY).toISOString();
      stub = () => okResponse(ORG_A, expiresAt);
      const tokens = createTokenClient({ source: { getterFunctionName: STUB, client: lambdaClient }, clock: { now: () => nowMs }, maxAgeMs: 2 * DAY });
      await tokens.getToken(ORG_A);
      nowMs = Date.parse(expiresAt) - 5 * MINUTE - 1;
      await tokens.getToken(ORG_A);
      expect(lambda.invocationCount(STUB)).toBe(1);
      nowMs += 1;
      await tokens.getToken(ORG_A);
      expect(lambda.invocationCount(STUB)).toBe(2);
    });

    it('caches until the refresh mark the getter reports (plus a sweep interval and jitter), and 5 minutes when it reports none', async () => {
      let nowMs = Date.parse('2026-03-01T12:00:00Z');
      const expiresAt = new Date(nowMs + DAY).toISOString();
      const refreshAt = new Date(nowMs + 18 * 3_600_000).toISOString();
      stub = () => ({ ...okResponse(ORG_A, expiresAt), refreshAt });
      const tokens = createTokenClient({ source: { getterFunctionName: STUB, client: lambdaClient }, clock: { now: () => nowMs } });
      await tokens.getToken(ORG_A);
      nowMs = Date.parse(refreshAt) + 5 * MINUTE - 1;
      await tokens.getToken(ORG_A);
      expect(lambda.invocationCount(STUB)).toBe(1);
      nowMs = Date.parse(refreshAt) + 6 * MINUTE;
      await tokens.getToken(ORG_A);
      expect(lambda.invocationCount(STUB)).toBe(2);
      // An older getter that does not say: the 5-minute default applies.
      stub = () => okResponse(ORG_B, expiresAt);
      await tokens.getToken(ORG_B);
      nowMs += 5 * MINUTE;
      await tokens.getToken(ORG_B);
      expect(lambda.invocationCount(STUB)).toBe(4);
    });

    it('reports a getter that throws as a GetterInvocationError without copying its message', async () => {
      stub = () => {
        throw new RangeError('internal detail SECRETVALUE');
      };
      const err = await rejectionOf<GetterInvocationError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err).toBeInstanceOf(GetterInvocationError);
      expect(err.code).toBe('token_unavailable');
      expect(err.functionError).toBe('Unhandled');
      expect(err.errorType).toBe('RangeError');
      expect(err.message).toContain(`getter function ${STUB} failed for org ${ORG_A} (Unhandled: RangeError)`);
      expect(err.message).not.toContain('SECRETVALUE');
    });

    it('reports a getter that times out as a GetterInvocationError of type Sandbox.Timedout', async () => {
      stub = () => new Promise((resolve) => setTimeout(() => resolve(null), 2_000).unref());
      const err = await rejectionOf<GetterInvocationError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err).toBeInstanceOf(GetterInvocationError);
      expect(err.errorType).toBe('Sandbox.Timedout');
    });

    it.each([
      ['a response of another shape', { token: 'SECRETVALUE' }, /unexpected response/],
      ['a null response', null, /unexpected response/],
      ['a token of another org', okResponse(ORG_C, new Date(Date.now() + DAY).toISOString()), /different org/],
      ['an expired token', okResponse(ORG_A, new Date(Date.now() - 1_000).toISOString()), /expired at/],
    ])('reports %s as token_unavailable without the token in the message', async (_label, response, message) => {
      stub = () => response;
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('SECRETVALUE');
    });

    it('reports an unknown getter function as permanent token_unavailable naming it', async () => {
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: 'no-such-getter' }).getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.failureClass).toBe('permanent');
      expect(err.message).toContain('getter function no-such-getter does not exist');
    });

    it('reports a missing invoke permission as access_denied naming the grant', async () => {
      lambda.injectFault(STUB, { type: 'AccessDeniedException' });
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err.code).toBe('access_denied');
      expect(err.message).toContain('broker.grantInvokeGetter(thisFunction)');
      expect(lambda.invocationCount(STUB)).toBe(0);
    });

    it('reports Lambda throttling as token_unavailable with its Retry-After', async () => {
      lambda.injectFault(STUB, { type: 'TooManyRequestsException', retryAfterSeconds: 12 });
      const err = await rejectionOf<TokenClientError>(getterClient({ functionName: STUB }).getToken(ORG_A));
      expect(err.code).toBe('token_unavailable');
      expect(err.retryAfterSeconds).toBe(12);
      expect(err.failureClass).toBe('transient');
    });
  });
});
