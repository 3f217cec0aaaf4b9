/**
 * One error hierarchy for the whole broker. Every error carries a stable snake_case `code` that
 * callers, audit records, metrics and HTTP/Lambda responses branch on. Messages name the org and the
 * failure; they never carry a token, a secret or a raw upstream body.
 */
import type { UnreadableOrg } from './ports.js';

/** How a failure should be treated by retry and policy logic. */
export type FailureClass = 'permanent' | 'rate_limited' | 'transient';

/**
 * Every stable error code, with the failure classes an error carrying it can have. Adding a code is
 * fine; renaming one breaks alarms and consumers. README.md's error table is checked against this list
 * (test/core/errors.test.ts), in both directions.
 *
 * Storage codes are `transient` or `permanent` by their cause: throttling, 5xx and network failures
 * are transient, access denied, a missing resource or a refused key are permanent.
 */
export const ERROR_CODE_CLASSES = Object.freeze({
  // OAuth errors reported by the Genesys login host
  invalid_client: ['permanent'],
  unauthorized_client: ['permanent'],
  invalid_grant: ['permanent'],
  unsupported_grant_type: ['permanent'],
  invalid_scope: ['permanent'],
  access_denied: ['permanent'],
  auth_rejected: ['permanent'],
  // Token verification
  org_mismatch: ['permanent'],
  token_rejected: ['permanent'],
  // Transport and upstream health
  rate_limited: ['rate_limited'],
  upstream_unavailable: ['transient'],
  timeout: ['transient'],
  network_error: ['transient'],
  malformed_response: ['transient'],
  invalid_token_response: ['transient'],
  deadline_exceeded: ['transient'],
  refresh_outcome_unknown: ['permanent'],
  // Broker state and storage
  missing_refresh_token: ['permanent'],
  credentials_changed_during_refresh: ['transient'],
  credentials_unavailable: ['transient', 'permanent'],
  refresh_token_persist_failed: ['permanent'],
  token_lifetime_too_short: ['permanent'],
  vault_write_failed: ['transient', 'permanent'],
  registry_write_failed: ['transient', 'permanent'],
  registry_unavailable: ['transient', 'permanent'],
  audit_write_failed: ['transient', 'permanent'],
  version_conflict: ['transient'],
  lease_held: ['transient'],
  refresher_unavailable: ['transient', 'permanent'],
  // Input and configuration
  invalid_request: ['permanent'],
  invalid_config: ['permanent'],
  unknown_region: ['permanent'],
  org_not_found: ['permanent'],
  org_disabled: ['permanent'],
  org_not_allowed: ['permanent'],
  token_unavailable: ['transient', 'permanent'],
  internal_error: ['permanent'],
} as const satisfies Record<string, readonly FailureClass[]>);

/** Stable error codes: see {@link ERROR_CODE_CLASSES}. */
export type ErrorCode = keyof typeof ERROR_CODE_CLASSES;

/** Every error code, in catalog order. */
export const ERROR_CODES = Object.freeze(Object.keys(ERROR_CODE_CLASSES) as ErrorCode[]);

export interface BrokerErrorOptions extends ErrorOptions {
  orgId?: string;
}

/** Base class: `code` is stable, `name` is the subclass name, `cause` is kept. */
export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly orgId?: string;

  constructor(code: ErrorCode, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.orgId !== undefined) this.orgId = options.orgId;
  }

  /** How retry logic should treat this error. Subclasses that know better override it. */
  get failureClass(): FailureClass {
    return 'permanent';
  }
}

export interface UpstreamErrorOptions extends BrokerErrorOptions {
  failureClass: FailureClass;
  httpStatus?: number;
  retryAfterMs?: number;
  /** How many HTTP requests were made before giving up. */
  attempts?: number;
  /** org_mismatch only: the organization the token really belongs to. */
  actualOrgId?: string;
  /** network_error only: the system error code of the failed connection (`ECONNREFUSED`, ...). */
  transportCode?: string;
}

