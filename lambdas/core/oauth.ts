/**
 * Genesys Cloud OAuth client: token requests (client_credentials and refresh_token), strict response
 * parsing, error classification, retries with full-jitter backoff that honour Retry-After, and token
 * verification through GET /api/v2/tokens/me.
 *
 * Pure apart from the injected `fetch`: no environment, no logging, time comes from the clock.
 */
import { z } from 'zod';
import { type ErrorCode, type FailureClass, UpstreamError } from './errors.js';
import type { ClientCredentials, Clock, GrantType } from './ports.js';
import { type BaseUrlResolver, type GenesysRegion, hostFor, httpsBaseUrl } from './regions.js';

/** Genesys' configurable token lifetime bounds: 5 minutes to 48 hours. */
export const MIN_EXPIRES_IN_SECONDS = 300;
export const MAX_EXPIRES_IN_SECONDS = 172_800;

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
  verifyToken(request: VerifyRequest): Promise<CallResult<TokenInfo>>;
}

const OAUTH_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_grant',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
]);

/**
 * Parses a Retry-After header: delta-seconds or an HTTP-date. Returns milliseconds to wait from
 * `nowMs` (never negative), or undefined when the header is absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : undefined;
  }
  // HTTP-date (IMF-fixdate and the obsolete forms Date.parse understands). Reject bare numbers with
  // signs or decimals above, and anything Date cannot parse here.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * Full-jitter exponential backoff: a uniform wait in [0, min(cap, base * 2^retry)).
 * `retry` counts from 0 for the first retry.
 */
export function fullJitterBackoffMs(retry: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

/** Characters allowed in an excerpt quoted in an error message: short, printable, no token-like runs. */
function safeExcerpt(text: string | undefined, max = 120): string | undefined {
  if (!text) return undefined;
  // Strip non-printables first, so a token split by invisible characters cannot survive redaction.
  const printable = text.replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '').trim();
  // Long unbroken runs of token alphabet could be credentials echoed back; drop them.
  const cleaned = printable.replace(/[A-Za-z0-9._~+/=%-]{24,}/g, '[redacted]');
  if (cleaned === '') return undefined;
  return cleaned.length > max ? `${cleaned.slice(0, max)}...` : cleaned;
}

interface ParsedErrorBody {
  /** OAuth `error` or Platform API `code`. */
  error?: string;
  description?: string;
  kind: 'oauth' | 'platform' | 'html' | 'text' | 'empty';
}

/** Understands the three error shapes Genesys returns: OAuth JSON, Platform API JSON, and anything else. */
export function parseErrorBody(text: string): ParsedErrorBody {
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'empty' };
  if (trimmed.startsWith('{')) {
    try {
      const body = JSON.parse(trimmed) as Record<string, unknown>;
      if (typeof body.error === 'string') {
        const description = [body.error_description, body.description].find((d): d is string => typeof d === 'string' && d !== '');
        return { kind: 'oauth', error: body.error, ...(description ? { description: safeExcerpt(description) } : {}) };
      }
      if (typeof body.message === 'string' || typeof body.code === 'string') {
        return {
          kind: 'platform',
          ...(typeof body.code === 'string' ? { error: body.code } : {}),
          ...(typeof body.message === 'string' ? { description: safeExcerpt(body.message) } : {}),
        };
      }
    } catch {
      // fall through: not JSON after all
    }
  }
  if (/<html|<!doctype/i.test(trimmed)) {
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(trimmed)?.[1];
    return { kind: 'html', ...(title ? { description: safeExcerpt(title, 80) } : {}) };
  }
  return { kind: 'text', description: safeExcerpt(trimmed, 80) };
}

interface ClassifyInput {
  status: number;
  bodyText: string;
  retryAfter: string | null;
  nowMs: number;
  orgId: string;
  endpoint: 'token' | 'tokens/me';
}

