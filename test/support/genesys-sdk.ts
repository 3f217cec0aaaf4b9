/**
 * The Genesys Cloud Platform SDK (`purecloud-platform-client-v2`) against the Genesys simulator.
 *
 * The SDK always builds `https://api.<environment>/api/v2/...` from `setEnvironment`, so its base
 * path cannot point at a local server. Instead its HTTP client's own pre-request hook (the SDK's
 * documented extension point) maps each request's host the way the broker's `BaseUrlResolver` does:
 * `https://api.mypurecloud.de/api/v2/organizations/me` goes to `<simulator>/api.mypurecloud.de/api/v2/organizations/me`.
 * Everything else is the SDK's own: the URL it built from the environment, the Authorization header,
 * axios, its error shapes and its logging. The simulator then checks that the token belongs to that region.
 */
import type { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

/** The part of the SDK's ApiClient this helper uses. */
interface SdkApiClient {
  getHttpClient(): { setPreHook(hook: (config: { url: string }) => Promise<{ url: string }>): void };
}

/**
 * Routes `apiClient`'s requests to `sim` and returns the URLs the SDK asked for (before the mapping),
 * oldest first, so a test can see which region each call went to.
 */
export function routeSdkToSimulator(apiClient: SdkApiClient, sim: GenesysSimulator): string[] {
  const requested: string[] = [];
  apiClient.getHttpClient().setPreHook(async (config) => {
    const url = new URL(config.url);
    if (url.protocol !== 'https:' || !url.hostname.startsWith('api.')) throw new Error(`the SDK asked for an unexpected URL ${url.origin}`);
    requested.push(config.url);
    config.url = `${sim.resolver(url.hostname)}${url.pathname}${url.search}`;
    return config;
  });
  return requested;
}
