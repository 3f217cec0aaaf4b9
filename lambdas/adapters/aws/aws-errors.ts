/**
 * AWS SDK exceptions onto the broker's error hierarchy, for every adapter in this folder: one
 * transient-or-not classifier and one mapping onto StoreError. Messages carry the service, the
 * operation, the org and the exception name, never the SDK's message text (a ValidationException
 * message can echo attribute values).
 */
import { BrokerError, type ErrorCode, StoreError } from '../../core/errors.js';

/** Exceptions a later attempt can get past: throttling and service trouble, in any AWS service. */
const TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  // Throttling
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'TransactionConflictException',
  // Service trouble
  'InternalServerError',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  // Time
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

interface SdkErrorShape {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The SDK exception name (`ResourceNotFoundException`, ...), or undefined for anything else. */
export function sdkErrorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/** The HTTP status the service answered with, when there was an answer. */
export function sdkHttpStatus(err: unknown): number | undefined {
  const status = (typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {}).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Whether an AWS failure is worth retrying later: throttling (by name or HTTP 429), 5xx, and failures
 * with no HTTP status at all (connection refused or reset, timeouts) are; other 4xx (validation, a
 * missing resource, access denied, a disabled KMS key) are not.
 */
export function isTransientAwsError(err: unknown): boolean {
  const name = (typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {}).name;
  if (typeof name === 'string' && TRANSIENT_NAMES.has(name)) return true;
  const status = sdkHttpStatus(err);
  if (status !== undefined) return status >= 500 || status === 429;
  return true;
}

/** True for the exception a failed DynamoDB ConditionExpression raises. */
export function isConditionalCheckFailed(err: unknown): boolean {
  return sdkErrorName(err) === 'ConditionalCheckFailedException';
}

/**
 * Wraps an SDK failure in a StoreError with a stable code, transient or permanent by
 * {@link isTransientAwsError}; BrokerErrors pass through unchanged. `operation` names the service and
 * the call: `DynamoDB GetItem on the registry`.
 */
export function toStoreError(err: unknown, code: ErrorCode, operation: string, orgId?: string): BrokerError {
  if (err instanceof BrokerError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  const subject = orgId === undefined ? '' : ` for org ${orgId}`;
  return new StoreError(code, `${operation} failed${subject} (${name})`, {
    cause: err,
    transient: isTransientAwsError(err),
    ...(orgId === undefined ? {} : { orgId }),
  });
}
