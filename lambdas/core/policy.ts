/**
 * Refresh policy: when a token is due, how long to back off after a failure, and how healthy an org
 * is. Pure functions of (org, now, options); every decision returns a reason.
 */
import { BrokerError, type ErrorCode, type FailureClass } from './errors.js';
import type { OrgRecord, TokenState } from './ports.js';
import { BROKER_SETTINGS } from './settings.js';

export const DEFAULT_REFRESH_AT_FRACTION = BROKER_SETTINGS.refreshAtFraction.default;
export const MIN_REFRESH_AT_FRACTION = BROKER_SETTINGS.refreshAtFraction.min;
export const MAX_REFRESH_AT_FRACTION = BROKER_SETTINGS.refreshAtFraction.max;

/**
 * Secrets Manager's guidance: at most one PutSecretValue per secret every 10 minutes (versions younger
 * than 24 hours are never pruned, so a faster writer runs into the versions quota).
 */
export const SECRETS_MANAGER_MIN_WRITE_INTERVAL_MS = 10 * 60_000;

/** The getter's serving margin: a token is served while more than min(this, 10% of its lifetime) is left. */
export const SERVING_MARGIN_MS = 5 * 60_000;

export interface PolicyOptions {
  /** Fraction of the lifetime after which a token is refreshed. @default 0.75 (18 h of 24 h) */
  refreshAtFraction: number;
  /** First backoff after a failure. @default 60_000 (1 minute) */
  backoffBaseMs: number;
  /** Longest backoff. @default 1_800_000 (30 minutes) */
  backoffCapMs: number;
  /** A retry is never scheduled later than expiresAt minus this margin. @default 300_000 (5 minutes) */
  safetyMarginMs: number;
  /** Refresh this long before the token would idle out. @default 300_000 */
  idleMarginMs: number;
  /**
   * Longest time between two sweeps (the schedule's interval). The refresh mark leaves two of them,
   * plus the serving margin, before expiry: a sweep that is missed or finds the org busy still
   * leaves the next one a token worth serving.
   * @default 300_000 (5 minutes, the construct's default schedule)
   */
  sweepIntervalMs: number;
  /**
   * Least time between two writes of one org's token in steady state: no refresh is scheduled sooner
   * after the last one ({@link SECRETS_MANAGER_MIN_WRITE_INTERVAL_MS}). Local mode, which writes a
   * file, sets its own.
   * @default 600_000 (10 minutes)
   */
  minWriteIntervalMs: number;
}

export const DEFAULT_POLICY: PolicyOptions = Object.freeze({
  refreshAtFraction: DEFAULT_REFRESH_AT_FRACTION,
  backoffBaseMs: 60_000,
  backoffCapMs: 30 * 60_000,
  safetyMarginMs: 5 * 60_000,
  idleMarginMs: 5 * 60_000,
  sweepIntervalMs: BROKER_SETTINGS.sweepIntervalSeconds.default * 1000,
  minWriteIntervalMs: SECRETS_MANAGER_MIN_WRITE_INTERVAL_MS,
});

/** Validates and completes policy options; a bad value is an `invalid_config` error naming it. */
export function policyOptions(partial: Partial<PolicyOptions> = {}): PolicyOptions {
  const options = { ...DEFAULT_POLICY, ...partial };
  const f = options.refreshAtFraction;
  if (!(typeof f === 'number' && f >= MIN_REFRESH_AT_FRACTION && f <= MAX_REFRESH_AT_FRACTION)) {
    throw new BrokerError('invalid_config', `refreshAtFraction must be a number from ${MIN_REFRESH_AT_FRACTION} to ${MAX_REFRESH_AT_FRACTION}, got ${String(f)}`);
  }
  for (const key of ['backoffBaseMs', 'backoffCapMs', 'safetyMarginMs', 'idleMarginMs', 'minWriteIntervalMs'] as const) {
    const v = options[key];
    if (!(Number.isFinite(v) && v >= 0)) throw new BrokerError('invalid_config', `${key} must be a non-negative number, got ${String(v)}`);
  }
  if (!(Number.isFinite(options.sweepIntervalMs) && options.sweepIntervalMs > 0)) {
    throw new BrokerError('invalid_config', `sweepIntervalMs must be a positive number, got ${String(options.sweepIntervalMs)}`);
  }
  if (options.backoffCapMs < options.backoffBaseMs) {
    throw new BrokerError('invalid_config', `backoffCapMs (${options.backoffCapMs}) must be at least backoffBaseMs (${options.backoffBaseMs})`);
  }
  return options;
}

