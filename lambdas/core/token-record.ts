/**
 * The token secret value, schemaVersion 1: what the refresher writes and every consumer reads.
 * Keep this the single definition: the vault, the getter, the client library and local mode parse with it.
 */
// zod/mini: the same validation in a fraction of the bundle (the getter and consumers load this module).
import * as z from 'zod/mini';
import { BrokerError } from './errors.js';
import type { TokenRecord } from './ports.js';

const isoInstant = z.string().check(z.refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 instant'));
const nonEmpty = z.string().check(z.minLength(1));

export const tokenRecordSchema = z.object({
  schemaVersion: z.literal(1),
  orgId: nonEmpty,
  accessToken: nonEmpty,
  tokenType: z.literal('bearer'),
  issuedAt: isoInstant,
  expiresAt: isoInstant,
  refreshAt: isoInstant,
  region: nonEmpty,
  apiBaseUrl: z.url(),
  oauthClientId: z.string(),
  scopes: z.array(z.string()),
  idlesAt: z.optional(isoInstant),
});

/** Parses a stored token value. Errors name fields, never values. */
export function parseTokenRecord(text: string, orgId: string): TokenRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BrokerError('token_unavailable', `stored token for org ${orgId} is not valid JSON`, { orgId });
  }
  const parsed = tokenRecordSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new BrokerError('token_unavailable', `stored token for org ${orgId} does not match schema v1 (${fields})`, { orgId });
  }
  return parsed.data as TokenRecord;
}

export function serializeTokenRecord(record: TokenRecord): string {
  return JSON.stringify(tokenRecordSchema.parse(record));
}

/** Milliseconds until the record's token expires (negative when expired). */
export function remainingMs(record: Pick<TokenRecord, 'expiresAt'>, nowMs: number): number {
  return Date.parse(record.expiresAt) - nowMs;
}

/** UUID shape for Genesys organization ids. Input validation everywhere uses this one check. */
export const ORG_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isOrgId(value: unknown): value is string {
  return typeof value === 'string' && value.length === 36 && ORG_ID_PATTERN.test(value);
}
