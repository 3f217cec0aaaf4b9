/**
 * middy middleware that puts the org's Genesys token on `context.genesysToken` before the handler
 * runs, and a helper for the "Genesys answered 401" case.
 *
 * ```ts
 * const tokens = genesysToken({ orgId: ORG_ID }, { source: { secretPrefix: 'genesys-token-broker' } });
 * export const handler = middy<Event, Result, Error, Context & GenesysTokenContext>()
 *   .use(tokens)
 *   .handler(async (event, context) => {
 *     const { accessToken, apiBaseUrl } = context.genesysToken;
 *     ...
 *   });
 * ```
 *
 * Build the middleware at module scope: it owns (or is given) one {@link TokenClient}, whose cache
 * then lives as long as the container. When the token cannot be had, `before` throws the
 * {@link TokenClientError} and middy runs the `onError` middlewares; the handler does not run.
 */
import type { Context } from 'aws-lambda';
import { ValidationError } from '../core/errors.js';
import { createTokenClient, requireOrgId, type GenesysToken, type TokenClient, type TokenClientOptions } from './token-client.js';

/** What the middleware adds to the Lambda context. Intersect it with `Context` in `middy<...>`. */
export interface GenesysTokenContext {
  genesysToken: GenesysToken;
}

/** Which org the handler works for: a fixed one, or one read from each event. */
export type GenesysTokenTarget<TEvent = unknown> = { orgId: string } | { orgIdFrom: (event: TEvent) => string };

/** Either an existing client (to share its cache with other code) or the options to build one. */
export type GenesysTokenMiddlewareOptions = { client: TokenClient } | TokenClientOptions;

/**
 * The middleware object, plus the client it uses (hand it to {@link withTokenRetry}). A middy
 * `MiddlewareObj` by shape: typed structurally so that the client's types need neither @middy/core
 * nor middy at all (the types of `middy().use(...)` check that it fits).
 */
export interface GenesysTokenMiddleware<TEvent = unknown> {
  /** middy names middlewares in its timing hooks. */
  readonly name: string;
  before: (request: { event: TEvent; context: Context & GenesysTokenContext }) => Promise<void>;
  readonly client: TokenClient;
}

function isClient(options: GenesysTokenMiddlewareOptions): options is { client: TokenClient } {
  return 'client' in options;
}

/**
 * Creates the middleware. A fixed `orgId` is validated here, so a typo fails at cold start rather
 * than on the first request; `orgIdFrom` is called per event and its result validated then
 * (`invalid_request`, and nothing is read, when it is not a UUID).
 */
export function genesysToken<TEvent = unknown>(target: GenesysTokenTarget<TEvent>, options: GenesysTokenMiddlewareOptions): GenesysTokenMiddleware<TEvent> {
  if (typeof target !== 'object' || target === null || ('orgId' in target) === ('orgIdFrom' in target) || Object.keys(target).length !== 1) {
    throw new ValidationError('genesysToken: the first argument must be { orgId } or { orgIdFrom }', { code: 'invalid_config', field: 'target' });
  }
  if ('orgIdFrom' in target && typeof target.orgIdFrom !== 'function') {
    throw new ValidationError('genesysToken: orgIdFrom must be a function (event) => orgId', { code: 'invalid_config', field: 'orgIdFrom' });
  }
  const fixedOrgId = 'orgId' in target ? requireOrgId(target.orgId) : undefined;
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('genesysToken: the second argument must be { client } or createTokenClient options', { code: 'invalid_config', field: 'options' });
  }
  let client: TokenClient;
  if (isClient(options)) {
    const extra = Object.keys(options).filter((k) => k !== 'client');
    if (extra.length > 0) {
      throw new ValidationError(`genesysToken: pass either client or createTokenClient options, not both (got ${extra.join(', ')})`, { code: 'invalid_config', field: extra[0]! });
    }
    if (typeof options.client?.getToken !== 'function' || typeof options.client?.invalidate !== 'function') {
      throw new ValidationError('genesysToken: client must be a TokenClient from createTokenClient', { code: 'invalid_config', field: 'client' });
    }
    client = options.client;
  } else {
    client = createTokenClient(options);
  }
  const orgIdFrom = 'orgIdFrom' in target ? target.orgIdFrom : undefined;

  return {
    name: 'genesysToken',
    client,
    before: async (request) => {
      const orgId = fixedOrgId ?? orgIdFrom!(request.event);
      const token = await client.getToken(orgId);
      request.context.genesysToken = token;
    },
  };
}

/**
 * The one place that decides "Genesys refused the token": an HTTP 401, in each shape the common
 * clients report it.
 * - `status`: a fetch `Response` (returned or thrown), errors built from one, and the Genesys Cloud
 *   SDK (`purecloud-platform-client-v2`), whose API calls reject with the Platform API error body
 *   (`{ message, code, status: 401 }`), or with `{ status: 401, statusText, headers, body, error }`
 *   when extended responses are on;
 * - `statusCode`: many HTTP libraries; `response.status`: axios errors; `$metadata.httpStatusCode`:
 *   AWS SDK v3 errors.
 */
export function isUnauthorizedError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { status?: unknown; statusCode?: unknown; response?: { status?: unknown }; $metadata?: { httpStatusCode?: unknown } };
  return e.status === 401 || e.statusCode === 401 || e.response?.status === 401 || e.$metadata?.httpStatusCode === 401;
}

/**
 * Calls `fn` with the org's token. If Genesys refuses the token (the token was revoked, idled out or
 * replaced early), forgets the cached token, reports the refused one to the source, fetches the
 * current one and calls `fn` once more. Refused means: `fn` rejects with an error that
 * {@link isUnauthorizedError} (or `options.isUnauthorized`) recognises, which covers the Genesys
 * Cloud SDK's rejections, or `fn` resolves with a fetch `Response` it recognises (a 401, whose body is
 * discarded). What the second call returns or throws is the caller's, a 401 included; any other error
 * of the first call propagates.
 */
export async function withTokenRetry<T>(
  client: TokenClient,
  orgId: string,
  fn: (token: GenesysToken) => Promise<T>,
  options: { isUnauthorized?: (err: unknown) => boolean } = {},
): Promise<T> {
  const isUnauthorized = options.isUnauthorized ?? isUnauthorizedError;
  const token = await client.getToken(orgId);
  try {
    const result = await fn(token);
    if (!(result instanceof Response) || !isUnauthorized(result)) return result;
    // Release the connection the unread 401 body holds; a body already read or locked is no matter.
    await result.body?.cancel().catch(() => undefined);
  } catch (err) {
    if (!isUnauthorized(err)) throw err;
  }
  // With the refused token, so the getter source has the broker check and replace it now.
  client.invalidate(orgId, token);
  return fn(await client.getToken(orgId));
}
