import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AttemptFacts, buildTokenRecord, settleAttempt } from '../../lambdas/core/attempt.js';
import { BrokerError, ConflictError, StoreError, UpstreamError } from '../../lambdas/core/errors.js';
import { atRiskAfterLastAttempt, attemptEvents, ORG_EVENT_SOURCE, ORG_EVENT_TYPES } from '../../lambdas/core/org-events.js';
import { DEFAULT_POLICY } from '../../lambdas/core/policy.js';
import type { OrgEvent, OrgRecord } from '../../lambdas/core/ports.js';
import { resolveRegion } from '../../lambdas/core/regions.js';

const H = 3_600_000;
const T0 = Date.parse('2026-05-01T00:00:00Z');
const ORG = '0d000000-0000-4000-8000-0000000000e1';
const IE = resolveRegion('mypurecloud.ie');
const info = { organizationId: ORG, oauthClientId: 'client-1', authorizedScope: ['users:readonly'] };

const { refreshed, refreshFailed, atRisk, needsReauthorization } = ORG_EVENT_TYPES;

const newOrg = (extra: Partial<OrgRecord> = {}): OrgRecord => ({
  orgId: ORG,
  region: 'mypurecloud.ie',
  label: 'Acme EU',
  grantType: 'client_credentials',
  enabled: true,
  credentialsVersion: 1,
  version: 1,
  state: { consecutiveFailures: 0 },
  ...extra,
});

const transient = () => new UpstreamError('upstream_unavailable', `Genesys returned HTTP 503 on token for org ${ORG}`, { failureClass: 'transient', httpStatus: 503, orgId: ORG });
const invalidGrant = () => new UpstreamError('invalid_grant', `Genesys refused token for org ${ORG} with HTTP 400 invalid_grant`, { failureClass: 'permanent', httpStatus: 400, orgId: ORG });

type Result = { ok: true; lifetimeSeconds?: number; persistFailed?: boolean } | { ok: false; error: BrokerError };

/** Runs one attempt of `org` at `atMs` that comes to `result`: its events and the org as recorded. */
function attemptAt(org: OrgRecord, atMs: number, result: Result, extra: Partial<AttemptFacts> = {}) {
  const facts: AttemptFacts = { org, reason: 'at_refresh_mark', attemptId: `attempt-${atMs}`, startedMs: atMs, finishedMs: atMs + 1_200, trigger: 'schedule', brokerVersion: '1.0.0', httpAttempts: 1, ...extra };
  if (result.ok) {
    const expiresInSeconds = result.lifetimeSeconds ?? 86_400;
    const record = buildTokenRecord({ orgId: ORG, region: IE, accessToken: 'access-token-never-in-events', expiresInSeconds, issuedAtMs: atMs, info, clientId: 'client-1', policy: DEFAULT_POLICY });
    facts.written = { record, info, expiresInSeconds };
    if (result.persistFailed) facts.persistError = new StoreError('refresh_token_persist_failed', `rotated refresh token for org ${ORG} could not be persisted`, { orgId: ORG, transient: false });
  } else {
    facts.error = result.error;
  }
  const settled = settleAttempt(facts, DEFAULT_POLICY);
  return { events: attemptEvents(org, settled), org: { ...org, version: org.version + 1, state: settled.state } };
}

const types = (events: OrgEvent[]) => events.map((e) => e.detailType);

/** An org refreshed successfully at T0 (token for 24 h, refresh mark at 18 h). */
const healthy = () => attemptAt(newOrg(), T0, { ok: true }).org;

