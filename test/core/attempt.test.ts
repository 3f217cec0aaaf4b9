import { describe, expect, it } from 'vitest';
import { type AttemptFacts, buildTokenRecord, settleAttempt } from '../../lambdas/core/attempt.js';
import { BrokerError, ConflictError, StoreError, UpstreamError } from '../../lambdas/core/errors.js';
import { DEFAULT_POLICY, policyOptions } from '../../lambdas/core/policy.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { resolveRegion } from '../../lambdas/core/regions.js';

const H = 3_600_000;
const T0 = Date.parse('2026-05-01T00:00:00Z');
const ORG = '0d000000-0000-4000-8000-000000000001';
const IE = resolveRegion('mypurecloud.ie');

const org = (state: Partial<OrgRecord['state']> = {}): OrgRecord => ({
  orgId: ORG,
  region: 'mypurecloud.ie',
  grantType: 'client_credentials',
  enabled: true,
  credentialsVersion: 3,
  version: 7,
  state: { consecutiveFailures: 0, ...state },
});

const info = { organizationId: ORG, oauthClientId: 'client-from-tokens-me', oauthClientName: 'Broker client', authorizedScope: ['users:readonly'] };

function written(overrides: Partial<Parameters<typeof buildTokenRecord>[0]> = {}) {
  const record = buildTokenRecord({ orgId: ORG, region: IE, accessToken: 'access-token-value', expiresInSeconds: 86_400, issuedAtMs: T0, info, clientId: 'client-from-credentials', policy: DEFAULT_POLICY, ...overrides });
  return { record, info: overrides.info ?? info, expiresInSeconds: overrides.expiresInSeconds ?? 86_400 };
}

function facts(extra: Partial<AttemptFacts>): AttemptFacts {
  return { org: org(), reason: 'at_refresh_mark', attemptId: 'attempt-1', startedMs: T0, finishedMs: T0 + 1_500, trigger: 'schedule', brokerVersion: '9.9.9', httpAttempts: 2, ...extra };
}

describe('buildTokenRecord', () => {
  it('stamps issue, expiry and the policy refresh mark from the request time and names the region and API host', () => {
    expect(written().record).toEqual({
      schemaVersion: 1,
      orgId: ORG,
      accessToken: 'access-token-value',
      tokenType: 'bearer',
      issuedAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 24 * H).toISOString(),
      refreshAt: new Date(T0 + 18 * H).toISOString(),
      region: 'mypurecloud.ie',
      apiBaseUrl: 'https://api.mypurecloud.ie',
      oauthClientId: 'client-from-tokens-me',
      scopes: ['users:readonly'],
    });
  });

  it('falls back to the credentials client id when tokens/me names none, and uses the given policy', () => {
    const { record } = written({ info: { organizationId: ORG, authorizedScope: [] }, policy: policyOptions({ refreshAtFraction: 0.5 }) });
    expect(record.oauthClientId).toBe('client-from-credentials');
    expect(record.refreshAt).toBe(new Date(T0 + 12 * H).toISOString());
  });
});

