/**
 * Per-org events: which events one refresh attempt produces, decided here, purely, from the org as it
 * was read under the lease and the attempt's settled outcome (attempt.ts). The engine hands them to
 * an {@link OrgEventPublisher} (EventBridge on AWS); the schema is documented in README "Events".
 *
 * Every attempt produces `Genesys Token Refreshed` or `Genesys Token Refresh Failed`, the same outcome
 * its audit record holds. Besides it:
 * - `Genesys Org Needs Reauthorization` when the failure is one only a person can cure
 *   ({@link needsReauthorization}: invalid_grant, a lost or unknown refresh outcome). Such an org is
 *   not retried on a timer, so this comes once per occurrence.
 * - `Genesys Org At Risk` when the attempt moves the org into an at-risk health
 *   ({@link countsAsAtRisk}: at_risk, expired, failing, as the `OrgsAtRisk` metric counts them) and it
 *   was not in one after its previous attempt. Both sides are judged by one rule, the org's health at
 *   the moment of its last attempt (its registry state and `lastAttemptAtMs`), so the transition needs
 *   no state of its own: the registry record the engine re-reads under the lease already says what
 *   the previous attempt came to. Durable (it survives restarts and is shared by every worker) and
 *   free (no extra read or write). An org that stays at risk over many sweeps and retries is announced
 *   once; after a successful refresh it may enter (and be announced) again. An org that slides into
 *   risk between attempts (its token passing the refresh mark while it backs off) is announced at its
 *   next attempt. Limits: when the attempt's state could not be recorded (the registry write failed),
 *   the next attempt compares against the older record and may announce the org again (at least once,
 *   like EventBridge delivery itself); an attempt whose lease was lost records no state and announces
 *   nothing, since the worker that took over does.
 *
 * Details carry identifiers, outcomes and times only: never a token, a secret or a token's hash.
 */
import type { SettledAttempt } from './attempt.js';
import { countsAsAtRisk, type Health, needsReauthorization, orgHealth } from './policy.js';
import type { OrgEvent, OrgEventDetail, OrgEventType, OrgRecord, TokenState } from './ports.js';

/** The `source` of every event the broker puts on a bus. */
export const ORG_EVENT_SOURCE = 'genesys-token-broker';

/** The detail-types, by what they say. */
export const ORG_EVENT_TYPES = Object.freeze({
  refreshed: 'Genesys Token Refreshed',
  refreshFailed: 'Genesys Token Refresh Failed',
  atRisk: 'Genesys Org At Risk',
  needsReauthorization: 'Genesys Org Needs Reauthorization',
} as const satisfies Record<string, OrgEventType>);

/**
 * The at-risk health an org was in right after its last attempt, judged at that attempt's time;
 * undefined when it was not at risk or never attempted.
 */
export function atRiskAfterLastAttempt(org: { enabled: boolean; state: TokenState }): Health | undefined {
  const atMs = org.state.lastAttemptAtMs;
  if (atMs === undefined) return undefined;
  const { health } = orgHealth(org, atMs);
  return countsAsAtRisk(health) ? health : undefined;
}

/** The events one settled attempt produces, in order: its outcome, then At Risk, then Needs Reauthorization. */
export function attemptEvents(before: OrgRecord, settled: SettledAttempt): OrgEvent[] {
  const { audit } = settled;
  const timeMs = Date.parse(audit.at) + audit.durationMs;
  const detail: OrgEventDetail = {
    schemaVersion: 1,
    orgId: before.orgId,
    region: before.region,
    ...(before.label ? { label: before.label } : {}),
    attemptId: audit.attemptId,
    trigger: audit.trigger,
    reason: audit.reason,
    ...(audit.expiresAt ? { expiresAt: audit.expiresAt } : {}),
    ...(audit.errorCode ? { errorCode: audit.errorCode } : {}),
    ...(audit.errorClass ? { errorClass: audit.errorClass } : {}),
    ...(audit.severity ? { severity: audit.severity } : {}),
  };
  const event = (detailType: OrgEventType, extra: Partial<OrgEventDetail> = {}): OrgEvent => ({ detailType, orgId: before.orgId, timeMs, detail: { ...detail, ...extra } });
  const events = [event(settled.outcome === 'refreshed' ? ORG_EVENT_TYPES.refreshed : ORG_EVENT_TYPES.refreshFailed)];
  const entered = settled.recordState ? atRiskAfterLastAttempt({ enabled: before.enabled, state: settled.state }) : undefined;
  if (entered && !atRiskAfterLastAttempt(before)) events.push(event(ORG_EVENT_TYPES.atRisk, { health: entered }));
  if (needsReauthorization(settled.errorCode)) events.push(event(ORG_EVENT_TYPES.needsReauthorization));
  return events;
}