describe('attemptEvents', () => {
  it('announces a refresh with the org, the attempt and the new expiry, and nothing about errors', () => {
    const { events } = attemptAt(newOrg(), T0, { ok: true }, { trigger: 'getter', reason: 'missing' });
    expect(events).toEqual([
      {
        detailType: refreshed,
        orgId: ORG,
        timeMs: T0 + 1_200,
        detail: {
          schemaVersion: 1,
          orgId: ORG,
          region: 'mypurecloud.ie',
          label: 'Acme EU',
          attemptId: `attempt-${T0}`,
          trigger: 'getter',
          reason: 'missing',
          expiresAt: new Date(T0 + 24 * H).toISOString(),
        },
      },
    ]);
  });

  it('leaves the label out for an org without one', () => {
    const { events } = attemptAt(newOrg({ label: undefined }), T0, { ok: true });
    expect(events[0]!.detail).not.toHaveProperty('label');
  });

  it('announces a transient failure at the refresh mark as a failure and the org entering at_risk, with the old expiry', () => {
    const { events } = attemptAt(healthy(), T0 + 18 * H, { ok: false, error: transient() });
    expect(types(events)).toEqual([refreshFailed, atRisk]);
    const failure = { errorCode: 'upstream_unavailable', errorClass: 'transient', expiresAt: new Date(T0 + 24 * H).toISOString(), reason: 'at_refresh_mark' };
    expect(events[0]!.detail).toMatchObject(failure);
    expect(events[0]!.detail).not.toHaveProperty('health');
    expect(events[0]!.detail).not.toHaveProperty('severity');
    expect(events[1]!.detail).toMatchObject({ ...failure, health: 'at_risk' });
  });

  it('announces at risk once while the org stays at risk, and again after it recovered and failed anew', () => {
    const first = attemptAt(healthy(), T0 + 18 * H, { ok: false, error: transient() });
    const second = attemptAt(first.org, T0 + 18 * H + 60_000, { ok: false, error: transient() });
    const third = attemptAt(second.org, T0 + 18 * H + 180_000, { ok: false, error: transient() });
    expect([types(second.events), types(third.events)]).toEqual([[refreshFailed], [refreshFailed]]);
    // Past the expiry: expired is at risk too, and the org was already: no new announcement.
    const expired = attemptAt(third.org, T0 + 25 * H, { ok: false, error: transient() });
    expect(types(expired.events)).toEqual([refreshFailed]);
    const recovered = attemptAt(expired.org, T0 + 25 * H + 60_000, { ok: true });
    expect(types(recovered.events)).toEqual([refreshed]);
    const again = attemptAt(recovered.org, T0 + 43 * H + 60_000, { ok: false, error: transient() });
    expect(types(again.events)).toEqual([refreshFailed, atRisk]);
  });

  it('does not call a transient failure before the refresh mark at risk, but announces the org at the next failure past it', () => {
    const early = attemptAt(healthy(), T0 + 2 * H, { ok: false, error: transient() }, { reason: 'forced', trigger: 'manual' });
    expect(types(early.events)).toEqual([refreshFailed]);
    const late = attemptAt(early.org, T0 + 19 * H, { ok: false, error: transient() }, { reason: 'retry_due' });
    expect(types(late.events)).toEqual([refreshFailed, atRisk]);
    expect(late.events[1]!.detail).toMatchObject({ health: 'at_risk', reason: 'retry_due' });
  });

  it('announces a first attempt that fails, for an org never issued a token, as expired', () => {
    const { events } = attemptAt(newOrg(), T0, { ok: false, error: transient() }, { reason: 'never_issued' });
    expect(types(events)).toEqual([refreshFailed, atRisk]);
    expect(events[1]!.detail).toMatchObject({ health: 'expired' });
    expect(events[1]!.detail).not.toHaveProperty('expiresAt');
  });

  it.each([
    ['invalid_grant', () => invalidGrant()],
    ['refresh_outcome_unknown', () => new UpstreamError('refresh_outcome_unknown', `refresh_token request for org ${ORG} may have reached Genesys`, { failureClass: 'permanent', orgId: ORG })],
  ])('asks for re-authorization after %s, critical, with the org entering failing', (code, error) => {
    const { events } = attemptAt(healthy(), T0 + 18 * H, { ok: false, error: error() });
    expect(types(events)).toEqual([refreshFailed, atRisk, needsReauthorization]);
    for (const event of events) expect(event.detail).toMatchObject({ errorCode: code, errorClass: 'permanent', severity: 'critical' });
    expect(events[1]!.detail.health).toBe('failing');
    expect(events[2]!.detail).not.toHaveProperty('health');
  });

  it('asks for re-authorization when a rotated refresh token was lost, though the new access token was written', () => {
    const { events } = attemptAt(healthy(), T0 + 18 * H, { ok: true, persistFailed: true });
    expect(types(events)).toEqual([refreshFailed, atRisk, needsReauthorization]);
    expect(events[2]!.detail).toMatchObject({ errorCode: 'refresh_token_persist_failed', severity: 'critical', expiresAt: new Date(T0 + 42 * H).toISOString() });
  });

  it('announces a written token whose lifetime is too short as a failure and the org failing, but asks for no re-authorization', () => {
    const { events } = attemptAt(healthy(), T0 + 18 * H, { ok: true, lifetimeSeconds: 600 });
    expect(types(events)).toEqual([refreshFailed, atRisk]);
    expect(events[0]!.detail).toMatchObject({ errorCode: 'token_lifetime_too_short', severity: 'critical' });
  });

  it('announces a permanent failure that needs no re-authorization without asking for it', () => {
    const error = new UpstreamError('invalid_client', `Genesys refused token for org ${ORG} with HTTP 401 invalid_client`, { failureClass: 'permanent', httpStatus: 401, orgId: ORG });
    const { events } = attemptAt(healthy(), T0 + 18 * H, { ok: false, error });
    expect(types(events)).toEqual([refreshFailed, atRisk]);
    expect(events[1]!.detail).toMatchObject({ health: 'failing', errorCode: 'invalid_client' });
    expect(events[1]!.detail).not.toHaveProperty('severity');
  });

  it('announces no risk from an attempt that lost its lease: it records no state, and the worker that took over speaks for the org', () => {
    const lost = new ConflictError('lease_held', `lease on org ${ORG} was lost before the token write`, { orgId: ORG });
    const { events } = attemptAt(healthy(), T0 + 18 * H, { ok: false, error: lost });
    expect(types(events)).toEqual([refreshFailed]);
  });

  it('never carries a token, whatever the outcome', () => {
    const outcomes: Result[] = [{ ok: true }, { ok: true, persistFailed: true }, { ok: false, error: invalidGrant() }, { ok: false, error: new BrokerError('internal_error', 'x') }];
    for (const result of outcomes) {
      expect(JSON.stringify(attemptAt(healthy(), T0 + 18 * H, result).events)).not.toContain('access-token-never-in-events');
    }
  });
});

