import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.js';
import { GenesysSimulator, type SimClientSpec } from '../../lib/demo/genesys-simulator.js';
import { acknowledgeRefreshTokenReuse } from '../support/no-refresh-token-reuse.js';

const ORG_IE = '11111111-0000-4000-8000-000000000001';
const ORG_US = '11111111-0000-4000-8000-000000000002';
const ORG_OTHER = '11111111-0000-4000-8000-000000000003';
const START_MS = Date.parse('2026-05-01T12:00:00Z');

let nowMs = START_MS;
let sim: GenesysSimulator;

beforeAll(async () => {
  sim = await GenesysSimulator.start({ now: () => nowMs });
  sim.addOrg({ orgId: ORG_IE, name: 'Acme Dublin', region: 'mypurecloud.ie' });
  sim.addOrg({ orgId: ORG_US, name: 'Acme US', region: 'us-east-1' });
  sim.addOrg({ orgId: ORG_OTHER, name: 'Someone Else', region: 'mypurecloud.ie' });
});

afterAll(async () => {
  await sim?.close();
});

beforeEach(() => {
  nowMs = START_MS;
});

let n = 0;
/** A fresh client per test, so counters and faults never leak between tests. */
function newClient(extra: Partial<SimClientSpec> = {}): SimClientSpec {
  n++;
  const spec: SimClientSpec = { clientId: `sim-client-${n}`, clientSecret: `sim-secret-${n}-${'s'.repeat(30)}`, orgId: ORG_IE, ...extra };
  sim.addClient(spec);
  return spec;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const IE = 'mypurecloud.ie';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function call(path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${sim.baseUrl}${path}`, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function tokenRequest(client: Pick<SimClientSpec, 'clientId' | 'clientSecret'>, form: Record<string, string> = { grant_type: 'client_credentials' }, domain = IE, headers: Record<string, string> = {}) {
  return fetch(`${sim.resolver(`login.${domain}`)}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.clientId, client.clientSecret), ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

async function postToken(client: Pick<SimClientSpec, 'clientId' | 'clientSecret'>, form?: Record<string, string>, domain = IE, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await tokenRequest(client, form, domain, headers);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function accessTokenFor(client: SimClientSpec, domain = IE): Promise<string> {
  const reply = await postToken(client, undefined, domain);
  expect(reply.status).toBe(200);
  return (JSON.parse(reply.text) as { access_token: string }).access_token;
}

function getApi(path: string, token?: string, domain = IE): Promise<Reply> {
  return call(`/api.${domain}${path}`, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
}

const oauthError = (error: string, description: string) => ({ error, description, error_description: description });

describe('GenesysSimulator routing', () => {
  it('resolves hosts to path prefixes on its own base URL', () => {
    expect(sim.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sim.resolver('login.mypurecloud.ie')).toBe(`${sim.baseUrl}/login.mypurecloud.ie`);
  });

  it.each([
    ['an unknown domain', 'POST', '/login.example.com/oauth/token'],
    ['a host that is neither login nor api', 'POST', '/www.mypurecloud.ie/oauth/token'],
    ['a region key instead of a domain', 'POST', '/login.eu-west-1/oauth/token'],
    ['the token path on the api host', 'POST', '/api.mypurecloud.ie/oauth/token'],
    ['the API path on the login host', 'GET', '/login.mypurecloud.ie/api/v2/tokens/me'],
    ['an unknown path', 'GET', '/api.mypurecloud.ie/api/v2/users/me'],
    ['a GET on the token path', 'GET', '/login.mypurecloud.ie/oauth/token'],
    ['the bare root', 'GET', '/'],
  ])('answers %s with a Platform API 404', async (_name, method, path) => {
    const reply = await call(path, { method });
    expect(reply.status).toBe(404);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(reply.text)).toMatchObject({ code: 'not.found', status: 404 });
  });

  it('serves every region domain', async () => {
    const reply = await call('/login.edee1.eusc-pure.cloud/oauth/token', { method: 'POST' });
    expect(reply.status).toBe(400); // reached the token endpoint: missing content type
  });
});

describe('GenesysSimulator token endpoint', () => {
  it('issues an opaque bearer token for client_credentials without a refresh token', async () => {
    const client = newClient();
    const reply = await postToken(client);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    const body = JSON.parse(reply.text) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 86_400 });
    expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([body.access_token]);
    expect(sim.issuedAccessTokens()).toContain(body.access_token);
  });

  it('issues a different token on every request', async () => {
    const client = newClient();
    const a = await accessTokenFor(client);
    const b = await accessTokenFor(client);
    expect(a).not.toBe(b);
  });

  it('uses the per-client lifetime, and setTokenLifetime changes it for later tokens', async () => {
    const client = newClient({ tokenLifetimeSeconds: 3_600 });
    expect(JSON.parse((await postToken(client)).text)).toMatchObject({ expires_in: 3_600 });
    sim.setTokenLifetime(client.clientId, 120);
    expect(JSON.parse((await postToken(client)).text)).toMatchObject({ expires_in: 120 });
  });

  it('rejects a body that is not form-encoded with invalid_request', async () => {
    const client = newClient();
    const reply = await postToken(client, undefined, IE, { 'Content-Type': 'application/json' });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text)).toMatchObject({ error: 'invalid_request' });
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([]);
  });

  it('accepts a form content type with a charset parameter', async () => {
    const client = newClient();
    const reply = await postToken(client, undefined, IE, { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' });
    expect(reply.status).toBe(200);
  });

  it.each([
    ['missing', undefined],
    ['not Basic', 'Bearer abc'],
    ['not base64 of id:secret', `Basic ${Buffer.from('no-colon-here').toString('base64')}`],
    ['garbage', 'Basic !!!'],
  ])('answers an Authorization header that is %s with 401 invalid_client', async (_name, header) => {
    const res = await fetch(`${sim.baseUrl}/login.${IE}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(header ? { Authorization: header } : {}) },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers an unknown client with 400 invalid_client "client not found"', async () => {
    const reply = await postToken({ clientId: 'no-such-client', clientSecret: 'whatever' });
    expect(reply.status).toBe(400);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(reply.text)).toEqual(oauthError('invalid_client', 'client not found'));
  });

  it('answers a wrong secret with 401 invalid_client "authentication failed"', async () => {
    const client = newClient();
    const reply = await postToken({ clientId: client.clientId, clientSecret: 'wrong-secret' });
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toEqual(oauthError('invalid_client', 'authentication failed'));
  });

  it('accepts only the new secret after setClientSecret', async () => {
    const client = newClient();
    sim.setClientSecret(client.clientId, 'rotated-secret-value-0123456789');
    expect((await postToken(client)).status).toBe(401);
    expect((await postToken({ clientId: client.clientId, clientSecret: 'rotated-secret-value-0123456789' })).status).toBe(200);
  });

  it('rejects a revoked client with 400 invalid_client and stops its tokens working', async () => {
    const client = newClient();
    const token = await accessTokenFor(client);
    expect((await getApi('/api/v2/tokens/me', token)).status).toBe(200);
    sim.revokeClient(client.clientId);
    const reply = await postToken(client);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text)).toMatchObject({ error: 'invalid_client' });
    expect((await getApi('/api/v2/tokens/me', token)).status).toBe(401);
    expect((await getApi('/api/v2/organizations/me', token)).status).toBe(401);
  });

  it('answers a grant the client may not use with unauthorized_client', async () => {
    const cc = newClient();
    const rt = newClient({ grantTypes: ['refresh_token'], refreshToken: 'initial-refresh-token-abcdefghijklmnopqrstuvwxyz' });
    const a = await postToken(cc, { grant_type: 'refresh_token', refresh_token: 'x' });
    const b = await postToken(rt, { grant_type: 'client_credentials' });
    const c = await postToken(cc, { grant_type: 'authorization_code', code: 'x' });
    for (const reply of [a, b, c]) {
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.text)).toMatchObject({ error: 'unauthorized_client' });
    }
    expect(sim.currentRefreshToken(rt.clientId)).toBe('initial-refresh-token-abcdefghijklmnopqrstuvwxyz');
  });

  it('answers an unknown grant type with unsupported_grant_type and a missing one with invalid_request', async () => {
    const client = newClient();
    const unknown = await postToken(client, { grant_type: 'magic' });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text)).toMatchObject({ error: 'unsupported_grant_type' });
    const missing = await postToken(client, {});
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text)).toMatchObject({ error: 'invalid_request' });
  });
});

describe('GenesysSimulator regions', () => {
  it('accepts credentials only in their own region', async () => {
    const ie = newClient();
    const us = newClient({ orgId: ORG_US });
    const wrong = await postToken(ie, undefined, 'mypurecloud.com');
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.text)).toEqual(oauthError('invalid_client', 'client not found'));
    expect((await postToken(ie, undefined, IE)).status).toBe(200);
    // ORG_US was registered by region key; its domain is mypurecloud.com.
    expect((await postToken(us, undefined, 'mypurecloud.com')).status).toBe(200);
    expect((await postToken(us, undefined, 'mypurecloud.de')).status).toBe(400);
  });

  it('counts a request in the wrong region against the client it named', async () => {
    const ie = newClient();
    await postToken(ie, undefined, 'mypurecloud.jp');
    expect(sim.counts(ie.clientId).token).toBe(1);
  });

  it('accepts a token only at the API of the region that issued it', async () => {
    const client = newClient();
    const token = await accessTokenFor(client);
    for (const domain of ['mypurecloud.com', 'mypurecloud.de']) {
      for (const path of ['/api/v2/organizations/me', '/api/v2/tokens/me']) {
        const reply = await getApi(path, token, domain);
        expect(reply.status).toBe(401);
        expect(JSON.parse(reply.text)).toEqual({ message: 'Invalid login credentials.', code: 'authentication.required', status: 401 });
      }
    }
    expect((await getApi('/api/v2/organizations/me', token, IE)).status).toBe(200);
    expect(sim.counts(client.clientId)).toMatchObject({ organizationsMe: 3, tokensMe: 2 });
  });
});

describe('GenesysSimulator refresh_token grant', () => {
  const initial = () => `rt-initial-${n}-${'r'.repeat(40)}`;

  it('rotates the refresh token on every use', async () => {
    const rt0 = initial();
    const client = newClient({ grantTypes: ['refresh_token'], refreshToken: rt0 });
    expect(sim.currentRefreshToken(client.clientId)).toBe(rt0);

    const first = await postToken(client, { grant_type: 'refresh_token', refresh_token: rt0 });
    expect(first.status).toBe(200);
    const body1 = JSON.parse(first.text) as { access_token: string; refresh_token: string; token_type: string; expires_in: number };
    expect(body1).toMatchObject({ token_type: 'bearer', expires_in: 86_400 });
    expect(body1.refresh_token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(body1.refresh_token).not.toBe(rt0);
    expect(sim.currentRefreshToken(client.clientId)).toBe(body1.refresh_token);

    const second = await postToken(client, { grant_type: 'refresh_token', refresh_token: body1.refresh_token });
    const body2 = JSON.parse(second.text) as { refresh_token: string };
    expect(second.status).toBe(200);
    expect(sim.usedRefreshTokens(client.clientId)).toEqual([rt0, body1.refresh_token]);
    expect(sim.currentRefreshToken(client.clientId)).toBe(body2.refresh_token);
    expect(sim.counts(client.clientId)).toMatchObject({ token: 2, refreshTokenReuse: 0 });
  });

  it('rejects a used refresh token with invalid_grant and counts the reuse', async () => {
    const rt0 = initial();
    const client = newClient({ grantTypes: ['refresh_token'], refreshToken: rt0 });
    const ok = await postToken(client, { grant_type: 'refresh_token', refresh_token: rt0 });
    const current = (JSON.parse(ok.text) as { refresh_token: string }).refresh_token;

    const reuse = await postToken(client, { grant_type: 'refresh_token', refresh_token: rt0 });
    expect(reuse.status).toBe(400);
    expect(JSON.parse(reuse.text)).toMatchObject({ error: 'invalid_grant' });
    expect(sim.counts(client.clientId).refreshTokenReuse).toBe(1);
    acknowledgeRefreshTokenReuse(sim, 1);
    // A failed attempt does not rotate: the current token still works.
    expect(sim.currentRefreshToken(client.clientId)).toBe(current);
    expect((await postToken(client, { grant_type: 'refresh_token', refresh_token: current })).status).toBe(200);
  });

  it('rejects an unknown refresh token with invalid_grant without counting reuse', async () => {
    const client = newClient({ grantTypes: ['refresh_token'], refreshToken: initial() });
    const reply = await postToken(client, { grant_type: 'refresh_token', refresh_token: 'never-issued-token' });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text)).toMatchObject({ error: 'invalid_grant' });
    expect(sim.counts(client.clientId).refreshTokenReuse).toBe(0);
    expect(sim.usedRefreshTokens(client.clientId)).toEqual([]);
  });

  it('rejects a refresh request without a refresh token as invalid_request', async () => {
    const client = newClient({ grantTypes: ['refresh_token'], refreshToken: initial() });
    const reply = await postToken(client, { grant_type: 'refresh_token' });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text)).toMatchObject({ error: 'invalid_request' });
  });
});

describe('GenesysSimulator tokens/me', () => {
  it('describes a valid token', async () => {
    const client = newClient({ name: 'Broker client', scopes: ['oauth', 'users:readonly'] });
    const token = await accessTokenFor(client);
    const reply = await getApi('/api/v2/tokens/me?preserveIdleTTL=true', token);
    expect(reply.status).toBe(200);
    const org = { id: ORG_IE, name: 'Acme Dublin', selfUri: `/api/v2/organizations/${ORG_IE}` };
    expect(JSON.parse(reply.text)).toEqual({
      organization: org,
      homeOrganization: org,
      OAuthClient: { id: client.clientId, name: 'Broker client', organization: { id: ORG_IE } },
      authorizedScope: ['oauth', 'users:readonly'],
    });
    expect(sim.counts(client.clientId).tokensMe).toBe(1);
  });

  it.each([
    ['no Authorization header', undefined],
    ['an unknown token', 'not-a-real-token'],
  ])('answers %s with a Platform API 401', async (_name, token) => {
    const reply = await getApi('/api/v2/tokens/me', token);
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toMatchObject({ code: 'authentication.required', status: 401, message: expect.any(String) });
  });

  it('rejects a token once it has expired by the injected clock', async () => {
    const client = newClient({ tokenLifetimeSeconds: 600 });
    const token = await accessTokenFor(client);
    nowMs += 599_000;
    expect((await getApi('/api/v2/tokens/me', token)).status).toBe(200);
    nowMs += 1_000;
    const reply = await getApi('/api/v2/tokens/me', token);
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toMatchObject({ code: 'authentication.required' });
    expect(sim.counts(client.clientId).tokensMe).toBe(2);
  });

  it('reports dateTokenIdles and leaves the idle timer alone with preserveIdleTTL=true', async () => {
    const client = newClient({ idleTimeoutSeconds: 3_600 });
    const token = await accessTokenFor(client);
    const idlesAt = new Date(START_MS + 3_600_000).toISOString();

    nowMs += 30 * 60_000;
    const preserved = JSON.parse((await getApi('/api/v2/tokens/me?preserveIdleTTL=true', token)).text) as { dateTokenIdles: string };
    expect(preserved.dateTokenIdles).toBe(idlesAt);

    nowMs += 20 * 60_000;
    const reset = JSON.parse((await getApi('/api/v2/tokens/me', token)).text) as { dateTokenIdles: string };
    expect(reset.dateTokenIdles).toBe(new Date(nowMs + 3_600_000).toISOString());
  });

  it('rejects a token that idled out', async () => {
    const client = newClient({ idleTimeoutSeconds: 60 });
    const token = await accessTokenFor(client);
    nowMs += 59_000;
    expect((await getApi('/api/v2/tokens/me?preserveIdleTTL=true', token)).status).toBe(200);
    nowMs += 1_000;
    expect((await getApi('/api/v2/tokens/me?preserveIdleTTL=true', token)).status).toBe(401);
  });

  it('omits dateTokenIdles for clients without an idle timeout', async () => {
    const token = await accessTokenFor(newClient());
    expect(JSON.parse((await getApi('/api/v2/tokens/me', token)).text)).not.toHaveProperty('dateTokenIdles');
  });
});

describe('GenesysSimulator organizations/me', () => {
  it('describes the org of a valid token', async () => {
    const client = newClient();
    const token = await accessTokenFor(client);
    const reply = await getApi('/api/v2/organizations/me', token);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ id: ORG_IE, name: 'Acme Dublin', state: 'active', domain: 'acme-dublin' });
    expect(sim.counts(client.clientId)).toMatchObject({ token: 1, tokensMe: 0, organizationsMe: 1 });
  });

  it('answers an unknown token with 401', async () => {
    const reply = await getApi('/api/v2/organizations/me', 'nope');
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toMatchObject({ code: 'authentication.required', status: 401 });
  });

  it('counts as activity that resets the idle timer', async () => {
    const client = newClient({ idleTimeoutSeconds: 60 });
    const token = await accessTokenFor(client);
    nowMs += 50_000;
    expect((await getApi('/api/v2/organizations/me', token)).status).toBe(200);
    nowMs += 50_000;
    const info = JSON.parse((await getApi('/api/v2/tokens/me?preserveIdleTTL=true', token)).text) as { dateTokenIdles: string };
    expect(info.dateTokenIdles).toBe(new Date(START_MS + 50_000 + 60_000).toISOString());
  });
});

describe('GenesysSimulator faults', () => {
  it('answers with an injected status and a Platform API body by default', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'status', status: 503 });
    const reply = await postToken(client);
    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.text)).toMatchObject({ status: 503, code: 'service.unavailable' });
    expect((await postToken(client)).status).toBe(200);
    expect(sim.counts(client.clientId).token).toBe(2);
  });

  it('answers with an injected status, body and content type', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'status', status: 500, body: 'oops', contentType: 'text/plain' });
    const reply = await postToken(client);
    expect(reply).toMatchObject({ status: 500, text: 'oops' });
    expect(reply.headers.get('content-type')).toBe('text/plain');
  });

  it('consumes faults in FIFO order, each for its number of times', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'status', status: 500 }, { times: 2 });
    sim.injectFault(client.clientId, { kind: 'status', status: 502 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await postToken(client)).status);
    expect(statuses).toEqual([500, 500, 502, 200]);
    expect(sim.counts(client.clientId).token).toBe(4);
  });

  it('repeats an Infinity fault until cleared, and clears only the named client', async () => {
    const a = newClient();
    const b = newClient();
    sim.injectFault(a.clientId, { kind: 'status', status: 503 }, { times: Infinity });
    sim.injectFault(b.clientId, { kind: 'status', status: 503 }, { times: Infinity });
    for (let i = 0; i < 3; i++) expect((await postToken(a)).status).toBe(503);
    sim.clearFaults(a.clientId);
    expect((await postToken(a)).status).toBe(200);
    expect((await postToken(b)).status).toBe(503);
    sim.clearFaults();
    expect((await postToken(b)).status).toBe(200);
  });

  it('keeps faults per endpoint and finds the client of tokens/me by its bearer token', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'status', status: 503 }, { endpoint: 'tokens/me' });
    sim.injectFault(client.clientId, { kind: 'status', status: 504 }, { endpoint: 'organizations/me' });
    const token = await accessTokenFor(client);
    expect((await getApi('/api/v2/organizations/me', token)).status).toBe(504);
    expect((await getApi('/api/v2/tokens/me', token)).status).toBe(503);
    expect((await getApi('/api/v2/tokens/me', token)).status).toBe(200);
    expect(sim.counts(client.clientId)).toEqual({ token: 1, tokensMe: 2, organizationsMe: 1, refreshTokenReuse: 0, authorize: 0, codeReuse: 0 });
  });

  it('answers rate_limit with 429, Retry-After in seconds and a Platform API body', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'rate_limit', retryAfter: '7' });
    const reply = await postToken(client);
    expect(reply.status).toBe(429);
    expect(reply.headers.get('retry-after')).toBe('7');
    expect(JSON.parse(reply.text)).toEqual({
      message: 'Rate limit exceeded the maximum. Retry the request in [7] seconds',
      code: 'too.many.requests',
      status: 429,
    });
  });

  it('answers rate_limit with an HTTP-date Retry-After, a default, or none', async () => {
    const client = newClient();
    const date = new Date(START_MS + 30_000).toUTCString();
    sim.injectFault(client.clientId, { kind: 'rate_limit', retryAfter: date });
    sim.injectFault(client.clientId, { kind: 'rate_limit' });
    sim.injectFault(client.clientId, { kind: 'rate_limit', retryAfter: null });
    const dated = await postToken(client);
    expect(dated.headers.get('retry-after')).toBe(date);
    expect(JSON.parse(dated.text)).toMatchObject({ message: expect.stringContaining('[30] seconds') });
    expect((await postToken(client)).headers.get('retry-after')).toBe('1');
    const bare = await postToken(client);
    expect(bare.status).toBe(429);
    expect(bare.headers.get('retry-after')).toBeNull();
  });

  it('delays a response by the injected latency and then answers normally', async () => {
    const slow = newClient();
    const fast = newClient();
    sim.injectFault(slow.clientId, { kind: 'latency', ms: 150 });
    const order: string[] = [];
    const slowReply = postToken(slow).then((r) => (order.push('slow'), r));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fastReply = postToken(fast).then((r) => (order.push('fast'), r));
    const [s, f] = await Promise.all([slowReply, fastReply]);
    expect(order).toEqual(['fast', 'slow']);
    expect(s.status).toBe(200);
    expect(f.status).toBe(200);
    expect(sim.issuedAccessTokens(slow.clientId)).toHaveLength(1);
  });

  it('never answers a hung request until the client aborts', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'hang' });
    const res = fetch(`${sim.resolver(`login.${IE}`)}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.clientId, client.clientSecret) },
      body: 'grant_type=client_credentials',
      signal: AbortSignal.timeout(100),
    });
    await expect(res).rejects.toThrow();
    expect(sim.counts(client.clientId).token).toBe(1);
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([]);
    expect((await postToken(client)).status).toBe(200);
  });

  it('resets the connection without a response', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'reset' });
    await expect(tokenRequest(client)).rejects.toThrow(TypeError);
    expect(sim.counts(client.clientId).token).toBe(1);
    expect((await postToken(client)).status).toBe(200);
  });

  it('resets a tokens/me request', async () => {
    const client = newClient();
    const token = await accessTokenFor(client);
    sim.injectFault(client.clientId, { kind: 'reset' }, { endpoint: 'tokens/me' });
    await expect(getApi('/api/v2/tokens/me', token)).rejects.toThrow(TypeError);
  });

  it('sends truncated JSON as a 200 for malformed_json', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'malformed_json' });
    const reply = await postToken(client);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(reply.text.startsWith('{')).toBe(true);
    expect(() => JSON.parse(reply.text)).toThrow(SyntaxError);
  });

  it('cuts a 200 body short of its Content-Length for truncated_body', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'truncated_body' });
    const res = await tokenRequest(client);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect((await postToken(client)).status).toBe(200);
  });

  it('sends a load balancer HTML page for html, 502 unless told otherwise', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'html' });
    sim.injectFault(client.clientId, { kind: 'html', status: 504 });
    const first = await postToken(client);
    expect(first.status).toBe(502);
    expect(first.headers.get('content-type')).toBe('text/html');
    expect(first.text).toMatch(/<title>502 Bad Gateway<\/title>/);
    const second = await postToken(client);
    expect(second.status).toBe(504);
    expect(second.text).toMatch(/<html>/);
  });

  it('answers 200 without access_token for missing_access_token and issues nothing', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'missing_access_token' });
    const reply = await postToken(client);
    expect(reply.status).toBe(200);
    const body = JSON.parse(reply.text) as Record<string, unknown>;
    expect(body).not.toHaveProperty('access_token');
    expect(body).toMatchObject({ token_type: 'bearer' });
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([]);
  });

  it('issues a token of another org for foreign_org, which tokens/me and organizations/me report', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'foreign_org', orgId: ORG_OTHER });
    const token = await accessTokenFor(client);
    const me = JSON.parse((await getApi('/api/v2/tokens/me', token)).text) as { organization: { id: string; name: string }; homeOrganization: { id: string } };
    expect(me.organization).toMatchObject({ id: ORG_OTHER, name: 'Someone Else' });
    expect(me.homeOrganization.id).toBe(ORG_OTHER);
    expect(JSON.parse((await getApi('/api/v2/organizations/me', token)).text)).toMatchObject({ id: ORG_OTHER });
    const next = await accessTokenFor(client);
    expect(JSON.parse((await getApi('/api/v2/tokens/me', next)).text)).toMatchObject({ organization: { id: ORG_IE } });
  });

  it('still authenticates the client under foreign_org', async () => {
    const client = newClient();
    sim.injectFault(client.clientId, { kind: 'foreign_org', orgId: ORG_OTHER });
    expect((await postToken({ clientId: client.clientId, clientSecret: 'wrong' })).status).toBe(401);
    expect((await postToken(client)).status).toBe(200); // the fault was consumed by the failed request
  });
});

