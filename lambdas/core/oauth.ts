/**
 * Genesys Cloud OAuth client: token requests (client_credentials and refresh_token, and the
 * authorization-code exchange the CLI's `orgs authorize` makes), strict response parsing, error classification, retries with full-jitter backoff that honour Retry-After, and token
 * verification through GET /api/v2/tokens/me.
 *
 * Pure apart from the injected `fetch`: no environment, no logging, time comes from the clock.
 */
import * as z from 'zod';
import { type FailureClass, UpstreamError } from './errors.js';
import { certainlyNotSent, classifyHttpFailure, fullJitterBackoffMs, outcomeUnknown, transportError } from './oauth-failures.js';
import type { ClientCredentials, Clock, GrantType } from './ports.js';
import { type BaseUrlResolver, type GenesysRegion, hostFor, httpsBaseUrl } from './regions.js';

/** Genesys' configurable token lifetime bounds: 5 minutes to 48 hours. */
export const MIN_EXPIRES_IN_SECONDS = 300;
export const MAX_EXPIRES_IN_SECONDS = 172_800;

export { certainlyNotSent, classifyHttpFailure, fullJitterBackoffMs, parseErrorBody, parseRetryAfter } from './oauth-failures.js';

/** A successful token response, validated. */
export interface TokenGrant {
  accessToken: string;
  tokenType: 'bearer';
  expiresInSeconds: number;
  /** Present for refresh_token grants: the rotated refresh token that must replace the used one. */
  refreshToken?: string;
  scope?: string;
}

/** What GET /api/v2/tokens/me says about a token. */
export interface TokenInfo {
  organizationId: string;
  organizationName?: string;
  oauthClientId?: string;
  oauthClientName?: string;
  authorizedScope: string[];
  /** When the token will idle out if unused, if Genesys reports it. */
  idlesAtMs?: number;
}

export type FetchLike = (url: string, init: {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Always 'error': a redirect must never carry a client secret or a refresh token to another host. */
  redirect?: 'error';
}) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

export interface OAuthClientOptions {
  fetch: FetchLike;
  clock: Clock;
  /** Maps `login.<domain>` / `api.<domain>` to a base URL. Only tests and local demo override it. */
  baseUrl?: BaseUrlResolver;
  /** Per-request timeout. @default 10_000 */
  requestTimeoutMs?: number;
  /** Retries after the first request, for transient and rate-limited failures. @default 3 */
  maxRetries?: number;
  /** Full-jitter backoff base and cap. @default 250 and 8_000 */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Longest Retry-After the client will wait inside one attempt. @default 60_000 */
  retryAfterCapMs?: number;
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number;
  /** Sent as User-Agent. */
  userAgent?: string;
}

export interface TokenRequest {
  orgId: string;
  region: GenesysRegion;
  grantType: GrantType;
  credentials: ClientCredentials;
  /** Absolute deadline (clock ms) for the whole call including retries. */
  deadlineMs: number;
  /**
   * refresh_token grant: called with the rotated refresh token the moment a 2xx body parses as JSON
   * with a string `refresh_token`, before the body is validated. The presented token is spent by then,
   * so the caller makes the new one durable here; the call waits for it and fails if it throws.
   */
  onRefreshToken?: (refreshToken: string) => Promise<void>;
}

/** The authorization_code grant (RFC 6749 §4.1.3) with its PKCE verifier (RFC 7636 §4.5). */
export interface CodeExchangeRequest {
  orgId: string;
  region: GenesysRegion;
  credentials: Pick<ClientCredentials, 'clientId' | 'clientSecret'>;
  code: string;
  /** Exactly the redirect_uri of the authorization request. */
  redirectUri: string;
  codeVerifier: string;
  deadlineMs: number;
}

export interface VerifyRequest {
  orgId: string;
  region: GenesysRegion;
  accessToken: string;
  deadlineMs: number;
}

export interface CallResult<T> {
  value: T;
  /** HTTP requests made. */
  attempts: number;
  httpStatus: number;
}

