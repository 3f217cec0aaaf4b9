/**
 * What a call threw, for tests that assert on the error itself, and every string an error exposes
 * (for the "no secret in any error" checks).
 */
import { type BrokerError, UpstreamError } from '../../lambdas/core/errors.js';

/** The rejection of `promise`, failing the test when it resolves. */
export async function caught(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise;
  } catch (err) {
    return err as BrokerError;
  }
  throw new Error('expected a rejection');
}

/** The UpstreamError `fn` throws; anything else, or nothing, fails the test. */
export function caughtUpstream(fn: () => unknown): UpstreamError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error('expected an UpstreamError');
}

/** Every string an error exposes: message, name, own fields and its cause chain. */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    parts.push(current.name, current.message, String(current), JSON.stringify(current));
    current = current.cause;
  }
  return parts.join('\n');
}
