/**
 * The simulator's authorization-code flow, as Genesys Cloud runs it for an "Code Authorization"
 * OAuth client: `GET /oauth/authorize` with automatic consent (no login page: the simulated user is
 * signed in and approves), and the `authorization_code` grant with PKCE (RFC 7636, S256 only).
 *
 * Error shapes follow RFC 6749 §4.1.2.1: an unknown client or a redirect URI the client has not
 * authorized is answered with an error and never redirected (the redirect target cannot be trusted);
 * every later problem is redirected back with `error`, `error_description` and `state`. Token
 * endpoint refusals are `invalid_request` or `invalid_grant` (RFC 6749 §5.2, RFC 7636 §4.6).
 */
import type { ClientState, CodeState } from './simulator-types.js';
import { isPkceValue, newToken, s256Challenge } from './simulator-protocol.js';

/** How long a code may wait for its exchange; RFC 6749 §4.1.2 recommends at most 10 minutes. */
export const CODE_LIFETIME_SECONDS = 300;

/** What `GET /oauth/authorize` answers. */
export type AuthorizeAnswer =
  /** Not redirected: the client or its redirect URI is not to be trusted. */
  | { kind: 'refuse'; error: string; description: string }
  /** A 302 to the client's redirect URI, with a code or an error, and the state. */
  | { kind: 'redirect'; location: string; code?: string };

function redirectTo(redirectUri: string, params: Record<string, string | null>): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) if (value !== null) url.searchParams.set(key, value);
  return url.toString();
}

/**
 * Runs an authorization request for `client` (undefined when the client id is unknown in this
 * region or revoked) and, when it is sound, issues a single-use code into `codes`.
 */
export function authorize(query: URLSearchParams, client: ClientState | undefined, codes: Map<string, CodeState>, nowMs: number): AuthorizeAnswer {
  if (!client) return { kind: 'refuse', error: 'invalid_client', description: 'client not found' };
  const redirectUri = query.get('redirect_uri');
  if (redirectUri === null || !client.redirectUris.includes(redirectUri)) {
    return { kind: 'refuse', error: 'invalid_request', description: 'redirect_uri is not an authorized redirect URI of this client' };
  }
  const state = query.get('state');
  const fail = (error: string, description: string): AuthorizeAnswer => ({
    kind: 'redirect',
    location: redirectTo(redirectUri, { error, error_description: description, state }),
  });
  if (query.get('response_type') !== 'code') return fail('unsupported_response_type', 'response_type must be code');
  if (!client.grantTypes.has('authorization_code')) return fail('unauthorized_client', 'client is not authorized to use this grant type');
  const challenge = query.get('code_challenge');
  const method = query.get('code_challenge_method');
  if (method !== null && challenge === null) return fail('invalid_request', 'code_challenge_method without code_challenge');
  if (challenge !== null) {
    // The plain method (and a missing one, which means plain) is refused: it protects nothing.
    if (method !== 'S256') return fail('invalid_request', 'transform algorithm not supported');
    if (!isPkceValue(challenge)) return fail('invalid_request', 'code_challenge is malformed');
  }
  const code = newToken();
  codes.set(code, {
    clientId: client.clientId,
    redirectUri,
    ...(challenge !== null ? { codeChallenge: challenge } : {}),
    expiresAtMs: nowMs + CODE_LIFETIME_SECONDS * 1000,
    used: false,
  });
  return { kind: 'redirect', location: redirectTo(redirectUri, { code, state }), code };
}

/** What presenting a code at the token endpoint came to. */
export type Redemption =
  | { ok: true; code: string; entry: CodeState }
  /** `reused`: the code was presented before, so what it granted is to be revoked. */
  | { ok: false; error: 'invalid_request' | 'invalid_grant'; description: string; reused?: CodeState };

/**
 * Checks an authorization_code grant: the code is this client's, unused, unexpired, for this
 * redirect_uri, and the verifier hashes to its challenge. A code is spent by its first presentation,
 * even a refused one, so a wrong verifier cannot be retried against it.
 */
export function redeem(form: URLSearchParams, client: ClientState, codes: Map<string, CodeState>, nowMs: number): Redemption {
  const code = form.get('code');
  if (!code) return { ok: false, error: 'invalid_request', description: 'code is required' };
  const entry = codes.get(code);
  if (!entry || entry.clientId !== client.clientId) return { ok: false, error: 'invalid_grant', description: 'invalid authorization code' };
  if (entry.used) return { ok: false, error: 'invalid_grant', description: 'authorization code has already been used', reused: entry };
  entry.used = true;
  if (nowMs >= entry.expiresAtMs) return { ok: false, error: 'invalid_grant', description: 'authorization code has expired' };
  if (form.get('redirect_uri') !== entry.redirectUri) return { ok: false, error: 'invalid_grant', description: 'redirect_uri does not match the authorization request' };
  if (entry.codeChallenge !== undefined) {
    const verifier = form.get('code_verifier');
    if (verifier === null || !isPkceValue(verifier) || s256Challenge(verifier) !== entry.codeChallenge) {
      return { ok: false, error: 'invalid_grant', description: 'PKCE verification failed' };
    }
  }
  return { ok: true, code, entry };
}