/**
 * The margin a token must keep before expiry to be served: min(`capMs`, 10% of its lifetime), so
 * short-lived tokens keep most of their life. The getter's rule ({@link tokenFreshUntil}), and what
 * the refresh mark leaves at every sweep ({@link refreshMarkMs}).
 */
export function servingMarginMs(lifetimeMs: number, capMs: number = SERVING_MARGIN_MS): number {
  return Math.min(capMs, Math.max(0, Math.floor(lifetimeMs / 10)));
}

/**
 * Where the refresh mark of a token living `lifetimeMs` falls, as time after its issue:
 * min(fraction × lifetime, lifetime − 2 × sweep interval − serving margin). The first sweep at or
 * after the mark comes at most one interval later and one more interval of slack remains, so at every
 * sweep the stored token has more than the serving margin left, even if one sweep is missed.
 * Below the write interval (or negative) for lifetimes under {@link minSupportedLifetimeMs}.
 */
export function refreshMarkMs(lifetimeMs: number, options: PolicyOptions): number {
  const lifetime = Math.max(0, lifetimeMs);
  return Math.min(Math.floor(lifetime * options.refreshAtFraction), lifetime - 2 * options.sweepIntervalMs - servingMarginMs(lifetime));
}

/** Whether the broker can keep a token of some lifetime fresh without writing it more often than the write interval allows. */
export type LifetimeCheck = { supported: true; refreshMarkMs: number } | { supported: false; refreshMarkMs: number; minimumMs: number };

/**
 * Decides whether a token lifetime is supported: its refresh mark must come no sooner than the
 * minimum write interval. `orgs add`, local mode's start-up and every refresh ask this one function.
 */
export function checkTokenLifetime(lifetimeMs: number, options: PolicyOptions): LifetimeCheck {
  const mark = refreshMarkMs(lifetimeMs, options);
  if (mark >= options.minWriteIntervalMs) return { supported: true, refreshMarkMs: mark };
  return { supported: false, refreshMarkMs: mark, minimumMs: minSupportedLifetimeMs(options) };
}

/**
 * The shortest token lifetime (whole milliseconds) whose refresh mark is at least the minimum write
 * interval: 1 333 333 ms (Genesys lifetimes are whole seconds: 1334 s, 22 min 14 s) with the defaults
 * (a 5-minute sweep, a 10-minute write interval, 0.75). Found by a binary search over
 * {@link refreshMarkMs}, which never decreases as the lifetime grows, so the two cannot disagree.
 */
export function minSupportedLifetimeMs(options: PolicyOptions): number {
  const target = options.minWriteIntervalMs;
  // The mark of a zero lifetime is minus two sweep intervals: always short of any target.
  let short = 0;
  let enough = 1;
  while (refreshMarkMs(enough, options) < target) {
    short = enough;
    enough *= 2;
  }
  while (enough - short > 1) {
    const mid = short + Math.floor((enough - short) / 2);
    if (refreshMarkMs(mid, options) >= target) enough = mid;
    else short = mid;
  }
  return enough;
}

