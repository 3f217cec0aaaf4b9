/**
 * Errors of the consumer library. They mirror the getter's error contract
 * (`invalid_request | org_not_allowed | org_not_found | org_disabled | token_unavailable`, with
 * `retryAfterSeconds`) so
 * a consumer branches the same way whichever source it reads from, plus `access_denied` for the one
 * failure that is neither the caller's input nor the broker's state: the consumer's IAM role lacks the
 * grant. Messages name the org, the secret or function, and the failure; never a token.
 */
import { BrokerError, type FailureClass } from '../core/errors.js';

/**
 * Stable codes a consumer branches on.
 * - `invalid_request`: the orgId (or an option) is malformed; nothing was read.
 * - `org_not_allowed`: a scoped getter was asked for an org it does not serve.
 * - `org_not_found`: the broker does not know the org (or it was removed).
 * - `org_disabled`: the org is registered but switched off by an operator.
 * - `token_unavailable`: no valid token right now (not yet written, expired, the broker's last
 *   refresh failed, the service is throttling, the getter failed). Often transient: see `retryAfterSeconds`.
 * - `access_denied`: this function's role may not read the token secret or invoke the getter.
 */
export type TokenClientErrorCode = 'invalid_request' | 'org_not_allowed' | 'org_not_found' | 'org_disabled' | 'token_unavailable' | 'access_denied';

export interface TokenClientErrorOptions extends ErrorOptions {
  orgId?: string;
  /** Seconds after which a retry may succeed, when the broker knows. */
  retryAfterSeconds?: number;
  /** Whether retrying later can help. @default true for token_unavailable, false otherwise */
  transient?: boolean;
}

/** Every failure of `getToken`. `cause` keeps the SDK exception (never a payload) for debugging. */
export class TokenClientError extends BrokerError {
  declare readonly code: TokenClientErrorCode;
  readonly retryAfterSeconds?: number;
  readonly #transient: boolean;

  constructor(code: TokenClientErrorCode, message: string, options: TokenClientErrorOptions = {}) {
    super(code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(options.orgId === undefined ? {} : { orgId: options.orgId }),
    });
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    this.#transient = options.transient ?? code === 'token_unavailable';
  }

  /** `transient` when a later call may succeed without anyone changing configuration. */
  override get failureClass(): FailureClass {
    return this.#transient ? 'transient' : 'permanent';
  }
}

/**
 * The getter Lambda itself failed (it threw, timed out or ran out of memory): Lambda reported a
 * `FunctionError`. Code `token_unavailable`; `errorType` is the runtime's (`Sandbox.Timedout`,
 * `Error`, ...). The getter's error message is not copied here: read the getter's logs for it.
 */
export class GetterInvocationError extends TokenClientError {
  /** `Unhandled` (or the legacy `Handled`), from the `X-Amz-Function-Error` header. */
  readonly functionError: string;
  readonly errorType?: string;

  constructor(message: string, options: TokenClientErrorOptions & { functionError: string; errorType?: string }) {
    super('token_unavailable', message, options);
    this.functionError = options.functionError;
    if (options.errorType !== undefined) this.errorType = options.errorType;
  }
}

/** Type guard for consumers that catch broadly. */
export function isTokenClientError(err: unknown): err is TokenClientError {
  return err instanceof TokenClientError;
}
