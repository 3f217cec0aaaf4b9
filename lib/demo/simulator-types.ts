/**
 * The simulator's vocabulary: what tests and the demo configure (orgs, clients, faults) and what it
 * counts. No behaviour here; genesys-simulator.ts is the server.
 */
import type { GenesysRegion } from '../../lambdas/core/regions.js';

/** Options for {@link GenesysSimulator.start}. */
export interface SimulatorOptions {
  /** Lifetime of issued access tokens unless the client sets its own. @default 86400 */
  tokenLifetimeSeconds?: number;
  /** Clock for token expiry, idle timeouts and Retry-After dates. @default Date.now */
  now?: () => number;
  /** Port to listen on. @default 0 (ephemeral) */
  port?: number;
}

/** An organization and the region it lives in. */
export interface SimOrgSpec {
  orgId: string;
  /** @default `Org <orgId>` */
  name?: string;
  /** Region key (`eu-west-1`) or domain (`mypurecloud.ie`). */
  region: string;
}

/** `authorization_code` also lets the client use `GET /oauth/authorize`. */
export type SimGrantType = 'client_credentials' | 'refresh_token' | 'authorization_code';

/** An OAuth client of one org. */
export interface SimClientSpec {
  clientId: string;
  clientSecret: string;
  orgId: string;
  /** @default ['client_credentials'] */
  grantTypes?: SimGrantType[];
  /** @default `Client <clientId>` */
  name?: string;
  /** Reported as `authorizedScope` by tokens/me. @default [] */
  scopes?: string[];
  /** @default - the simulator's `tokenLifetimeSeconds` */
  tokenLifetimeSeconds?: number;
  /** The initial valid refresh token, for authorization-code clients. @default - none: every refresh fails */
  refreshToken?: string;
  /** When set, tokens idle out after this many seconds without use and tokens/me reports `dateTokenIdles`. */
  idleTimeoutSeconds?: number;
  /**
   * The client's "Authorized redirect URIs": `GET /oauth/authorize` accepts exactly these.
   * @default [] - every authorization request is refused
   */
  redirectUris?: string[];
}

/** An endpoint a fault can be injected on. */
export type SimEndpoint = 'token' | 'tokens/me' | 'organizations/me';

/** A misbehaviour of Genesys or of what sits in front of it. */
export type SimFault =
  /** Answers with this status; the body defaults to a Platform API error body. */
  | { kind: 'status'; status: number; body?: string; contentType?: string }
  /**
   * 429 with a Platform API body and `Retry-After` (delta-seconds or HTTP-date).
   * `retryAfter: null` omits the header. @default retryAfter '1'
   */
  | { kind: 'rate_limit'; retryAfter?: string | null }
  /** Waits, then answers normally. */
  | { kind: 'latency'; ms: number }
  /** Never answers, until the client gives up or the simulator closes. */
  | { kind: 'hang' }
  /** Destroys the connection without a response. */
  | { kind: 'reset' }
  /** 200 with content-type JSON and a body that is cut off mid-JSON. */
  | { kind: 'malformed_json' }
  /** 200 announcing a longer Content-Length than it sends, then the connection is destroyed. */
  | { kind: 'truncated_body' }
  /** An HTML error page such as a load balancer sends. @default status 502 */
  | { kind: 'html'; status?: number }
  /** Token endpoint only: 200 JSON token response without `access_token`. */
  | { kind: 'missing_access_token' }
  /** Token endpoint only: the request is served normally but the token belongs to `orgId`. */
  | { kind: 'foreign_org'; orgId: string }
  /**
   * Token endpoint only: the grant runs (a refresh token is spent and rotated), then the answer is
   * replaced by `then`: a reset, a hang, an error status or page, a cut-off body. What a client sees
   * when Genesys acted on a request but the answer never arrived whole.
   */
  | { kind: 'after_grant'; then: SimAfterGrantFault }
  /** Token endpoint only: the grant runs and the 200 answer carries the new tokens, but `expires_in` is not a number. */
  | { kind: 'invalid_token_body' };

/** What can replace the answer to a grant that ran. */
export type SimAfterGrantFault = Extract<SimFault, { kind: 'status' | 'hang' | 'reset' | 'malformed_json' | 'truncated_body' | 'html' }>;

/** Requests seen for one client, faulted ones included. */
export interface SimCounts {
  token: number;
  tokensMe: number;
  organizationsMe: number;
  /** Refresh requests that presented a refresh token this client had already used. */
  refreshTokenReuse: number;
  /** `GET /oauth/authorize` requests naming this client. */
  authorize: number;
  /** authorization_code requests that presented a code this client had already used. */
  codeReuse: number;
}

export interface OrgState {
  orgId: string;
  name: string;
  region: GenesysRegion;
}

export interface ClientState {
  clientId: string;
  secret: string;
  orgId: string;
  name: string;
  grantTypes: ReadonlySet<SimGrantType>;
  scopes: string[];
  tokenLifetimeSeconds?: number;
  idleTimeoutSeconds?: number;
  revoked: boolean;
  redirectUris: readonly string[];
  currentRefreshToken?: string;
  /** The code whose exchange started the current refresh token chain, if one did. */
  refreshChainCode?: string;
  usedRefreshTokens: string[];
  counts: SimCounts;
  faults: Map<SimEndpoint, { fault: SimFault; remaining: number }[]>;
}

export interface TokenState {
  clientId: string;
  /** The org the token belongs to: the client's, or another under the foreign_org fault. */
  orgId: string;
  /** The region domain whose login host issued it: the only region whose API accepts it. */
  domain: string;
  expiresAtMs: number;
  lastActivityMs: number;
}

/** An authorization code the simulator issued: single-use, bound to its client, redirect URI and PKCE challenge. */
export interface CodeState {
  clientId: string;
  redirectUri: string;
  /** S256 challenge of the authorization request, if it sent one. */
  codeChallenge?: string;
  expiresAtMs: number;
  used: boolean;
  /** What its exchange granted: revoked if the code is presented again (RFC 6749 §4.1.2). */
  granted?: { accessToken: string; refreshToken: string };
}