describe('settleAttempt', () => {
  it('maps a written token to a success state, audit record and info log', () => {
    const w = written({ info: { ...info, idlesAtMs: T0 + 30 * H } });
    const settled = settleAttempt(facts({ httpStatus: 200, written: w, requestId: 'req-1', org: org({ consecutiveFailures: 2, lastErrorCode: 'timeout' }) }), DEFAULT_POLICY);
    expect(settled).toEqual({
      outcome: 'refreshed',
      recordState: true,
      critical: false,
      state: {
        issuedAtMs: T0,
        expiresAtMs: T0 + 24 * H,
        refreshAtMs: T0 + 18 * H,
        idlesAtMs: T0 + 30 * H,
        lastAttemptAtMs: T0,
        lastOutcome: 'success',
        consecutiveFailures: 0,
        credentialsVersionUsed: 3,
        oauthClientId: 'client-from-tokens-me',
      },
      audit: {
        orgId: ORG,
        attemptId: 'attempt-1',
        at: new Date(T0).toISOString(),
        trigger: 'schedule',
        reason: 'at_refresh_mark',
        brokerVersion: '9.9.9',
        durationMs: 1_500,
        attempts: 2,
        requestId: 'req-1',
        outcome: 'success',
        httpStatus: 200,
        expiresAt: w.record.expiresAt,
        oauthClientId: 'client-from-tokens-me',
        oauthClientName: 'Broker client',
        scopes: ['users:readonly'],
      },
      log: { level: 'info', message: 'token refreshed', fields: { orgId: ORG, region: 'mypurecloud.ie', reason: 'at_refresh_mark', attempt: 2, expiresInSeconds: 86_400 } },
    });
  });

  it('leaves out what the attempt did not learn: no idle time, status, client name or request id', () => {
    const w = written({ info: { organizationId: ORG, authorizedScope: [] } });
    const settled = settleAttempt(facts({ written: w }), DEFAULT_POLICY);
    expect(settled.state).not.toHaveProperty('idlesAtMs');
    expect(settled.audit).not.toHaveProperty('httpStatus');
    expect(settled.audit).not.toHaveProperty('oauthClientName');
    expect(settled.audit).not.toHaveProperty('requestId');
    expect(settled.state.oauthClientId).toBe('client-from-credentials');
  });

  it('keeps a token written after a lost rotated refresh token, as a critical failure that waits for re-authorization', () => {
    const persistError = new StoreError('refresh_token_persist_failed', `rotated refresh token for org ${ORG} could not be persisted`, { orgId: ORG, transient: false });
    const settled = settleAttempt(facts({ written: written(), persistError, org: org({ consecutiveFailures: 1 }) }), DEFAULT_POLICY);
    expect(settled).toMatchObject({ outcome: 'failed', recordState: true, critical: true, errorCode: 'refresh_token_persist_failed' });
    expect(settled.state).toMatchObject({
      lastOutcome: 'failure',
      lastErrorCode: 'refresh_token_persist_failed',
      lastErrorClass: 'permanent',
      consecutiveFailures: 2,
      nextAttemptAtMs: Number.MAX_SAFE_INTEGER,
      expiresAtMs: T0 + 24 * H,
    });
    expect(settled.audit).toMatchObject({ outcome: 'failure', errorCode: 'refresh_token_persist_failed', errorClass: 'permanent', severity: 'critical', message: persistError.message });
    // Logged as critical when it happened; no second line.
    expect(settled.log).toBeUndefined();
  });

  it('keeps a token shorter than the supported minimum, as a critical token_lifetime_too_short whose refresh waits for the write interval', () => {
    const w = written({ expiresInSeconds: 300 });
    const settled = settleAttempt(facts({ written: w }), DEFAULT_POLICY);
    const message = `org ${ORG}: token lifetime 300 s is below the minimum of 1334 s (22 min 14 s) for a 300 s sweep interval and a 600 s minimum write interval; the token is served, the next refresh waits until ${new Date(T0 + 600_000).toISOString()}: raise the OAuth client's token lifetime in Genesys Cloud`;
    expect(settled).toMatchObject({ outcome: 'failed', recordState: true, critical: true, errorCode: 'token_lifetime_too_short', error: { code: 'token_lifetime_too_short', message } });
    expect(w.record.refreshAt).toBe(new Date(T0 + 600_000).toISOString());
    expect(settled.state).toMatchObject({ lastOutcome: 'failure', lastErrorCode: 'token_lifetime_too_short', lastErrorClass: 'permanent', consecutiveFailures: 1, expiresAtMs: T0 + 300_000, refreshAtMs: T0 + 600_000 });
    // No retry time: the org is refreshed at its refresh time, never sooner than the write interval.
    expect(settled.state.nextAttemptAtMs).toBeUndefined();
    expect(settled.audit).toMatchObject({ outcome: 'failure', errorCode: 'token_lifetime_too_short', errorClass: 'permanent', severity: 'critical', expiresAt: w.record.expiresAt, message });
    expect(settled.log).toMatchObject({ level: 'critical', fields: { orgId: ORG, errorCode: 'token_lifetime_too_short', expiresInSeconds: 300 } });
  });

  it('clears the flag on the first refresh whose lifetime is supported again', () => {
    const flagged = { lastOutcome: 'failure' as const, lastErrorCode: 'token_lifetime_too_short' as const, lastErrorClass: 'permanent' as const, consecutiveFailures: 3 };
    const settled = settleAttempt(facts({ written: written({ expiresInSeconds: 3600 }), org: org(flagged) }), DEFAULT_POLICY);
    expect(settled).toMatchObject({ outcome: 'refreshed', critical: false, state: { lastOutcome: 'success', consecutiveFailures: 0, refreshAtMs: T0 + 2700_000 } });
    expect(settled.state.lastErrorCode).toBeUndefined();
  });

  it('maps a permanent failure to a backoff state that keeps the old token, and an error log', () => {
    const error = new UpstreamError('invalid_client', 'Genesys refused token for org', { failureClass: 'permanent', httpStatus: 401, orgId: ORG });
    const old = { issuedAtMs: T0 - 20 * H, expiresAtMs: T0 + 4 * H, refreshAtMs: T0 - 2 * H, consecutiveFailures: 1 };
    const settled = settleAttempt(facts({ error, org: org(old) }), DEFAULT_POLICY);
    expect(settled).toEqual({
      outcome: 'failed',
      recordState: true,
      critical: false,
      errorCode: 'invalid_client',
      error,
      state: {
        ...old,
        lastAttemptAtMs: T0,
        lastOutcome: 'failure',
        lastErrorCode: 'invalid_client',
        lastErrorClass: 'permanent',
        consecutiveFailures: 2,
        credentialsVersionUsed: 3,
        // The second failure waits two minutes from when the attempt finished.
        nextAttemptAtMs: T0 + 1_500 + 120_000,
      },
      audit: {
        orgId: ORG,
        attemptId: 'attempt-1',
        at: new Date(T0).toISOString(),
        trigger: 'schedule',
        reason: 'at_refresh_mark',
        brokerVersion: '9.9.9',
        durationMs: 1_500,
        attempts: 2,
        outcome: 'failure',
        errorCode: 'invalid_client',
        errorClass: 'permanent',
        httpStatus: 401,
        message: 'Genesys refused token for org',
        expiresAt: new Date(T0 + 4 * H).toISOString(),
      },
      log: {
        level: 'error',
        message: 'token refresh failed',
        fields: { orgId: ORG, region: 'mypurecloud.ie', reason: 'at_refresh_mark', errorCode: 'invalid_client', errorClass: 'permanent', attempt: 2, consecutiveFailures: 2 },
      },
    });
  });

  it('logs a transient failure as a warning, honours Retry-After and records no expiry when there was no token', () => {
    const error = new UpstreamError('rate_limited', 'Genesys rate-limited token', { failureClass: 'rate_limited', retryAfterMs: 10 * 60_000, orgId: ORG });
    const settled = settleAttempt(facts({ error }), DEFAULT_POLICY);
    expect(settled.log?.level).toBe('warn');
    expect(settled.state.nextAttemptAtMs).toBe(T0 + 1_500 + 10 * 60_000);
    expect(settled.audit).not.toHaveProperty('expiresAt');
    expect(settled.audit).not.toHaveProperty('httpStatus');
  });

  it('never records the state of an attempt that lost its lease: another worker owns the org', () => {
    const error = new ConflictError('lease_held', `lease on org ${ORG} was lost before the token write`, { orgId: ORG });
    expect(settleAttempt(facts({ error }), DEFAULT_POLICY)).toMatchObject({ outcome: 'failed', recordState: false, errorCode: 'lease_held' });
  });

  it('refuses facts that carry neither a token nor an error', () => {
    expect(() => settleAttempt(facts({}), DEFAULT_POLICY)).toThrow(/must carry its error/);
  });

  it('holds no token or secret in the state, audit record or log', () => {
    const error = new BrokerError('internal_error', 'unexpected TypeError');
    for (const settled of [settleAttempt(facts({ written: written() }), DEFAULT_POLICY), settleAttempt(facts({ error }), DEFAULT_POLICY)]) {
      expect(JSON.stringify(settled)).not.toContain('access-token-value');
    }
  });
});
