/**
 * The getter source: invokes the broker's getter Lambda with `{ orgId }` (and `rejectedToken` after a
 * 401). One more hop than reading the secret, but the getter knows the registry (`org_not_found`,
 * `org_disabled`), has an org refreshed on demand when its stored token is missing, about to expire or
 * rejected by Genesys, and may be a scoped getter; needs `broker.grantInvokeGetter(fn)` or
 * `scopedGetter.grantInvoke(fn)`.
 */
import { sdkErrorName, sdkHttpStatus } from '../../adapters/aws/aws-errors.js';
import { createLambdaInvoker, type LambdaClient, type LambdaInvocation } from '../../adapters/aws/lambda-invoker.js';
// zod/mini: consumers bundle this module into their own functions.
import * as z from 'zod/mini';
import { GetterInvocationError, TokenClientError, type TokenClientErrorCode } from '../errors.js';
import { checkNotExpired, type FetchToken, freezeToken } from './source.js';

/** Invoke the broker's getter Lambda. */
export interface GetterLambdaTokenSource {
  /** The getter's function name or ARN (optionally qualified with an alias). */
  getterFunctionName: string;
  /**
   * The client to invoke with.
   * @default - a new LambdaClient with the Lambda's region and role
   */
  client?: LambdaClient;
}

const isoInstant = z.string().check(z.refine((s) => !Number.isNaN(Date.parse(s))));

const getterSuccessSchema = z.object({
  orgId: z.string(),
  accessToken: z.string().check(z.minLength(1)),
  tokenType: z.literal('bearer'),
  expiresAt: isoInstant,
  apiBaseUrl: z.url(),
  region: z.string().check(z.minLength(1)),
  idlesAt: z.optional(isoInstant),
  refreshAt: z.optional(isoInstant),
});

const getterErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    retryAfterSeconds: z.optional(z.number().check(z.nonnegative())),
  }),
});

const GETTER_CODES: ReadonlySet<string> = new Set<TokenClientErrorCode>(['invalid_request', 'org_not_allowed', 'org_not_found', 'org_disabled', 'token_unavailable']);

export function getterLambdaSource(source: GetterLambdaTokenSource): FetchToken {
  const functionName = source.getterFunctionName;
  const invoker = createLambdaInvoker({ functionName, ...(source.client ? { client: source.client } : {}) });
  return async (orgId, nowMs, options = {}) => {
    let out: LambdaInvocation;
    try {
      out = await invoker.invoke({ orgId, ...(options.rejectedToken !== undefined ? { rejectedToken: options.rejectedToken } : {}) });
    } catch (err) {
      throw lambdaError(err, orgId, functionName);
    }
    const text = out.payload;
    if (out.functionError) {
      const errorType = functionErrorType(text);
      throw new GetterInvocationError(`getter function ${functionName} failed for org ${orgId} (${out.functionError}${errorType ? `: ${errorType}` : ''}); see the getter's logs`, {
        orgId,
        functionError: out.functionError,
        ...(errorType ? { errorType } : {}),
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new TokenClientError('token_unavailable', `getter function ${functionName} returned a payload that is not JSON for org ${orgId}`, { orgId });
    }
    const failed = getterErrorSchema.safeParse(json);
    if (failed.success) {
      const { code, message, retryAfterSeconds } = failed.data.error;
      const known = GETTER_CODES.has(code) ? (code as TokenClientErrorCode) : 'token_unavailable';
      // The getter's messages are secret-free by its own contract (they name the org and the failure);
      // the length cap only keeps a misbehaving getter from flooding the consumer's logs.
      const text = message.slice(0, 500);
      throw new TokenClientError(known, known === code ? text : `${text} (${code.slice(0, 64)})`, {
        orgId,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
      });
    }
    const ok = getterSuccessSchema.safeParse(json);
    if (!ok.success) {
      const fields = [...new Set(ok.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
      throw new TokenClientError('token_unavailable', `getter function ${functionName} returned an unexpected response for org ${orgId} (${fields})`, { orgId });
    }
    if (ok.data.orgId.toLowerCase() !== orgId) {
      throw new TokenClientError('token_unavailable', `getter function ${functionName} returned a token for a different org than ${orgId}`, { orgId, transient: false });
    }
    const { accessToken, expiresAt, apiBaseUrl, region, idlesAt, refreshAt } = ok.data;
    const token = freezeToken({ orgId, accessToken, expiresAt, apiBaseUrl, region, ...(idlesAt !== undefined ? { idlesAt } : {}) });
    checkNotExpired(token, nowMs, 'token from the getter');
    // The getter does not say when the token was issued; what is left of it is a lower bound on its
    // lifetime, so the margin cap (10% of the lifetime) errs on the small side.
    return { token, lifetimeMs: Date.parse(token.expiresAt) - nowMs, ...(refreshAt !== undefined ? { refreshAtMs: Date.parse(refreshAt) } : {}) };
  };
}

/** The runtime's `errorType` from a function error payload, if it looks like one (never the message). */
function functionErrorType(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { errorType?: unknown };
    return typeof parsed.errorType === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(parsed.errorType) ? parsed.errorType : undefined;
  } catch {
    return undefined;
  }
}

function lambdaError(err: unknown, orgId: string, functionName: string): TokenClientError {
  const name = sdkErrorName(err) ?? 'unknown error';
  switch (name) {
    case 'ResourceNotFoundException':
      return new TokenClientError('token_unavailable', `getter function ${functionName} does not exist (ResourceNotFoundException); check getterFunctionName`, {
        orgId,
        cause: err,
        transient: false,
      });
    case 'AccessDeniedException':
      return new TokenClientError(
        'access_denied',
        `this function's role may not invoke getter function ${functionName} (AccessDeniedException); add broker.grantInvokeGetter(thisFunction) to the stack`,
        { orgId, cause: err },
      );
    case 'TooManyRequestsException': {
      const retryAfter = Number((err as { retryAfterSeconds?: unknown }).retryAfterSeconds);
      return new TokenClientError('token_unavailable', `getter function ${functionName} is throttled (TooManyRequestsException)`, {
        orgId,
        cause: err,
        ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: Math.ceil(retryAfter) } : {}),
      });
    }
    default: {
      const status = sdkHttpStatus(err);
      const permanent = status !== undefined && status >= 400 && status < 500 && status !== 429;
      return new TokenClientError('token_unavailable', `invoking getter function ${functionName} failed for org ${orgId} (${name})`, { orgId, cause: err, transient: !permanent });
    }
  }
}
