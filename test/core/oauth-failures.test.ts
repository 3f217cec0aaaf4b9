/**
 * How the broker reads Genesys failures (oauth-failures.ts), case by case with exact values: the
 * error body shapes and the excerpts quoted from them, the code, class, status and message of every
 * classified failure, full-jitter backoff, which transport failures certainly never reached Genesys,
 * and the refresh_token outcome-unknown wrapper.
 */
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../lambdas/core/errors.js';
import { certainlyNotSent, classifyHttpFailure, fullJitterBackoffMs, outcomeUnknown, parseErrorBody, transportError } from '../../lambdas/core/oauth-failures.js';

const ORG = '0f000000-0000-4000-8000-0000000000f1';
const NOW = Date.parse('2026-03-01T12:00:00Z');

/** `n` words of 19 x's joined by spaces: printable, and no run long enough to be redacted as token-like. */
const words = (n: number): string => Array.from({ length: n }, () => 'x'.repeat(19)).join(' ');

describe('parseErrorBody', () => {
  it.each([
    ['trims the excerpt', '{"error":"invalid_client","error_description":"  client not found  "}', { kind: 'oauth', error: 'invalid_client', description: 'client not found' }],
    ['collapses runs of whitespace to one space', '{"error":"invalid_client","error_description":"client\\n\\n  not found"}', { kind: 'oauth', error: 'invalid_client', description: 'client not found' }],
    ['skips an empty error_description for a non-empty description', '{"error":"invalid_grant","error_description":"","description":"token spent"}', { kind: 'oauth', error: 'invalid_grant', description: 'token spent' }],
    ['skips a non-string error_description', '{"error":"invalid_client","error_description":42,"description":"unknown client"}', { kind: 'oauth', error: 'invalid_client', description: 'unknown client' }],
    ['reads an OAuth error without any description', '{"error":"unsupported_grant_type"}', { kind: 'oauth', error: 'unsupported_grant_type' }],
    ['reads a Platform API body with only a message', '{"message":"Rate limit exceeded"}', { kind: 'platform', description: 'Rate limit exceeded' }],
    ['reads a Platform API body with only a code', '{"code":"bad.request","status":400}', { kind: 'platform', error: 'bad.request' }],
    ['treats JSON with neither error, message nor code as text', '{"status":500}', { kind: 'text', description: '{"status":500}' }],
    ['treats broken JSON as text', '{"error":"invalid_client"', { kind: 'text', description: '{"error":"invalid_client"' }],
    ['reads an HTML title that has attributes', '<html><head><title lang="en">503 Service Unavailable</title></head></html>', { kind: 'html', description: '503 Service Unavailable' }],
    ['reads an HTML page without a title', '<!doctype html><p>down</p>', { kind: 'html' }],
  ])('%s', (_name, body, expected) => {
    expect(parseErrorBody(body)).toStrictEqual(expected);
  });

  it('drops a description that is only invisible characters', () => {
    const parsed = parseErrorBody('{"error":"invalid_grant","error_description":"\\u200b\\u0007"}');
    expect(parsed.kind).toBe('oauth');
    expect(parsed.error).toBe('invalid_grant');
    expect(parsed.description).toBeUndefined();
  });

  it('keeps an excerpt of exactly 120 characters whole and cuts a longer one at 120', () => {
    const exact = `${words(6)}!`;
    expect(exact).toHaveLength(120);
    expect(parseErrorBody(JSON.stringify({ error: 'invalid_grant', error_description: exact }))).toStrictEqual({ kind: 'oauth', error: 'invalid_grant', description: exact });
    expect(parseErrorBody(JSON.stringify({ error: 'invalid_grant', error_description: `${exact}?` }))).toStrictEqual({ kind: 'oauth', error: 'invalid_grant', description: `${exact}...` });
  });

  it('cuts a plain-text body at 80 characters', () => {
    const text = words(5); // 99 characters
    expect(parseErrorBody(text)).toStrictEqual({ kind: 'text', description: `${text.slice(0, 80)}...` });
  });

  it('never quotes an echoed client secret or token', () => {
    const secret = 'client-secret-0123456789abcdefghij';
    const parsed = parseErrorBody(JSON.stringify({ message: `secret ${secret} is wrong`, code: 'bad.credentials' }));
    expect(parsed).toStrictEqual({ kind: 'platform', error: 'bad.credentials', description: 'secret [redacted] is wrong' });
  });
});

