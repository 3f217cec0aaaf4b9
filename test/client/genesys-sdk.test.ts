/**
 * configureGenesysClient and withTokenRetry with the real Genesys Cloud Platform SDK
 * (`purecloud-platform-client-v2`, a devDependency) talking HTTP to the Genesys simulator, tokens read
 * through the real SecretsManagerClient from the Secrets Manager emulator. Also withTokenRetry with
 * the fetch Responses a consumer gets without the SDK.
 */
import { readFileSync } from 'node:fs';
import { CreateSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import platformClient from 'purecloud-platform-client-v2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import {
  configureGenesysClient,
  createTokenClient,
  type GenesysApiClient,
  type GenesysToken,
  isUnauthorizedError,
  type TokenClient,
  withTokenRetry,
} from '../../lambdas/client/index.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import type { TokenRecord } from '../../lambdas/core/ports.js';
import { REGIONS, resolveRegion } from '../../lambdas/core/regions.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { routeSdkToSimulator } from '../support/genesys-sdk.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { ORG_A, ORG_B, ORG_C, rejectionOf, tokenRecord } from './fixtures.js';

const PREFIX = 'gtb-sdk';
const ORG_D = '0c11e000-0000-4000-8000-00000000000d';
const ORG_E = '0c11e000-0000-4000-8000-00000000000e';
const ORG_F = '0c11e000-0000-4000-8000-00000000000f';

let sm: SecretsManagerEmulator;
let smClient: SecretsManagerClient;
let sim: GenesysSimulator;
/** The SDK's default ApiClient, as a consumer Lambda uses it. */
const apiClient = platformClient.ApiClient.instance;
let requested: string[];

const secretOf = (clientId: string): string => `${clientId}-secret-0123456789`;

