import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyHttpFailure, fullJitterBackoffMs, parseErrorBody, parseRetryAfter, parseTokenInfo, parseTokenResponse } from '../../lambdas/core/oauth.js';
import { caughtUpstream } from '../support/caught.js';

const ORG = '11111111-1111-4111-8111-111111111111';
const NOW = Date.parse('2026-03-01T12:00:00Z');


describe('parseRetryAfter', () => {
  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 7 ', 7_000],
    ['Sun, 01 Mar 2026 12:00:30 GMT', 30_000],
    ['Sun, 01 Mar 2026 11:59:00 GMT', 0],
  ])('reads %j as %i ms', (header, ms) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms);
  });

  it.each([null, undefined, '', '-5', '1.5', 'soon', '1e3'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined();
  });

  it('round-trips any delta-seconds value', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), (s) => parseRetryAfter(String(s), NOW) === s * 1000));
  });

  it('round-trips any HTTP-date to the whole second, never negative', () => {
    fc.assert(
      fc.property(fc.integer({ min: -86_400, max: 86_400 }), (offsetSeconds) => {
        const header = new Date(NOW + offsetSeconds * 1000).toUTCString();
        return parseRetryAfter(header, NOW) === Math.max(0, offsetSeconds * 1000);
      }),
    );
  });

  it('never throws and never returns a negative or non-finite wait for arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const v = parseRetryAfter(s, NOW);
        return v === undefined || (Number.isFinite(v) && v >= 0);
      }),
    );
  });
});

describe('fullJitterBackoffMs', () => {
  it('stays within [0, min(cap, base * 2^retry))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (retry, r) => {
        const wait = fullJitterBackoffMs(retry, 250, 8_000, () => r);
        return wait >= 0 && wait < Math.min(8_000, 250 * 2 ** retry);
      }),
    );
  });
});

describe('parseTokenResponse', () => {
  it('accepts a client_credentials response and normalises the token type', () => {
    expect(parseTokenResponse('{"access_token":"abc","token_type":"BEARER","expires_in":86400}', ORG)).toEqual({ accessToken: 'abc', tokenType: 'bearer', expiresInSeconds: 86_400 });
  });

  it('returns the rotated refresh token', () => {
    expect(parseTokenResponse('{"access_token":"a","token_type":"bearer","expires_in":300,"refresh_token":"r2"}', ORG).refreshToken).toBe('r2');
  });

  it.each([
    ['no access_token', '{"token_type":"bearer","expires_in":86400}', 'invalid_token_response', /access_token/],
    ['empty access_token', '{"access_token":"","token_type":"bearer","expires_in":86400}', 'invalid_token_response', /access_token/],
    ['a non-bearer type', '{"access_token":"x","token_type":"mac","expires_in":86400}', 'invalid_token_response', /token_type/],
    ['expires_in below 300', '{"access_token":"x","token_type":"bearer","expires_in":299}', 'invalid_token_response', /expires_in/],
    ['expires_in above 48 h', '{"access_token":"x","token_type":"bearer","expires_in":172801}', 'invalid_token_response', /expires_in/],
    ['a fractional expires_in', '{"access_token":"x","token_type":"bearer","expires_in":3600.5}', 'invalid_token_response', /expires_in/],
    ['a string expires_in', '{"access_token":"x","token_type":"bearer","expires_in":"3600"}', 'invalid_token_response', /expires_in/],
    ['truncated JSON', '{"access_token":"x","token_ty', 'malformed_response', /not valid JSON/],
    ['an HTML page', '<html><body>ok</body></html>', 'malformed_response', /not valid JSON/],
  ])('rejects %s as a transient %s', (_name, body, code, message) => {
    const err = caughtUpstream(() => parseTokenResponse(body, ORG));
    expect(err.code).toBe(code);
    expect(err.failureClass).toBe('transient');
    expect(err.message).toMatch(message);
  });

  it('never quotes the token in its error', () => {
    const err = caughtUpstream(() => parseTokenResponse('{"access_token":"SECRET-TOKEN-VALUE","token_type":"bearer","expires_in":1}', ORG));
    expect(err.message).not.toContain('SECRET-TOKEN-VALUE');
  });
});

