/**
 * The getter's on-demand path, answer by answer: a fake {@link OnDemandRefresher} (the getter's one way
 * to get an org refreshed) returns each kind of OnDemandResult, or throws, so every branch of what the
 * getter serves, what it asks, and what it tells a caller it cannot serve is pinned down without
 * Genesys. The getter never takes a token from the answer: it reads the vault again, so the fake
 * writes to the vault what a refresh would have written.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryOrgRegistry, InMemoryTokenVault, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { fingerprint } from '../../lambdas/core/fingerprint.js';
import type { OnDemandRequest, OnDemandResult } from '../../lambdas/core/on-demand.js';
import type { TokenRecord } from '../../lambdas/core/ports.js';
import { createTokenGetter, type TokenGetterOptions } from '../../lambdas/core/token-getter.js';

const ORG = '1c000000-0000-4000-8000-000000000001';
const ORG_OFF = '1c000000-0000-4000-8000-000000000002';
const ORG_OTHER = '1c000000-0000-4000-8000-000000000003';
const MISSING = '1c000000-0000-4000-8000-0000000000ff';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const MIN = 60_000;
const H = 60 * MIN;
/** What the getter keeps back from the caller's deadline to read the vault and answer. */
const ANSWER_RESERVE_MS = 500;

function token(accessToken: string, issuedAtMs: number, lifetimeMs = 24 * H, extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    schemaVersion: 1,
    orgId: ORG,
    accessToken,
    tokenType: 'bearer',
    issuedAt: new Date(issuedAtMs).toISOString(),
    expiresAt: new Date(issuedAtMs + lifetimeMs).toISOString(),
    refreshAt: new Date(issuedAtMs + lifetimeMs * 0.75).toISOString(),
    region: 'mypurecloud.ie',
    apiBaseUrl: 'https://api.mypurecloud.ie',
    oauthClientId: 'c',
    scopes: [],
    ...extra,
  };
}

/** A fresh token issued now, 24 h lifetime. */
const freshAt = (accessToken: string, nowMs: number) => token(accessToken, nowMs);
/** A token with 2 minutes left: inside the 5-minute margin, still alive. */
const nearExpiry = (accessToken: string, nowMs: number) => token(accessToken, nowMs - 24 * H + 2 * MIN);

type Answer = (request: OnDemandRequest, context: { deadlineMs: number }) => OnDemandResult | Promise<OnDemandResult>;

interface Setup {
  clock: ManualClock;
  vault: InMemoryTokenVault;
  getter: ReturnType<typeof createTokenGetter>;
  /** Every request the fake refresher got, with its context, as sent. */
  calls: { request: OnDemandRequest; context: { deadlineMs: number } }[];
  reads: { vault: number; registry: number };
  serve(extra?: Record<string, unknown>): ReturnType<ReturnType<typeof createTokenGetter>['serve']>;
  write(record: TokenRecord): Promise<void>;
}

