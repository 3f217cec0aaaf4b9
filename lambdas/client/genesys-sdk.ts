/**
 * The Genesys Cloud Platform SDK (`purecloud-platform-client-v2`) with the broker's token.
 *
 * ```ts
 * import platformClient from 'purecloud-platform-client-v2';
 * const apiClient = platformClient.ApiClient.instance;
 * const org = await withTokenRetry(tokens, orgId, (token) =>
 *   new platformClient.OrganizationApi(configureGenesysClient(apiClient, token)).getOrganizationsMe());
 * ```
 *
 * The SDK is not a dependency of this library: its `ApiClient` is accepted by the two methods used
 * here ({@link GenesysApiClient}), so a consumer brings the SDK version it already runs and a consumer
 * without it bundles nothing of it.
 */
import { ValidationError } from '../core/errors.js';
import { resolveRegion } from '../core/regions.js';
import type { GenesysToken } from './sources/source.js';

/**
 * What {@link configureGenesysClient} needs of the SDK's `ApiClient` (`platformClient.ApiClient.instance`,
 * or any other instance): its environment and its access token.
 */
export interface GenesysApiClient {
  /** The SDK's `setEnvironment`: a region domain such as `mypurecloud.ie`; API calls then go to `https://api.<domain>`. */
  setEnvironment(environment: string): void;
  /** The SDK's `setAccessToken`: sent as `Authorization: Bearer <token>` on every call from then on. */
  setAccessToken(token: string): void;
}

function configError(field: string, message: string): ValidationError {
  return new ValidationError(`configureGenesysClient: ${message}`, { code: 'invalid_config', field });
}

/**
 * Points the SDK's `apiClient` at the token's region and has it send the token; returns `apiClient`,
 * so the call can be built in the same expression.
 *
 * The environment is the token's `region` (its domain, `mypurecloud.de`), looked up in the region
 * table: a token whose region is not a Genesys Cloud region is refused (`unknown_region`) rather than
 * sent to an arbitrary host. `apiBaseUrl` is not used, because the SDK builds its own
 * `https://api.<domain>` from the environment.
 *
 * The SDK reads the environment and the token when a call starts, so one `ApiClient` can serve
 * several orgs as long as each call is configured in the same synchronous step that starts it (as in
 * the example above, inside `withTokenRetry`'s callback). Code that awaits between the two should
 * keep one `ApiClient` per org.
 *
 * Throws a ValidationError (`invalid_config`) when `apiClient` lacks the two methods or the token has
 * no access token.
 */
export function configureGenesysClient<C extends GenesysApiClient>(apiClient: C, token: Pick<GenesysToken, 'accessToken' | 'region'>): C {
  if (typeof apiClient?.setEnvironment !== 'function' || typeof apiClient.setAccessToken !== 'function') {
    throw configError('apiClient', 'apiClient must be a Genesys Cloud SDK ApiClient (with setEnvironment and setAccessToken)');
  }
  if (typeof token?.accessToken !== 'string' || token.accessToken === '') {
    throw configError('token', 'token must be a GenesysToken from getToken');
  }
  const region = resolveRegion(token.region);
  apiClient.setEnvironment(region.domain);
  apiClient.setAccessToken(token.accessToken);
  return apiClient;
}
