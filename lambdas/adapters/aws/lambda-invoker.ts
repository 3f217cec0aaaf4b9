/**
 * Synchronous Lambda invocation, for the consumer library's getter source and the operator CLI's
 * manual refresh. It sends a JSON payload and hands back the raw answer; SDK exceptions propagate
 * unchanged, so each caller maps them onto its own error contract (by `sdkErrorName`).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

/** The Lambda client type, for callers that pass their own without importing the SDK. */
export type { LambdaClient };

/** What the function answered. */
export interface LambdaInvocation {
  /** The response payload as text ('' when there was none). */
  payload: string;
  /** `Unhandled` (or the legacy `Handled`) when the function itself failed; the payload then describes the error. */
  functionError?: string;
}

export interface LambdaInvoker {
  /** Invokes the function with `event` as its JSON payload (RequestResponse). */
  invoke(event: unknown): Promise<LambdaInvocation>;
  /** Releases the client's sockets when the invoker built it. */
  close(): void;
}

/**
 * An invoker of one function (name, ARN or qualified name). Without a client it builds one with the
 * SDK's defaults (region and credentials from the environment); `maxAttempts` applies only then.
 */
export function createLambdaInvoker(options: { functionName: string; client?: LambdaClient; maxAttempts?: number }): LambdaInvoker {
  const owned = options.client === undefined;
  const client = options.client ?? new LambdaClient(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return {
    async invoke(event) {
      const out = await client.send(new InvokeCommand({ FunctionName: options.functionName, InvocationType: 'RequestResponse', Payload: encoder.encode(JSON.stringify(event)) }));
      return { payload: out.Payload ? decoder.decode(out.Payload) : '', ...(out.FunctionError ? { functionError: out.FunctionError } : {}) };
    },
    close() {
      if (owned) client.destroy();
    },
  };
}
