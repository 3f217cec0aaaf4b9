/**
 * What the OAuth client makes of Genesys' 2xx bodies (oauth.ts), with exact values: the token grant
 * and its optional fields, the tokens/me view of a token, and the rotated refresh token read ahead of
 * validation. Errors name fields, never values.
 */
import { describe, expect, it } from 'vitest';
import { parseTokenInfo, parseTokenResponse, rotatedRefreshToken } from '../../lambdas/core/oauth.js';
import { caughtUpstream } from '../support/caught.js';

const ORG = '0f000000-0000-4000-8000-0000000000f2';
const ACCESS = 'access-token-SECRETVALUE-0123456789';


describe('parseTokenResponse', () => {
  it('returns exactly the grant fields, with no refreshToken or scope keys when Genesys sent none', () => {
    const grant = parseTokenResponse(JSON.stringify({ access_token: ACCESS, token_type: 'bearer', expires_in: 3600 }), ORG);
    expect(grant).toStrictEqual({ accessToken: ACCESS, tokenType: 'bearer', expiresInSeconds: 3600 });
  });

  it('keeps the rotated refresh token and the scope', () => {
    const grant = parseTokenResponse(JSON.stringify({ access_token: ACCESS, token_type: 'Bearer', expires_in: 300, refresh_token: 'rt-next', scope: 'users:readonly' }), ORG);
    expect(grant).toStrictEqual({ accessToken: ACCESS, tokenType: 'bearer', expiresInSeconds: 300, refreshToken: 'rt-next', scope: 'users:readonly' });
  });

  it('accepts the longest lifetime Genesys allows', () => {
    expect(parseTokenResponse(JSON.stringify({ access_token: ACCESS, token_type: 'bearer', expires_in: 172_800 }), ORG).expiresInSeconds).toBe(172_800);
  });

  it.each(['xbearer', 'bearerx', 'bearer mac'])('refuses the token type %j', (tokenType) => {
    const err = caughtUpstream(() => parseTokenResponse(JSON.stringify({ access_token: ACCESS, token_type: tokenType, expires_in: 3600 }), ORG));
    expect(err.code).toBe('invalid_token_response');
    expect(err.message).toBe(`token response for org ${ORG} is invalid in: token_type`);
  });

  it('names every invalid field once, in order, and carries class, org and status', () => {
    const err = caughtUpstream(() => parseTokenResponse(JSON.stringify({ access_token: '', token_type: 'bearer', expires_in: 'soon', refresh_token: '' }), ORG));
    expect(err).toMatchObject({ code: 'invalid_token_response', failureClass: 'transient', orgId: ORG, httpStatus: 200 });
    expect(err.message).toBe(`token response for org ${ORG} is invalid in: access_token, expires_in, refresh_token`);
  });

  it.each(['null', '[]', '"a string"'])('calls a JSON %s that is not an object invalid at its root', (body) => {
    const err = caughtUpstream(() => parseTokenResponse(body, ORG));
    expect(err.code).toBe('invalid_token_response');
    expect(err.message).toBe(`token response for org ${ORG} is invalid in: (root)`);
  });

  it('reports unparseable JSON with its length, never its content', () => {
    const body = `{"access_token":"${ACCESS}"`;
    const err = caughtUpstream(() => parseTokenResponse(body, ORG));
    expect(err).toMatchObject({ code: 'malformed_response', failureClass: 'transient', orgId: ORG, httpStatus: 200 });
    expect(err.message).toBe(`token response for org ${ORG} is not valid JSON (${body.length} bytes)`);
  });
});

describe('parseTokenInfo', () => {
  it('reads a body with only the organization id: no optional keys, no scopes', () => {
    expect(parseTokenInfo(JSON.stringify({ organization: { id: ORG } }), ORG)).toStrictEqual({ organizationId: ORG, authorizedScope: [] });
  });

  it('leaves out client fields Genesys did not send, and an idle date it cannot read', () => {
    const info = parseTokenInfo(JSON.stringify({ organization: { id: ORG, name: 'Acme' }, OAuthClient: { name: 'Broker' }, authorizedScope: ['a', 'b'], dateTokenIdles: 'someday' }), ORG);
    expect(info).toStrictEqual({ organizationId: ORG, organizationName: 'Acme', oauthClientName: 'Broker', authorizedScope: ['a', 'b'] });
    const idOnly = parseTokenInfo(JSON.stringify({ organization: { id: ORG }, OAuthClient: { id: 'client-7' } }), ORG);
    expect(idOnly).toStrictEqual({ organizationId: ORG, oauthClientId: 'client-7', authorizedScope: [] });
  });

  it('calls a body that is not JSON malformed and transient, quoting nothing', () => {
    const err = caughtUpstream(() => parseTokenInfo(`<html>${ACCESS}</html>`, ORG));
    expect(err).toMatchObject({ code: 'malformed_response', failureClass: 'transient', orgId: ORG, httpStatus: 200 });
    expect(err.message).toBe(`tokens/me response for org ${ORG} is not valid JSON`);
  });

  it('calls a body without organization.id malformed and transient', () => {
    const err = caughtUpstream(() => parseTokenInfo(JSON.stringify({ organization: { name: 'Acme' } }), ORG));
    expect(err).toMatchObject({ code: 'malformed_response', failureClass: 'transient', orgId: ORG, httpStatus: 200 });
    expect(err.message).toBe(`tokens/me response for org ${ORG} lacks organization.id`);
  });
});

describe('rotatedRefreshToken', () => {
  it.each([
    ['a string refresh_token', '{"refresh_token":"rt-2","expires_in":"soon"}', 'rt-2'],
    ['an empty refresh_token', '{"access_token":"a","refresh_token":""}', undefined],
    ['a numeric refresh_token', '{"refresh_token":5}', undefined],
    ['an object refresh_token', '{"refresh_token":{"value":"rt"}}', undefined],
    ['no refresh_token', '{"access_token":"a"}', undefined],
    ['JSON null', 'null', undefined],
    ['a JSON string', '"rt-2"', undefined],
    ['an array', '[{"refresh_token":"rt-2"}]', undefined],
    ['a cut-off body', '{"refresh_token":"rt-2"', undefined],
  ])('reads %s as %j', (_name, body, expected) => {
    expect(rotatedRefreshToken(body)).toBe(expected);
  });
});
