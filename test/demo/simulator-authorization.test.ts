import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GenesysSimulator, type SimClientSpec } from '../../lib/demo/genesys-simulator.js';

const ORG = '22222222-0000-4000-8000-000000000001';
const IE = 'mypurecloud.ie';
const REDIRECT = 'http://localhost:8765/callback';
const START_MS = Date.parse('2026-05-01T12:00:00Z');

let nowMs = START_MS;
let sim: GenesysSimulator;
let n = 0;

beforeAll(async () => {
  sim = await GenesysSimulator.start({ now: () => nowMs });
  sim.addOrg({ orgId: ORG, name: 'Code Org', region: IE });
});
afterAll(async () => sim?.close());
beforeEach(() => {
  nowMs = START_MS;
});

function newClient(extra: Partial<SimClientSpec> = {}): SimClientSpec {
  n++;
  const spec: SimClientSpec = {
    clientId: `code-client-${n}`,
    clientSecret: `code-secret-${n}-${'s'.repeat(30)}`,
    orgId: ORG,
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [REDIRECT],
    ...extra,
  };
  sim.addClient(spec);
  return spec;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** GET /oauth/authorize without following the redirect. */
async function authorizeRequest(params: Record<string, string>, domain = IE): Promise<{ status: number; location: URL | undefined; text: string }> {
  const res = await fetch(`${sim.resolver(`login.${domain}`)}/oauth/authorize?${new URLSearchParams(params).toString()}`, { redirect: 'manual' });
  const location = res.headers.get('location');
  return { status: res.status, location: location ? new URL(location) : undefined, text: await res.text() };
}

async function codeFor(client: SimClientSpec, challenge: string, state = 'st-1'): Promise<string> {
  const reply = await authorizeRequest({ response_type: 'code', client_id: client.clientId, redirect_uri: REDIRECT, state, code_challenge: challenge, code_challenge_method: 'S256' });
  expect(reply.status).toBe(302);
  return reply.location!.searchParams.get('code')!;
}

async function exchange(client: SimClientSpec, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${sim.resolver(`login.${IE}`)}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', redirect_uri: REDIRECT, ...form }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const refusal = (error: string, description: string) => ({ error, description, error_description: description });

describe('GenesysSimulator GET /oauth/authorize', () => {
  it('consents at once: redirects to the redirect URI with a code and the state', async () => {
    const client = newClient();
    const reply = await authorizeRequest({ response_type: 'code', client_id: client.clientId, redirect_uri: REDIRECT, state: 'xyz', code_challenge: pkce().challenge, code_challenge_method: 'S256' });
    expect(reply.status).toBe(302);
    expect(`${reply.location!.origin}${reply.location!.pathname}`).toBe(REDIRECT);
    expect(reply.location!.searchParams.get('state')).toBe('xyz');
    expect(reply.location!.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sim.counts(client.clientId).authorize).toBe(1);
  });

  it('refuses without redirecting an unknown client, a client of another region, and a redirect URI the client has not authorized', async () => {
    const client = newClient();
    const base = { response_type: 'code', client_id: client.clientId, redirect_uri: REDIRECT, state: 's' };
    const unknown = await authorizeRequest({ ...base, client_id: 'nobody' });
    const otherRegion = await authorizeRequest(base, 'mypurecloud.com');
    const badUri = await authorizeRequest({ ...base, redirect_uri: 'http://localhost:9999/callback' });
    for (const reply of [unknown, otherRegion]) {
      expect(reply.status).toBe(400);
      expect(reply.location).toBeUndefined();
      expect(JSON.parse(reply.text)).toEqual(refusal('invalid_client', 'client not found'));
    }
    expect(badUri.status).toBe(400);
    expect(badUri.location).toBeUndefined();
    expect(JSON.parse(badUri.text)).toMatchObject({ error: 'invalid_request' });
  });

  it('redirects errors back with the state: wrong response type, a client without the grant, plain PKCE', async () => {
    const plain = newClient();
    const noGrant = newClient({ grantTypes: ['client_credentials'] });
    const cases: { client: SimClientSpec; params: Record<string, string>; error: string }[] = [
      { client: plain, params: { response_type: 'token' }, error: 'unsupported_response_type' },
      { client: noGrant, params: { response_type: 'code' }, error: 'unauthorized_client' },
      { client: plain, params: { response_type: 'code', code_challenge: pkce().challenge, code_challenge_method: 'plain' }, error: 'invalid_request' },
    ];
    for (const { client, params, error } of cases) {
      const reply = await authorizeRequest({ client_id: client.clientId, redirect_uri: REDIRECT, state: 'keep-me', ...params });
      expect(reply.status).toBe(302);
      expect(reply.location!.searchParams.get('error')).toBe(error);
      expect(reply.location!.searchParams.get('state')).toBe('keep-me');
      expect(reply.location!.searchParams.get('code')).toBeNull();
    }
  });
});

describe('GenesysSimulator authorization_code grant', () => {
  it('exchanges a code with its PKCE verifier for an access token and a first refresh token that then rotates', async () => {
    const client = newClient();
    const { verifier, challenge } = pkce();
    const reply = await exchange(client, { code: await codeFor(client, challenge), code_verifier: verifier });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ token_type: 'bearer', expires_in: 86_400 });
    const refreshToken = reply.body.refresh_token as string;
    expect(sim.currentRefreshToken(client.clientId)).toBe(refreshToken);
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([reply.body.access_token]);

    const res = await fetch(`${sim.resolver(`login.${IE}`)}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
    });
    expect(res.status).toBe(200);
    expect(sim.usedRefreshTokens(client.clientId)).toEqual([refreshToken]);
  });

  it('refuses a second use of a code with invalid_grant and revokes what the first use granted', async () => {
    const client = newClient();
    const { verifier, challenge } = pkce();
    const code = await codeFor(client, challenge);
    const first = await exchange(client, { code, code_verifier: verifier });
    expect(first.status).toBe(200);
    const second = await exchange(client, { code, code_verifier: verifier });
    expect(second.status).toBe(400);
    expect(second.body).toEqual(refusal('invalid_grant', 'authorization code has already been used'));
    expect(sim.counts(client.clientId).codeReuse).toBe(1);
    // RFC 6749 §4.1.2: the tokens the code granted are revoked.
    expect(sim.currentRefreshToken(client.clientId)).toBeUndefined();
    const me = await fetch(`${sim.resolver(`api.${IE}`)}/api/v2/tokens/me`, { headers: { Authorization: `Bearer ${String(first.body.access_token)}` } });
    expect(me.status).toBe(401);
  });

  it('refuses a verifier that does not match the challenge, and the code is spent by the attempt', async () => {
    const client = newClient();
    const { verifier, challenge } = pkce();
    const code = await codeFor(client, challenge);
    const wrong = await exchange(client, { code, code_verifier: pkce().verifier });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual(refusal('invalid_grant', 'PKCE verification failed'));
    const right = await exchange(client, { code, code_verifier: verifier });
    expect(right.body).toMatchObject({ error: 'invalid_grant' });
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([]);
  });

  it('refuses a missing verifier, a different redirect_uri, an expired code, another client\'s code, and no code', async () => {
    const client = newClient();
    const other = newClient();
    const { verifier, challenge } = pkce();
    expect((await exchange(client, { code: await codeFor(client, challenge) })).body).toEqual(refusal('invalid_grant', 'PKCE verification failed'));
    expect((await exchange(client, { code: await codeFor(client, challenge), code_verifier: verifier, redirect_uri: 'http://localhost:8765/other' })).body)
      .toEqual(refusal('invalid_grant', 'redirect_uri does not match the authorization request'));
    const late = await codeFor(client, challenge);
    nowMs += 301_000;
    expect((await exchange(client, { code: late, code_verifier: verifier })).body).toEqual(refusal('invalid_grant', 'authorization code has expired'));
    expect((await exchange(other, { code: await codeFor(client, challenge), code_verifier: verifier })).body).toEqual(refusal('invalid_grant', 'invalid authorization code'));
    expect((await exchange(client, { code_verifier: verifier })).body).toEqual(refusal('invalid_request', 'code is required'));
    expect(sim.issuedAccessTokens(client.clientId)).toEqual([]);
  });

  it('checks the client secret before the code', async () => {
    const client = newClient();
    const { verifier, challenge } = pkce();
    const reply = await exchange({ ...client, clientSecret: 'wrong' }, { code: await codeFor(client, challenge), code_verifier: verifier });
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual(refusal('invalid_client', 'authentication failed'));
  });

  it('refuses the grant to a client without it', async () => {
    const client = newClient({ grantTypes: ['client_credentials'] });
    const reply = await exchange(client, { code: 'anything', code_verifier: pkce().verifier });
    expect(reply.body).toMatchObject({ error: 'unauthorized_client' });
  });
});