describe('GenesysSimulator bookkeeping', () => {
  it('counts every request, 404s and unknown clients included', async () => {
    const before = sim.totalRequests();
    await call('/nowhere');
    await postToken({ clientId: 'ghost', clientSecret: 'x' });
    await getApi('/api/v2/tokens/me', 'ghost-token');
    expect(sim.totalRequests()).toBe(before + 3);
  });

  it('returns copies that callers cannot use to change its state', async () => {
    const client = newClient({ grantTypes: ['refresh_token'], refreshToken: `rt-copy-${'c'.repeat(40)}` });
    await postToken(client, { grant_type: 'refresh_token', refresh_token: `rt-copy-${'c'.repeat(40)}` });
    sim.usedRefreshTokens(client.clientId).length = 0;
    sim.counts(client.clientId).token = 99;
    expect(sim.usedRefreshTokens(client.clientId)).toHaveLength(1);
    expect(sim.counts(client.clientId).token).toBe(1);
  });

  it.each([
    ['addOrg with an unknown region', () => sim.addOrg({ orgId: 'x-org', region: 'mars-1' }), 'unknown_region'],
    ['addOrg with a duplicate id', () => sim.addOrg({ orgId: ORG_IE, region: IE }), 'invalid_request'],
    ['addClient for an unknown org', () => sim.addClient({ clientId: 'orphan', clientSecret: 's', orgId: 'nope' }), 'invalid_request'],
    ['addClient with a duplicate id', () => { const c = newClient(); sim.addClient(c); }, 'invalid_request'],
    ['addClient with an unknown grant type', () => sim.addClient({ clientId: 'g', clientSecret: 's', orgId: ORG_IE, grantTypes: ['password' as 'refresh_token'] }), 'invalid_request'],
    ['injectFault for an unknown client', () => sim.injectFault('ghost', { kind: 'hang' }), 'invalid_request'],
    ['injectFault with times 0', () => sim.injectFault(newClient().clientId, { kind: 'hang' }, { times: 0 }), 'invalid_request'],
    ['injectFault of foreign_org on tokens/me', () => sim.injectFault(newClient().clientId, { kind: 'foreign_org', orgId: ORG_OTHER }, { endpoint: 'tokens/me' }), 'invalid_request'],
    ['injectFault of an unknown kind', () => sim.injectFault(newClient().clientId, { kind: 'explode' } as never), 'invalid_request'],
    ['injectFault with a 99 status', () => sim.injectFault(newClient().clientId, { kind: 'status', status: 99 }), 'invalid_request'],
    ['counts for an unknown client', () => sim.counts('ghost'), 'invalid_request'],
    ['setTokenLifetime with a negative value', () => sim.setTokenLifetime(newClient().clientId, -1), 'invalid_request'],
  ])('rejects %s with a ValidationError', (_name, act, code) => {
    let thrown: unknown;
    try {
      act();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).code).toBe(code);
  });

  it('never puts a client secret in a validation error', () => {
    const secret = `never-shown-${'q'.repeat(30)}`;
    expect(() => sim.addClient({ clientId: 'bad:id', clientSecret: secret, orgId: ORG_IE })).toThrow(ValidationError);
    const messages: string[] = [];
    for (const spec of [{ clientId: 'orphan-2', orgId: 'nope' }, { clientId: 'g-2', orgId: ORG_IE, tokenLifetimeSeconds: -5 }]) {
      try {
        sim.addClient({ clientSecret: secret, ...spec });
      } catch (err) {
        messages.push((err as Error).message);
      }
    }
    expect(messages).toHaveLength(2);
    for (const message of messages) expect(message).not.toContain(secret);
  });
});

