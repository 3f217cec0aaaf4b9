import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authorizeUrl, landingPage, newPkce, newState, openBrowser, redirectUriFor } from '../../lib/cli/browser-authorization.js';

describe('browser authorization pieces', () => {
  it('makes a 43-character verifier whose S256 challenge is the base64url SHA-256 of it, fresh every time', () => {
    const a = newPkce();
    const b = newPkce();
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.challenge).toBe(createHash('sha256').update(a.verifier).digest('base64url'));
    expect(a.verifier).not.toBe(b.verifier);
    expect(newState()).not.toBe(newState());
  });

  it('builds the authorization URL with the code flow, the loopback redirect and an S256 challenge, and never the verifier', () => {
    const pkce = newPkce();
    const url = new URL(authorizeUrl({ loginBaseUrl: 'https://login.mypurecloud.ie', clientId: 'c-1', redirectUri: redirectUriFor(8765), state: 'st', challenge: pkce.challenge }));
    expect(`${url.origin}${url.pathname}`).toBe('https://login.mypurecloud.ie/oauth/authorize');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'c-1',
      redirect_uri: 'http://localhost:8765/callback',
      state: 'st',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    });
    expect(url.toString()).not.toContain(pkce.verifier);
  });

  it('does not try to open a browser on Linux without a display', () => {
    expect(openBrowser('https://example.invalid/', 'linux', {})).toBe(false);
  });

  it('renders the landing page as one escaped line', () => {
    const page = landingPage(false, 'Authorization failed (<x>).');
    expect(page).toContain('<p>Authorization failed (&#60;x&#62;).</p>');
    expect(page.trim().split('\n')).toHaveLength(1);
  });
});
