/**
 * What local mode shows about an org (HTTP `/v1/orgs`, the status view, metrics): health, expiry and
 * when the next refresh will run. Built from the registry record alone, so it never holds a token.
 */
import type { ErrorCode } from '../../lambdas/core/errors.js';
import { type Health, nextRefreshAt, orgHealth, type PolicyOptions } from '../../lambdas/core/policy.js';
import type { GrantType, OrgRecord, UnreadableOrg } from '../../lambdas/core/ports.js';

/**
 * The policy's health of an org, or `corrupt`: its registry file cannot be read, so there is no record
 * to judge (and no token is served) until an operator restores or replaces the file.
 */
export type OrgStatusHealth = Health | 'corrupt';

export interface OrgStatus {
  orgId: string;
  label: string | null;
  /** Region domain; null when corrupt. */
  region: string | null;
  /** Null when corrupt. */
  grantType: GrantType | null;
  /** Null when corrupt. */
  enabled: boolean | null;
  health: OrgStatusHealth;
  /** ISO instant the current token expires, null when none was issued. */
  expiresAt: string | null;
  expiresInSeconds: number | null;
  /** When the next refresh attempt will run: the first sweep at or after the token's refresh mark or backoff; null when disabled. */
  nextRefreshAt: string | null;
  lastErrorCode: ErrorCode | null;
  lastOutcome: 'success' | 'failure' | null;
  lastAttemptAt: string | null;
  consecutiveFailures: number;
  /** Corrupt only: what is wrong with the registry file (no values), where it is, and what to do. */
  problem?: string;
  location?: string;
  remedy?: string;
}

/** The sweep schedule: sweeps run at `firstRunAtMs + k * intervalMs`. */
export interface ScheduleInfo {
  firstRunAtMs: number;
  intervalMs: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** When the refresh policy will first consider the org due (now, if it already is); undefined when disabled. */
export function refreshDueAtMs(org: OrgRecord, nowMs: number, policy: PolicyOptions): number | undefined {
  const next = nextRefreshAt(org, nowMs, policy);
  return next.kind === 'none' ? undefined : Math.max(nowMs, next.atMs);
}

/** The first scheduled sweep at or after `atMs`. */
export function nextSweepAtOrAfter(atMs: number, schedule: ScheduleInfo): number {
  if (atMs <= schedule.firstRunAtMs) return schedule.firstRunAtMs;
  return schedule.firstRunAtMs + Math.ceil((atMs - schedule.firstRunAtMs) / schedule.intervalMs) * schedule.intervalMs;
}

export function orgStatus(org: OrgRecord, nowMs: number, policy: PolicyOptions, schedule?: ScheduleInfo): OrgStatus {
  const report = orgHealth(org, nowMs);
  const due = refreshDueAtMs(org, nowMs, policy);
  const next = due === undefined ? undefined : schedule ? nextSweepAtOrAfter(due, schedule) : due;
  const s = org.state;
  return {
    orgId: org.orgId,
    label: org.label ?? null,
    region: org.region,
    grantType: org.grantType,
    enabled: org.enabled,
    health: report.health,
    expiresAt: iso(s.expiresAtMs),
    expiresInSeconds: report.expiresInSeconds ?? null,
    nextRefreshAt: iso(next),
    lastErrorCode: s.lastErrorCode ?? null,
    lastOutcome: s.lastOutcome ?? null,
    lastAttemptAt: iso(s.lastAttemptAtMs),
    consecutiveFailures: s.consecutiveFailures,
  };
}

/** The status of an org whose registry file cannot be read. */
export function corruptOrgStatus(entry: UnreadableOrg): OrgStatus {
  return {
    orgId: entry.orgId,
    label: null,
    region: null,
    grantType: null,
    enabled: null,
    health: 'corrupt',
    expiresAt: null,
    expiresInSeconds: null,
    nextRefreshAt: null,
    lastErrorCode: 'registry_unavailable',
    lastOutcome: null,
    lastAttemptAt: null,
    consecutiveFailures: 0,
    problem: entry.problem,
    location: entry.location,
    remedy: entry.remedy,
  };
}
