/** Shared fixtures of the client tests: org ids, token records and an error catcher. */
import type { TokenRecord } from '../../lambdas/core/ports.js';

export const T0 = Date.parse('2026-03-01T12:00:00Z');
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const ORG_A = '0c11e000-0000-4000-8000-00000000000a';
export const ORG_B = '0c11e000-0000-4000-8000-00000000000b';
export const ORG_C = '0c11e000-0000-4000-8000-00000000000c';

let tokenN = 0;

/** An opaque token value that is easy to search for in messages and logs. */
export function newAccessToken(): string {
  tokenN++;
  return `tok-${tokenN}-${Math.random().toString(36).slice(2)}-SECRETVALUE`;
}

/** A schema-v1 token record issued at `issuedAtMs`, valid for `lifetimeMs`, for an org in `region` (a domain). */
export function tokenRecord(
  orgId: string,
  options: { issuedAtMs?: number; lifetimeMs?: number; accessToken?: string; region?: string; oauthClientId?: string } = {},
): TokenRecord {
  const region = options.region ?? 'mypurecloud.ie';
  const issuedAtMs = options.issuedAtMs ?? T0;
  const lifetimeMs = options.lifetimeMs ?? DAY;
  return {
    schemaVersion: 1,
    orgId,
    accessToken: options.accessToken ?? newAccessToken(),
    tokenType: 'bearer',
    issuedAt: new Date(issuedAtMs).toISOString(),
    expiresAt: new Date(issuedAtMs + lifetimeMs).toISOString(),
    refreshAt: new Date(issuedAtMs + Math.floor(lifetimeMs * 0.75)).toISOString(),
    region,
    apiBaseUrl: `https://api.${region}`,
    oauthClientId: options.oauthClientId ?? 'client-1',
    scopes: [],
  };
}

/** The rejection of `promise`, failing the test when it resolves. */
export async function rejectionOf<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    return err as E;
  }
  throw new Error('expected a rejection');
}
