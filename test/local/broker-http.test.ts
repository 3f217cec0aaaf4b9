/**
 * The local broker's HTTP API, end to end in one process: the real runtime over a temp FileStore,
 * refreshing against the Genesys simulator through the OAuth client's base-URL resolver.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { type BrokerEvent, type LocalBroker, startLocalBroker } from '../../lib/local/broker.js';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { keysMatch } from '../../lib/local/http-api.js';
import { type DesiredOrg, syncOrgs } from '../../lib/local/org-sync.js';

const ORG_OK = 'b0000000-0000-4000-8000-000000000001';
const ORG_OFF = 'b0000000-0000-4000-8000-000000000002';
const ORG_BROKEN = 'b0000000-0000-4000-8000-000000000003';
const ORG_RT = 'b0000000-0000-4000-8000-000000000004';
const MISSING = 'b0000000-0000-4000-8000-0000000000ff';
const API_KEY = 'local-api-key-0123456789abcdef';
const SECRET = 'simulated-client-secret-0123456789';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** A raw HTTP request (fetch cannot set Host or send a GET body). */
function call(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const root = mkdtempSync(join(tmpdir(), 'local-broker-http-'));
let sim: GenesysSimulator;
const brokers: LocalBroker[] = [];

let clientSet = 0;

/** The orgs as the broker holds them, with fresh simulator clients per broker (refresh tokens are single-use). */
function desiredOrgs(): DesiredOrg[] {
  const n = ++clientSet;
  const id = (name: string) => `${name}-${n}`;
  sim.addClient({ clientId: id('http-ok'), clientSecret: SECRET, orgId: ORG_OK });
  sim.addClient({ clientId: id('http-broken'), clientSecret: SECRET, orgId: ORG_BROKEN });
  sim.addClient({ clientId: id('http-rt'), clientSecret: SECRET, orgId: ORG_RT, grantTypes: ['refresh_token'], refreshToken: id('http-rt-seed') });
  const base = { region: 'mypurecloud.ie', grantType: 'client_credentials' as const, enabled: true };
  return [
    { ...base, orgId: ORG_OK, label: 'OK', credentials: { clientId: id('http-ok'), clientSecret: SECRET } },
    { ...base, orgId: ORG_OFF, enabled: false, credentials: { clientId: id('http-ok'), clientSecret: SECRET } },
    { ...base, orgId: ORG_BROKEN, credentials: { clientId: id('http-broken'), clientSecret: 'wrong-secret-value' } },
    { ...base, orgId: ORG_RT, region: 'mypurecloud.de', grantType: 'refresh_token', credentials: { clientId: id('http-rt'), clientSecret: SECRET, refreshToken: id('http-rt-seed') } },
  ];
}

async function newBroker(options: { apiKey?: string; dataDir?: string; onEvent?: (e: BrokerEvent) => void } = {}) {
  const ports = createFilePorts(options.dataDir ?? join(root, randomUUID()));
  const store = ports.store;
  await syncOrgs(store, desiredOrgs());
  const broker = await startLocalBroker({
    ports,
    network: { genesysBaseUrl: sim.resolver },
    port: 0,
    schedule: false,
    scheduleSeconds: 60,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  brokers.push(broker);
  return { broker, store, url: broker.url as string };
}

beforeAll(async () => {
  sim = await GenesysSimulator.start({ tokenLifetimeSeconds: 300 });
  sim.addOrg({ orgId: ORG_OK, region: 'mypurecloud.ie' });
  sim.addOrg({ orgId: ORG_BROKEN, region: 'mypurecloud.ie' });
  sim.addOrg({ orgId: ORG_RT, region: 'mypurecloud.de' });
});

afterAll(async () => {
  for (const broker of brokers) await broker.stop({ graceMs: 1_000 });
  await sim?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('local broker HTTP API', () => {
  let url: string;
  let broker: LocalBroker;

  beforeAll(async () => {
    ({ url, broker } = await newBroker());
  });

  it('listens on 127.0.0.1 on an ephemeral port', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(broker.port).toBeGreaterThan(0);
  });

  it('reports starting on /healthz before the first sweep, and ok after it', async () => {
    const before = await call(url, '/healthz');
    expect(before.status).toBe(503);
    expect(before.json()).toEqual({ status: 'starting', lastSweepAt: null, scheduleSeconds: 60 });
    const summary = await broker.sweep();
    expect(summary?.refreshed).toBe(2);
    const after = await call(url, '/healthz');
    expect(after.status).toBe(200);
    expect(after.json()).toMatchObject({ status: 'ok', scheduleSeconds: 60 });
  });

  it('serves a token in exactly the getter Lambda shape, not to be cached', async () => {
    const res = await call(url, `/v1/orgs/${ORG_OK}/token`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['accessToken', 'apiBaseUrl', 'expiresAt', 'orgId', 'refreshAt', 'region', 'tokenType']);
    expect(body).toMatchObject({ orgId: ORG_OK, tokenType: 'bearer', region: 'mypurecloud.ie', apiBaseUrl: 'https://api.mypurecloud.ie' });
    expect(sim.issuedAccessTokens('http-ok-1')).toContain(body.accessToken);
  });

  it('accepts an upper-case org id', async () => {
    const res = await call(url, `/v1/orgs/${ORG_OK.toUpperCase()}/token`);
    expect(res.status).toBe(200);
    expect(res.json().orgId).toBe(ORG_OK);
  });

  it.each([
    ['a non-UUID org id', '/v1/orgs/not-an-org/token', 400, 'invalid_request'],
    ['a path traversal attempt', '/v1/orgs/..%2Fcredentials/token', 400, 'invalid_request'],
    ['an unknown org', `/v1/orgs/${MISSING}/token`, 404, 'org_not_found'],
    ['a disabled org', `/v1/orgs/${ORG_OFF}/token`, 403, 'org_disabled'],
  ])('answers %s with the getter error contract', async (_name, path, status, code) => {
    const res = await call(url, path);
    expect(res.status).toBe(status);
    const body = res.json() as { error: { code: string; message: string } };
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
  });

  it('answers 503 token_unavailable with Retry-After for an org whose refresh fails', async () => {
    const res = await call(url, `/v1/orgs/${ORG_BROKEN}/token`);
    expect(res.status).toBe(503);
    const body = res.json() as { error: { code: string; message: string; retryAfterSeconds?: number } };
    expect(body.error.code).toBe('token_unavailable');
    expect(body.error.message).toContain('invalid_client');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBe(body.error.retryAfterSeconds);
  });

  it('lists orgs with health and timings but no token', async () => {
    const res = await call(url, '/v1/orgs');
    expect(res.status).toBe(200);
    const { orgs } = res.json() as { orgs: Record<string, unknown>[] };
    expect(orgs.map((o) => o.orgId)).toEqual([ORG_OK, ORG_OFF, ORG_BROKEN, ORG_RT]);
    const ok = orgs[0]!;
    expect(Object.keys(ok).sort()).toEqual([
      'consecutiveFailures', 'enabled', 'expiresAt', 'expiresInSeconds', 'grantType', 'health', 'label', 'lastAttemptAt', 'lastErrorCode', 'lastOutcome', 'nextRefreshAt', 'orgId', 'region',
    ]);
    expect(ok).toMatchObject({ health: 'healthy', label: 'OK', lastErrorCode: null, enabled: true });
    // A 300 s token at a 60 s schedule: two sweeps and the 30 s serving margin before expiry (not 75%).
    expect(Date.parse(ok.nextRefreshAt as string) - Date.parse(ok.expiresAt as string)).toBeCloseTo(-150_000, -3);
    expect(orgs[1]).toMatchObject({ health: 'disabled', nextRefreshAt: null });
    expect(orgs[2]).toMatchObject({ lastErrorCode: 'invalid_client', expiresAt: null, lastOutcome: 'failure' });
    for (const token of sim.issuedAccessTokens()) expect(res.text).not.toContain(token);
    expect(res.text).not.toContain(SECRET);
  });

  it('exposes Prometheus metrics for refreshes, orgs, token life, sweeps and getter requests', async () => {
    const res = await call(url, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.text).toMatch(/^broker_refresh_total\{outcome="success",error_code="none"\} [2-9]$/m);
    expect(res.text).toMatch(/^broker_refresh_total\{outcome="failure",error_code="invalid_client"\} \d+$/m);
    expect(res.text).toMatch(/^broker_orgs\{health="healthy"\} 2$/m);
    expect(res.text).toMatch(new RegExp(`^broker_token_seconds_remaining\\{org_id="${ORG_OK}"\\} (29\\d|300)$`, 'm'));
    expect(res.text).toMatch(/^broker_sweep_duration_seconds [0-9.e-]+$/m);
    expect(res.text).toMatch(/^broker_getter_requests_total\{result="ok"\} [1-9]\d*$/m);
    expect(res.text).toMatch(/^broker_getter_requests_total\{result="token_unavailable"\} [1-9]\d*$/m);
    for (const token of sim.issuedAccessTokens()) expect(res.text).not.toContain(token);
  });

  it('answers 404 for unknown routes and 405 for methods other than GET', async () => {
    expect((await call(url, '/v1/nope')).status).toBe(404);
    expect((await call(url, '/v1/orgs/')).status).toBe(404);
    expect((await call(url, '/v1/orgs/x/token/extra')).status).toBe(404);
    expect((await call(url, '/nope', { method: 'POST' })).status).toBe(404);
    const post = await call(url, '/v1/orgs', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
    expect((post.json() as { error: { code: string } }).error.code).toBe('method_not_allowed');
    expect((await call(url, `/v1/orgs/${ORG_OK}/token`, { method: 'DELETE' })).status).toBe(405);
    const put = await call(url, '/healthz', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD');
  });

  it('answers HEAD on /healthz as GET, without a body', async () => {
    const [get, head] = await Promise.all([call(url, '/healthz'), call(url, '/healthz', { method: 'HEAD' })]);
    expect(head.status).toBe(get.status);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(head.text).toBe('');
  });

  it.each([
    ['Content-Length', { 'Content-Length': '50010' }],
    ['chunked encoding', { 'Transfer-Encoding': 'chunked' }],
  ])('refuses a request body sent with %s without reading it', async (_name, framing) => {
    const body = JSON.stringify({ a: 'x'.repeat(50_000) });
    const res = await call(url, '/v1/orgs', { headers: { 'Content-Type': 'application/json', ...framing }, body });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect((res.json() as { error: { code: string } }).error.code).toBe('payload_too_large');
  });

  it('answers only to loopback host names, against DNS rebinding', async () => {
    const port = String(broker.port);
    expect((await call(url, '/healthz', { headers: { Host: `evil.example:${port}` } })).status).toBe(421);
    expect((await call(url, `/v1/orgs/${ORG_OK}/token`, { headers: { Host: `attacker.test` } })).status).toBe(421);
    expect((await call(url, '/healthz', { headers: { Host: `localhost:${port}` } })).status).toBe(200);
  });

  it('stops cleanly and stops listening', async () => {
    const { broker: other, url: otherUrl } = await newBroker();
    expect(await other.stop()).toEqual({ drained: true });
    await expect(call(otherUrl, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('local broker HTTP API with a bearer key', () => {
  let url: string;

  beforeAll(async () => {
    const started = await newBroker({ apiKey: API_KEY });
    url = started.url;
    await started.broker.sweep();
  });

  it.each(['/v1/orgs', `/v1/orgs/${ORG_OK}/token`, '/metrics', '/unknown'])('refuses %s without the key', async (path) => {
    const res = await call(url, path);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect((res.json() as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it.each([`Bearer ${API_KEY}x`, `Bearer ${API_KEY.slice(0, -1)}`, `Basic ${API_KEY}`, API_KEY, 'Bearer '])('refuses a wrong Authorization header (%s)', async (header) => {
    expect((await call(url, `/v1/orgs/${ORG_OK}/token`, { headers: { Authorization: header } })).status).toBe(401);
  });

  it.each(['bearer', 'BEARER', 'Bearer', 'bEaReR'])('accepts the %s scheme in any case', async (scheme) => {
    expect((await call(url, `/v1/orgs/${ORG_OK}/token`, { headers: { Authorization: `${scheme} ${API_KEY}` } })).status).toBe(200);
  });

  it('serves every route with the key', async () => {
    const auth = { Authorization: `Bearer ${API_KEY}` };
    expect((await call(url, `/v1/orgs/${ORG_OK}/token`, { headers: auth })).status).toBe(200);
    expect((await call(url, '/v1/orgs', { headers: auth })).status).toBe(200);
    const metrics = await call(url, '/metrics', { headers: auth });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^broker_getter_requests_total\{result="unauthorized"\} [1-9]\d*$/m);
    expect((await call(url, '/unknown', { headers: auth })).status).toBe(404);
  });

  it('leaves /healthz open for probes', async () => {
    expect((await call(url, '/healthz')).status).toBe(200);
  });
});

describe('keysMatch', () => {
  it('matches only the identical key, whatever the lengths', () => {
    expect(keysMatch(API_KEY, API_KEY)).toBe(true);
    expect(keysMatch(`${API_KEY} `, API_KEY)).toBe(false);
    expect(keysMatch('', API_KEY)).toBe(false);
    expect(keysMatch(API_KEY.toUpperCase(), API_KEY)).toBe(false);
  });
});

describe('local broker events', () => {
  it('reports tokens not served with the code and a well-formed org id only, never the token', async () => {
    const events: BrokerEvent[] = [];
    const { broker, url } = await newBroker({ onEvent: (e) => events.push(e) });
    await broker.sweep();
    const served = (await call(url, `/v1/orgs/${ORG_OK}/token`)).json().accessToken as string;
    await call(url, `/v1/orgs/${ORG_BROKEN}/token`);
    await call(url, '/v1/orgs/%1B%5B2Jinjected/token');
    const notServed = events.filter((e) => e.event === 'token_not_served');
    expect(notServed.map(({ errorCode, orgId }) => ({ errorCode, orgId }))).toEqual([
      { errorCode: 'token_unavailable', orgId: ORG_BROKEN },
      { errorCode: 'invalid_request', orgId: undefined },
    ]);
    expect(events.find((e) => e.event === 'first_token_served')).toMatchObject({ orgId: ORG_OK });
    const logged = JSON.stringify(events);
    expect(logged).not.toContain(served);
    expect(logged).not.toContain('injected');
    expect(events.filter((e) => e.event === 'refreshed').map((e) => e.orgId).sort()).toEqual([ORG_OK, ORG_RT]);
    expect(events.find((e) => e.event === 'refresh_failed')).toMatchObject({ orgId: ORG_BROKEN, errorCode: 'invalid_client', trigger: 'schedule' });
    expect(events.find((e) => e.event === 'sweep')).toMatchObject({ refreshed: 2, failed: { invalid_client: 1 } });
  });
});

describe('local broker rejected-request log', () => {
  it('logs a burst of refused token requests as one line at once and one count per reason, not one line each', async () => {
    const events: BrokerEvent[] = [];
    const { broker, url } = await newBroker({ apiKey: API_KEY, onEvent: (e) => events.push(e) });
    await broker.sweep();
    const auth = { Authorization: `Bearer ${API_KEY}` };
    for (let i = 0; i < 40; i += 1) await call(url, `/v1/orgs/${ORG_BROKEN}/token`, { headers: auth });
    for (let i = 0; i < 10; i += 1) await call(url, `/v1/orgs/${ORG_OK}/token`);
    await broker.stop();
    expect(events.filter((e) => e.event === 'token_not_served').map((e) => e.errorCode)).toEqual(['token_unavailable', 'unauthorized']);
    const summaries = events.filter((e) => e.event === 'requests_rejected');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({ counts: { token_unavailable: 39, unauthorized: 9 }, orgIds: { token_unavailable: [ORG_BROKEN] } });
    expect(JSON.stringify(events)).not.toContain(API_KEY);
  });
});

describe('local broker start-up', () => {
  it('releases a lease left by a local broker that is no longer running, so the org refreshes at once', async () => {
    const dataDir = join(root, randomUUID());
    const setup = new FileStore({ dataDir });
    await syncOrgs(setup, desiredOrgs());
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const owner = `local:${hostname().replace(/:/g, '_')}:${deadPid}:sweep:${randomUUID()}`;
    // As a broker killed mid-refresh leaves it: a live-looking lease held for another minute.
    writeFileSync(join(dataDir, 'leases', `${ORG_OK}.lock`), JSON.stringify({ orgId: ORG_OK, owner, fencingToken: 1, expiresAtMs: Date.now() + 60_000 }), { mode: 0o600 });
    writeFileSync(join(dataDir, 'leases', `${ORG_RT}.lock`), JSON.stringify({ orgId: ORG_RT, owner: 'cli-someone-else', fencingToken: 1, expiresAtMs: Date.now() + 60_000 }), { mode: 0o600 });

    const events: BrokerEvent[] = [];
    const { broker } = await newBroker({ dataDir, onEvent: (e) => events.push(e) });
    expect(events[0]?.event).toBe('listening');
    expect(events.find((e) => e.event === 'leases_released')?.orgIds).toEqual([ORG_OK]);
    const summary = await broker.sweep();
    // Refreshed: a full sweep lists problems only, so ORG_OK has no line, and the lease held elsewhere keeps the other one out.
    expect(summary).toMatchObject({ refreshed: 1 });
    expect(summary?.results.find((r) => r.orgId === ORG_OK)).toBeUndefined();
    // A lease someone else holds is respected.
    expect(summary?.results.find((r) => r.orgId === ORG_RT)).toMatchObject({ outcome: 'skipped', reason: 'lease_held' });
  });
});
