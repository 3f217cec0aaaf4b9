/**
 * What one refresh of one org came to ({@link RefreshOutcome}), and the sweep summary built from those
 * outcomes by a pure reducer. The engine produces outcomes; counting them is done here, in one place.
 */
import type { BrokerError, ErrorCode } from './errors.js';
import { countsAsAtRisk, type Health, orgHealth, type RefreshReason, type SkipReason } from './policy.js';
import type { OrgRecord, TokenRecord, UnreadableOrg } from './ports.js';
import type { RejectionSkipReason } from './token-rejection.js';

/** Side effects of an attempt that failed without failing the refresh itself. */
export interface AttemptEffects {
  /** The audit record could not be appended. */
  auditWriteFailed: boolean;
  /** The org's new state could not be recorded in the registry. */
  stateWriteFailed: boolean;
}

/**
 * The typed result of refreshing one org. `org`, where present, is the org as it stands afterwards
 * (with the attempt's new state), for health reporting and for callers that need its retry time.
 */
export type RefreshOutcome =
  | { kind: 'refreshed'; orgId: string; reason: RefreshReason; token: TokenRecord; org: OrgRecord; effects: AttemptEffects }
  | {
      kind: 'failed';
      orgId: string;
      /** `unexamined`: a named org the registry could not be asked about. */
      reason: RefreshReason | 'unexamined';
      errorCode: ErrorCode;
      error: BrokerError;
      /** A rotated refresh token could not be persisted: the org needs re-authorization. */
      critical: boolean;
      /** Absent when the failure came before an attempt (the lease or registry store failed). */
      org?: OrgRecord;
      /** A token that was written all the same (a persist failure after Genesys answered). */
      token?: TokenRecord;
      effects: AttemptEffects;
    }
  | { kind: 'skipped'; orgId: string; reason: SkipReason | 'lease_held'; org: OrgRecord }
  /** A reported rejection (on-demand only) that called for no refresh; `retryAtMs` for `recently_checked`. */
  | { kind: 'skipped'; orgId: string; reason: RejectionSkipReason; org: OrgRecord; retryAtMs?: number }
  | { kind: 'skipped'; orgId: string; reason: 'not_found' }
  /** The registry holds the org but could not read it (a damaged file): an operator must act. */
  | { kind: 'skipped'; orgId: string; reason: 'unreadable'; unreadable: UnreadableOrg }
  | { kind: 'deferred'; orgId: string; reason: 'deadline'; org: OrgRecord };

export type OrgOutcome = 'refreshed' | 'failed' | 'skipped' | 'deferred';

/** One org's line in a sweep summary. */
export interface OrgResult {
  orgId: string;
  outcome: OrgOutcome;
  /** Why it was refreshed, skipped or deferred. */
  reason: RefreshReason | SkipReason | 'lease_held' | 'not_found' | 'unreadable' | 'deadline' | 'unexamined';
  errorCode?: ErrorCode;
  expiresAt?: string;
  /** Final health after this sweep. */
  health?: Health;
}

export interface SweepSummary {
  startedAt: string;
  durationMs: number;
  examined: number;
  due: number;
  refreshed: number;
  /** Failed attempts by error code. */
  failed: Partial<Record<ErrorCode, number>>;
  /** `unreadable`: orgs the registry holds but could not read (never due; each has a result line). */
  skipped: { leaseHeld: number; notDue: number; disabled: number; backingOff: number; notFound: number; unreadable: number };
  deferred: number;
  /** Orgs whose health is at_risk, failing or expired after the sweep. */
  orgsAtRisk: number;
  health: Partial<Record<Health, number>>;
  /** Least remaining token life among enabled orgs with a token. */
  minTokenSecondsRemaining?: number;
  /** Audit appends that failed (the refresh itself stood). */
  auditWriteFailures: number;
  /** Registry state writes that failed after an attempt. */
  stateWriteFailures: number;
  /** Critical events, such as a rotated refresh token that could not be persisted. */
  critical: number;
  /** Set when the registry could not be listed to the end: orgs after that point were not examined. */
  registryError?: ErrorCode;
  /**
   * Which outcomes get a line in `results`: `all` (a sweep of named orgs: every one that was due,
   * refreshed, failed or deferred, and every unknown or unreadable one) or `problems` (a full sweep:
   * the same less the refreshed ones, which the counters cover). Skips that were not due are counted only.
   */
  resultDetail: ResultDetail;
  /** The lines, at most {@link MAX_RESULT_LINES}; a sweep of 10,000 orgs must not hold 10,000 of them. */
  results: OrgResult[];
  /** Lines left out because `results` was full. */
  resultsOmitted: number;
}

