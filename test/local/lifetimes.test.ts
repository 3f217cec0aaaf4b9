import { describe, expect, it } from 'vitest';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { checkLocalLifetimes, localPolicySettings } from '../../lib/local/lifetimes.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const org = (orgId: string, lifetimeSeconds: number | undefined, enabled = true): OrgRecord => ({
  orgId,
  region: 'mypurecloud.ie',
  grantType: 'client_credentials',
  enabled,
  credentialsVersion: 1,
  version: 1,
  state: { consecutiveFailures: 0, ...(lifetimeSeconds !== undefined ? { issuedAtMs: T0, expiresAtMs: T0 + lifetimeSeconds * 1000 } : {}) },
});

describe('checkLocalLifetimes', () => {
  it('accepts the demo: 300 s tokens at a 30 s schedule', () => {
    expect(checkLocalLifetimes([org('a', 300)], localPolicySettings({ scheduleSeconds: 30 }))).toBeUndefined();
  });

  it('refuses a 300 s token at the 300 s default schedule, naming the org, the minimum and the longest schedule that works', () => {
    const error = checkLocalLifetimes([org('a', 300), org('b', 86_400), org('c', undefined), org('d', 300, false)], localPolicySettings({ scheduleSeconds: 300 }));
    expect(error).toMatchObject({ code: 'token_lifetime_too_short', failureClass: 'permanent' });
    expect(error!.message).toBe(
      'org a: token lifetime 300 s is below the minimum of 734 s (12 min 14 s) for a 300 s sweep interval and a 60 s minimum write interval; ' +
        'set "scheduleSeconds" to at most 105, or raise the OAuth client\'s token lifetime in Genesys Cloud',
    );
  });

  it('asks for a longer lifetime when no schedule can keep it fresh', () => {
    const error = checkLocalLifetimes([org('a', 60)], localPolicySettings({ scheduleSeconds: 30 }));
    expect(error!.message).toMatch(/^org a: token lifetime 60 s is below the minimum of 134 s .*; raise the OAuth client's token lifetime in Genesys Cloud$/);
  });
});
