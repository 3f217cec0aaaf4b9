/**
 * The CLI's own AWS calls, made through the AWS adapters: CloudFormation DescribeStacks (stack outputs)
 * and Lambda Invoke (the refresher). Clients use the SDK's standard credential chain, region and
 * endpoint resolution, so `AWS_PROFILE`, `AWS_REGION` and `AWS_ENDPOINT_URL_<SERVICE>` work as
 * everywhere else. The adapters are imported lazily: `--help` and local mode never load the SDK.
 */
import type { SweepSummary } from '../../lambdas/core/engine.js';
import { CliFailure, EXIT } from './exit-codes.js';
import { REQUIRED_STACK_OUTPUTS, STACK_OUTPUT_KEYS } from '../stack-outputs.js';

/** What the CLI needs from a deployed stack. */
export interface StackTarget {
  stackName: string;
  registryTable: string;
  auditTable: string;
  secretPrefix: string;
  refresherFunction: string;
  getterFunction?: string;
  alarmTopicArn?: string;
  /** The broker's customer-managed key: credentials and token secrets the CLI creates use it too. */
  encryptionKeyArn?: string;
}

/** Reads the broker stack's outputs. Missing stack: exit 4; missing outputs: exit 1 naming them. */
export async function describeStackTarget(stackName: string): Promise<StackTarget> {
  const { describeStack } = await import('../../lambdas/adapters/aws/cloudformation-stack.js');
  const stack = await describeStack(stackName);
  if (!stack) {
    throw new CliFailure(EXIT.notFound, `stack ${stackName} does not exist in this account and region`, [
      'check AWS_REGION / AWS_PROFILE, or the stack name (cdk deploy prints it)',
    ]);
  }
  const { outputs } = stack;
  const missing = REQUIRED_STACK_OUTPUTS.filter((key) => !outputs.has(key));
  if (missing.length > 0) {
    throw new CliFailure(EXIT.failed, `stack ${stackName} lacks the output${missing.length === 1 ? '' : 's'} ${missing.join(', ')}; is it a genesys-token-broker stack, fully deployed?`, [
      `stack status: ${stack.status ?? 'unknown'}`,
    ]);
  }
  const getterFunction = outputs.get(STACK_OUTPUT_KEYS.getterFunctionName);
  const alarmTopicArn = outputs.get(STACK_OUTPUT_KEYS.alarmTopicArn);
  const encryptionKeyArn = outputs.get(STACK_OUTPUT_KEYS.encryptionKeyArn);
  return {
    stackName,
    registryTable: outputs.get(STACK_OUTPUT_KEYS.registryTableName)!,
    auditTable: outputs.get(STACK_OUTPUT_KEYS.auditTableName)!,
    secretPrefix: outputs.get(STACK_OUTPUT_KEYS.secretPrefix)!,
    refresherFunction: outputs.get(STACK_OUTPUT_KEYS.refresherFunctionName)!,
    ...(getterFunction ? { getterFunction } : {}),
    ...(alarmTopicArn ? { alarmTopicArn } : {}),
    ...(encryptionKeyArn ? { encryptionKeyArn } : {}),
  };
}

/** The manual refresher event: `{ orgIds?, force? }`, keys only when set (the handler is strict). */
export interface RefresherEvent {
  orgIds?: string[];
  force?: boolean;
}

/**
 * Invokes the refresher synchronously and returns its sweep summary. One attempt only: a retried
 * invocation would start a second sweep (harmless under the leases, but confusing to read).
 */