describe('GenesysSimulator.close', () => {
  it('closes promptly while a request hangs, failing that request', async () => {
    const own = await GenesysSimulator.start();
    own.addOrg({ orgId: ORG_IE, region: IE });
    own.addClient({ clientId: 'hang-client', clientSecret: 'hang-secret', orgId: ORG_IE });
    own.injectFault('hang-client', { kind: 'hang' });
    const pending = fetch(`${own.resolver(`login.${IE}`)}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('hang-client', 'hang-secret') },
      body: 'grant_type=client_credentials',
    });
    const outcome = pending.then(() => 'answered', () => 'failed');
    while (own.counts('hang-client').token === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await own.close();
    expect(await outcome).toBe('failed');
    await expect(fetch(`${own.baseUrl}/`)).rejects.toThrow(TypeError);
    await own.close(); // idempotent
  });

  it('closes promptly while a response waits out a long latency', async () => {
    const own = await GenesysSimulator.start();
    own.addOrg({ orgId: ORG_IE, region: IE });
    own.addClient({ clientId: 'slow-client', clientSecret: 'slow-secret', orgId: ORG_IE });
    own.injectFault('slow-client', { kind: 'latency', ms: 60_000 });
    const outcome = fetch(`${own.resolver(`login.${IE}`)}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('slow-client', 'slow-secret') },
      body: 'grant_type=client_credentials',
    }).then(() => 'answered', () => 'failed');
    while (own.counts('slow-client').token === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await own.close();
    expect(await outcome).toBe('failed');
    expect(own.issuedAccessTokens('slow-client')).toEqual([]);
  });
});
