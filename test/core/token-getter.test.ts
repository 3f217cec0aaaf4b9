import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createRefreshEngine } from '../../lambdas/core/engine.js';
import { UnreadableRecordError } from '../../lambdas/core/errors.js';
import { createOAuthClient, type FetchLike } from '../../lambdas/core/oauth.js';
import { type Clock, systemClock } from '../../lambdas/core/ports.js';
import { createEngineOnDemandRefresher } from '../../lambdas/core/on-demand.js';
import { createTokenGetter, MAX_REJECTED_TOKEN_LENGTH, parseGetTokenRequest } from '../../lambdas/core/token-getter.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const ORG = '0b000000-0000-4000-8000-000000000001';
const ORG_OFF = '0b000000-0000-4000-8000-000000000002';
const ORG_BROKEN = '0b000000-0000-4000-8000-000000000003';
const MISSING = '0b000000-0000-4000-8000-0000000000ff';

let sim: GenesysSimulator;
const clock = new ManualClock(Date.parse('2026-04-01T00:00:00Z'));

beforeAll(async () => {
  sim = await GenesysSimulator.start({ now: () => clock.now() });
  for (const orgId of [ORG, ORG_OFF, ORG_BROKEN]) sim.addOrg({ orgId, region: 'mypurecloud.ie' });
});
afterAll(async () => sim?.close());

let n = 0;
function setup(engineClock: Clock = clock) {
  n++;
  const clientId = `getter-client-${n}`;
  sim.addClient({ clientId, clientSecret: 'getter-secret-value-123456789', orgId: ORG });
  sim.addClient({ clientId: `${clientId}-broken`, clientSecret: 'right-secret-value-123456789', orgId: ORG_BROKEN });
  const base = { region: 'mypurecloud.ie', grantType: 'client_credentials' as const, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
  const registry = new InMemoryOrgRegistry([
    { ...base, orgId: ORG, enabled: true },
    { ...base, orgId: ORG_OFF, enabled: false },
    { ...base, orgId: ORG_BROKEN, enabled: true },
  ]);
  const credentials = new InMemoryCredentialStore({
    [ORG]: { clientId, clientSecret: 'getter-secret-value-123456789' },
    [ORG_BROKEN]: { clientId: `${clientId}-broken`, clientSecret: 'wrong' },
  });
  const vault = new InMemoryTokenVault();
  const audit = new InMemoryAuditLog();
  const lease = new InMemoryLease();
  const oauth = createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: engineClock, baseUrl: sim.resolver });
  const deps = { registry, credentials, vault, audit, lease, journal: new InMemoryRefreshTokenJournal(lease), oauth, clock: engineClock };
  /** A getter as one Lambda container would have it: its own cache and engine, shared stores. */
  const container = () =>
    createTokenGetter({ registry, vault, refresher: createEngineOnDemandRefresher({ engine: createRefreshEngine(deps), registry, clock: engineClock }), clock: engineClock }, { peerPollMs: 20 });
  return { clientId, registry, vault, audit, container, deps };
}

const ctx = (c: Clock = clock) => ({ deadlineMs: c.now() + 30_000 });

describe('parseGetTokenRequest', () => {
  it.each([
    ['a non-object', 'hello', /JSON object/],
    ['null', null, /JSON object/],
    ['an array', [ORG], /JSON object/],
    ['a missing orgId', {}, /orgId is required/],
    ['a non-UUID', { orgId: 'acme' }, /UUID/],
    ['a path segment', { orgId: '../credentials/x' }, /UUID/],
    // The limit leaves room for a rejectedToken of MAX_REJECTED_TOKEN_LENGTH characters, and no more.
    ['a 10 KB string', { orgId: 'a'.repeat(10_240) }, /limit is 5120/],
    ['an unknown field', { orgId: ORG, force: true }, /unknown field/],
    ['an empty rejectedToken', { orgId: ORG, rejectedToken: '' }, /rejectedToken must be/],
    ['a rejectedToken that is not a string', { orgId: ORG, rejectedToken: 42 }, /rejectedToken must be/],
    ['a rejectedToken one character too long', { orgId: ORG, rejectedToken: 't'.repeat(MAX_REJECTED_TOKEN_LENGTH + 1) }, /rejectedToken must be/],
  ])('rejects %s', (_name, input, message) => {
    expect(() => parseGetTokenRequest(input)).toThrow(message);
  });

  it('normalises the org id to lower case', () => {
    expect(parseGetTokenRequest({ orgId: ORG.toUpperCase() })).toEqual({ orgId: ORG });
  });

  it('accepts a rejectedToken of the longest allowed length, and never echoes it in an error', () => {
    const longest = 't'.repeat(MAX_REJECTED_TOKEN_LENGTH);
    expect(parseGetTokenRequest({ orgId: ORG, rejectedToken: longest })).toEqual({ orgId: ORG, rejectedToken: longest });
    const secret = `secret-${'x'.repeat(MAX_REJECTED_TOKEN_LENGTH)}`;
    expect(() => parseGetTokenRequest({ orgId: ORG, rejectedToken: secret })).toThrow(expect.objectContaining({ code: 'invalid_request', field: 'rejectedToken', message: expect.not.stringContaining('secret-') }));
  });
});