export async function invokeRefresher(functionName: string, event: RefresherEvent): Promise<SweepSummary> {
  const { createLambdaInvoker } = await import('../../lambdas/adapters/aws/lambda-invoker.js');
  const invoker = createLambdaInvoker({ functionName, maxAttempts: 1 });
  try {
    const out = await invoker.invoke(event);
    let body: unknown;
    try {
      body = out.payload === '' ? undefined : JSON.parse(out.payload);
    } catch {
      throw new CliFailure(EXIT.failed, `refresher ${functionName} returned a payload that is not JSON`);
    }
    if (out.functionError) {
      const { errorType, errorMessage } = (typeof body === 'object' && body !== null ? body : {}) as { errorType?: unknown; errorMessage?: unknown };
      const detail = [errorType, errorMessage].filter((s): s is string => typeof s === 'string').join(': ');
      throw new CliFailure(EXIT.failed, `refresher ${functionName} failed (${out.functionError}${detail ? `: ${detail.slice(0, 500)}` : ''})`, [
        'its CloudWatch logs have the details',
      ]);
    }
    if (!isSweepSummary(body)) throw new CliFailure(EXIT.failed, `refresher ${functionName} returned something other than a sweep summary`);
    return body;
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceNotFoundException') {
      throw new CliFailure(EXIT.notFound, `refresher function ${functionName} does not exist in this account and region`);
    }
    throw err;
  } finally {
    invoker.close();
  }
}

function isSweepSummary(value: unknown): value is SweepSummary {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<SweepSummary>;
  return typeof v.examined === 'number' && typeof v.refreshed === 'number' && Array.isArray(v.results) && typeof v.failed === 'object';
}

/** What to check for the AWS errors an operator meets most; any other name gets no hint. */
const AWS_ERROR_HINTS: Readonly<Record<string, string>> = Object.freeze({
  AccessDeniedException: 'your AWS identity lacks a permission for this call: check its IAM policy (and the KMS key policy)',
  AccessDenied: 'your AWS identity lacks a permission for this call: check its IAM policy',
  UnrecognizedClientException: 'the AWS credentials are not valid in this account or region: check AWS_PROFILE and AWS_REGION',
  ExpiredTokenException: 'the AWS session has expired: sign in again (aws sso login, or fresh credentials)',
  ResourceNotFoundException: 'a table, secret or function is missing in this account and region: check AWS_REGION and the target flags',
  ThrottlingException: 'AWS throttled the call: try again shortly',
  KMSAccessDeniedException: 'the broker key refused this identity: check the KMS key policy',
});

/**
 * A failure from the AWS SDK, described by the exception name, HTTP status and request id only. The
 * SDK's message is never printed: it can quote ARNs, account ids, key policies or an upstream body,
 * and the request id is what AWS support and CloudTrail need.
 */
export function describeAwsError(err: unknown): { message: string; hints: string[] } | undefined {
  if (!(err instanceof Error)) return undefined;
  const isSdk = '$metadata' in err || '$fault' in err || err.name === 'CredentialsProviderError';
  if (err.name === 'CredentialsProviderError' || /Could not load credentials/i.test(err.message)) {
    return { message: 'no AWS credentials found', hints: ['the standard chain is used: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, instance roles'] };
  }
  if (/Region is missing/i.test(err.message)) {
    return { message: 'no AWS region configured', hints: ['set AWS_REGION, or a region in your AWS profile'] };
  }
  if (!isSdk) return undefined;
  const metadata = (err as { $metadata?: { httpStatusCode?: unknown; requestId?: unknown } }).$metadata ?? {};
  const name = /^[A-Za-z][A-Za-z0-9_.]{0,99}$/.test(err.name) ? err.name : 'Error';
  const status = typeof metadata.httpStatusCode === 'number' ? `HTTP ${metadata.httpStatusCode}` : undefined;
  const requestId = typeof metadata.requestId === 'string' && /^[A-Za-z0-9:/_=+-]{1,128}$/.test(metadata.requestId) ? `request id ${metadata.requestId}` : undefined;
  const details = [status, requestId].filter(Boolean).join(', ');
  const hint = Object.hasOwn(AWS_ERROR_HINTS, name) ? AWS_ERROR_HINTS[name] : undefined;
  return { message: `AWS ${name}${details ? ` (${details})` : ''}`, hints: hint ? [hint] : [] };
}