async function setup(answer: Answer, options: { stored?: TokenRecord; getter?: TokenGetterOptions } = {}): Promise<Setup> {
  const clock = new ManualClock(T0);
  const base = { region: 'mypurecloud.ie', grantType: 'client_credentials' as const, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
  const registry = new InMemoryOrgRegistry([
    { ...base, orgId: ORG, enabled: true },
    { ...base, orgId: ORG_OFF, enabled: false },
  ]);
  const vault = new InMemoryTokenVault();
  let writes = 0;
  const write = (record: TokenRecord) => vault.write(record, { attemptId: `w${++writes}` });
  if (options.stored) await write(options.stored);
  const reads = { vault: 0, registry: 0 };
  const read = vault.read.bind(vault);
  vault.read = async (orgId) => {
    reads.vault++;
    return read(orgId);
  };
  const get = registry.get.bind(registry);
  registry.get = async (orgId) => {
    reads.registry++;
    return get(orgId);
  };
  const calls: Setup['calls'] = [];
  const refresher = {
    async refresh(request: OnDemandRequest, context: { deadlineMs: number }) {
      calls.push(structuredClone({ request, context }));
      return answer(request, context);
    },
  };
  const getter = createTokenGetter({ registry, vault, refresher, clock }, { peerWaitMs: 1_000, peerPollMs: 100, ...options.getter });
  return {
    clock,
    vault,
    getter,
    calls,
    reads,
    write,
    serve: (extra = {}) => getter.serve({ orgId: ORG, ...extra }, { deadlineMs: clock.now() + 10_000, requestId: 'req-9' }),
  };
}

const refreshed = (expiresAt = new Date(T0 + 24 * H).toISOString()): OnDemandResult => ({ orgId: ORG, outcome: 'refreshed', expiresAt });
const unavailable = (errorCode: 'invalid_client' | 'refresher_unavailable' | 'rate_limited', retryAfterSeconds?: number): OnDemandResult => ({
  orgId: ORG,
  outcome: 'unavailable',
  errorCode,
  message: 'the refresher says no',
  ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
});
const never: Answer = () => {
  throw new Error('the refresher must not be asked');
};

describe('TokenGetter: what it asks the refresher', () => {
  it('asks once, reason missing, with the caller request id and its deadline less the answer reserve, when no token is stored', async () => {
    const s = await setup(async () => {
      await s.write(freshAt('fresh', T0));
      return refreshed();
    });
    const { response, from } = await s.serve();
    expect(from).toBe('refresh');
    expect(response).toMatchObject({ orgId: ORG, accessToken: 'fresh', tokenType: 'bearer', region: 'mypurecloud.ie', apiBaseUrl: 'https://api.mypurecloud.ie' });
    expect(s.calls).toEqual([{ request: { orgId: ORG, reason: 'missing', requestId: 'req-9' }, context: { deadlineMs: T0 + 10_000 - ANSWER_RESERVE_MS } }]);
    // One read before the refresh, one after it: the token comes from the vault, not from the answer.
    expect(s.reads).toEqual({ vault: 2, registry: 1 });
    expect(s.getter.stats).toEqual({ hits: 0, misses: 1, onDemandRefreshes: 1 });
  });

  it('sends no request id when the caller has none', async () => {
    const s = await setup(async () => {
      await s.write(freshAt('fresh', T0));
      return refreshed();
    });
    await s.getter.serve({ orgId: ORG }, { deadlineMs: T0 + 3_000 });
    expect(s.calls).toEqual([{ request: { orgId: ORG, reason: 'missing' }, context: { deadlineMs: T0 + 3_000 - ANSWER_RESERVE_MS } }]);
  });

  it('asks with reason expiring, and no fingerprint, for a stored token inside its margin', async () => {
    const s = await setup(
      async () => {
        await s.write(freshAt('new', T0));
        return refreshed();
      },
      { stored: nearExpiry('old', T0) },
    );
    expect(await s.serve()).toMatchObject({ from: 'refresh', response: { accessToken: 'new' } });
    expect(s.calls.map((c) => c.request)).toEqual([{ orgId: ORG, reason: 'expiring', requestId: 'req-9' }]);
  });

  it('asks with reason rejected and the fingerprint of the rejected token, never the token itself', async () => {
    const rejected = 'the-token-genesys-refused-0123456789';
    const s = await setup(
      async () => {
        await s.write(freshAt('replacement', T0));
        return refreshed();
      },
      { stored: freshAt(rejected, T0 - H) },
    );
    expect(await s.serve({ rejectedToken: rejected })).toMatchObject({ from: 'refresh', response: { accessToken: 'replacement' } });
    expect(s.calls.map((c) => c.request)).toEqual([{ orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: await fingerprint(rejected), requestId: 'req-9' }]);
    expect(JSON.stringify(s.calls)).not.toContain(rejected);
  });

  it('answers a rejectedToken other than the stored one with the stored token, without asking the refresher', async () => {
    const s = await setup(never, { stored: freshAt('current', T0 - H) });
    expect(await s.serve({ rejectedToken: 'an-older-token' })).toMatchObject({ from: 'store', response: { accessToken: 'current' } });
    expect(s.calls).toHaveLength(0);
  });

  it('answers a rejectedToken other than the cached one from the cache, and looks again when it is the cached one', async () => {
    const s = await setup(
      async () => {
        await s.write(freshAt('replacement', T0));
        return refreshed();
      },
      { stored: freshAt('current', T0 - H) },
    );
    await s.serve();
    expect(await s.serve({ rejectedToken: 'an-older-token' })).toMatchObject({ from: 'cache', response: { accessToken: 'current' } });
    expect(s.calls).toHaveLength(0);
    expect(await s.serve({ rejectedToken: 'current' })).toMatchObject({ from: 'refresh', response: { accessToken: 'replacement' } });
    expect(s.calls.map((c) => c.request.reason)).toEqual(['rejected']);
  });

  it('asks nothing and reads nothing for an org outside allowedOrgIds', async () => {
    const s = await setup(never, { stored: freshAt('current', T0), getter: { allowedOrgIds: [ORG_OTHER] } });
    const { response, from } = await s.serve();
    expect(from).toBeUndefined();
    expect(response).toEqual({ error: { code: 'org_not_allowed', message: expect.stringContaining(ORG) } });
    expect(s.reads).toEqual({ vault: 0, registry: 0 });
    expect(s.calls).toHaveLength(0);
  });

  it('serves an org in allowedOrgIds, whatever their case', async () => {
    const s = await setup(never, { stored: freshAt('current', T0), getter: { allowedOrgIds: [ORG_OTHER, ORG.toUpperCase()] } });
    expect(await s.serve()).toMatchObject({ from: 'store', response: { accessToken: 'current' } });
  });

  it.each([
    [MISSING, 'org_not_found'],
    [ORG_OFF, 'org_disabled'],
  ])('answers %s with %s without reading the vault or asking the refresher', async (orgId, code) => {
    const s = await setup(never);
    expect((await s.getter.serve({ orgId }, { deadlineMs: T0 + 10_000 })).response).toMatchObject({ error: { code } });
    expect(s.reads.vault).toBe(0);
    expect(s.calls).toHaveLength(0);
  });

  it('shares one refresher call among concurrent callers of one container', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const s = await setup(async () => {
      await gate;
      await s.write(freshAt('fresh', T0));
      return refreshed();
    });
    const pending = Promise.all(Array.from({ length: 5 }, () => s.serve()));
    release();
    const served = await pending;
    expect(served.map((r) => 'accessToken' in r.response && r.response.accessToken)).toEqual(Array(5).fill('fresh'));
    expect(s.calls).toHaveLength(1);
  });
});