/** Most lines `results` holds. Past it, lines are only counted (`resultsOmitted`); the counters stay exact. */
export const MAX_RESULT_LINES = 1000;

export type ResultDetail = 'all' | 'problems';

export function emptySummary(startedMs: number, resultDetail: ResultDetail = 'all'): SweepSummary {
  return {
    startedAt: new Date(startedMs).toISOString(),
    durationMs: 0,
    examined: 0,
    due: 0,
    refreshed: 0,
    failed: {},
    skipped: { leaseHeld: 0, notDue: 0, disabled: 0, backingOff: 0, notFound: 0, unreadable: 0 },
    deferred: 0,
    orgsAtRisk: 0,
    health: {},
    auditWriteFailures: 0,
    stateWriteFailures: 0,
    critical: 0,
    resultDetail,
    results: [],
    resultsOmitted: 0,
  };
}

const SKIP_COUNTER = {
  disabled: 'disabled',
  not_due: 'notDue',
  backing_off: 'backingOff',
  lease_held: 'leaseHeld',
  not_found: 'notFound',
  unreadable: 'unreadable',
  // Only on-demand refreshes report these: the org was not due, and stayed so.
  token_replaced: 'notDue',
  token_valid: 'notDue',
  recently_checked: 'notDue',
} as const satisfies Record<SkipReason | RejectionSkipReason | 'lease_held' | 'not_found' | 'unreadable', keyof SweepSummary['skipped']>;

/** The summary line of an outcome; undefined for skips that were simply not due. */
export function resultOf(outcome: RefreshOutcome): OrgResult | undefined {
  switch (outcome.kind) {
    case 'refreshed':
      return { orgId: outcome.orgId, outcome: 'refreshed', reason: outcome.reason, expiresAt: outcome.token.expiresAt };
    case 'failed':
      return { orgId: outcome.orgId, outcome: 'failed', reason: outcome.reason, errorCode: outcome.errorCode, ...(outcome.token ? { expiresAt: outcome.token.expiresAt } : {}) };
    case 'deferred':
      return { orgId: outcome.orgId, outcome: 'deferred', reason: outcome.reason };
    case 'skipped':
      if (outcome.reason === 'not_found') return { orgId: outcome.orgId, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' };
      if (outcome.reason === 'unreadable') return { orgId: outcome.orgId, outcome: 'skipped', reason: 'unreadable', errorCode: 'registry_unavailable' };
      if (outcome.reason === 'lease_held') return { orgId: outcome.orgId, outcome: 'skipped', reason: 'lease_held' };
      return undefined;
  }
}

/** Whether the org was due: everything but a skip for disabled, not due, backing off, unknown or unreadable. */
function wasDue(outcome: RefreshOutcome): boolean {
  return outcome.kind !== 'skipped' || outcome.reason === 'lease_held';
}

/** Counts one outcome into the summary. `nowMs` is when the health of the org is judged. */
export function addOutcome(summary: SweepSummary, outcome: RefreshOutcome, nowMs: number): void {
  summary.examined++;
  if (wasDue(outcome)) summary.due++;
  switch (outcome.kind) {
    case 'refreshed':
      summary.refreshed++;
      break;
    case 'failed':
      summary.failed[outcome.errorCode] = (summary.failed[outcome.errorCode] ?? 0) + 1;
      if (outcome.critical) summary.critical++;
      break;
    case 'deferred':
      summary.deferred++;
      break;
    case 'skipped':
      summary.skipped[SKIP_COUNTER[outcome.reason]]++;
      break;
  }
  if (outcome.kind === 'refreshed' || outcome.kind === 'failed') {
    if (outcome.effects.auditWriteFailed) summary.auditWriteFailures++;
    if (outcome.effects.stateWriteFailed) summary.stateWriteFailures++;
  }
  let health: Health | undefined;
  const org = 'org' in outcome ? outcome.org : undefined;
  if (org) {
    const report = orgHealth(org, nowMs);
    health = report.health;
    summary.health[health] = (summary.health[health] ?? 0) + 1;
    if (countsAsAtRisk(health)) summary.orgsAtRisk++;
    if (org.enabled && report.expiresInSeconds !== undefined) {
      summary.minTokenSecondsRemaining = Math.min(summary.minTokenSecondsRemaining ?? Infinity, report.expiresInSeconds);
    }
  }
  const result = resultOf(outcome);
  if (!result || (summary.resultDetail === 'problems' && result.outcome === 'refreshed')) return;
  if (summary.results.length >= MAX_RESULT_LINES) summary.resultsOmitted++;
  else summary.results.push(health ? { ...result, health } : result);
}
