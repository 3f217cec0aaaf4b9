/**
 * Mapping of DynamoDB SDK exceptions onto the broker's error hierarchy, shared by the registry,
 * lease and audit adapters. Messages carry the operation, the org and the exception name, never the
 * SDK's message text (a ValidationException message can echo attribute values).
 */
import { BrokerError, StoreError, type ErrorCode } from '../../core/errors.js';

/** Exceptions that a later attempt can succeed past (throttling, service trouble). */
const TRANSIENT_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'TransactionConflictException',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);

interface SdkErrorShape {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** True for the exception a failed ConditionExpression raises. */
export function isConditionalCheckFailed(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/**
 * Whether a DynamoDB failure is worth retrying: throttling and 5xx are; other 4xx (validation,
 * missing table, access denied) are not; a failure with no HTTP status (connection refused, reset)
 * is treated as transient.
 */
export function isTransientDynamoDbError(err: unknown): boolean {
  const shape = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  if (typeof shape.name === 'string' && TRANSIENT_NAMES.has(shape.name)) return true;
  const status = shape.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status >= 500;
  return true;
}

/** Wraps an SDK failure in a StoreError with a stable code; BrokerErrors pass through unchanged. */
export function toStoreError(err: unknown, code: ErrorCode, operation: string, orgId?: string): BrokerError {
  if (err instanceof BrokerError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  const subject = orgId === undefined ? '' : ` for org ${orgId}`;
  return new StoreError(code, `DynamoDB ${operation} failed${subject} (${name})`, {
    cause: err,
    transient: isTransientDynamoDbError(err),
    ...(orgId === undefined ? {} : { orgId }),
  });
}
