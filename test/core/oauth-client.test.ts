/**
 * The OAuth client over real HTTP against the Genesys simulator: request format, retries and
 * classification of every transport fault, Retry-After, deadlines and verification.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { UpstreamError } from '../../lambdas/core/errors.js';
import { createOAuthClient, type FetchLike, type OAuthClientOptions } from '../../lambdas/core/oauth.js';
import { systemClock } from '../../lambdas/core/ports.js';
import { resolveRegion } from '../../lambdas/core/regions.js';
import { GenesysSimulator, type SimFault } from '../../lib/demo/genesys-simulator.js';

const ORG = '0d000000-0000-4000-8000-000000000001';
const OTHER = '0d000000-0000-4000-8000-000000000002';
const region = resolveRegion('mypurecloud.ie');
let sim: GenesysSimulator;
let n = 0;

beforeAll(async () => {
  sim = await GenesysSimulator.start();
  sim.addOrg({ orgId: ORG, region: 'mypurecloud.ie' });
  sim.addOrg({ orgId: OTHER, region: 'mypurecloud.ie' });
});
afterAll(async () => sim?.close());

function setup(options: Partial<OAuthClientOptions> = {}, spec: { grantTypes?: ('client_credentials' | 'refresh_token')[]; refreshToken?: string } = {}) {
  n++;
  const credentials = { clientId: `oauth-client-${n}`, clientSecret: `oauth-secret-${n}-abcdefghijklmnop`, ...(spec.refreshToken ? { refreshToken: spec.refreshToken } : {}) };
  sim.addClient({ ...credentials, orgId: ORG, ...spec });
  const client = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: sim.resolver, backoffBaseMs: 1, backoffCapMs: 5, requestTimeoutMs: 2_000, ...options });
  const request = (grantType: 'client_credentials' | 'refresh_token' = 'client_credentials', deadlineMs = Date.now() + 20_000) =>
    client.requestToken({ orgId: ORG, region, grantType, credentials, deadlineMs });
  return { client, credentials, request };
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

describe('OAuth client against the simulator', () => {
  it('gets a client_credentials token with Basic auth and a form body', async () => {
    const { request, credentials } = setup();
    const result = await request();
    expect(result).toMatchObject({ attempts: 1, httpStatus: 200, value: { tokenType: 'bearer', expiresInSeconds: 86_400 } });
    expect(result.value.refreshToken).toBeUndefined();
    expect(sim.issuedAccessTokens(credentials.clientId)).toEqual([result.value.accessToken]);
  });

  it('returns the rotated refresh token of a refresh_token grant', async () => {
    const { request, credentials } = setup({}, { grantTypes: ['refresh_token'], refreshToken: 'rt-initial-0123456789' });
    const result = await request('refresh_token');
    expect(result.value.refreshToken).toBe(sim.currentRefreshToken(credentials.clientId));
    expect(sim.usedRefreshTokens(credentials.clientId)).toEqual(['rt-initial-0123456789']);
  });

  it('refuses a refresh_token grant with no refresh token before sending anything', async () => {
    const { client, credentials } = setup({}, { grantTypes: ['refresh_token'] });
    const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'missing_refresh_token', failureClass: 'permanent' });
    expect(sim.counts(credentials.clientId).token).toBe(0);
  });

  describe('refresh_token grant: a refresh token is single-use', () => {
    const rtSetup = (options: Partial<OAuthClientOptions> = {}) => setup(options, { grantTypes: ['refresh_token'], refreshToken: `rt-${n + 1}-initial-0123456789` });
    /** Requests a refresh, noting every rotated token handed to the write-ahead callback. */
    async function refresh(s: ReturnType<typeof rtSetup>, deadlineMs = Date.now() + 20_000) {
      const seen: string[] = [];
      const result = s.client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: s.credentials, deadlineMs, onRefreshToken: async (t) => void seen.push(t) });
      return { result, seen };
    }

    it('hands the rotated token to the write-ahead callback before returning it', async () => {
      const s = rtSetup();
      const { result, seen } = await refresh(s);
      const granted = await result;
      expect(seen).toEqual([sim.currentRefreshToken(s.credentials.clientId)]);
      expect(granted.value.refreshToken).toBe(seen[0]);
    });

    it('waits for the write-ahead callback: a failing one fails the call', async () => {
      const s = rtSetup();
      const err = await s.client
        .requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: s.credentials, deadlineMs: Date.now() + 20_000, onRefreshToken: async () => Promise.reject(new Error('journal down')) })
        .catch((e: unknown) => e);
      expect((err as Error).message).toBe('journal down');
    });

    it('keeps the rotated token of a 200 whose body is invalid, then reports the body', async () => {
      const s = rtSetup();
      sim.injectFault(s.credentials.clientId, { kind: 'invalid_token_body' });
      const { result, seen } = await refresh(s);
      const err = await failure(result);
      expect(err).toMatchObject({ code: 'invalid_token_response', attempts: 1 });
      expect(seen).toEqual([sim.currentRefreshToken(s.credentials.clientId)]);
      expect(sim.counts(s.credentials.clientId).token).toBe(1);
    });

    const unknown: Array<[string, SimFault]> = [
      ['a reset after Genesys rotated', { kind: 'after_grant', then: { kind: 'reset' } }],
      ['a 502 after Genesys rotated', { kind: 'after_grant', then: { kind: 'status', status: 502 } }],
      ['an HTML error page after Genesys rotated', { kind: 'after_grant', then: { kind: 'html', status: 503 } }],
      ['a cut-off body after Genesys rotated', { kind: 'after_grant', then: { kind: 'malformed_json' } }],
      ['a 500 (Genesys may have processed it)', { kind: 'status', status: 500 }],
    ];
    it.each(unknown)('never presents the token again after %s: refresh_outcome_unknown, permanent, one request', async (_name, fault) => {
      const s = rtSetup();
      sim.injectFault(s.credentials.clientId, fault, { times: Infinity });
      const { result, seen } = await refresh(s);
      const err = await failure(result);
      expect(err).toMatchObject({ code: 'refresh_outcome_unknown', failureClass: 'permanent', attempts: 1 });
      expect(err.message).toMatch(/re-authorize/);
      expect(seen).toEqual([]);
      expect(sim.counts(s.credentials.clientId).token).toBe(1);
    });

    it('gives the one request the whole budget and calls a timeout an unknown outcome', async () => {
      const s = rtSetup({ requestTimeoutMs: 100 });
      sim.injectFault(s.credentials.clientId, { kind: 'latency', ms: 400 });
      // 400 ms exceeds the per-request timeout but not the budget: a refresh waits for its answer.
      const rotated = (await (await refresh(s)).result).value.refreshToken;
      expect(rotated).toBe(sim.currentRefreshToken(s.credentials.clientId));
      s.credentials.refreshToken = rotated!;
      sim.injectFault(s.credentials.clientId, { kind: 'after_grant', then: { kind: 'hang' } });
      const started = Date.now();
      const err = await failure((await refresh(s, Date.now() + 500)).result);
      expect(err).toMatchObject({ code: 'refresh_outcome_unknown', attempts: 1 });
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('does not retry a 429 inline: Genesys refused it before spending the token', async () => {
      const s = rtSetup();
      sim.injectFault(s.credentials.clientId, { kind: 'rate_limit', retryAfter: '0' });
      const err = await failure((await refresh(s)).result);
      expect(err).toMatchObject({ code: 'rate_limited', attempts: 1 });
      expect(sim.currentRefreshToken(s.credentials.clientId)).toBe(s.credentials.refreshToken);
    });

    it('retries a request that certainly never reached Genesys (connection refused)', async () => {
      // A port that was free a moment ago: nothing listens there.
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
      const closed = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: () => `http://127.0.0.1:${port}`, backoffBaseMs: 1, backoffCapMs: 5 });
      const err = await failure(closed.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: { clientId: 'c', clientSecret: 's', refreshToken: 'r' }, deadlineMs: Date.now() + 5_000 }));
      expect(err).toMatchObject({ code: 'network_error', transportCode: 'ECONNREFUSED', attempts: 4 });
    });

    it('stops at invalid_grant: the token is spent or revoked', async () => {
      const s = rtSetup();
      const err = await failure(s.client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: { ...s.credentials, refreshToken: 'never-issued' }, deadlineMs: Date.now() + 5_000 }));
      expect(err).toMatchObject({ code: 'invalid_grant', failureClass: 'permanent', attempts: 1 });
    });
  });

  it('refuses to follow a redirect, so a secret never reaches another host', async () => {
    const redirector = createServer((req, res) => {
      res.writeHead(307, { Location: `${sim.baseUrl}${req.url}` });
      res.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    try {
      const port = (redirector.address() as AddressInfo).port;
      const { credentials } = setup();
      const client = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: (host) => `http://127.0.0.1:${port}/${host}`, backoffBaseMs: 1, backoffCapMs: 5 });
      const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'client_credentials', credentials, deadlineMs: Date.now() + 5_000 }));
      expect(err.code).toBe('network_error');
      expect(sim.counts(credentials.clientId).token).toBe(0);
      const rt = await failure(client.requestToken({ orgId: ORG, region, grantType: 'refresh_token', credentials: { ...credentials, refreshToken: 'r' }, deadlineMs: Date.now() + 5_000 }));
      expect(rt).toMatchObject({ code: 'refresh_outcome_unknown', attempts: 1 });
      expect(sim.counts(credentials.clientId).token).toBe(0);
    } finally {
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  const transientThenSuccess: Array<[string, SimFault, string]> = [
    ['a 500', { kind: 'status', status: 500 }, 'upstream_unavailable'],
    ['a 502 HTML page from a proxy', { kind: 'html', status: 502 }, 'upstream_unavailable'],
    ['a connection reset', { kind: 'reset' }, 'network_error'],
    ['malformed JSON in a 200', { kind: 'malformed_json' }, 'malformed_response'],
    ['a truncated 200 body', { kind: 'truncated_body' }, 'network_error'],
    ['a 200 without access_token', { kind: 'missing_access_token' }, 'invalid_token_response'],
    ['a 429 with Retry-After 0', { kind: 'rate_limit', retryAfter: '0' }, 'rate_limited'],
  ];

  it.each(transientThenSuccess)('retries after %s and succeeds', async (_name, fault) => {
    const { request, credentials } = setup();
    sim.injectFault(credentials.clientId, fault);
    const result = await request();
    expect(result.attempts).toBe(2);
    expect(sim.counts(credentials.clientId).token).toBe(2);
  });

  it.each(transientThenSuccess)('gives up after 1 + 3 tries of %s with code %s', async (_name, fault, code) => {
    const { request, credentials } = setup();
    sim.injectFault(credentials.clientId, fault, { times: Infinity });
    const err = await failure(request());
    // A truncated body can surface as a reset or as unparseable JSON depending on where it is cut.
    if (fault.kind === 'truncated_body') expect(['network_error', 'malformed_response']).toContain(err.code);
    else expect(err.code).toBe(code);
    expect(err.attempts).toBe(4);
    expect(sim.counts(credentials.clientId).token).toBe(4);
  });

  it('times out a request that hangs, and retries it', async () => {
    const { request, credentials } = setup({ requestTimeoutMs: 150 });
    sim.injectFault(credentials.clientId, { kind: 'hang' });
    const result = await request();
    expect(result.attempts).toBe(2);
  });

  it('never waits past the deadline', async () => {
    const { request, credentials } = setup({ requestTimeoutMs: 5_000 });
    sim.injectFault(credentials.clientId, { kind: 'hang' }, { times: Infinity });
    const started = Date.now();
    const err = await failure(request('client_credentials', Date.now() + 300));
    expect(['timeout', 'deadline_exceeded']).toContain(err.code);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('does not retry permanent errors', async () => {
    const { client, credentials } = setup();
    const err = await failure(client.requestToken({ orgId: ORG, region, grantType: 'client_credentials', credentials: { ...credentials, clientSecret: 'wrong' }, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'invalid_client', httpStatus: 401, attempts: 1 });
    expect(err.message).not.toContain('wrong');
  });

  it('waits out Retry-After on the injected clock', async () => {
    const clock = new ManualClock(Date.now());
    const { request, credentials } = setup({ clock });
    sim.injectFault(credentials.clientId, { kind: 'rate_limit', retryAfter: '7' });
    await request('client_credentials', clock.now() + 60_000);
    expect(clock.sleeps.some((ms) => ms >= 7_000)).toBe(true);
  });

  it('hands a Retry-After longer than its cap to the caller instead of sleeping', async () => {
    const clock = new ManualClock(Date.now());
    const { request, credentials } = setup({ clock, retryAfterCapMs: 10_000 });
    sim.injectFault(credentials.clientId, { kind: 'rate_limit', retryAfter: '120' });
    const err = await failure(request('client_credentials', clock.now() + 600_000));
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: 120_000, attempts: 1 });
    expect(clock.sleeps).toEqual([]);
  });

  it('verifies a token against its org and refuses one from another org', async () => {
    const { request, client, credentials } = setup();
    const ok = await request();
    const verified = await client.verifyToken({ orgId: ORG, region, accessToken: ok.value.accessToken, deadlineMs: Date.now() + 5_000 });
    expect(verified.value).toMatchObject({ organizationId: ORG, oauthClientId: credentials.clientId });

    sim.injectFault(credentials.clientId, { kind: 'foreign_org', orgId: OTHER });
    const foreign = await request();
    const err = await failure(client.verifyToken({ orgId: ORG, region, accessToken: foreign.value.accessToken, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'org_mismatch', failureClass: 'permanent', actualOrgId: OTHER });
    expect(err.message).toContain(OTHER);
    expect(err.message).not.toContain(foreign.value.accessToken);
  });

  it('treats 429 and 5xx from tokens/me as retryable and an unknown token as rejected', async () => {
    const { request, client, credentials } = setup();
    const ok = await request();
    sim.injectFault(credentials.clientId, { kind: 'rate_limit', retryAfter: '0' }, { endpoint: 'tokens/me' });
    sim.injectFault(credentials.clientId, { kind: 'status', status: 503 }, { endpoint: 'tokens/me' });
    const verified = await client.verifyToken({ orgId: ORG, region, accessToken: ok.value.accessToken, deadlineMs: Date.now() + 5_000 });
    expect(verified.attempts).toBe(3);
    const err = await failure(client.verifyToken({ orgId: ORG, region, accessToken: 'not-a-token', deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'token_rejected', httpStatus: 401, failureClass: 'permanent' });
  });

  it('fails credentials sent to the wrong region as invalid_client', async () => {
    const { client, credentials } = setup();
    const err = await failure(client.requestToken({ orgId: ORG, region: resolveRegion('mypurecloud.com'), grantType: 'client_credentials', credentials, deadlineMs: Date.now() + 5_000 }));
    expect(err).toMatchObject({ code: 'invalid_client', httpStatus: 400 });
    expect(err.message).toContain('client not found');
  });
});