describe('TokenGetter', () => {
  it('refreshes on demand when no token is stored, then serves from cache', async () => {
    const s = setup();
    const getter = s.container();
    const first = await getter.handle({ orgId: ORG }, ctx());
    expect(first).toMatchObject({ orgId: ORG, tokenType: 'bearer', apiBaseUrl: 'https://api.mypurecloud.ie', region: 'mypurecloud.ie' });
    // Readers learn when the replacement comes, so they can cache until then.
    expect(first).toHaveProperty('refreshAt', (await s.vault.read(ORG))!.refreshAt);
    expect(sim.counts(s.clientId).token).toBe(1);
    const second = await getter.handle({ orgId: ORG }, ctx());
    expect(second).toEqual(first);
    expect(getter.stats).toMatchObject({ hits: 1, misses: 1, onDemandRefreshes: 1 });
    expect(s.audit.records[0]).toMatchObject({ trigger: 'getter', outcome: 'success' });
  });

  it('re-reads the vault after the cache max age and never calls Genesys for a fresh token', async () => {
    const s = setup();
    const getter = s.container();
    await getter.handle({ orgId: ORG }, ctx());
    clock.advance(6 * 60_000);
    const before = sim.totalRequests();
    await getter.handle({ orgId: ORG }, ctx());
    expect(sim.totalRequests()).toBe(before);
    expect(getter.stats.misses).toBe(2);
  });

  it('makes one token request for a stampede across containers', async () => {
    // Real time here: waiters poll while the refresh is in flight, and a manual clock would let their
    // sleeps push the shared clock past the refresher's deadline.
    const s = setup(systemClock);
    sim.injectFault(s.clientId, { kind: 'latency', ms: 200 });
    const containers = Array.from({ length: 5 }, () => s.container());
    const responses = await Promise.all(containers.flatMap((g) => Array.from({ length: 10 }, () => g.handle({ orgId: ORG }, ctx(systemClock)))));
    expect(sim.counts(s.clientId).token).toBe(1);
    const tokens = new Set(responses.map((r) => ('accessToken' in r ? r.accessToken : r.error.code)));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).not.toBe('token_unavailable');
  });

  it.each([
    [MISSING, 'org_not_found'],
    [ORG_OFF, 'org_disabled'],
  ])('answers %s with %s', async (orgId, code) => {
    const s = setup();
    const response = await s.container().handle({ orgId }, ctx());
    expect(response).toMatchObject({ error: { code } });
  });

  it('answers token_unavailable with a retry hint when the on-demand refresh fails', async () => {
    const s = setup();
    const response = await s.container().handle({ orgId: ORG_BROKEN }, ctx());
    expect(response).toMatchObject({ error: { code: 'token_unavailable', retryAfterSeconds: 60 } });
    expect('error' in response && response.error.message).toContain('invalid_client');
  });

  it('changes nothing on bad input', async () => {
    const s = setup();
    const response = await s.container().handle({ orgId: '../../etc/passwd' }, ctx());
    expect(response).toMatchObject({ error: { code: 'invalid_request' } });
    expect(s.audit.records).toHaveLength(0);
    expect(s.vault.writes).toBe(0);
  });

  it('refreshes a stored token that is about to expire', async () => {
    const s = setup();
    const getter = s.container();
    const first = await getter.handle({ orgId: ORG }, ctx());
    clock.advance(24 * 3_600_000 - 4 * 60_000); // 4 minutes left: inside the 5-minute margin
    const second = await getter.handle({ orgId: ORG }, ctx());
    expect('accessToken' in second && 'accessToken' in first && second.accessToken !== first.accessToken).toBe(true);
    expect(sim.counts(s.clientId).token).toBe(2);
  });

  it('says where each token came from: an on-demand refresh, the cache, then the store', async () => {
    const s = setup();
    const getter = s.container();
    expect((await getter.serve({ orgId: ORG }, ctx())).from).toBe('refresh');
    expect((await getter.serve({ orgId: ORG }, ctx())).from).toBe('cache');
    clock.advance(6 * 60_000);
    expect((await getter.serve({ orgId: ORG }, ctx())).from).toBe('store');
    expect(await getter.serve({ orgId: 'nope' }, ctx())).toEqual({ response: { error: expect.objectContaining({ code: 'invalid_request' }) } });
  });

  it('reads the org and the vault a bounded number of times per miss, and serves the token its refresh wrote without polling', async () => {
    const s = setup();
    let gets = 0;
    let reads = 0;
    const get = s.registry.get.bind(s.registry);
    s.registry.get = async (orgId) => {
      gets++;
      return get(orgId);
    };
    const read = s.vault.read.bind(s.vault);
    s.vault.read = async (orgId) => {
      reads++;
      return read(orgId);
    };
    const response = await s.container().handle({ orgId: ORG }, ctx());
    expect(response).toEqual(expect.objectContaining({ orgId: ORG, accessToken: sim.issuedAccessTokens(s.clientId).at(-1) }));
    // Registry: the getter's read, the on-demand refresher's and the engine's re-read under the lease.
    // Vault: the getter's read before the refresh and its one re-read after it (the getter never takes
    // the token from the refresher's answer); a fresh token on that re-read ends the wait at once.
    expect({ gets, reads }).toEqual({ gets: 3, reads: 2 });
  });

  it('replaces a token Genesys refuses: one tokens/me check, one token request, and the new token served', async () => {
    const s = setup();
    const getter = s.container();
    const first = await getter.handle({ orgId: ORG }, ctx());
    if (!('accessToken' in first)) throw new Error('expected a token');
    sim.injectFault(s.clientId, { kind: 'status', status: 401 }, { endpoint: 'tokens/me' });
    const before = sim.counts(s.clientId);
    const second = await getter.serve({ orgId: ORG, rejectedToken: first.accessToken }, ctx());
    expect(second).toMatchObject({ from: 'refresh', response: { accessToken: sim.issuedAccessTokens(s.clientId).at(-1) } });
    expect('accessToken' in second.response && second.response.accessToken).not.toBe(first.accessToken);
    // The check (refused), then the new token and its verification.
    expect(sim.counts(s.clientId)).toMatchObject({ token: before.token + 1, tokensMe: before.tokensMe + 2 });
    expect(s.audit.records.at(-1)).toMatchObject({ trigger: 'getter', outcome: 'success', reason: 'rejected' });
  });

  it('answers a report about a token already replaced with the current token, without asking Genesys', async () => {
    const s = setup();
    const getter = s.container();
    const first = await getter.handle({ orgId: ORG }, ctx());
    const before = sim.totalRequests();
    const again = await getter.serve({ orgId: ORG, rejectedToken: 'an-older-token-the-caller-still-had' }, ctx());
    expect(again).toEqual({ from: 'cache', response: first });
    expect(sim.totalRequests()).toBe(before);
  });

  it('neither registers nor refreshes an org it does not know', async () => {
    const s = setup();
    const before = sim.totalRequests();
    await s.container().handle({ orgId: MISSING }, ctx());
    expect(await s.registry.get(MISSING)).toBeUndefined();
    expect(s.audit.records).toHaveLength(0);
    expect(sim.totalRequests()).toBe(before);
  });

  it('answers token_unavailable naming the problem, the place and the remedy for an org whose record is unreadable', async () => {
    const s = setup();
    const damaged = { orgId: ORG, problem: 'not valid JSON', location: `/data/registry/${ORG}.json`, remedy: 'Restore the file from a backup.' };
    s.registry.get = async () => Promise.reject(new UnreadableRecordError('registry_unavailable', 'registry file', damaged));
    const before = sim.totalRequests();
    const response = await s.container().handle({ orgId: ORG }, ctx());
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `registry file of org ${ORG} (/data/registry/${ORG}.json) is unreadable: not valid JSON. Restore the file from a backup.` } });
    expect(sim.totalRequests()).toBe(before);
  });
});
