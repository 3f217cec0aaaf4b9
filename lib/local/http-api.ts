/**
 * The local HTTP API on node:http, no framework:
 *
 * - `GET /v1/orgs/{orgId}/token`: the getter Lambda's exact JSON (`{ orgId, accessToken, tokenType,
 *   expiresAt, apiBaseUrl, region }` or `{ error: { code, message, retryAfterSeconds? } }`) with
 *   HTTP 400 invalid_request, 404 org_not_found, 403 org_disabled, 503 token_unavailable + Retry-After.
 * - `GET /v1/orgs`: every org with its health and timings, never a token.
 * - `GET /healthz`: 200 `{ status: 'ok' }` while sweeps run on time, else 503.
 * - `GET /metrics`: Prometheus text format 0.0.4.
 *
 * An optional bearer key protects every route but /healthz (compared in constant time; the `Bearer`
 * scheme in any case). Only GET is served (and HEAD on /healthz; 405 otherwise), unknown routes are 404, and no request body is ever read (413 if one is sent).
 * On a loopback address the Host header must name a loopback host too, so a web page cannot reach the
 * getter through DNS rebinding.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GetTokenError, GetTokenResponse, GetterErrorCode } from '../../lambdas/core/token-getter.js';
import { isOrgId } from '../../lambdas/core/token-record.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import type { OrgStatus } from './org-status.js';

/** HTTP status for each getter error code: the mapping consumers of the local getter rely on. */
export const GETTER_ERROR_STATUS: Readonly<Record<GetterErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  org_not_allowed: 403,
  org_not_found: 404,
  org_disabled: 403,
  token_unavailable: 503,
});

/** Codes of errors raised by the HTTP layer itself (not the getter). */
export type HttpErrorCode = 'unauthorized' | 'not_found' | 'method_not_allowed' | 'payload_too_large' | 'misdirected_request' | 'internal_error';

export interface HealthState {
  ok: boolean;
  body: Record<string, unknown>;
}

export interface ApiDependencies {
  /** The getter use case for one org id (raw path segment; the getter validates it). */
  getToken(orgId: string): Promise<GetTokenResponse | GetTokenError>;
  listOrgs(): Promise<OrgStatus[]>;
  metrics(): Promise<string>;
  health(): HealthState;
  /** Bearer key required on every route but /healthz. @default - no key */
  apiKey?: string;
  /** Host names accepted in the Host header. @default - any */
  allowedHostnames?: ReadonlySet<string>;
  /** Retry-After for a token_unavailable that carries no retry hint. */
  defaultRetryAfterSeconds: number;
  /** Called once per token request with `ok`, a getter error code or `unauthorized`, and the org id when well-formed. */
  onTokenResult?(result: string, orgId: string | undefined): void;
}

const BASE_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
} as const;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...BASE_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: HttpErrorCode, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Compares a presented key with the expected one in time independent of where they differ (or their lengths). */
export function keysMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The host name of a Host header (`127.0.0.1:4180` -> `127.0.0.1`, `[::1]:4180` -> `::1`), lower-cased. */
export function hostnameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  return h.replace(/:\d*$/, '');
}

const TOKEN_ROUTE = /^\/v1\/orgs\/([^/]+)\/token$/;

/** Builds the request listener. */
export function createApiListener(deps: ApiDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  const expectedAuth = deps.apiKey;

  function authorized(req: IncomingMessage): boolean {
    if (expectedAuth === undefined) return true;
    // The scheme is case-insensitive (RFC 9110 section 11.1): `bearer`, `BEARER` and `Bearer` all work.
    const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    // Compare even when the header is absent, so both paths cost the same.
    return keysMatch(match?.[1] ?? '', expectedAuth) && match !== null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (deps.allowedHostnames) {
      const host = hostnameOf(req.headers.host);
      if (!host || !deps.allowedHostnames.has(host)) {
        return sendError(res, 421, 'misdirected_request', 'this server answers only to a loopback host name', { Connection: 'close' });
      }
    }
    // Bodies are never read: refuse one and close, so it is not parsed as the next request.
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      return sendError(res, 413, 'payload_too_large', 'request bodies are not accepted', { Connection: 'close' });
    }
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return sendError(res, 404, 'not_found', 'no such route');
    }
    const tokenMatch = TOKEN_ROUTE.exec(pathname);
    const known = pathname === '/healthz' || pathname === '/metrics' || pathname === '/v1/orgs' || tokenMatch !== null;

    if (pathname !== '/healthz' && !authorized(req)) {
      if (tokenMatch) deps.onTokenResult?.('unauthorized', undefined);
      return sendError(res, 401, 'unauthorized', 'a valid bearer key is required', { 'WWW-Authenticate': 'Bearer realm="genesys-token-broker"' });
    }
    if (!known) return sendError(res, 404, 'not_found', 'no such route');
    // HEAD on /healthz is a probe's GET without the body (node:http drops the body of a HEAD reply).
    const healthHead = pathname === '/healthz' && req.method === 'HEAD';
    if (req.method !== 'GET' && !healthHead) {
      return sendError(res, 405, 'method_not_allowed', 'only GET is supported', { Allow: pathname === '/healthz' ? 'GET, HEAD' : 'GET' });
    }

    if (pathname === '/healthz') {
      const health = deps.health();
      return sendJson(res, health.ok ? 200 : 503, health.body);
    }
    if (pathname === '/metrics') {
      const text = await deps.metrics();
      res.writeHead(200, { ...BASE_HEADERS, 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(text);
      return;
    }
    if (pathname === '/v1/orgs') {
      return sendJson(res, 200, { orgs: await deps.listOrgs() });
    }
    const segment = tokenMatch![1]!;
    const response = await deps.getToken(segment);
    if ('error' in response) {
      // The raw segment is caller input: only a well-formed org id is passed on (to logs).
      deps.onTokenResult?.(response.error.code, isOrgId(segment) ? segment.toLowerCase() : undefined);
      const status = GETTER_ERROR_STATUS[response.error.code] ?? 503;
      const headers: Record<string, string> = {};
      if (response.error.code === 'token_unavailable') {
        headers['Retry-After'] = String(Math.max(1, response.error.retryAfterSeconds ?? deps.defaultRetryAfterSeconds));
      }
      return sendJson(res, status, response, headers);
    }
    deps.onTokenResult?.('ok', response.orgId);
    return sendJson(res, 200, response);
  }

  return (req, res) => {
    handle(req, res).catch(() => {
      // Never echo the error: it could come from anywhere. The broker logs failures where they happen.
      if (!res.headersSent) sendError(res, 500, 'internal_error', 'internal error');
      else res.destroy();
    });
  };
}
