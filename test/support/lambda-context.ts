/**
 * A Lambda context for calling handlers directly in tests: a fresh request id per call, and a
 * remaining time that counts down from `remainingMs` like the real one.
 */
import type { Context } from 'aws-lambda';

export function lambdaContext(remainingMs = 60_000): Context {
  const start = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'test-fn',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test-fn',
    memoryLimitInMB: '512',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: '/aws/lambda/test-fn',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => remainingMs - (Date.now() - start),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