export interface GenesysOAuthClient {
  requestToken(request: TokenRequest): Promise<CallResult<TokenGrant>>;
  /** Exchanges an authorization code; the grant carries the org's first refresh token. */
  exchangeCode(request: CodeExchangeRequest): Promise<CallResult<TokenGrant>>;
  verifyToken(request: VerifyRequest): Promise<CallResult<TokenInfo>>;
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().int().min(MIN_EXPIRES_IN_SECONDS).max(MAX_EXPIRES_IN_SECONDS),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});

/**
 * Parses a 2xx token response. Malformed JSON is `malformed_response`; well-formed JSON that breaks
 * the contract is `invalid_token_response`. Both are transient: a retry may get a good answer.
 * Error messages name the offending fields, never their values.
 */
export function parseTokenResponse(text: string, orgId: string): TokenGrant {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError('malformed_response', `token response for org ${orgId} is not valid JSON (${text.length} bytes)`, {
      failureClass: 'transient',
      orgId,
      httpStatus: 200,
    });
  }
  const parsed = tokenResponseSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new UpstreamError('invalid_token_response', `token response for org ${orgId} is invalid in: ${fields}`, {
      failureClass: 'transient',
      orgId,
      httpStatus: 200,
    });
  }
  const { access_token, expires_in, refresh_token, scope } = parsed.data;
  return {
    accessToken: access_token,
    tokenType: 'bearer',
    expiresInSeconds: expires_in,
    ...(refresh_token !== undefined ? { refreshToken: refresh_token } : {}),
    ...(scope !== undefined ? { scope } : {}),
  };
}

const tokenInfoSchema = z.object({
  organization: z.object({ id: z.string().min(1), name: z.string().optional() }),
  OAuthClient: z.object({ id: z.string().optional(), name: z.string().optional() }).partial().optional(),
  authorizedScope: z.array(z.string()).optional(),
  dateTokenIdles: z.string().optional(),
});

/** Parses GET /api/v2/tokens/me. */
export function parseTokenInfo(text: string, orgId: string): TokenInfo {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError('malformed_response', `tokens/me response for org ${orgId} is not valid JSON`, {
      failureClass: 'transient',
      orgId,
      httpStatus: 200,
    });
  }
  const parsed = tokenInfoSchema.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamError('malformed_response', `tokens/me response for org ${orgId} lacks organization.id`, {
      failureClass: 'transient',
      orgId,
      httpStatus: 200,
    });
  }
  const info = parsed.data;
  const idlesAtMs = info.dateTokenIdles ? Date.parse(info.dateTokenIdles) : Number.NaN;
  return {
    organizationId: info.organization.id,
    ...(info.organization.name ? { organizationName: info.organization.name } : {}),
    ...(info.OAuthClient?.id ? { oauthClientId: info.OAuthClient.id } : {}),
    ...(info.OAuthClient?.name ? { oauthClientName: info.OAuthClient.name } : {}),
    authorizedScope: info.authorizedScope ?? [],
    ...(Number.isFinite(idlesAtMs) ? { idlesAtMs } : {}),
  };
}

