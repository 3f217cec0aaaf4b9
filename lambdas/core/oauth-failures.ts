/**
 * How Genesys Cloud answers when things go wrong, and what the broker makes of it: the three error
 * body shapes, Retry-After, full-jitter backoff, transport failures (and which of them certainly never
 * reached Genesys), and the classification of every failure into a stable error code and class.
 * Pure; used by the OAuth client in oauth.ts.
 */
import { type ErrorCode, UpstreamError } from './errors.js';

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

/**
 * Transport failures that happen before a single byte of the request reaches Genesys: the name did
 * not resolve, nothing listened, the TCP or TLS handshake failed. Only these are safe to retry with a
 * single-use refresh token; after any other failure the request may have been received and acted on.
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** The error code a failed fetch carries on its cause (undici), if any. */
function causeCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** True when the request certainly never reached Genesys. */
export function certainlyNotSent(err: unknown): boolean {
  const code = err instanceof UpstreamError ? err.transportCode : causeCode(err);
  return code !== undefined && NOT_SENT_CODES.has(code);
}

export function transportError(err: unknown, orgId: string, endpoint: string, timedOut: boolean): UpstreamError {
  const name = err instanceof Error ? err.name : '';
  if (timedOut || name === 'TimeoutError' || name === 'AbortError') {
    return new UpstreamError('timeout', `request to ${endpoint} for org ${orgId} timed out`, { failureClass: 'transient', orgId });
  }
  const code = causeCode(err);
  return new UpstreamError('network_error', `network error calling ${endpoint} for org ${orgId}${code ? ` (${code})` : ''}`, {
    failureClass: 'transient',
    orgId,
    cause: err,
    ...(code ? { transportCode: code } : {}),
  });
}

/**
 * A refresh_token request whose outcome is unknown: it may have reached Genesys, which may have spent
 * the presented refresh token and rotated it. Never retried with the same token: the broker stops and
 * an operator re-authorizes the org (or checks Genesys and retries by hand).
 */
export function outcomeUnknown(cause: UpstreamError, orgId: string): UpstreamError {
  return new UpstreamError('refresh_outcome_unknown', `refresh_token request for org ${orgId} may have reached Genesys but no usable answer came back (${cause.code}); the presented refresh token may be spent and is not sent again: re-authorize the org`, {
    failureClass: 'permanent',
    orgId,
    cause,
    attempts: cause.attempts,
    ...(cause.httpStatus !== undefined ? { httpStatus: cause.httpStatus } : {}),
  });
}

