/**
 * The pure half of a refresh attempt. The engine gathers what happened (the facts: what Genesys
 * answered, whether the token was written, what failed) and {@link settleAttempt} decides, with no I/O,
 * what follows from it: the org's new state, whether to record it, the audit record and the log line.
 */
import { BrokerError, type ErrorCode } from './errors.js';
import type { TokenInfo } from './oauth.js';
import {
  checkTokenLifetime,
  computeRefreshAt,
  describeShortLifetime,
  needsReauthorization,
  NEVER,
  nextAttemptAfterFailure,
  type PolicyOptions,
  type RefreshReason,
} from './policy.js';
import type { AuditRecord, AuditTrigger, LogFields, LogLevel, OrgRecord, TokenRecord, TokenState } from './ports.js';
import { apiBaseUrlFor, type GenesysRegion } from './regions.js';

/** What one attempt did. The engine fills it in as the attempt runs. */
export interface AttemptFacts {
  /** The org as read under the lease. */
  org: OrgRecord;
  reason: RefreshReason;
  attemptId: string;
  startedMs: number;
  finishedMs: number;
  trigger: AuditTrigger;
  requestId?: string;
  brokerVersion: string;
  /** HTTP requests made to Genesys. */
  httpAttempts: number;
  /** Status of the token request, when it succeeded. */
  httpStatus?: number;
  /** Set once the token is in the vault. */
  written?: WrittenToken;
  /** The rotated refresh token could not be made durable (the access token may still be written). */
  persistError?: BrokerError;
  /** The attempt failed before the token was written. */
  error?: BrokerError;
}

/** A token the attempt wrote, with what `tokens/me` said about it. */
export interface WrittenToken {
  record: TokenRecord;
  info: TokenInfo;
  expiresInSeconds: number;
}

/** What follows from an attempt's facts. */
export interface SettledAttempt {
  outcome: 'refreshed' | 'failed';
  state: TokenState;
  /**
   * Whether `state` belongs in the registry. Not after a lost lease: another worker owns the org now,
   * and its outcome, not ours, is the one to keep.
   */
  recordState: boolean;
  audit: AuditRecord;
  errorCode?: ErrorCode;
  /** What a failed outcome reports: the attempt's error, a persist failure, or a token lifetime too short. */
  error?: BrokerError;
  /**
   * Someone must act now: a rotated refresh token was lost (re-authorize the org), or Genesys issues
   * tokens shorter than the broker supports (raise the OAuth client's token lifetime).
   */
  critical: boolean;
  log?: { level: LogLevel; message: string; fields: LogFields };
}

/**
 * The token record for a granted, verified token. `issuedAtMs` is when the request was sent, so
 * expiry estimates err early, never late.
 */
export function buildTokenRecord(input: {
  orgId: string;
  region: GenesysRegion;
  accessToken: string;
  expiresInSeconds: number;
  issuedAtMs: number;
  info: TokenInfo;
  clientId: string;
  policy: PolicyOptions;
}): TokenRecord {
  const { issuedAtMs, info } = input;
  const expiresAtMs = issuedAtMs + input.expiresInSeconds * 1000;
  const refreshAtMs = computeRefreshAt(issuedAtMs, expiresAtMs, input.policy, info.idlesAtMs);
  return {
    schemaVersion: 1,
    orgId: input.orgId,
    accessToken: input.accessToken,
    tokenType: 'bearer',
    issuedAt: new Date(issuedAtMs).toISOString(),
    expiresAt: new Date(expiresAtMs).toISOString(),
    refreshAt: new Date(refreshAtMs).toISOString(),
    region: input.region.domain,
    apiBaseUrl: apiBaseUrlFor(input.region),
    oauthClientId: info.oauthClientId ?? input.clientId,
    scopes: info.authorizedScope,
    ...(info.idlesAtMs !== undefined ? { idlesAt: new Date(info.idlesAtMs).toISOString() } : {}),
  };
}