describe('classifyHttpFailure', () => {
  const base = { bodyText: '', retryAfter: null, nowMs: NOW, orgId: ORG, endpoint: 'token' as const };
  const classify = (input: Partial<Parameters<typeof classifyHttpFailure>[0]> & { status: number }) => classifyHttpFailure({ ...base, ...input });

  it.each([
    ['invalid_scope', 400, '{"error":"invalid_scope","error_description":"scope not allowed"}', 'invalid_scope', 'Genesys refused token for org X with HTTP 400 invalid_scope: scope not allowed'],
    ['access_denied', 400, '{"error":"access_denied"}', 'access_denied', 'Genesys refused token for org X with HTTP 400 access_denied'],
    ['an OAuth error outside the standard set', 400, '{"error":"invalid_request","error_description":"grant_type is required"}', 'auth_rejected', 'Genesys refused token for org X with HTTP 400 auth_rejected: grant_type is required'],
    ['a Platform API body naming no OAuth error', 400, '{"message":"Bad request","code":"bad.request","status":400}', 'auth_rejected', 'Genesys refused token for org X with HTTP 400 auth_rejected: Bad request'],
    ['a Platform API code spelled like an OAuth error', 400, '{"message":"nope","code":"invalid_grant","status":400}', 'auth_rejected', 'Genesys refused token for org X with HTTP 400 auth_rejected: nope'],
    ['an unknown OAuth error on a 401', 401, '{"error":"something_new"}', 'invalid_client', 'Genesys refused token for org X with HTTP 401 invalid_client'],
    ['an unknown OAuth error on a 403', 403, '{"error":"something_new"}', 'access_denied', 'Genesys refused token for org X with HTTP 403 access_denied'],
    ['an HTML 403 page', 403, '<html><body>Forbidden</body></html>', 'access_denied', 'Genesys refused token for org X with HTTP 403 access_denied (HTML page)'],
  ])('maps %s to a permanent %s with an exact message', (_name, status, bodyText, code, message) => {
    const err = classify({ status, bodyText });
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ code, failureClass: 'permanent', httpStatus: status, orgId: ORG, attempts: 1 });
    expect(err.message).toBe(message.replace('org X', `org ${ORG}`));
  });

  it.each([
    [408, '', 'Genesys returned HTTP 408 on token for org X'],
    [500, '', 'Genesys returned HTTP 500 on token for org X'],
    [502, '<html><body>bad gateway</body></html>', 'Genesys returned HTTP 502 on token for org X (HTML page)'],
    [502, '<html><head><title>502 Bad Gateway</title></head></html>', 'Genesys returned HTTP 502 on token for org X: 502 Bad Gateway'],
    [503, '{"message":"The service is down","code":"service.unavailable","status":503}', 'Genesys returned HTTP 503 on token for org X: The service is down'],
  ])('calls HTTP %i a transient upstream_unavailable (%j)', (status, bodyText, message) => {
    const err = classify({ status, bodyText });
    expect(err).toMatchObject({ code: 'upstream_unavailable', failureClass: 'transient', httpStatus: status, orgId: ORG });
    expect(err.message).toBe(message.replace('org X', `org ${ORG}`));
  });

  it('names tokens/me in a refusal from the API host', () => {
    const err = classify({ endpoint: 'tokens/me', status: 404, bodyText: '{"message":"Not found","code":"not.found","status":404}' });
    expect(err).toMatchObject({ code: 'token_rejected', failureClass: 'permanent', httpStatus: 404 });
    expect(err.message).toBe(`Genesys refused tokens/me for org ${ORG} with HTTP 404 token_rejected: Not found`);
  });

  describe('HTTP 429', () => {
    it('without Retry-After: no wait, and a message that promises none', () => {
      const err = classify({ status: 429 });
      expect(err).toMatchObject({ code: 'rate_limited', failureClass: 'rate_limited', httpStatus: 429 });
      expect(err.retryAfterMs).toBeUndefined();
      expect(err.message).toBe(`Genesys rate-limited token for org ${ORG} (HTTP 429)`);
    });

    it.each([
      ['delta-seconds', '17', NOW, 17_000, 17],
      ['zero', '0', NOW, 0, 0],
      ['an HTTP-date 1.5 s ahead, rounded up to whole seconds', 'Sun, 01 Mar 2026 12:00:02 GMT', NOW + 500, 1_500, 2],
    ])('with Retry-After as %s', (_name, retryAfter, nowMs, retryAfterMs, seconds) => {
      const err = classify({ status: 429, retryAfter, nowMs });
      expect(err.retryAfterMs).toBe(retryAfterMs);
      expect(err.message).toBe(`Genesys rate-limited token for org ${ORG} (HTTP 429), retry after ${seconds} s`);
    });
  });

  it('never quotes the client secret Genesys echoes back', () => {
    const secret = 'oauth-secret-abcdefghijklmnopqrstuvwxyz';
    const err = classify({ status: 401, bodyText: JSON.stringify({ error: 'invalid_client', error_description: `bad secret ${secret}` }) });
    expect(err.message).toBe(`Genesys refused token for org ${ORG} with HTTP 401 invalid_client: bad secret [redacted]`);
  });
});