function basicAuth(credentials: Pick<ClientCredentials, 'clientId' | 'clientSecret'>): string {
  return `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`, 'utf8').toString('base64')}`;
}

/** The `refresh_token` of a 2xx token body, when it parses as a JSON object carrying a string one. */
export function rotatedRefreshToken(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { refresh_token?: unknown } | null;
    return typeof body === 'object' && body !== null && typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : undefined;
  } catch {
    return undefined;
  }
}

/** The error a 2xx token body fails validation with, or undefined when it is a valid grant. */
function grantBodyError(text: string, orgId: string): UpstreamError | undefined {
  try {
    parseTokenResponse(text, orgId);
    return undefined;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
}

/** Creates the OAuth client. One instance per container; it holds no per-org state. */
export function createOAuthClient(options: OAuthClientOptions): GenesysOAuthClient {
  const {
    fetch,
    clock,
    baseUrl = httpsBaseUrl,
    requestTimeoutMs = 10_000,
    maxRetries = 3,
    backoffBaseMs = 250,
    backoffCapMs = 8_000,
    retryAfterCapMs = 60_000,
    random = Math.random,
    userAgent = 'genesys-token-broker',
  } = options;

  interface RawResponse {
    status: number;
    text: string;
    retryAfter: string | null;
  }

  /** One HTTP request within `timeoutMs` (default the per-request timeout) and the deadline. */
  async function send(url: string, init: { method: string; headers: Record<string, string>; body?: string }, orgId: string, endpoint: string, deadlineMs: number, timeoutMs = requestTimeoutMs): Promise<RawResponse> {
    const budget = Math.min(timeoutMs, deadlineMs - clock.now());
    if (budget <= 0) {
      throw new UpstreamError('deadline_exceeded', `no time left to call ${endpoint} for org ${orgId}`, { failureClass: 'transient', orgId });
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, budget);
    try {
      const res = await fetch(url, { ...init, headers: { ...init.headers, 'User-Agent': userAgent }, signal: controller.signal, redirect: 'error' });
      // A body cut off mid-stream rejects here: transient, like a connection reset.
      const text = await res.text();
      return { status: res.status, text, retryAfter: res.headers.get('retry-after') };
    } catch (err) {
      throw transportError(err, orgId, endpoint, timedOut);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `once` until it succeeds, fails permanently, runs out of retries, or would pass the deadline.
   * `mayRetry` narrows which transient failures are retried (a single-use refresh token allows only
   * those that certainly never reached Genesys).
   */
  async function withRetries<T>(orgId: string, deadlineMs: number, once: () => Promise<{ value: T; httpStatus: number }>, mayRetry: (err: UpstreamError) => boolean = () => true): Promise<CallResult<T>> {
    let attempts = 0;
    for (let retry = 0; ; retry++) {
      attempts++;
      try {
        const { value, httpStatus } = await once();
        return { value, attempts, httpStatus };
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        err.attempts = attempts;
        const retriable: FailureClass[] = ['transient', 'rate_limited'];
        if (!retriable.includes(err.failureClass) || err.code === 'deadline_exceeded' || retry >= maxRetries || !mayRetry(err)) throw err;
        let waitMs = fullJitterBackoffMs(retry, backoffBaseMs, backoffCapMs, random);
        if (err.retryAfterMs !== undefined) {
          if (err.retryAfterMs > retryAfterCapMs) throw err; // Genesys asked for longer than we wait inline: the policy schedules it.
          waitMs = Math.max(waitMs, err.retryAfterMs);
        }
        if (clock.now() + waitMs >= deadlineMs) throw err;
        await clock.sleep(waitMs);
      }
    }
  }

  /** A POST to the token endpoint with Basic client authentication. */
  function tokenPost(credentials: Pick<ClientCredentials, 'clientId' | 'clientSecret'>, form: URLSearchParams) {
    return {
      method: 'POST',
      headers: {
        Authorization: basicAuth(credentials),
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      },
      body: form.toString(),
    };
  }

  return {
    async exchangeCode({ orgId, region, credentials, code, redirectUri, codeVerifier, deadlineMs }) {
      const url = `${baseUrl(hostFor(region, 'login'))}/oauth/token`;
      const init = tokenPost(credentials, new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier }));
      // A code is single-use, and presenting it twice makes the server revoke what it granted: only a
      // request that certainly never reached Genesys is sent again.
      return withRetries(
        orgId,
        deadlineMs,
        async () => {
          const res = await send(url, init, orgId, 'token', deadlineMs, Number.POSITIVE_INFINITY);
          if (res.status < 200 || res.status >= 300) {
            throw classifyHttpFailure({ status: res.status, bodyText: res.text, retryAfter: res.retryAfter, nowMs: clock.now(), orgId, endpoint: 'token' });
          }
          return { value: parseTokenResponse(res.text, orgId), httpStatus: res.status };
        },
        certainlyNotSent,
      );
    },

    async requestToken({ orgId, region, grantType, credentials, deadlineMs, onRefreshToken }) {
      const url = `${baseUrl(hostFor(region, 'login'))}/oauth/token`;
      if (grantType === 'refresh_token' && !credentials.refreshToken) {
        throw new UpstreamError('missing_refresh_token', `org ${orgId} uses the refresh_token grant but has no refresh token stored`, {
          failureClass: 'permanent',
          orgId,
          attempts: 0,
        });
      }
      const form = new URLSearchParams({ grant_type: grantType });
      if (grantType === 'refresh_token') form.set('refresh_token', credentials.refreshToken ?? '');
      const init = tokenPost(credentials, form);
      if (grantType === 'client_credentials') {
        return withRetries(orgId, deadlineMs, async () => {
          const res = await send(url, init, orgId, 'token', deadlineMs);
          if (res.status < 200 || res.status >= 300) {
            throw classifyHttpFailure({ status: res.status, bodyText: res.text, retryAfter: res.retryAfter, nowMs: clock.now(), orgId, endpoint: 'token' });
          }
          return { value: parseTokenResponse(res.text, orgId), httpStatus: res.status };
        });
      }
      // A refresh token is single-use: only a request that certainly never reached Genesys is sent
      // again, and the one request that may be answered gets the whole time budget.
      return withRetries(
        orgId,
        deadlineMs,
        async () => {
          let res: RawResponse;
          try {
            res = await send(url, init, orgId, 'token', deadlineMs, Number.POSITIVE_INFINITY);
          } catch (err) {
            if (err instanceof UpstreamError && (err.code === 'deadline_exceeded' || certainlyNotSent(err))) throw err;
            throw outcomeUnknown(err instanceof UpstreamError ? err : transportError(err, orgId, 'token', false), orgId);
          }
          if (res.status >= 200 && res.status < 300) {
            const rotated = rotatedRefreshToken(res.text);
            const invalid = grantBodyError(res.text, orgId);
            // No usable answer: Genesys may have rotated, and the new token is not in what came back.
            if (rotated === undefined && invalid) throw outcomeUnknown(invalid, orgId);
            // Durable before validation: an invalid body must not cost the rotated token.
            if (rotated !== undefined && onRefreshToken) await onRefreshToken(rotated);
            if (invalid) throw invalid;
            return { value: parseTokenResponse(res.text, orgId), httpStatus: res.status };
          }
          const failure = classifyHttpFailure({ status: res.status, bodyText: res.text, retryAfter: res.retryAfter, nowMs: clock.now(), orgId, endpoint: 'token' });
          // A 5xx (or 408) may come after Genesys processed the grant; a 429 or a 4xx refusal did not spend it.
          if (failure.failureClass === 'transient') throw outcomeUnknown(failure, orgId);
          throw failure;
        },
        certainlyNotSent,
      );
    },

    async verifyToken({ orgId, region, accessToken, deadlineMs }) {
      // preserveIdleTTL keeps the verification itself from resetting the token's idle timer.
      const url = `${baseUrl(hostFor(region, 'api'))}/api/v2/tokens/me?preserveIdleTTL=true`;
      const init = { method: 'GET', headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' } };
      const result = await withRetries(orgId, deadlineMs, async () => {
        const res = await send(url, init, orgId, 'tokens/me', deadlineMs);
        if (res.status < 200 || res.status >= 300) {
          throw classifyHttpFailure({ status: res.status, bodyText: res.text, retryAfter: res.retryAfter, nowMs: clock.now(), orgId, endpoint: 'tokens/me' });
        }
        return { value: parseTokenInfo(res.text, orgId), httpStatus: res.status };
      });
      if (result.value.organizationId !== orgId) {
        throw new UpstreamError('org_mismatch', `token issued for org ${orgId} belongs to organization ${result.value.organizationId}; refusing to store it`, {
          failureClass: 'permanent',
          orgId,
          httpStatus: result.httpStatus,
          attempts: result.attempts,
          actualOrgId: result.value.organizationId,
        });
      }
      return result;
    },
  };
}