async function issue(clientId: string, domain: string): Promise<string> {
  const res = await fetch(`${sim.resolver(`login.${domain}`)}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secretOf(clientId)}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** What the broker writes for an org: a token the simulator issued, good for a day. */
function record(orgId: string, accessToken: string, domain: string, oauthClientId: string): TokenRecord {
  return tokenRecord(orgId, { issuedAtMs: Date.now(), accessToken, region: domain, oauthClientId });
}

/** Registers an org with one client in the simulator and stores a token of that client as the org's token secret. */
async function onboard(orgId: string, name: string, region: string, clientId: string): Promise<string> {
  const { domain } = resolveRegion(region);
  sim.addOrg({ orgId, name, region });
  sim.addClient({ clientId, clientSecret: secretOf(clientId), orgId });
  const accessToken = await issue(clientId, domain);
  await smClient.send(new CreateSecretCommand({ Name: tokenSecretName(PREFIX, orgId), SecretString: JSON.stringify(record(orgId, accessToken, domain, clientId)) }));
  return accessToken;
}

/** The broker moves the org to a new client: the old client's tokens stop working and the secret holds the new client's token. */
async function moveToNewClient(orgId: string, domain: string, oldClientId: string, newClientId: string): Promise<string> {
  sim.addClient({ clientId: newClientId, clientSecret: secretOf(newClientId), orgId });
  sim.revokeClient(oldClientId);
  const accessToken = await issue(newClientId, domain);
  await smClient.send(new PutSecretValueCommand({ SecretId: tokenSecretName(PREFIX, orgId), SecretString: JSON.stringify(record(orgId, accessToken, domain, newClientId)) }));
  return accessToken;
}

/** A token client whose invalidate calls are recorded on the way through. */
function recordingClient(): { tokens: TokenClient; invalidated: (string | undefined)[] } {
  const inner = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient } });
  const invalidated: (string | undefined)[] = [];
  const tokens: TokenClient = {
    getToken: (orgId) => inner.getToken(orgId),
    invalidate: (orgId, rejected) => {
      invalidated.push(typeof rejected === 'string' ? rejected : rejected?.accessToken);
      inner.invalidate(orgId, rejected);
    },
  };
  return { tokens, invalidated };
}

const getOrganization = (token: GenesysToken) => new platformClient.OrganizationApi(configureGenesysClient(apiClient, token)).getOrganizationsMe();

beforeAll(async () => {
  [sm, sim] = await Promise.all([SecretsManagerEmulator.start(), GenesysSimulator.start()]);
  smClient = createEmulatorClient(sm, { maxAttempts: 1 });
  requested = routeSdkToSimulator(apiClient, sim);
});

afterAll(async () => {
  smClient?.destroy();
  await Promise.all([sm?.close(), sim?.close()]);
});

afterEach(() => {
  apiClient.setReturnExtendedResponses(false);
  requested.length = 0;
});

describe('configureGenesysClient', () => {
  it.each(REGIONS.map((r) => [r.key, r.domain]))('points the SDK at the API of %s (%s), by key or by domain', (key, domain) => {
    for (const region of [key, domain, domain.toUpperCase()]) {
      apiClient.setEnvironment('mypurecloud.com');
      expect(configureGenesysClient(apiClient, { accessToken: 'tok-1-SECRETVALUE', region })).toBe(apiClient);
      expect(apiClient.config.environment).toBe(domain);
      expect(apiClient.config.basePath).toBe(`https://api.${domain}`);
    }
  });

  it('sets the environment and the token, and nothing else', () => {
    const calls: string[][] = [];
    const fake = { setEnvironment: (env: string) => calls.push(['setEnvironment', env]), setAccessToken: (t: string) => calls.push(['setAccessToken', t]) };
    expect(configureGenesysClient(fake, { accessToken: 'tok-2-SECRETVALUE', region: 'eu-central-1' })).toBe(fake);
    expect(calls).toEqual([
      ['setEnvironment', 'mypurecloud.de'],
      ['setAccessToken', 'tok-2-SECRETVALUE'],
    ]);
  });

  it('refuses a token whose region is not a Genesys Cloud region, before setting anything and without naming the token', () => {
    const calls: string[] = [];
    const fake: GenesysApiClient = { setEnvironment: () => calls.push('env'), setAccessToken: () => calls.push('token') };
    for (const region of ['attacker.example', 'https://api.mypurecloud.ie', '', undefined as unknown as string]) {
      const err = (() => {
        try {
          configureGenesysClient(fake, { accessToken: 'tok-3-SECRETVALUE', region });
        } catch (e) {
          return e as ValidationError;
        }
        throw new Error('expected a ValidationError');
      })();
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ code: 'unknown_region', field: 'region' });
      expect(err.message).not.toContain('SECRETVALUE');
    }
    expect(calls).toEqual([]);
  });

  it.each([
    ['null', null],
    ['an object without methods', {}],
    ['a client without setAccessToken', { setEnvironment: () => undefined }],
    ['a client without setEnvironment', { setAccessToken: () => undefined }],
    ['methods that are not functions', { setEnvironment: 'mypurecloud.ie', setAccessToken: 'x' }],
  ])('refuses %s as the apiClient with invalid_config', (_name, bad) => {
    expect(() => configureGenesysClient(bad as unknown as GenesysApiClient, { accessToken: 'tok-4-SECRETVALUE', region: 'mypurecloud.ie' })).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'apiClient', message: expect.stringMatching(/^configureGenesysClient: apiClient must be a Genesys Cloud SDK ApiClient/) }),
    );
  });

  it.each([
    ['null', null],
    ['a token without an access token', { region: 'mypurecloud.ie' }],
    ['an empty access token', { accessToken: '', region: 'mypurecloud.ie' }],
    ['an access token that is not a string', { accessToken: 42, region: 'mypurecloud.ie' }],
  ])('refuses %s as the token with invalid_config, setting nothing', (_name, bad) => {
    const calls: string[] = [];
    const fake: GenesysApiClient = { setEnvironment: () => calls.push('env'), setAccessToken: () => calls.push('token') };
    expect(() => configureGenesysClient(fake, bad as unknown as GenesysToken)).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'token', message: 'configureGenesysClient: token must be a GenesysToken from getToken' }),
    );
    expect(calls).toEqual([]);
  });

  it('keeps the SDK a devDependency: the client library accepts its ApiClient by shape and never loads it', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, string> | undefined>;
    expect(pkg.dependencies?.['purecloud-platform-client-v2']).toBeUndefined();
    expect(pkg.devDependencies?.['purecloud-platform-client-v2']).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('the Genesys Cloud SDK with the broker token, against the simulator', () => {
  it('calls the API of the token region with the token', async () => {
    await onboard(ORG_A, 'Acme Frankfurt', 'mypurecloud.de', 'sdk-a');
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient } });
    const org = await getOrganization(await tokens.getToken(ORG_A));
    expect(org).toMatchObject({ id: ORG_A, name: 'Acme Frankfurt' });
    expect(requested).toEqual(['https://api.mypurecloud.de/api/v2/organizations/me']);
    expect(sim.counts('sdk-a').organizationsMe).toBe(1);
  });

  it('serves orgs of two regions at once from one ApiClient, each call configured as it starts', async () => {
    await onboard(ORG_B, 'Beta Tokyo', 'mypurecloud.jp', 'sdk-b');
    await onboard(ORG_C, 'Gamma Sydney', 'ap-southeast-2', 'sdk-c');
    const tokens = createTokenClient({ source: { secretPrefix: PREFIX, client: smClient } });
    const orgIds = [ORG_B, ORG_C, ORG_B, ORG_C, ORG_C, ORG_B];
    const names = await Promise.all(orgIds.map((orgId) => withTokenRetry(tokens, orgId, getOrganization).then((o) => o.name)));
    expect(names).toEqual(['Beta Tokyo', 'Gamma Sydney', 'Beta Tokyo', 'Gamma Sydney', 'Gamma Sydney', 'Beta Tokyo']);
    // No call went out with the other org's token or region (which the simulator answers 401, and withTokenRetry would retry).
    expect(sim.counts('sdk-b').organizationsMe).toBe(3);
    expect(sim.counts('sdk-c').organizationsMe).toBe(3);
    expect(requested.filter((u) => u.includes('api.mypurecloud.jp'))).toHaveLength(3);
    expect(requested.filter((u) => u.includes('api.mypurecloud.com.au'))).toHaveLength(3);
  });

  it('after a 401, invalidates with the refused token and retries once with the broker newest token', async () => {
    const oldToken = await onboard(ORG_D, 'Delta Dublin', 'mypurecloud.ie', 'sdk-d-old');
    const { tokens, invalidated } = recordingClient();
    expect((await withTokenRetry(tokens, ORG_D, getOrganization)).name).toBe('Delta Dublin');
    const newToken = await moveToNewClient(ORG_D, 'mypurecloud.ie', 'sdk-d-old', 'sdk-d-new');
    sm.resetCalls();

    expect((await withTokenRetry(tokens, ORG_D, getOrganization)).name).toBe('Delta Dublin');
    expect(invalidated).toEqual([oldToken]);
    expect(sm.callCount('GetSecretValue')).toBe(1);
    expect(sim.counts('sdk-d-old').organizationsMe).toBe(2);
    expect(sim.counts('sdk-d-new').organizationsMe).toBe(1);
    expect((await tokens.getToken(ORG_D)).accessToken).toBe(newToken);
  });

  it('gives up after a second 401, rejecting with the SDK error', async () => {
    await onboard(ORG_E, 'Epsilon London', 'eu-west-2', 'sdk-e-old');
    const { tokens, invalidated } = recordingClient();
    await tokens.getToken(ORG_E);
    await moveToNewClient(ORG_E, 'euw2.pure.cloud', 'sdk-e-old', 'sdk-e-new');
    sim.injectFault('sdk-e-new', { kind: 'status', status: 401 }, { endpoint: 'organizations/me' });
    const err = await rejectionOf<{ status: number; code: string }>(withTokenRetry(tokens, ORG_E, getOrganization));
    expect(err).toMatchObject({ status: 401, code: 'authentication.required' });
    expect(invalidated).toHaveLength(1);
    expect(sim.counts('sdk-e-old').organizationsMe).toBe(1);
    expect(sim.counts('sdk-e-new').organizationsMe).toBe(1);
  });

  it('does not retry an SDK error that is not a 401', async () => {
    const { tokens, invalidated } = recordingClient();
    sim.injectFault('sdk-a', { kind: 'status', status: 403 }, { endpoint: 'organizations/me' });
    const before = sim.counts('sdk-a').organizationsMe;
    const err = await rejectionOf<{ status: number }>(withTokenRetry(tokens, ORG_A, getOrganization));
    expect(err.status).toBe(403);
    expect(invalidated).toEqual([]);
    expect(sim.counts('sdk-a').organizationsMe).toBe(before + 1);
  });
});

