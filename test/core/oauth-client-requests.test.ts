/**
 * The OAuth client over real HTTP against the Genesys simulator, with exact values: what each request
 * carries and where it goes, deadlines and the Retry-After cap at their boundaries, the backoff it
 * sleeps, statuses just outside 2xx, and the code, status, attempts and message of each failure. Fetch
 * is the real one, wrapped only to note what was sent; an injected clock makes waits exact.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { UpstreamError } from '../../lambdas/core/errors.js';
import { createOAuthClient, type FetchLike, type OAuthClientOptions } from '../../lambdas/core/oauth.js';
import { type Clock, systemClock } from '../../lambdas/core/ports.js';
import { resolveRegion } from '../../lambdas/core/regions.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const ORG = '0f000000-0000-4000-8000-0000000000f3';
const region = resolveRegion('mypurecloud.ie');
let sim: GenesysSimulator;
let n = 0;

beforeAll(async () => {
  sim = await GenesysSimulator.start();
  sim.addOrg({ orgId: ORG, region: 'mypurecloud.ie' });
});
afterAll(async () => sim?.close());

type SentInit = Parameters<FetchLike>[1];

/** A client of a fresh simulator client; `sent` notes each request the real fetch made. */
function setup(options: Partial<OAuthClientOptions> = {}, spec: { refreshToken?: string } = {}) {
  n++;
  const credentials = { clientId: `req-client-${n}`, clientSecret: `req-secret-${n}-abcdefghijklmnopqrstuvwxyz`, ...(spec.refreshToken ? { refreshToken: spec.refreshToken } : {}) };
  sim.addClient({ ...credentials, orgId: ORG, grantTypes: spec.refreshToken ? ['refresh_token'] : ['client_credentials'] });
  const sent: Array<{ url: string; init: SentInit }> = [];
  const fetch: FetchLike = (url, init) => {
    sent.push({ url, init: { ...init, headers: { ...init.headers } } });
    return (globalThis.fetch as unknown as FetchLike)(url, init);
  };
  const clock: Clock = options.clock ?? systemClock;
  const client = createOAuthClient({ fetch, clock, baseUrl: sim.resolver, backoffBaseMs: 1, backoffCapMs: 5, requestTimeoutMs: 2_000, ...options });
  const requestToken = (deadlineMs = clock.now() + 20_000, extra: { onRefreshToken?: (t: string) => Promise<void> } = {}) =>
    client.requestToken({ orgId: ORG, region, grantType: spec.refreshToken ? 'refresh_token' : 'client_credentials', credentials, deadlineMs, ...extra });
  return { client, credentials, sent, requestToken, clock };
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** Every secret a test handed the client must stay out of what it reports. */
function expectNoSecrets(err: Error, ...secrets: string[]): void {
  for (const s of secrets) expect(`${err.message} ${String(err.stack)}`).not.toContain(s);
}

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`;

describe('what the OAuth client sends', () => {
  it('POSTs a client_credentials grant to the org region login host with Basic auth, JSON accepted and its User-Agent', async () => {
    const { requestToken, sent, credentials } = setup();
    await requestToken();
    expect(sent).toHaveLength(1);
    const [{ url, init }] = sent as [{ url: string; init: SentInit }];
    expect(url).toBe(`${sim.baseUrl}/login.mypurecloud.ie/oauth/token`);
    expect(init.method).toBe('POST');
    expect(init.headers).toStrictEqual({
      Authorization: basic(credentials.clientId, credentials.clientSecret),
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      'User-Agent': 'genesys-token-broker',
    });
    expect(init.body).toBe('grant_type=client_credentials');
    expect(init.redirect).toBe('error');
    expect(init.signal).toBeInstanceOf(AbortSignal);
    expect(sim.counts(credentials.clientId).token).toBe(1);
  });

  it('sends a refresh_token grant with the stored refresh token in the form, and a configured User-Agent', async () => {
    const { requestToken, sent } = setup({ userAgent: 'acme-broker/2.1' }, { refreshToken: `rt-req-${n + 1}-initial` });
    const { value } = await requestToken();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.init.body).toBe(`grant_type=refresh_token&refresh_token=rt-req-${n}-initial`);
    expect(sent[0]!.init.headers['User-Agent']).toBe('acme-broker/2.1');
    expect(value.refreshToken).toBeDefined();
  });

  it('verifies on the org region API host with the bearer token, without resetting its idle timer', async () => {
    const { client, requestToken, sent } = setup();
    const { value } = await requestToken();
    const verified = await client.verifyToken({ orgId: ORG, region, accessToken: value.accessToken, deadlineMs: Date.now() + 5_000 });
    expect(verified).toMatchObject({ attempts: 1, httpStatus: 200, value: { organizationId: ORG } });
    const { url, init } = sent[1]!;
    expect(url).toBe(`${sim.baseUrl}/api.mypurecloud.ie/api/v2/tokens/me?preserveIdleTTL=true`);
    expect(init.method).toBe('GET');
    expect(init.headers).toStrictEqual({ Authorization: `Bearer ${value.accessToken}`, Accept: 'application/json', 'User-Agent': 'genesys-token-broker' });
    expect(init.body).toBeUndefined();
    expect(init.redirect).toBe('error');
  });
});

describe('deadlines', () => {
  it.each([
    ['at', 0],
    ['past', -1],
  ])('sends nothing when the deadline is %s now: deadline_exceeded, transient', async (_name, offsetMs) => {
    const clock = new ManualClock(Date.now());
    const { requestToken, sent, credentials } = setup({ clock });
    const err = await failure(requestToken(clock.now() + offsetMs));
    expect(err).toMatchObject({ code: 'deadline_exceeded', failureClass: 'transient', orgId: ORG, attempts: 1 });
    expect(err.message).toBe(`no time left to call token for org ${ORG}`);
    expect(sent).toHaveLength(0);
    expect(sim.counts(credentials.clientId).token).toBe(0);
  });

  it('does not spend a refresh token when no time is left: deadline_exceeded, not an unknown outcome', async () => {
    const clock = new ManualClock(Date.now());
    const { requestToken, sent, credentials } = setup({ clock }, { refreshToken: `rt-req-${n + 1}-initial` });
    const err = await failure(requestToken(clock.now()));
    expect(err).toMatchObject({ code: 'deadline_exceeded', failureClass: 'transient', attempts: 1 });
    expect(sent).toHaveLength(0);
    expect(sim.currentRefreshToken(credentials.clientId)).toBe(credentials.refreshToken);
    expect(sim.usedRefreshTokens(credentials.clientId)).toEqual([]);
  });

  it('verifies nothing when no time is left', async () => {
    const clock = new ManualClock(Date.now());
    const { client, sent } = setup({ clock });
    const err = await failure(client.verifyToken({ orgId: ORG, region, accessToken: 'ACCESS-SECRETVALUE', deadlineMs: clock.now() }));
    expect(err).toMatchObject({ code: 'deadline_exceeded', attempts: 1 });
    expect(err.message).toBe(`no time left to call tokens/me for org ${ORG}`);
    expect(sent).toHaveLength(0);
  });

  it('gives up instead of sleeping when a Retry-After wait would reach the deadline', async () => {
    const clock = new ManualClock(Date.now());
    const { requestToken, credentials } = setup({ clock, random: () => 0 });
    sim.injectFault(credentials.clientId, { kind: 'rate_limit', retryAfter: '7' });
    const err = await failure(requestToken(clock.now() + 7_000));
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: 7_000, attempts: 1 });
    expect(clock.sleeps).toEqual([]);
    expect(sim.counts(credentials.clientId).token).toBe(1);
  });
});

describe('waits between tries', () => {
  it('sleeps the full-jitter backoff of each retry on the injected clock', async () => {
    const clock = new ManualClock(Date.now());
    const { requestToken, credentials } = setup({ clock, backoffBaseMs: 100, backoffCapMs: 300, random: () => 0.5, maxRetries: 4 });
    sim.injectFault(credentials.clientId, { kind: 'status', status: 503 }, { times: Infinity });
    const err = await failure(requestToken(clock.now() + 60_000));
    expect(err).toMatchObject({ code: 'upstream_unavailable', httpStatus: 503, attempts: 5 });
    expect(clock.sleeps).toEqual([50, 100, 150, 150]);
    expect(sim.counts(credentials.clientId).token).toBe(5);
  });

  it('waits a Retry-After exactly as long as its cap', async () => {
    const clock = new ManualClock(Date.now());
    const { requestToken, credentials } = setup({ clock, random: () => 0, retryAfterCapMs: 7_000 });
    sim.injectFault(credentials.clientId, { kind: 'rate_limit', retryAfter: '7' });
    const result = await requestToken(clock.now() + 60_000);
    expect(result.attempts).toBe(2);
    expect(clock.sleeps).toEqual([7_000]);
  });

  it('hands back a non-Upstream failure unchanged, without retrying it', async () => {
    const { requestToken, credentials } = setup({}, { refreshToken: `rt-req-${n + 1}-initial` });
    const journalDown = new Error('journal down');
    const err = await requestToken(undefined, { onRefreshToken: async () => Promise.reject(journalDown) }).catch((e: unknown) => e);
    expect(err).toBe(journalDown);
    expect(err).not.toHaveProperty('attempts');
    expect(sim.counts(credentials.clientId).token).toBe(1);
  });
});

describe('statuses just outside 2xx', () => {
  it('refuses a 300 to a client_credentials request as auth_rejected, without retrying', async () => {
    const { requestToken, credentials } = setup();
    sim.injectFault(credentials.clientId, { kind: 'status', status: 300 });
    const err = await failure(requestToken());
    expect(err).toMatchObject({ code: 'auth_rejected', failureClass: 'permanent', httpStatus: 300, attempts: 1 });
    expect(sim.counts(credentials.clientId).token).toBe(1);
  });

  it('refuses a 300 to a refresh_token request as auth_rejected: Genesys did not act on it', async () => {
    const { requestToken, credentials } = setup({}, { refreshToken: `rt-req-${n + 1}-initial` });
    sim.injectFault(credentials.clientId, { kind: 'status', status: 300 });
    const seen: string[] = [];
    const err = await failure(requestToken(undefined, { onRefreshToken: async (t) => void seen.push(t) }));
    expect(err).toMatchObject({ code: 'auth_rejected', failureClass: 'permanent', httpStatus: 300, attempts: 1 });
    expect(seen).toEqual([]);
    expect(sim.currentRefreshToken(credentials.clientId)).toBe(credentials.refreshToken);
  });

  it('rejects a token whose tokens/me answers 300', async () => {
    const { client, requestToken, credentials } = setup();
    const { value } = await requestToken();
    sim.injectFault(credentials.clientId, { kind: 'status', status: 300 }, { endpoint: 'tokens/me' });
    const err = await failure(client.verifyToken({ orgId: ORG, region, accessToken: value.accessToken, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'token_rejected', httpStatus: 300, attempts: 1 });
    expectNoSecrets(err, value.accessToken);
  });
});

describe('refresh_token grant edge cases', () => {
  it('does not call the write-ahead callback for a valid 2xx that carries no refresh token', async () => {
    const { requestToken, credentials } = setup({}, { refreshToken: `rt-req-${n + 1}-initial` });
    const body = JSON.stringify({ access_token: 'access-SECRETVALUE-0123456789', token_type: 'bearer', expires_in: 3600 });
    sim.injectFault(credentials.clientId, { kind: 'status', status: 200, body });
    const seen: unknown[] = [];
    const result = await requestToken(undefined, { onRefreshToken: async (t) => void seen.push(t) });
    expect(seen).toEqual([]);
    expect(result.value).toStrictEqual({ accessToken: 'access-SECRETVALUE-0123456789', tokenType: 'bearer', expiresInSeconds: 3600 });
  });

  it('keeps the status of a 5xx that came after Genesys rotated', async () => {
    const { requestToken, credentials } = setup({}, { refreshToken: `rt-req-${n + 1}-initial` });
    sim.injectFault(credentials.clientId, { kind: 'after_grant', then: { kind: 'status', status: 502 } });
    const err = await failure(requestToken());
    expect(err).toMatchObject({ code: 'refresh_outcome_unknown', failureClass: 'permanent', httpStatus: 502, attempts: 1 });
    expect(err.cause).toMatchObject({ code: 'upstream_unavailable', httpStatus: 502 });
    expect((err.cause as Error).message).toBe(`Genesys returned HTTP 502 on token for org ${ORG}: Injected HTTP 502.`);
    expectNoSecrets(err, credentials.clientSecret, credentials.refreshToken!, sim.currentRefreshToken(credentials.clientId)!);
  });

  it('names the token endpoint when Genesys refuses a refresh token', async () => {
    const { client, credentials } = setup({}, { refreshToken: `rt-req-${n + 1}-initial` });
    const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: { ...credentials, refreshToken: 'never-issued-SECRETVALUE' }, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'invalid_grant', httpStatus: 400, attempts: 1 });
    expect(err.message).toBe(`Genesys refused token for org ${ORG} with HTTP 400 invalid_grant: invalid refresh token`);
    expectNoSecrets(err, 'never-issued-SECRETVALUE', credentials.clientSecret);
  });

  it('names the token endpoint when a refresh request never got out', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const client = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: () => `http://127.0.0.1:${port}`, maxRetries: 0 });
    const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: { clientId: 'c', clientSecret: 'secret-SECRETVALUE', refreshToken: 'rt-SECRETVALUE' }, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'network_error', transportCode: 'ECONNREFUSED', attempts: 1 });
    expect(err.message).toBe(`network error calling token for org ${ORG} (ECONNREFUSED)`);
    expectNoSecrets(err, 'secret-SECRETVALUE', 'rt-SECRETVALUE');
  });

  it('refuses a missing refresh token with a message naming the org and the grant', async () => {
    const { client } = setup();
    const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: { clientId: 'c', clientSecret: 's' }, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'missing_refresh_token', failureClass: 'permanent', attempts: 0 });
    expect(err.message).toBe(`org ${ORG} uses the refresh_token grant but has no refresh token stored`);
  });
});

