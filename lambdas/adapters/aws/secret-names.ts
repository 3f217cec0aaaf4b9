/**
 * Names of the secrets the broker owns, as plain functions: the Secrets Manager adapters build names
 * with them and the CDK construct builds IAM resource patterns with them, so both sides agree by
 * construction. No SDK import here (the construct imports this module at synth time).
 *
 * Layout under one operator-chosen prefix:
 * - `<prefix>/tokens/<orgId>`: the org's current access token (TokenRecord schemaVersion 1), written
 *   by the refresher, read by the getter and by consumers.
 * - `<prefix>/credentials/<orgId>`: the org's OAuth client credentials (and refresh token), read and
 *   rotated by the refresher only.
 */
import { ValidationError } from '../../core/errors.js';
import { isOrgId } from '../../core/token-record.js';

/** Path segment of token secrets. */
export const TOKENS_SEGMENT = 'tokens';
/** Path segment of credential secrets. */
export const CREDENTIALS_SEGMENT = 'credentials';

/** Tag keys the broker sets on every secret it creates. IAM conditions may match on them. */
export const SECRET_TAG_KEYS = Object.freeze({
  orgId: 'org-id',
  managedBy: 'managed-by',
} as const);

/** Value of the `managed-by` tag on every secret the broker creates. */
export const MANAGED_BY_TAG_VALUE = 'genesys-token-broker';

/** Longest secret name Secrets Manager accepts. */
export const MAX_SECRET_NAME_LENGTH = 512;

/** Characters Secrets Manager allows in a secret name. */
const SECRET_NAME_CHARS = /^[A-Za-z0-9/_+=.@-]+$/;

/** Longest org-derived suffix: `/credentials/` plus a 36-character org id. */
const LONGEST_SUFFIX = `/${CREDENTIALS_SEGMENT}/`.length + 36;

/** Longest prefix that still leaves room for every name built from it. */
export const MAX_SECRET_PREFIX_LENGTH = MAX_SECRET_NAME_LENGTH - LONGEST_SUFFIX;

/** Why a prefix is unusable, or undefined when it is fine. */
export function secretPrefixProblem(prefix: unknown): string | undefined {
  if (typeof prefix !== 'string' || prefix.length === 0) return 'must be a non-empty string';
  if (prefix.length > MAX_SECRET_PREFIX_LENGTH) return `must be at most ${MAX_SECRET_PREFIX_LENGTH} characters`;
  if (!SECRET_NAME_CHARS.test(prefix)) return 'may only contain ASCII letters, digits and / _ + = . @ -';
  if (prefix.endsWith('/')) return 'must not end with a slash';
  if (prefix.includes('//')) return 'must not contain an empty path segment (//)';
  return undefined;
}

/**
 * Throws a ValidationError (`invalid_config`) when `prefix` cannot start a Secrets Manager secret
 * name. The message carries the bad value: a prefix is configuration, never a secret.
 */
export function assertSecretPrefix(prefix: unknown): asserts prefix is string {
  const problem = secretPrefixProblem(prefix);
  if (problem !== undefined) {
    throw new ValidationError(`secret prefix ${JSON.stringify(prefix)} ${problem}`, { code: 'invalid_config', field: 'secretPrefix' });
  }
}

function assertOrgIdForName(orgId: unknown): asserts orgId is string {
  if (!isOrgId(orgId)) {
    throw new ValidationError('orgId must be a Genesys Cloud organization id (UUID)', { field: 'orgId' });
  }
}

/** `<prefix>/tokens/<orgId>`: where an org's current access token lives. */
export function tokenSecretName(prefix: string, orgId: string): string {
  assertSecretPrefix(prefix);
  assertOrgIdForName(orgId);
  return `${prefix}/${TOKENS_SEGMENT}/${orgId}`;
}

/** `<prefix>/credentials/<orgId>`: where an org's client credentials live unless the org names another secret. */
export function credentialsSecretName(prefix: string, orgId: string): string {
  assertSecretPrefix(prefix);
  assertOrgIdForName(orgId);
  return `${prefix}/${CREDENTIALS_SEGMENT}/${orgId}`;
}

/** What a broker secret name refers to. */
export interface ParsedSecretName {
  kind: 'token' | 'credentials';
  orgId: string;
}

/** Reads a name built by this module back into its kind and org, or undefined for any other name. */
export function parseSecretName(prefix: string, name: string): ParsedSecretName | undefined {
  assertSecretPrefix(prefix);
  const rest = name.startsWith(`${prefix}/`) ? name.slice(prefix.length + 1) : undefined;
  if (rest === undefined) return undefined;
  const slash = rest.indexOf('/');
  const segment = rest.slice(0, slash);
  const orgId = rest.slice(slash + 1);
  if (slash < 0 || !isOrgId(orgId)) return undefined;
  if (segment === TOKENS_SEGMENT) return { kind: 'token', orgId };
  if (segment === CREDENTIALS_SEGMENT) return { kind: 'credentials', orgId };
  return undefined;
}

/**
 * An IAM resource pattern for a secret name: Secrets Manager appends `-` and six random characters to
 * every secret's ARN, which `-??????` matches exactly (a bare `*` would also match `<name>-other`).
 * Pass `*` as the org part to cover every org: `secretArnPattern(\`${prefix}/tokens/*\`, ...)`.
 */
export function secretArnPattern(name: string, scope: { partition?: string; region: string; account: string }): string {
  return `arn:${scope.partition ?? 'aws'}:secretsmanager:${scope.region}:${scope.account}:secret:${name}-??????`;
}