/** Maps an attempt's facts to the org's new state, the audit record and the log line. Pure. */
export function settleAttempt(facts: AttemptFacts, policy: PolicyOptions): SettledAttempt {
  const { org } = facts;
  const baseAudit = {
    orgId: org.orgId,
    attemptId: facts.attemptId,
    at: new Date(facts.startedMs).toISOString(),
    trigger: facts.trigger,
    reason: facts.reason,
    brokerVersion: facts.brokerVersion,
    durationMs: facts.finishedMs - facts.startedMs,
    attempts: facts.httpAttempts,
    ...(facts.requestId ? { requestId: facts.requestId } : {}),
  };
  if (facts.written) return settleWritten(facts, facts.written, baseAudit, policy);
  const error = facts.error;
  if (!error) throw new TypeError('an attempt without a written token must carry its error');
  const failures = org.state.consecutiveFailures + 1;
  const httpStatus = (error as { httpStatus?: number }).httpStatus;
  const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
  // The old token (if any) stays in the vault and in the state: a failure never overwrites it.
  const state: TokenState = {
    ...org.state,
    lastAttemptAtMs: facts.startedMs,
    lastOutcome: 'failure',
    lastErrorCode: error.code,
    lastErrorClass: error.failureClass,
    consecutiveFailures: failures,
    credentialsVersionUsed: org.credentialsVersion,
  };
  state.nextAttemptAtMs = nextAttemptAfterFailure(state, facts.finishedMs, { failureClass: error.failureClass, code: error.code, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, policy);
  // A spent or possibly spent refresh token: only a person can help, so it is critical.
  const critical = needsReauthorization(error.code);
  return {
    outcome: 'failed',
    state,
    recordState: error.code !== 'lease_held',
    errorCode: error.code,
    error,
    critical,
    audit: {
      ...baseAudit,
      outcome: 'failure',
      errorCode: error.code,
      errorClass: error.failureClass,
      ...(critical ? { severity: 'critical' as const } : {}),
      ...(httpStatus !== undefined ? { httpStatus } : {}),
      message: error.message,
      ...(org.state.expiresAtMs !== undefined ? { expiresAt: new Date(org.state.expiresAtMs).toISOString() } : {}),
    },
    log: {
      level: critical ? 'critical' : error.failureClass === 'permanent' ? 'error' : 'warn',
      message: 'token refresh failed',
      fields: {
        orgId: org.orgId,
        region: org.region,
        reason: facts.reason,
        errorCode: error.code,
        errorClass: error.failureClass,
        attempt: facts.httpAttempts,
        consecutiveFailures: failures,
      },
    },
  };
}

/**
 * A written token whose lifetime is below the supported minimum ({@link checkTokenLifetime}): it is
 * valid, so it stays written and served (for a refresh_token org the rotation has happened anyway),
 * but only a person can fix the OAuth client's token lifetime. Its refresh waits for the write interval.
 */
function lifetimeTooShort(org: OrgRecord, record: TokenRecord, policy: PolicyOptions): BrokerError | undefined {
  const lifetimeMs = Date.parse(record.expiresAt) - Date.parse(record.issuedAt);
  if (checkTokenLifetime(lifetimeMs, policy).supported) return undefined;
  return new BrokerError(
    'token_lifetime_too_short',
    `org ${org.orgId}: ${describeShortLifetime(lifetimeMs, policy)}; the token is served, the next refresh waits until ${record.refreshAt}: raise the OAuth client's token lifetime in Genesys Cloud`,
    { orgId: org.orgId },
  );
}

function settleWritten(facts: AttemptFacts, written: WrittenToken, baseAudit: Omit<AuditRecord, 'outcome'>, policy: PolicyOptions): SettledAttempt {
  const { org } = facts;
  const { record, info } = written;
  const persistError = facts.persistError;
  // A lost refresh token is the graver problem: it stops the org until re-authorization, whose first
  // refresh then meets the short lifetime again.
  const problem = persistError ?? lifetimeTooShort(org, record, policy);
  const issuedAtMs = Date.parse(record.issuedAt);
  const state: TokenState = {
    issuedAtMs,
    expiresAtMs: Date.parse(record.expiresAt),
    refreshAtMs: Date.parse(record.refreshAt),
    ...(info.idlesAtMs !== undefined ? { idlesAtMs: info.idlesAtMs } : {}),
    lastAttemptAtMs: facts.startedMs,
    lastOutcome: problem ? 'failure' : 'success',
    ...(problem ? { lastErrorCode: problem.code, lastErrorClass: problem.failureClass } : {}),
    consecutiveFailures: problem ? org.state.consecutiveFailures + 1 : 0,
    credentialsVersionUsed: org.credentialsVersion,
    ...(record.oauthClientId ? { oauthClientId: record.oauthClientId } : {}),
    // The rejection-check rate limit outlives the refresh it led to.
    ...(org.state.rejectionCheckedAtMs !== undefined ? { rejectionCheckedAtMs: org.state.rejectionCheckedAtMs } : {}),
  };
  // The stored refresh token is spent, so any retry would only earn invalid_grant (and may trip
  // Genesys' reuse detection): wait for an operator to re-authorize (credentials_changed). A short
  // lifetime sets no retry time: the org is refreshed at its refresh time, which the write interval holds back.
  if (persistError) state.nextAttemptAtMs = NEVER;
  return {
    outcome: problem ? 'failed' : 'refreshed',
    state,
    recordState: true,
    ...(problem ? { errorCode: problem.code, error: problem } : {}),
    critical: problem !== undefined,
    audit: {
      ...baseAudit,
      outcome: problem ? 'failure' : 'success',
      ...(facts.httpStatus !== undefined ? { httpStatus: facts.httpStatus } : {}),
      expiresAt: record.expiresAt,
      oauthClientId: record.oauthClientId,
      ...(info.oauthClientName ? { oauthClientName: info.oauthClientName } : {}),
      scopes: record.scopes,
      ...(problem ? { errorCode: problem.code, errorClass: problem.failureClass, severity: 'critical' as const, message: problem.message } : {}),
    },
    // A persist failure was logged as critical when it happened; a short lifetime is logged here.
    ...(persistError ? {} : { log: writtenLog(facts, written, problem) }),
  };
}

function writtenLog(facts: AttemptFacts, written: WrittenToken, problem: BrokerError | undefined): NonNullable<SettledAttempt['log']> {
  const fields = { orgId: facts.org.orgId, region: written.record.region, reason: facts.reason, attempt: facts.httpAttempts, expiresInSeconds: written.expiresInSeconds };
  if (!problem) return { level: 'info', message: 'token refreshed', fields };
  return {
    level: 'critical',
    message: "token refreshed with a lifetime below the supported minimum; raise the OAuth client's token lifetime",
    fields: { ...fields, errorCode: problem.code, refreshAt: written.record.refreshAt },
  };
}
