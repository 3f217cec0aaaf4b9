/**
 * Public API of the consumer library: what another team's Lambda imports to get a Genesys Cloud
 * token for an org from the broker. See token-client.ts for the sources and the cache, middleware.ts
 * for the middy middleware and the 401 helper, genesys-sdk.ts for the Genesys Cloud Platform SDK,
 * errors.ts for the error codes.
 */
export {
  cacheUntil,
  createTokenClient,
  NEAR_EXPIRY_RECHECK_MS,
  type CacheExpiryReason,
  type GenesysToken,
  type GetterLambdaTokenSource,
  type SecretsManagerTokenSource,
  type TokenClient,
  type TokenClientOptions,
  type TokenSource,
} from './token-client.js';
export {
  genesysToken,
  isUnauthorizedError,
  withTokenRetry,
  type GenesysTokenContext,
  type GenesysTokenMiddleware,
  type GenesysTokenMiddlewareOptions,
  type GenesysTokenTarget,
} from './middleware.js';
export { configureGenesysClient, type GenesysApiClient } from './genesys-sdk.js';
export { GetterInvocationError, isTokenClientError, TokenClientError, type TokenClientErrorCode, type TokenClientErrorOptions } from './errors.js';
