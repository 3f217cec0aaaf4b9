/**
 * What a token source hands the client's cache, and the checks every source applies to a token
 * before it is served.
 */
import { TokenClientError } from '../errors.js';

/** What `getToken` hands a consumer. Frozen; the same object is returned while it is cached. */
export interface GenesysToken {
  /** The org, as a lowercase UUID. */
  readonly orgId: string;
  /** Send as `Authorization: Bearer <accessToken>`. Never log it. */
  readonly accessToken: string;
  /** ISO-8601 instant after which Genesys rejects the token. */
  readonly expiresAt: string;
  /** Where to send Platform API calls for this org, for example `https://api.mypurecloud.ie`. */
  readonly apiBaseUrl: string;
  /** The org's region domain, for example `mypurecloud.ie`. */
  readonly region: string;
  /** ISO-8601 instant the token idles out if unused, when Genesys said so; the cache never outlives it. */
  readonly idlesAt?: string;
}

/** A token as a source delivers it, with the lifetime the cache margin is computed from. */
export interface Fetched {
  token: GenesysToken;
  lifetimeMs: number;
  /** The token's refresh mark, when the source knows it: the broker writes its replacement then. */
  refreshAtMs?: number;
}

/**
 * Reads one org's token (`orgId` already validated, lower case) at `nowMs`. `rejectedToken` is the
 * access token Genesys refused (a 401): the source must not hand it back as if it were good.
 */
export type FetchToken = (orgId: string, nowMs: number, options?: { rejectedToken?: string }) => Promise<Fetched>;

/** A frozen copy holding exactly the served fields. */
export function freezeToken(token: GenesysToken): GenesysToken {
  return Object.freeze({
    orgId: token.orgId,
    accessToken: token.accessToken,
    expiresAt: token.expiresAt,
    apiBaseUrl: token.apiBaseUrl,
    region: token.region,
    ...(token.idlesAt !== undefined ? { idlesAt: token.idlesAt } : {}),
  });
}

/** Refuses a token that has already expired: the broker is late, and the consumer must not send it. */
export function checkNotExpired(token: GenesysToken, nowMs: number, where: string): void {
  if (Date.parse(token.expiresAt) <= nowMs) {
    throw new TokenClientError('token_unavailable', `${where} for org ${token.orgId} expired at ${token.expiresAt}; the broker has not refreshed it (check its refresh alarms)`, {
      orgId: token.orgId,
    });
  }
}