describe('parseTokenInfo', () => {
  it('reads org, client, scopes and the idle deadline', () => {
    const info = parseTokenInfo(JSON.stringify({
      organization: { id: ORG, name: 'Acme' },
      OAuthClient: { id: 'client-1', name: 'Broker', organization: { id: ORG } },
      authorizedScope: ['users:readonly'],
      dateTokenIdles: '2026-03-01T13:00:00.000Z',
    }), ORG);
    expect(info).toEqual({ organizationId: ORG, organizationName: 'Acme', oauthClientId: 'client-1', oauthClientName: 'Broker', authorizedScope: ['users:readonly'], idlesAtMs: Date.parse('2026-03-01T13:00:00Z') });
  });

  it('treats a body without organization.id as malformed', () => {
    expect(caughtUpstream(() => parseTokenInfo('{"OAuthClient":{}}', ORG)).code).toBe('malformed_response');
  });
});

describe('parseErrorBody', () => {
  it.each([
    ['an OAuth error', '{"error":"invalid_client","description":"client not found","error_description":"client not found"}', { kind: 'oauth', error: 'invalid_client', description: 'client not found' }],
    ['a Platform API error', '{"message":"Rate limit exceeded","code":"too.many.requests","status":429}', { kind: 'platform', error: 'too.many.requests', description: 'Rate limit exceeded' }],
    ['an HTML page', '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>', { kind: 'html', description: '502 Bad Gateway' }],
    ['plain text', 'upstream connect error', { kind: 'text', description: 'upstream connect error' }],
    ['nothing', '   ', { kind: 'empty' }],
  ])('understands %s', (_name, body, expected) => {
    expect(parseErrorBody(body)).toEqual(expected);
  });

  it('scrubs a token split by invisible characters', () => {
    const split = `${'a'.repeat(20)}\u200b\u0007${'b'.repeat(20)}`;
    const parsed = parseErrorBody(JSON.stringify({ error: 'invalid_grant', error_description: `bad ${split}` }));
    expect(parsed.description).toBe('bad [redacted]');
  });

  it('shortens and scrubs token-like runs from excerpts', () => {
    const parsed = parseErrorBody(`{"error":"invalid_grant","error_description":"bad token ${'x'.repeat(40)} ${'y'.repeat(300)}"}`);
    expect(parsed.description).not.toContain('x'.repeat(24));
    expect(parsed.description!.length).toBeLessThanOrEqual(123);
  });
});

describe('classifyHttpFailure', () => {
  const base = { bodyText: '', retryAfter: null, nowMs: NOW, orgId: ORG, endpoint: 'token' as const };
  it.each([
    [400, '{"error":"invalid_client","description":"client not found"}', 'invalid_client', 'permanent'],
    [401, '{"error":"invalid_client","description":"authentication failed"}', 'invalid_client', 'permanent'],
    [400, '{"error":"unauthorized_client"}', 'unauthorized_client', 'permanent'],
    [400, '{"error":"invalid_grant"}', 'invalid_grant', 'permanent'],
    [400, '{"error":"unsupported_grant_type"}', 'unsupported_grant_type', 'permanent'],
    [400, '{"error":"something_new"}', 'auth_rejected', 'permanent'],
    [401, '', 'invalid_client', 'permanent'],
    [403, '<html></html>', 'access_denied', 'permanent'],
    [404, '', 'auth_rejected', 'permanent'],
    [429, '{"message":"slow down","code":"too.many.requests","status":429}', 'rate_limited', 'rate_limited'],
    [500, '', 'upstream_unavailable', 'transient'],
    [502, '<html><title>Bad Gateway</title></html>', 'upstream_unavailable', 'transient'],
    [503, '', 'upstream_unavailable', 'transient'],
    [504, '', 'upstream_unavailable', 'transient'],
  ])('maps HTTP %i %s to %s (%s)', (status, bodyText, code, failureClass) => {
    const err = classifyHttpFailure({ ...base, status, bodyText });
    expect(err.code).toBe(code);
    expect(err.failureClass).toBe(failureClass);
    expect(err.httpStatus).toBe(status);
    expect(err.message).toContain(ORG);
  });

  it('keeps Retry-After on a 429', () => {
    expect(classifyHttpFailure({ ...base, status: 429, retryAfter: '17' }).retryAfterMs).toBe(17_000);
  });

  it('calls a 401 from tokens/me a rejected token', () => {
    expect(classifyHttpFailure({ ...base, endpoint: 'tokens/me', status: 401, bodyText: '{"message":"auth","code":"authentication.required","status":401}' }).code).toBe('token_rejected');
  });
});