describe('TokenGetter: what it does with each answer', () => {
  it('refreshed: serves the token the refresh wrote, read without waiting', async () => {
    const s = await setup(async () => {
      await s.write(freshAt('fresh', T0));
      return refreshed();
    });
    expect(await s.serve()).toMatchObject({ from: 'refresh', response: { accessToken: 'fresh' } });
    expect(s.clock.now()).toBe(T0);
  });

  it('refreshed, but the vault still holds the rejected token: never serves it', async () => {
    const s = await setup(() => refreshed(), { stored: freshAt('refused', T0 - H) });
    const { response } = await s.serve({ rejectedToken: 'refused' });
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}` } });
  });

  it('current: serves what the vault holds now, from the store, without waiting', async () => {
    const s = await setup(
      async () => {
        await s.write(freshAt('written-by-a-peer', T0));
        return { orgId: ORG, outcome: 'current' };
      },
      { stored: nearExpiry('old', T0) },
    );
    expect(await s.serve()).toMatchObject({ from: 'store', response: { accessToken: 'written-by-a-peer' } });
    expect(s.reads.vault).toBe(2);
    expect(s.clock.now()).toBe(T0);
  });

  it('current after a rejection: Genesys vouched for the token, so it is served again', async () => {
    const s = await setup(() => ({ orgId: ORG, outcome: 'current' }), { stored: freshAt('vouched-for', T0 - H) });
    expect(await s.serve({ rejectedToken: 'vouched-for' })).toMatchObject({ from: 'store', response: { accessToken: 'vouched-for' } });
    expect(s.calls.map((c) => c.request.reason)).toEqual(['rejected']);
  });

  it('busy: polls the vault every peerPollMs and serves the token the peer writes', async () => {
    const s = await setup(() => ({ orgId: ORG, outcome: 'busy' }));
    const read = s.vault.read.bind(s.vault);
    s.vault.read = async (orgId) => {
      if (s.reads.vault === 3) await s.write(freshAt('from-peer', T0)); // before the 4th read
      return read(orgId);
    };
    expect(await s.serve()).toMatchObject({ from: 'refresh', response: { accessToken: 'from-peer' } });
    // Read 1 before asking, reads 2 to 4 while waiting: two pauses of peerPollMs.
    expect(s.clock.sleeps).toEqual([100, 100]);
    expect(s.clock.now()).toBe(T0 + 200);
  });

  it('busy: gives up after peerWaitMs with a retry in 1 s, and never serves the rejected token meanwhile', async () => {
    const s = await setup(() => ({ orgId: ORG, outcome: 'busy' }), { stored: freshAt('refused', T0 - H) });
    const { response } = await s.serve({ rejectedToken: 'refused' });
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: another refresh of it is still running`, retryAfterSeconds: 1 } });
    expect(s.clock.now()).toBe(T0 + 1_000);
    expect(s.clock.sleeps.every((ms) => ms === 100)).toBe(true);
  });

  it('busy: never waits past the caller deadline less the answer reserve', async () => {
    const s = await setup(() => ({ orgId: ORG, outcome: 'busy' }), { getter: { peerWaitMs: 60_000 } });
    expect((await s.serve()).response).toMatchObject({ error: { code: 'token_unavailable', retryAfterSeconds: 1 } });
    expect(s.clock.now()).toBeLessThanOrEqual(T0 + 10_000 - ANSWER_RESERVE_MS);
    expect(s.clock.now()).toBeGreaterThan(T0 + 10_000 - ANSWER_RESERVE_MS - 100);
  });

  it('busy, the peer never delivers: falls back on the stored token that is still alive', async () => {
    const s = await setup(() => ({ orgId: ORG, outcome: 'busy' }), { stored: nearExpiry('old-but-alive', T0) });
    expect(await s.serve()).toMatchObject({ from: 'store', response: { accessToken: 'old-but-alive' } });
    expect(s.clock.now()).toBe(T0 + 1_000);
  });

  it('recently_checked: says when to ask again, and does not serve the rejected token', async () => {
    const s = await setup(() => ({ orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 42 }), { stored: freshAt('refused', T0 - H) });
    const { response } = await s.serve({ rejectedToken: 'refused' });
    expect(response).toEqual({
      error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: its token was reported rejected and checked less than a minute ago`, retryAfterSeconds: 42 },
    });
    expect(s.clock.now()).toBe(T0);
  });

  it('recently_checked, but the token was replaced meanwhile: serves the new one', async () => {
    const s = await setup(
      async () => {
        await s.write(freshAt('newer', T0));
        return { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 42 };
      },
      { stored: freshAt('refused', T0 - H) },
    );
    expect(await s.serve({ rejectedToken: 'refused' })).toMatchObject({ from: 'store', response: { accessToken: 'newer' } });
  });

  it('unavailable: token_unavailable naming the error code, with the retry hint when there is one', async () => {
    const s = await setup(() => unavailable('invalid_client', 120));
    expect((await s.serve()).response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (invalid_client)`, retryAfterSeconds: 120 } });
    const t = await setup(() => unavailable('invalid_client'));
    expect((await t.serve()).response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (invalid_client)` } });
  });

  it('unavailable: falls back on a stored token inside its margin that is still alive', async () => {
    const s = await setup(() => unavailable('rate_limited', 30), { stored: nearExpiry('old-but-alive', T0) });
    expect(await s.serve()).toMatchObject({ from: 'store', response: { accessToken: 'old-but-alive' } });
  });

  it('unavailable: re-checks a fallback token within seconds, not after the cache max age', async () => {
    const s = await setup(() => unavailable('rate_limited', 30), { stored: nearExpiry('old-but-alive', T0) });
    await s.serve();
    s.clock.advance(4_999);
    expect((await s.serve()).from).toBe('cache');
    expect(s.calls).toHaveLength(1);
    s.clock.advance(1);
    expect((await s.serve()).from).toBe('store');
    expect(s.calls).toHaveLength(2);
  });

  it('unavailable: never serves an expired token', async () => {
    const s = await setup(() => unavailable('invalid_client', 60), { stored: token('expired', T0 - 25 * H) });
    const { response } = await s.serve();
    expect(response).toMatchObject({ error: { code: 'token_unavailable', retryAfterSeconds: 60 } });
    expect(JSON.stringify(response)).not.toContain('expired"');
  });

  it('unavailable: never serves the token reported rejected, even while it has not expired', async () => {
    const s = await setup(() => unavailable('invalid_client', 60), { stored: nearExpiry('refused', T0) });
    expect((await s.serve({ rejectedToken: 'refused' })).response).toMatchObject({ error: { code: 'token_unavailable', retryAfterSeconds: 60 } });
  });

  it('a refresher that throws is refresher_unavailable: the stored token still alive is served', async () => {
    const s = await setup(
      () => {
        throw new Error('socket hang up with token=abc');
      },
      { stored: nearExpiry('old-but-alive', T0) },
    );
    expect(await s.serve()).toMatchObject({ from: 'store', response: { accessToken: 'old-but-alive' } });
  });

  it('a refresher that throws, nothing stored: token_unavailable naming refresher_unavailable, not the thrown text', async () => {
    const s = await setup(() => Promise.reject(new TypeError('socket hang up with token=abc')));
    const { response } = await s.serve();
    expect(response).toEqual({ error: { code: 'token_unavailable', message: `no valid token for org ${ORG}: last refresh failed (refresher_unavailable)` } });
    expect(JSON.stringify(response)).not.toContain('token=abc');
  });
});

describe('TokenGetter: caching and idle times', () => {
  it('caches a token until tokenCacheUntil says so, and asks again once it is past its fresh time', async () => {
    const s = await setup(async () => {
      const fresh = token(`ten-minutes-${s.calls.length}`, s.clock.now(), 10 * MIN);
      await s.write(fresh);
      return refreshed(fresh.expiresAt);
    });
    expect((await s.serve()).from).toBe('refresh');
    s.clock.advance(5 * MIN - 1);
    expect((await s.serve()).from).toBe('cache');
    s.clock.advance(1);
    expect((await s.serve()).from).toBe('store'); // the 5-minute max age ended; fresh until 9 min (10% margin)
    s.clock.advance(4 * MIN);
    expect((await s.serve()).from).toBe('refresh'); // 9 minutes in: past its fresh time
    expect(s.calls.map((c) => c.request.reason)).toEqual(['missing', 'expiring']);
  });

  it('honours cacheMaxAgeMs', async () => {
    const s = await setup(never, { stored: freshAt('current', T0), getter: { cacheMaxAgeMs: 30_000 } });
    await s.serve();
    s.clock.advance(29_999);
    expect((await s.serve()).from).toBe('cache');
    s.clock.advance(1);
    expect((await s.serve()).from).toBe('store');
  });

  it('passes idlesAt on, and caches a token no longer than until it idles out', async () => {
    const idlesAt = new Date(T0 + 2 * MIN).toISOString();
    const s = await setup(
      async () => {
        await s.write(freshAt('replacement', s.clock.now()));
        return refreshed();
      },
      { stored: token('idles-soon', T0, 24 * H, { idlesAt }) },
    );
    expect(await s.serve()).toEqual({ from: 'store', response: expect.objectContaining({ accessToken: 'idles-soon', idlesAt }) });
    s.clock.advance(2 * MIN - 1);
    expect((await s.serve()).from).toBe('cache');
    s.clock.advance(1);
    // Idled out: neither cached nor served, though far from expiry; the refresher is asked.
    expect(await s.serve()).toMatchObject({ from: 'refresh', response: { accessToken: 'replacement' } });
    expect(s.calls.map((c) => c.request.reason)).toEqual(['expiring']);
  });

  it('never falls back on a token that has idled out', async () => {
    const s = await setup(() => unavailable('invalid_client', 60), { stored: token('idled-out', T0 - H, 24 * H, { idlesAt: new Date(T0 - 1).toISOString() }) });
    expect((await s.serve()).response).toMatchObject({ error: { code: 'token_unavailable' } });
  });
});