describe('isUnauthorizedError and the SDK rejections', () => {
  const sdkRejection = async (accessToken: string, region = 'mypurecloud.de'): Promise<unknown> =>
    rejectionOf<unknown>(new platformClient.OrganizationApi(configureGenesysClient(apiClient, { accessToken, region })).getOrganizationsMe());

  it('recognises the SDK rejection of a 401: the Platform API error body, which never holds the token', async () => {
    const err = await sdkRejection('unknown-token-SECRETVALUE');
    expect(err).toEqual({ message: 'Invalid login credentials.', code: 'authentication.required', status: 401 });
    expect(isUnauthorizedError(err)).toBe(true);
    expect(JSON.stringify(err)).not.toContain('SECRETVALUE');
  });

  it('recognises the SDK extended-response rejection of a 401, whose error carries the request and its Authorization header', async () => {
    apiClient.setReturnExtendedResponses(true);
    const err = (await sdkRejection('unknown-token-2-SECRETVALUE')) as { status: number; statusText: string; body: unknown; error: { config: { headers: Record<string, string> } } };
    expect(err).toMatchObject({ status: 401, body: { code: 'authentication.required', status: 401 } });
    expect(isUnauthorizedError(err)).toBe(true);
    // Why a consumer must never log this rejection whole: the SDK keeps axios's error, request headers included.
    expect(err.error.config.headers.Authorization).toBe('Bearer unknown-token-2-SECRETVALUE');
  });

  it('recognises the 401 for a token sent to the API of another region', async () => {
    const token = await issue('sdk-a', 'mypurecloud.de');
    expect(isUnauthorizedError(await sdkRejection(token, 'mypurecloud.ie'))).toBe(true);
  });

  it.each([
    ['403', { kind: 'status', status: 403 } as const, 403],
    ['429', { kind: 'rate_limit' } as const, 429],
    ['503', { kind: 'status', status: 503 } as const, 503],
  ])('does not recognise the SDK rejection of a %s', async (_name, fault, status) => {
    const token = await issue('sdk-a', 'mypurecloud.de');
    sim.injectFault('sdk-a', fault, { endpoint: 'organizations/me' });
    const err = await sdkRejection(token);
    expect(err).toMatchObject({ status });
    expect(isUnauthorizedError(err)).toBe(false);
  });

  it('does not recognise the SDK rejection of a reset connection (no response at all)', async () => {
    const token = await issue('sdk-a', 'mypurecloud.de');
    sim.injectFault('sdk-a', { kind: 'reset' }, { endpoint: 'organizations/me' });
    const err = await sdkRejection(token);
    expect(err).toBeInstanceOf(Error);
    expect(isUnauthorizedError(err)).toBe(false);
  });
});

