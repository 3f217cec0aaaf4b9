/**
 * How the simulator speaks HTTP as Genesys does: OAuth and Platform API error bodies, Basic and Bearer
 * parsing, opaque tokens, and the checks on injected faults.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { ValidationError } from '../../lambdas/core/errors.js';
import { REGIONS } from '../../lambdas/core/regions.js';
import type { SimEndpoint, SimFault, SimGrantType } from './simulator-types.js';

export const ENDPOINTS: readonly SimEndpoint[] = ['token', 'tokens/me', 'organizations/me'];
export const GRANT_TYPES: readonly SimGrantType[] = ['client_credentials', 'refresh_token', 'authorization_code'];
/** Grant types Genesys knows; one of these that the client may not use is unauthorized_client, anything else unsupported_grant_type. */
export const KNOWN_GRANT_TYPES: ReadonlySet<string> = new Set([
  'client_credentials',
  'refresh_token',
  'authorization_code',
  'password',
  'urn:ietf:params:oauth:grant-type:saml2-bearer',
]);
export const MAX_BODY_BYTES = 16 * 1024;
export const DOMAINS: ReadonlySet<string> = new Set(REGIONS.map((r) => r.domain));

export const PLATFORM_CODES: Record<number, string> = {
  400: 'bad.request',
  401: 'authentication.required',
  403: 'missing.permissions',
  404: 'not.found',
  408: 'request.timeout',
  429: 'too.many.requests',
  500: 'internal.server.error',
  502: 'bad.gateway',
  503: 'service.unavailable',
  504: 'gateway.timeout',
};

export const HTML_REASONS: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** Opaque random token, like Genesys' access tokens: 43 base64url characters. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

export function slug(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s === '' ? 'org' : s;
}

/** Sends a whole response; JSON unless `headers` say otherwise. Does nothing on a response already sent or destroyed. */
export function sendBody(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

export function platformBody(status: number, message: string, code = PLATFORM_CODES[status] ?? 'error'): string {
  return JSON.stringify({ message, code, status });
}

export function oauthBody(error: string, description: string): string {
  return JSON.stringify({ error, description, error_description: description });
}

/** Parses `Basic base64(id:secret)`; undefined when absent or garbled. */
export function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { clientId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

export function parseBearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

export function checkSeconds(value: unknown, field: string, allowZero: boolean): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new ValidationError(`${field} must be ${allowZero ? 'a non-negative' : 'a positive'} integer number of seconds`, { field });
  }
}

export function checkFault(fault: SimFault, endpoint: SimEndpoint): void {
  const bad = (why: string): never => {
    throw new ValidationError(`invalid fault: ${why}`, { field: 'fault' });
  };
  const isStatus = (s: unknown, min: number): boolean => typeof s === 'number' && Number.isInteger(s) && s >= min && s <= 599;
  switch (fault?.kind) {
    case 'status':
      if (!isStatus(fault.status, 200)) bad('status must be an integer from 200 to 599');
      break;
    case 'html':
      if (fault.status !== undefined && !isStatus(fault.status, 400)) bad('html status must be an integer from 400 to 599');
      break;
    case 'latency':
      if (typeof fault.ms !== 'number' || !Number.isFinite(fault.ms) || fault.ms < 0) bad('latency ms must be a finite number >= 0');
      break;
    case 'rate_limit':
      if (fault.retryAfter !== undefined && fault.retryAfter !== null && typeof fault.retryAfter !== 'string') bad('retryAfter must be a string or null');
      break;
    case 'foreign_org':
      if (!isNonEmptyString(fault.orgId)) bad('foreign_org needs an orgId');
      if (endpoint !== 'token') bad('foreign_org applies to the token endpoint only');
      break;
    case 'missing_access_token':
    case 'invalid_token_body':
      if (endpoint !== 'token') bad(`${fault.kind} applies to the token endpoint only`);
      break;
    case 'after_grant':
      if (endpoint !== 'token') bad('after_grant applies to the token endpoint only');
      if (!['status', 'hang', 'reset', 'malformed_json', 'truncated_body', 'html'].includes(fault.then?.kind)) bad('after_grant needs a then fault: status, hang, reset, malformed_json, truncated_body or html');
      checkFault(fault.then, endpoint);
      break;
    case 'hang':
    case 'reset':
    case 'malformed_json':
    case 'truncated_body':
      break;
    default:
      bad(`unknown kind ${JSON.stringify((fault as { kind?: unknown } | undefined)?.kind)}`);
  }
}

/** A plausible success body for an endpoint, holding no real token; faults cut it short. */
export function fakeBody(endpoint: SimEndpoint, lifetimeSeconds: number): string {
  if (endpoint === 'token') {
    return JSON.stringify({ access_token: `not-a-token-${'x'.repeat(40)}`, token_type: 'bearer', expires_in: lifetimeSeconds });
  }
  const org = { id: '00000000-0000-0000-0000-000000000000', name: 'Truncated', selfUri: '/api/v2/organizations/00000000-0000-0000-0000-000000000000' };
  return JSON.stringify(endpoint === 'tokens/me' ? { organization: org, homeOrganization: org, authorizedScope: [] } : { ...org, state: 'active' });
}

/** The seconds a `Retry-After` value (delta-seconds or an HTTP-date) asks for, at least 0; 1 when absent or unreadable. */
export function retryAfterSeconds(retryAfter: string | null, nowMs: number): number {
  if (retryAfter === null) return 1;
  if (/^\s*\d+\s*$/.test(retryAfter)) return Number(retryAfter.trim());
  const at = Date.parse(retryAfter);
  return Number.isNaN(at) ? 1 : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** RFC 7636 §4.1: a code_verifier (and an S256 code_challenge) is 43 to 128 unreserved characters. */
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;

export function isPkceValue(value: string): boolean {
  return PKCE_VALUE.test(value);
}

/** RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