/** Turns a non-2xx response into a classified UpstreamError. */
export function classifyHttpFailure(input: ClassifyInput): UpstreamError {
  const { status, orgId, endpoint } = input;
  const body = parseErrorBody(input.bodyText);
  const detail = body.description ? `: ${body.description}` : body.kind === 'html' ? ' (HTML page)' : '';
  const where = `${endpoint} for org ${orgId}`;

  if (status === 429) {
    const retryAfterMs = parseRetryAfter(input.retryAfter, input.nowMs);
    return new UpstreamError('rate_limited', `Genesys rate-limited ${where} (HTTP 429)${retryAfterMs !== undefined ? `, retry after ${Math.ceil(retryAfterMs / 1000)} s` : ''}`, {
      failureClass: 'rate_limited',
      httpStatus: status,
      orgId,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status >= 500 || status === 408) {
    return new UpstreamError('upstream_unavailable', `Genesys returned HTTP ${status} on ${where}${detail}`, {
      failureClass: 'transient',
      httpStatus: status,
      orgId,
    });
  }
  let code: ErrorCode;
  if (endpoint === 'tokens/me') {
    code = 'token_rejected';
  } else if (body.kind === 'oauth' && body.error && OAUTH_ERROR_CODES.has(body.error)) {
    code = body.error as ErrorCode;
  } else if (status === 401) {
    code = 'invalid_client';
  } else if (status === 403) {
    code = 'access_denied';
  } else {
    code = 'auth_rejected';
  }
  return new UpstreamError(code, `Genesys refused ${where} with HTTP ${status} ${code}${detail}`, {
    failureClass: 'permanent',
    httpStatus: status,
    orgId,
  });
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

function basicAuth(credentials: ClientCredentials): string {
  return `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`, 'utf8').toString('base64')}`;
}

function transportError(err: unknown, orgId: string, endpoint: string, timedOut: boolean): UpstreamError {
  const name = err instanceof Error ? err.name : '';
  if (timedOut || name === 'TimeoutError' || name === 'AbortError') {
    return new UpstreamError('timeout', `request to ${endpoint} for org ${orgId} timed out`, { failureClass: 'transient', orgId });
  }
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return new UpstreamError('network_error', `network error calling ${endpoint} for org ${orgId}${code}`, {
    failureClass: 'transient',
    orgId,
    cause: err,
  });
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

  async function send(url: string, init: { method: string; headers: Record<string, string>; body?: string }, orgId: string, endpoint: string, deadlineMs: number): Promise<RawResponse> {
    const budget = Math.min(requestTimeoutMs, deadlineMs - clock.now());
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
      const res = await fetch(url, { ...init, headers: { ...init.headers, 'User-Agent': userAgent }, signal: controller.signal });
      // A body cut off mid-stream rejects here: transient, like a connection reset.
      const text = await res.text();
      return { status: res.status, text, retryAfter: res.headers.get('retry-after') };
    } catch (err) {
      throw transportError(err, orgId, endpoint, timedOut);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `once` until it succeeds, fails permanently, runs out of retries, or would pass the deadline. */
  async function withRetries<T>(orgId: string, deadlineMs: number, once: () => Promise<{ value: T; httpStatus: number }>): Promise<CallResult<T>> {
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
        if (!retriable.includes(err.failureClass) || err.code === 'deadline_exceeded' || retry >= maxRetries) throw err;
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

  return {
    async requestToken({ orgId, region, grantType, credentials, deadlineMs }) {
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
      const init = {
        method: 'POST',
        headers: {
          Authorization: basicAuth(credentials),
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: form.toString(),
      };
      return withRetries(orgId, deadlineMs, async () => {
        const res = await send(url, init, orgId, 'token', deadlineMs);
        if (res.status < 200 || res.status >= 300) {
          throw classifyHttpFailure({ status: res.status, bodyText: res.text, retryAfter: res.retryAfter, nowMs: clock.now(), orgId, endpoint: 'token' });
        }
        return { value: parseTokenResponse(res.text, orgId), httpStatus: res.status };
      });
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
