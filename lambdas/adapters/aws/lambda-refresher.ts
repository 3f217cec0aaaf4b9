/**
 * The refresher Lambda as the getter's {@link OnDemandRefresher}: a synchronous invoke with
 * `{ "onDemand": <OnDemandRequest> }`, answered by an OnDemandResult (never a token). This is what lets
 * the getter's role hold `lambda:InvokeFunction` on the refresher instead of the refresh's privileges.
 * Every way the invoke can fail (throttled, the function failed, an answer that is not a result)
 * becomes an `unavailable` result with `refresher_unavailable`, so the getter can fall back on a
 * still-valid stored token.
 */
import { MAX_ON_DEMAND_BUDGET_MS, type OnDemandRefresher, type OnDemandResult, parseOnDemandResult } from '../../core/on-demand.js';
import type { Clock } from '../../core/ports.js';
import { sdkErrorName } from './aws-errors.js';
import { createLambdaInvoker, type LambdaClient } from './lambda-invoker.js';

export interface LambdaRefresherOptions {
  /** The refresher's function name or ARN. */
  functionName: string;
  clock: Clock;
  /** @default - a LambdaClient with the SDK's defaults */
  client?: LambdaClient;
}

function unavailable(orgId: string, message: string, retryAfterSeconds?: number): OnDemandResult {
  return { orgId, outcome: 'unavailable', errorCode: 'refresher_unavailable', message, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
}

export function createLambdaRefresher(options: LambdaRefresherOptions): OnDemandRefresher & { close(): void } {
  const { functionName, clock } = options;
  // One attempt: the getter's caller is waiting, and a refresh retried blindly would only queue
  // behind the first (the org's lease) or hit the same throttle.
  const invoker = createLambdaInvoker({ functionName, maxAttempts: 1, ...(options.client ? { client: options.client } : {}) });
  return {
    async refresh(request, context) {
      const { orgId } = request;
      const budgetMs = Math.min(MAX_ON_DEMAND_BUDGET_MS, Math.max(1, Math.floor(context.deadlineMs - clock.now())));
      let answer;
      try {
        answer = await invoker.invoke({ onDemand: { ...request, budgetMs } });
      } catch (err) {
        const name = sdkErrorName(err) ?? 'unknown error';
        return unavailable(orgId, `the refresher function could not be invoked for org ${orgId} (${name})`, name === 'TooManyRequestsException' ? 1 : undefined);
      }
      if (answer.functionError) {
        return unavailable(orgId, `the refresher function failed for org ${orgId} (${answer.functionError}); see the refresher's logs`);
      }
      let json: unknown;
      try {
        json = JSON.parse(answer.payload);
      } catch {
        json = undefined;
      }
      const result = parseOnDemandResult(json);
      if (!result || result.orgId !== orgId) {
        return unavailable(orgId, `the refresher function answered something other than an on-demand result for org ${orgId}`);
      }
      return result;
    },
    close: () => invoker.close(),
  };
}