/** `22 min 14 s`, `1 h 5 min`, `45 s`. */
function humanSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h} h` : '', m ? `${m} min` : '', s || (!h && !m) ? `${s} s` : ''].filter(Boolean).join(' ');
}

/**
 * Why a lifetime is refused, in the words every refusal uses (audit record, `orgs add`, local mode):
 * the lifetime, the minimum and the two intervals it follows from. Numbers only, never a token.
 */
export function describeShortLifetime(lifetimeMs: number, options: PolicyOptions): string {
  // Genesys lifetimes are whole seconds: the minimum rounds up, the lifetime to the nearest second.
  const minimum = Math.ceil(minSupportedLifetimeMs(options) / 1000);
  return (
    `token lifetime ${Math.round(lifetimeMs / 1000)} s is below the minimum of ${minimum} s (${humanSeconds(minimum)}) ` +
    `for a ${Math.ceil(options.sweepIntervalMs / 1000)} s sweep interval and a ${Math.ceil(options.minWriteIntervalMs / 1000)} s minimum write interval`
  );
}

/**
 * The one rule for when a token's refresh is scheduled: at `markMs`, but never sooner than the minimum
 * write interval after the token's issue (for a lifetime below the supported minimum, that is after
 * the mark, possibly after the expiry).
 */
function notBeforeWriteInterval(issuedAtMs: number, markMs: number, options: PolicyOptions): number {
  return Math.max(markMs, issuedAtMs + options.minWriteIntervalMs);
}

/**
 * When a token issued at `issuedAtMs` and expiring at `expiresAtMs` should be refreshed: at its
 * refresh mark ({@link refreshMarkMs}), or earlier if Genesys says it idles out before that, but never
 * sooner than the minimum write interval after its issue.
 */
export function computeRefreshAt(issuedAtMs: number, expiresAtMs: number, options: PolicyOptions, idlesAtMs?: number): number {
  let markMs = issuedAtMs + refreshMarkMs(expiresAtMs - issuedAtMs, options);
  if (idlesAtMs !== undefined) markMs = Math.min(markMs, idlesAtMs - options.idleMarginMs);
  return notBeforeWriteInterval(issuedAtMs, markMs, options);
}

export type RefreshReason =
  | 'never_issued'
  | 'at_refresh_mark'
  | 'expired'
  | 'forced'
  | 'retry_due'
  | 'credentials_changed'
  /** A consumer reported the token rejected by Genesys, and GET tokens/me did not vouch for it. */
  | 'rejected'
  /** The getter found no token in the vault although the org's state says it has one. */
  | 'missing';

export type SkipReason = 'disabled' | 'not_due' | 'backing_off';

export type RefreshDecision = { due: true; reason: RefreshReason } | { due: false; reason: SkipReason };

/**
 * When the policy next considers an org due, and why:
 * - `none`: disabled, never refreshed;
 * - `due`: now (`credentials_changed`, `never_issued`);
 * - `retry`: after a failure, at `nextAttemptAtMs` (`retry_due`);
 * - `scheduled`: at the token's refresh mark, or its expiry if that comes first, never sooner than the
 *   minimum write interval after its issue (`at_refresh_mark`, or `expired` once the token has run out).
 * `atMs` may lie in the past: the org is then due now. The engine, the CLI's `status` and local mode's
 * status all read this one answer.
 */
export type NextRefresh =
  | { kind: 'none'; reason: 'disabled' }
  | { kind: 'due' | 'retry' | 'scheduled'; atMs: number; reason: Exclude<RefreshReason, 'forced'> };

export function nextRefreshAt(org: Pick<OrgRecord, 'enabled' | 'credentialsVersion' | 'state'>, nowMs: number, policy: PolicyOptions): NextRefresh {
  if (!org.enabled) return { kind: 'none', reason: 'disabled' };
  const s = org.state;
  // New credentials override any backoff: the operator just fixed what was failing.
  if (s.credentialsVersionUsed !== undefined && s.credentialsVersionUsed !== org.credentialsVersion) {
    return { kind: 'due', atMs: nowMs, reason: 'credentials_changed' };
  }
  if (s.consecutiveFailures > 0 && s.nextAttemptAtMs !== undefined) return { kind: 'retry', atMs: s.nextAttemptAtMs, reason: 'retry_due' };
  if (s.issuedAtMs === undefined || s.expiresAtMs === undefined) return { kind: 'due', atMs: nowMs, reason: 'never_issued' };
  const markMs = s.refreshAtMs ?? computeRefreshAt(s.issuedAtMs, s.expiresAtMs, policy, s.idlesAtMs);
  // A stored mark past the expiry (a damaged record) is pulled back to it, but never before the write interval.
  const atMs = notBeforeWriteInterval(s.issuedAtMs, Math.min(markMs, s.expiresAtMs), policy);
  return { kind: 'scheduled', atMs, reason: nowMs >= s.expiresAtMs ? 'expired' : 'at_refresh_mark' };
}

/**
 * Decides whether an org's token must be refreshed now, from {@link nextRefreshAt}. A forced refresh
 * overrides backoff (never a disabled org); otherwise a failing org waits for its `nextAttemptAtMs`.
 */
export function shouldRefresh(
  org: Pick<OrgRecord, 'enabled' | 'credentialsVersion' | 'state'>,
  nowMs: number,
  policy: PolicyOptions,
  options: { force?: boolean } = {},
): RefreshDecision {
  if (!org.enabled) return { due: false, reason: 'disabled' };
  if (options.force) return { due: true, reason: 'forced' };
  const next = nextRefreshAt(org, nowMs, policy);
  if (next.kind === 'none') return { due: false, reason: 'disabled' };
  if (nowMs >= next.atMs) return { due: true, reason: next.reason };
  return { due: false, reason: next.kind === 'retry' ? 'backing_off' : 'not_due' };
}

/**
 * Failures only a person can cure: the org's refresh token is spent or invalid, or may be. Retrying
 * would present a dead token again (and can make Genesys revoke the whole token family), so nothing
 * retries on a timer; new credentials (`orgs add` or `orgs authorize`) or a forced refresh do.
 */
const NEEDS_REAUTHORIZATION: ReadonlySet<ErrorCode> = new Set(['invalid_grant', 'refresh_outcome_unknown', 'refresh_token_persist_failed']);

export function needsReauthorization(code: ErrorCode | undefined): boolean {
  return code !== undefined && NEEDS_REAUTHORIZATION.has(code);
}

/** `nextAttemptAtMs` of an org that waits for an operator. */
export const NEVER = Number.MAX_SAFE_INTEGER;

/**
 * When to try again after a failure: never, for a failure that needs re-authorization; otherwise
 * exponential (base, 2x base, 4x base ... capped), at least as long as Genesys' Retry-After, and
 * never later than the current token's expiry minus the safety margin (while that is still in the
 * future), so a transient blip cannot let a token lapse.
 */
export function nextAttemptAfterFailure(
  state: Pick<TokenState, 'consecutiveFailures' | 'expiresAtMs'>,
  nowMs: number,
  failure: { failureClass: FailureClass; retryAfterMs?: number; code?: ErrorCode },
  options: PolicyOptions,
): number {
  if (needsReauthorization(failure.code)) return NEVER;
  const failures = Math.max(1, state.consecutiveFailures);
  let delay = Math.min(options.backoffCapMs, options.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
  if (failure.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(failure.retryAfterMs, options.backoffCapMs));
  let next = nowMs + delay;
  if (state.expiresAtMs !== undefined) {
    const latest = state.expiresAtMs - options.safetyMarginMs;
    if (latest > nowMs && next > latest) next = latest;
  }
  return next;
}

export type Health = 'healthy' | 'refresh_due' | 'at_risk' | 'expired' | 'failing' | 'disabled';

export interface HealthReport {
  health: Health;
  /** Seconds of token life left (negative when expired), undefined when never issued. */
  expiresInSeconds?: number;
  lastErrorCode?: ErrorCode;
}

/**
 * An org's health:
 * - disabled: an operator turned it off;
 * - expired: no valid token (expired, or never issued after a transient failure);
 * - failing: the last attempt failed permanently (bad credentials, wrong org) and no token has
 *   expired yet, or none was ever issued: needs an operator;
 * - at_risk: the last attempt failed and the token is past its refresh mark (little life left);
 * - refresh_due: past the refresh mark (or never issued), no failure yet;
 * - healthy: otherwise.
 */
export function orgHealth(org: Pick<OrgRecord, 'enabled' | 'state'>, nowMs: number): HealthReport {
  const s = org.state;
  const expiresInSeconds = s.expiresAtMs !== undefined ? Math.floor((s.expiresAtMs - nowMs) / 1000) : undefined;
  const base = { ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}), ...(s.lastErrorCode ? { lastErrorCode: s.lastErrorCode } : {}) };
  if (!org.enabled) return { health: 'disabled', ...base };
  const failed = s.lastOutcome === 'failure';
  const hasValidToken = s.expiresAtMs !== undefined && s.expiresAtMs > nowMs;
  const permanent = failed && s.lastErrorClass === 'permanent';
  // Never issued and refused for good (wrong secret, wrong org): the operator must act, so "failing".
  if (s.expiresAtMs === undefined && permanent) return { health: 'failing', ...base };
  if (!hasValidToken && (s.expiresAtMs !== undefined || failed)) return { health: 'expired', ...base };
  if (permanent) return { health: 'failing', ...base };
  const pastMark = s.refreshAtMs === undefined || nowMs >= s.refreshAtMs;
  if (failed && pastMark) return { health: 'at_risk', ...base };
  if (pastMark) return { health: 'refresh_due', ...base };
  return { health: 'healthy', ...base };
}

/**
 * Whether a health counts as "at risk": the org's token is gone or will be unless someone or something
 * acts (`at_risk`, `expired`, `failing`). `failing` too: a permanent failure (revoked client, spent
 * refresh token) waits for a person, and the token it still has runs out all the same. The
 * `OrgsAtRisk` metric counts these, and an org entering one gets a `Genesys Org At Risk` event (org-events.ts).
 */
export function countsAsAtRisk(health: Health): boolean {
  return health === 'at_risk' || health === 'expired' || health === 'failing';
}

/**
 * A token fetched when it is already inside its margin (the broker is late refreshing it) is still
 * served, since it is valid, but re-read after at most this long rather than on every call: the newer
 * token shows up within seconds and a busy reader does not hammer the store meanwhile.
 */
export const NEAR_EXPIRY_RECHECK_MS = 5_000;

/** Why a cached token stops being served when it does. */
export type CacheExpiryReason = 'max_age' | 'replacement' | 'refresh_margin' | 'near_expiry';

/** What the fresh and cache windows are computed from; `idlesAtMs` when Genesys reported an idle timeout. */
export interface TokenTimes {
  expiresAtMs: number;
  lifetimeMs: number;
  marginMs: number;
  idlesAtMs?: number;
}

/** When the token stops working at all: its expiry, or its idle time if that comes first. */
function tokenEndMs(input: Pick<TokenTimes, 'expiresAtMs' | 'idlesAtMs'>): number {
  return input.idlesAtMs === undefined ? input.expiresAtMs : Math.min(input.expiresAtMs, input.idlesAtMs);
}

/**
 * Until when a token counts as fresh: `expiresAtMs` minus its {@link servingMarginMs} (with `marginMs`
 * as the cap); never past the time Genesys said it idles out.
 */
export function tokenFreshUntil(input: TokenTimes): number {
  const freshMs = input.expiresAtMs - servingMarginMs(input.lifetimeMs, input.marginMs);
  return Math.min(freshMs, tokenEndMs(input));
}

/**
 * How long after a token's refresh mark a reader looks for its replacement: the broker writes it at
 * the first sweep at or after the mark, within one schedule interval (5 minutes by default).
 */
export const REPLACEMENT_DELAY_MS = 5 * 60_000;

/**
 * How long a reader (the getter's container cache, the consumer library's cache) may serve a token
 * fetched at `fetchedAtMs` without fetching it again: until the earliest of `fetchedAtMs + maxAgeMs`
 * (when a cap is given), the time its replacement is written (`replacedAtMs`, when the reader knows
 * the token's refresh mark: `refreshAt + REPLACEMENT_DELAY_MS + jitter`; a token already past it is
 * looked at again one REPLACEMENT_DELAY_MS later) and {@link tokenFreshUntil}. A token already past its
 * fresh time when fetched gets a short recheck window instead ({@link NEAR_EXPIRY_RECHECK_MS}, never
 * beyond its expiry, its idle time or the max age). An `untilMs` at or before `fetchedAtMs` means
 * "do not cache".
 */
export function tokenCacheUntil(input: TokenTimes & { fetchedAtMs: number; maxAgeMs?: number; replacedAtMs?: number }): {
  untilMs: number;
  reason: CacheExpiryReason;
} {
  const { fetchedAtMs, maxAgeMs, replacedAtMs } = input;
  const freshUntilMs = tokenFreshUntil(input);
  const maxAgeUntilMs = maxAgeMs === undefined ? Infinity : fetchedAtMs + maxAgeMs;
  if (freshUntilMs > fetchedAtMs) {
    // Earlier bounds first, so a tie names the cap the caller chose.
    const bounds: [number, CacheExpiryReason][] = [[maxAgeUntilMs, 'max_age']];
    if (replacedAtMs !== undefined) bounds.push([replacedAtMs > fetchedAtMs ? replacedAtMs : fetchedAtMs + REPLACEMENT_DELAY_MS, 'replacement']);
    bounds.push([freshUntilMs, 'refresh_margin']);
    const [untilMs, reason] = bounds.reduce((best, bound) => (bound[0] < best[0] ? bound : best));
    return { untilMs, reason };
  }
  return { untilMs: Math.min(maxAgeUntilMs, fetchedAtMs + NEAR_EXPIRY_RECHECK_MS, tokenEndMs(input)), reason: 'near_expiry' };
}