describe('fullJitterBackoffMs', () => {
  it.each([
    // retry, base, cap, random, wait
    [0, 250, 8_000, 0.5, 125],
    [1, 250, 8_000, 0.5, 250],
    [3, 250, 8_000, 0.5, 1_000],
    [2, 100, 8_000, 0.25, 100],
    [10, 250, 8_000, 0.5, 4_000],
    [5, 250, 8_000, 0.999, 7_992],
    [40, 1, 2 ** 40, 0.5, 2 ** 29],
  ])('waits floor(random * min(cap, base * 2^retry)): retry %i, base %i, cap %i, random %d -> %i ms', (retry, base, cap, r, wait) => {
    expect(fullJitterBackoffMs(retry, base, cap, () => r)).toBe(wait);
  });
});

/** A fetch failure as undici reports it: a TypeError whose cause carries the system error code. */
const fetchFailed = (code: unknown): TypeError => new TypeError('fetch failed', { cause: Object.assign(new Error('connect failed'), { code }) });

describe('certainlyNotSent', () => {
  const notSent = [
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
  ];

  it.each(notSent)('knows %s happens before a byte reaches Genesys, on a fetch error and on the network_error made of it', (code) => {
    expect(certainlyNotSent(fetchFailed(code))).toBe(true);
    const wrapped = transportError(fetchFailed(code), ORG, 'token', false);
    expect(wrapped.transportCode).toBe(code);
    expect(certainlyNotSent(wrapped)).toBe(true);
  });

  it.each(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT'])('treats %s as possibly received', (code) => {
    expect(certainlyNotSent(fetchFailed(code))).toBe(false);
    expect(certainlyNotSent(transportError(fetchFailed(code), ORG, 'token', false))).toBe(false);
  });

  it.each([
    ['an error without a cause', new TypeError('fetch failed')],
    ['a cause whose code is not a string', fetchFailed(42)],
    ['a thrown string', 'ENOTFOUND'],
    ['a timeout', transportError(new DOMException('aborted', 'AbortError'), ORG, 'token', true)],
  ])('is false for %s', (_name, err) => {
    expect(certainlyNotSent(err)).toBe(false);
  });
});

describe('transportError', () => {
  it.each([
    ['an abort', new DOMException('This operation was aborted', 'AbortError'), false],
    ['a TimeoutError', new DOMException('The operation timed out', 'TimeoutError'), false],
    ['any failure after the client\'s own timer fired', fetchFailed('ECONNRESET'), true],
  ])('calls %s a transient timeout', (_name, err, timedOut) => {
    const out = transportError(err, ORG, 'tokens/me', timedOut);
    expect(out).toMatchObject({ code: 'timeout', failureClass: 'transient', orgId: ORG });
    expect(out.message).toBe(`request to tokens/me for org ${ORG} timed out`);
    expect(out.transportCode).toBeUndefined();
  });

  it('calls a reset a network_error that names the system code and keeps the cause', () => {
    const err = fetchFailed('ECONNRESET');
    const out = transportError(err, ORG, 'token', false);
    expect(out).toMatchObject({ code: 'network_error', failureClass: 'transient', orgId: ORG, transportCode: 'ECONNRESET', cause: err });
    expect(out.message).toBe(`network error calling token for org ${ORG} (ECONNRESET)`);
  });

  it.each([
    ['an error without a cause', new TypeError('fetch failed')],
    ['a cause whose code is not a string', fetchFailed(42)],
    ['a thrown string', 'socket hang up'],
  ])('names no system code for %s', (_name, err) => {
    const out = transportError(err, ORG, 'token', false);
    expect(out).toMatchObject({ code: 'network_error', failureClass: 'transient' });
    expect(out.transportCode).toBeUndefined();
    expect(out.message).toBe(`network error calling token for org ${ORG}`);
  });
});

describe('outcomeUnknown', () => {
  it('turns a failure of a refresh_token request into a permanent stop that keeps its status and attempts', () => {
    const cause = classifyHttpFailure({ status: 502, bodyText: '', retryAfter: null, nowMs: NOW, orgId: ORG, endpoint: 'token' });
    cause.attempts = 2;
    const err = outcomeUnknown(cause, ORG);
    expect(err).toMatchObject({ code: 'refresh_outcome_unknown', failureClass: 'permanent', orgId: ORG, httpStatus: 502, attempts: 2, cause });
    expect(err.message).toBe(
      `refresh_token request for org ${ORG} may have reached Genesys but no usable answer came back (upstream_unavailable); the presented refresh token may be spent and is not sent again: re-authorize the org`,
    );
  });

  it('has no HTTP status when no answer came back', () => {
    const err = outcomeUnknown(transportError(fetchFailed('ECONNRESET'), ORG, 'token', false), ORG);
    expect(err).toMatchObject({ code: 'refresh_outcome_unknown', attempts: 1 });
    expect(err.httpStatus).toBeUndefined();
    expect(err.message).toContain('(network_error)');
  });
});