describe('messages name the endpoint and the failure, never a secret', () => {
  it('times out a hanging token request with a message naming the token endpoint', async () => {
    const { requestToken, credentials } = setup({ requestTimeoutMs: 100, maxRetries: 0 });
    sim.injectFault(credentials.clientId, { kind: 'hang' });
    const err = await failure(requestToken());
    expect(err).toMatchObject({ code: 'timeout', failureClass: 'transient', attempts: 1 });
    expect(err.message).toBe(`request to token for org ${ORG} timed out`);
  });

  it('times out a hanging tokens/me with a message naming tokens/me', async () => {
    const { client, requestToken, credentials } = setup({ requestTimeoutMs: 100, maxRetries: 0 });
    const { value } = await requestToken();
    sim.injectFault(credentials.clientId, { kind: 'hang' }, { endpoint: 'tokens/me' });
    const err = await failure(client.verifyToken({ orgId: ORG, region, accessToken: value.accessToken, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'timeout', attempts: 1 });
    expect(err.message).toBe(`request to tokens/me for org ${ORG} timed out`);
    expectNoSecrets(err, value.accessToken);
  });

  it('reports a wrong client secret with the token endpoint and Genesys description, not the secret', async () => {
    const { client, credentials } = setup();
    const wrong = 'wrong-secret-SECRETVALUE-0123456789';
    const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'client_credentials', credentials: { ...credentials, clientSecret: wrong }, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'invalid_client', failureClass: 'permanent', httpStatus: 401, attempts: 1 });
    expect(err.message).toBe(`Genesys refused token for org ${ORG} with HTTP 401 invalid_client: authentication failed`);
    expectNoSecrets(err, wrong, credentials.clientSecret, basic(credentials.clientId, wrong));
  });
});