describe('withTokenRetry with fetch Responses', () => {
  const fetchOrganization = (token: GenesysToken): Promise<Response> =>
    fetch(`${sim.resolver(`api.${token.region}`)}/api/v2/organizations/me`, { headers: { Authorization: `Bearer ${token.accessToken}` } });
  let n = 0;
  /** An org whose cached token Genesys no longer accepts, and whose secret already holds the replacement. */
  const orgWithRefusedToken = async (): Promise<{ orgId: string; tokens: TokenClient; invalidated: (string | undefined)[]; oldToken: string; newClientId: string }> => {
    n++;
    const orgId = `0c11e000-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
    const oldToken = await onboard(orgId, `Fetch Org ${n}`, 'mypurecloud.ie', `fetch-${n}-old`);
    const { tokens, invalidated } = recordingClient();
    await tokens.getToken(orgId);
    await moveToNewClient(orgId, 'mypurecloud.ie', `fetch-${n}-old`, `fetch-${n}-new`);
    return { orgId, tokens, invalidated, oldToken, newClientId: `fetch-${n}-new` };
  };

  it('retries once when fn resolves with a 401 Response, and hands back the second Response', async () => {
    const { orgId, tokens, invalidated, oldToken } = await orgWithRefusedToken();
    const statuses: number[] = [];
    const res = await withTokenRetry(tokens, orgId, async (token) => {
      const answer = await fetchOrganization(token);
      statuses.push(answer.status);
      return answer;
    });
    expect(statuses).toEqual([401, 200]);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(orgId);
    expect(invalidated).toEqual([oldToken]);
  });

  it('hands a second 401 Response to the caller', async () => {
    const { orgId, tokens, invalidated, newClientId } = await orgWithRefusedToken();
    sim.injectFault(newClientId, { kind: 'status', status: 401 }, { endpoint: 'organizations/me' });
    const res = await withTokenRetry(tokens, orgId, fetchOrganization);
    expect(res.status).toBe(401);
    expect(invalidated).toHaveLength(1);
  });

  it('retries after a 401 Response whose body fn has already read, or locked', async () => {
    for (const consume of [(r: Response) => r.text(), (r: Response) => r.body?.getReader()]) {
      const { orgId, tokens, invalidated } = await orgWithRefusedToken();
      let calls = 0;
      const res = await withTokenRetry(tokens, orgId, async (token) => {
        calls++;
        const answer = await fetchOrganization(token);
        if (calls === 1) await consume(answer);
        return answer;
      });
      expect(res.status).toBe(200);
      expect(invalidated).toHaveLength(1);
    }
  });

  it('retries after a 401 Response without a body', async () => {
    const { orgId, tokens, invalidated } = await orgWithRefusedToken();
    let calls = 0;
    const res = await withTokenRetry(tokens, orgId, async (token) => (++calls === 1 ? new Response(null, { status: 401 }) : fetchOrganization(token)));
    expect(res.status).toBe(200);
    expect(invalidated).toHaveLength(1);
  });

  it('retries when fn throws the 401 Response', async () => {
    const { orgId, tokens, invalidated } = await orgWithRefusedToken();
    const res = await withTokenRetry(tokens, orgId, async (token) => {
      const answer = await fetchOrganization(token);
      if (!answer.ok) throw answer;
      return answer;
    });
    expect(res.status).toBe(200);
    expect(invalidated).toHaveLength(1);
  });

  it('returns any other Response, and any value that is not a Response, without retrying', async () => {
    await onboard(ORG_F, 'Zeta Dublin', 'mypurecloud.ie', 'fetch-f');
    const { tokens, invalidated } = recordingClient();
    sim.injectFault('fetch-f', { kind: 'status', status: 403 }, { endpoint: 'organizations/me' });
    expect((await withTokenRetry(tokens, ORG_F, fetchOrganization)).status).toBe(403);
    // A resolved value is looked at only when it is a fetch Response: a body that says 401 is data.
    const data = { status: 401, statusCode: 401 };
    expect(await withTokenRetry(tokens, ORG_F, async () => data)).toBe(data);
    expect(invalidated).toEqual([]);
    expect(sim.counts('fetch-f').organizationsMe).toBe(1);
  });

  it('asks a custom isUnauthorized about a resolved Response too', async () => {
    const { orgId, tokens, invalidated } = await orgWithRefusedToken();
    const asked: unknown[] = [];
    const res = await withTokenRetry(tokens, orgId, fetchOrganization, {
      isUnauthorized: (value) => {
        asked.push(value);
        return false;
      },
    });
    expect(res.status).toBe(401);
    expect(asked).toEqual([res]);
    expect(invalidated).toEqual([]);
  });
});