describe('atRiskAfterLastAttempt', () => {
  it('judges the org at its last attempt, not now, and never an org that was never attempted', () => {
    expect(atRiskAfterLastAttempt(newOrg())).toBeUndefined();
    // A record that says the last attempt failed but not when (hand-made, or older than the field) counts as never attempted.
    expect(atRiskAfterLastAttempt(newOrg({ state: { consecutiveFailures: 1, lastOutcome: 'failure', lastErrorCode: 'invalid_client', lastErrorClass: 'permanent' } }))).toBeUndefined();
    // Refreshed at T0: healthy then, however late it is now.
    expect(atRiskAfterLastAttempt(healthy())).toBeUndefined();
    const failed = attemptAt(healthy(), T0 + 18 * H, { ok: false, error: transient() }).org;
    expect(atRiskAfterLastAttempt(failed)).toBe('at_risk');
    expect(atRiskAfterLastAttempt({ ...failed, enabled: false })).toBeUndefined();
  });
});

describe('the per-org event source', () => {
  it('is the broker name, the one rules match on', () => {
    expect(ORG_EVENT_SOURCE).toBe('genesys-token-broker');
  });
});

describe('attemptEvents over any run of attempts', () => {
  const step = fc.record({
    gapMinutes: fc.integer({ min: 1, max: 30 * 60 }),
    result: fc.constantFrom<'ok' | 'transient' | 'invalid_client' | 'invalid_grant'>('ok', 'transient', 'invalid_client', 'invalid_grant'),
  });

  it('puts out one outcome per attempt, and announces at risk only on entering it', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        let org = newOrg();
        let atMs = T0;
        for (const { gapMinutes, result } of steps) {
          atMs += gapMinutes * 60_000;
          const wasAtRisk = atRiskAfterLastAttempt(org) !== undefined;
          const error = result === 'transient' ? transient() : result === 'invalid_grant' ? invalidGrant() : new UpstreamError('invalid_client', 'refused', { failureClass: 'permanent', orgId: ORG });
          const next = attemptAt(org, atMs, result === 'ok' ? { ok: true } : { ok: false, error });
          const kinds = types(next.events);
          expect(kinds.filter((k) => k === refreshed || k === refreshFailed)).toHaveLength(1);
          const isAtRisk = atRiskAfterLastAttempt(next.org) !== undefined;
          expect(kinds.includes(atRisk)).toBe(isAtRisk && !wasAtRisk);
          expect(kinds.includes(needsReauthorization)).toBe(result === 'invalid_grant');
          org = next.org;
        }
      }),
      { numRuns: 200 },
    );
  });
});