/** A failure talking to Genesys Cloud (login or API host). */
export class UpstreamError extends BrokerError {
  readonly #failureClass: FailureClass;
  readonly httpStatus?: number;
  readonly retryAfterMs?: number;
  readonly actualOrgId?: string;
  readonly transportCode?: string;
  attempts: number;

  constructor(code: ErrorCode, message: string, options: UpstreamErrorOptions) {
    super(code, message, options);
    this.#failureClass = options.failureClass;
    if (options.httpStatus !== undefined) this.httpStatus = options.httpStatus;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.actualOrgId !== undefined) this.actualOrgId = options.actualOrgId;
    if (options.transportCode !== undefined) this.transportCode = options.transportCode;
    this.attempts = options.attempts ?? 1;
  }

  override get failureClass(): FailureClass {
    return this.#failureClass;
  }
}

/** Bad input from a caller or an operator. Nothing was changed. */
export class ValidationError extends BrokerError {
  /** Which field or path was wrong (never its value when the field holds a secret). */
  readonly field?: string;

  constructor(message: string, options: BrokerErrorOptions & { field?: string; code?: 'invalid_request' | 'invalid_config' | 'unknown_region' } = {}) {
    super(options.code ?? 'invalid_request', message, options);
    if (options.field !== undefined) this.field = options.field;
  }
}

/** A storage failure in one of the ports (vault, registry, audit, credentials). */
export class StoreError extends BrokerError {
  readonly #transient: boolean;

  constructor(code: ErrorCode, message: string, options: BrokerErrorOptions & { transient?: boolean } = {}) {
    super(code, message, options);
    this.#transient = options.transient ?? true;
  }

  override get failureClass(): FailureClass {
    return this.#transient ? 'transient' : 'permanent';
  }
}

/**
 * A stored record exists but cannot be read or parsed (a torn or hand-edited file). Permanent: only
 * an operator can fix it, so the message names the location and the remedy (never a stored value).
 */
export class UnreadableRecordError extends StoreError {
  readonly unreadable: UnreadableOrg;

  constructor(code: 'registry_unavailable' | 'credentials_unavailable', what: string, unreadable: UnreadableOrg, options: ErrorOptions = {}) {
    super(code, `${what} of org ${unreadable.orgId} (${unreadable.location}) is unreadable: ${unreadable.problem}. ${unreadable.remedy}`, {
      ...options,
      orgId: unreadable.orgId,
      transient: false,
    });
    this.unreadable = unreadable;
  }
}

/** An optimistic-concurrency or lease conflict: someone else changed or holds the item. */
export class ConflictError extends BrokerError {
  constructor(code: 'version_conflict' | 'lease_held' | 'credentials_changed_during_refresh', message: string, options: BrokerErrorOptions = {}) {
    super(code, message, options);
  }

  override get failureClass(): FailureClass {
    return 'transient';
  }
}

/** The org or its token does not exist or cannot be served. */
export class NotFoundError extends BrokerError {
  constructor(code: 'org_not_found' | 'token_unavailable', message: string, options: BrokerErrorOptions = {}) {
    super(code, message, options);
  }
}

/** Wraps anything thrown into a BrokerError without copying its message verbatim into user-facing text. */
export function toBrokerError(err: unknown, fallback: ErrorCode = 'internal_error', orgId?: string): BrokerError {
  if (err instanceof BrokerError) return err;
  const kind = err instanceof Error ? err.name : typeof err;
  return new BrokerError(fallback, `unexpected ${kind}${orgId ? ` for org ${orgId}` : ''}`, {
    cause: err,
    ...(orgId ? { orgId } : {}),
  });
}

/** No valid token can be served for an org right now; `retryAfterSeconds` says when the next attempt runs. */
export class TokenUnavailableError extends BrokerError {
  readonly retryAfterSeconds?: number;

  constructor(message: string, options: BrokerErrorOptions & { retryAfterSeconds?: number } = {}) {
    super('token_unavailable', message, options);
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}
