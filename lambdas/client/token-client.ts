/**
 * The consumer library: how another team's Lambda gets the current Genesys Cloud token for an org.
 *
 * Two sources, one contract:
 * - `{ secretPrefix }` reads the token secret `<prefix>/tokens/<orgId>` (AWSCURRENT) straight from
 *   Secrets Manager. Cheapest and fastest; needs `broker.grantReadToken(fn, orgId)` (or
 *   `grantReadAllTokens(fn)`). It sees only what
 *   the refresher wrote, so it cannot tell an unregistered org from one whose first refresh has not
 *   landed yet (both are "no such secret", reported as `token_unavailable`), nor a disabled org.
 * - `{ getterFunctionName }` invokes the broker's getter Lambda with `{ orgId }`. One more hop, but
 *   the getter knows the registry (`org_not_found`, `org_disabled`) and refreshes an org on demand
 *   when its stored token is missing or about to expire; needs `broker.grantInvokeGetter(fn)`.
 *
 * Either way the client keeps a per-container cache: an entry is served until
 * min(fetchedAt + maxAgeMs, expiresAt - margin), where margin = min(refreshMarginMs, 10% of the
 * token's lifetime). A token fetched when it is already inside that margin (the broker is late) is
 * still served, and re-read after at most NEAR_EXPIRY_RECHECK_MS. Concurrent calls for one org share
 * one fetch; a failed fetch is not cached.
 * After Genesys answers 401, call `invalidate(orgId)` (or use `withTokenRetry`) so the next call
 * reads the newest token.
 *
 * Errors are {@link TokenClientError}s with the getter's codes (see errors.ts). No message ever
 * contains a token.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { isTransientSecretsManagerError, sdkErrorName } from '../adapters/aws/secrets-manager-common.js';
import { assertSecretPrefix, tokenSecretName } from '../adapters/aws/secret-names.js';
import { BrokerError, ValidationError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import { isOrgId, parseTokenRecord } from '../core/token-record.js';
import { GetterInvocationError, TokenClientError, type TokenClientErrorCode } from './errors.js';

/** What `getToken` hands a consumer. Frozen; the same object is returned while it is cached. */
export interface GenesysToken {
  /** The org, as a lowercase UUID. */
  readonly orgId: string;
  /** Send as `Authorization: Bearer <accessToken>`. Never log it. */
  readonly accessToken: string;
  /** ISO-8601 instant after which Genesys rejects the token. */
  readonly expiresAt: string;
  /** Where to send Platform API calls for this org, for example `https://api.mypurecloud.ie`. */
  readonly apiBaseUrl: string;
  /** The org's region domain, for example `mypurecloud.ie`. */
  readonly region: string;
}

/** Read the token secret directly from Secrets Manager. */
export interface SecretsManagerTokenSource {
  /** The broker's secret prefix (the construct's `secretPrefix`); token secrets are `<prefix>/tokens/<orgId>`. */
  secretPrefix: string;
  /**
   * The client to read with. Build it once at module scope and pass it in to share it.
   * @default - a new SecretsManagerClient with the Lambda's region and role
   */
  client?: SecretsManagerClient;
}

/** Invoke the broker's getter Lambda. */
export interface GetterLambdaTokenSource {
  /** The getter's function name or ARN (optionally qualified with an alias). */
  getterFunctionName: string;
  /**
   * The client to invoke with.
   * @default - a new LambdaClient with the Lambda's region and role
   */
  client?: LambdaClient;
}

export type TokenSource = SecretsManagerTokenSource | GetterLambdaTokenSource;

export interface TokenClientOptions {
  /** Where tokens come from. */
  source: TokenSource;
  /**
   * Longest a token is served from the cache before the source is read again, so a token the
   * broker replaced early (credentials rotated, token revoked) is picked up within this time.
   * 0 disables caching (concurrent calls still share one fetch).
   * @default 300_000 (5 minutes)
   */
  maxAgeMs?: number;
  /**
   * A cached token is dropped this long before it expires, so a consumer never starts a call with a
   * token about to die. Capped at 10% of the token's lifetime, so short-lived tokens stay cacheable.
   * @default 300_000 (5 minutes)
   */
  refreshMarginMs?: number;
  /** Time source, for tests. @default Date.now */
  clock?: Pick<Clock, 'now'>;
}

/** A per-container token cache in front of one source. Build it once, at module scope. */
export interface TokenClient {
  /**
   * The org's current token: from the cache when fresh, else from the source. Rejects with a
   * {@link TokenClientError}; an orgId that is not a UUID is `invalid_request` and reads nothing.
   */
  getToken(orgId: string): Promise<GenesysToken>;
  /**
   * Forgets the org's cached token (and any fetch in progress), so the next `getToken` reads the
   * source once more. Call it when Genesys answered 401 with the token you were given.
   */
  invalidate(orgId: string): void;
}

/** Why a cache entry ends when it does. */
export type CacheExpiryReason = 'max_age' | 'refresh_margin' | 'near_expiry';

/**
 * A token fetched when it is already inside its refresh margin (the broker is late refreshing it) is
 * still served, since it is valid, but re-read after at most this long rather than on every call:
 * the newer token shows up within seconds and a busy consumer does not hammer the source meanwhile.
 */
export const NEAR_EXPIRY_RECHECK_MS = 5_000;

/**
 * Until when a token fetched at `fetchedAtMs` may be served from the cache: the earliest of
 * `fetchedAtMs + maxAgeMs` and `expiresAtMs - margin`, margin = min(refreshMarginMs, lifetimeMs / 10).
 * When that is already past at fetch time, a short recheck window (never beyond expiry) instead.
 * Pure, so the arithmetic is tested on its own.
 */
export function cacheUntil(input: { fetchedAtMs: number; expiresAtMs: number; lifetimeMs: number; maxAgeMs: number; refreshMarginMs: number }): {
  untilMs: number;
  reason: CacheExpiryReason;
} {
  const { fetchedAtMs, expiresAtMs, lifetimeMs, maxAgeMs, refreshMarginMs } = input;
  const marginMs = Math.min(refreshMarginMs, Math.max(0, Math.floor(lifetimeMs / 10)));
  const freshUntilMs = expiresAtMs - marginMs;
  const maxAgeUntilMs = fetchedAtMs + maxAgeMs;
  if (freshUntilMs > fetchedAtMs) {
    return maxAgeUntilMs <= freshUntilMs ? { untilMs: maxAgeUntilMs, reason: 'max_age' } : { untilMs: freshUntilMs, reason: 'refresh_margin' };
  }
  return { untilMs: Math.min(maxAgeUntilMs, fetchedAtMs + NEAR_EXPIRY_RECHECK_MS, expiresAtMs), reason: 'near_expiry' };
}

/** A token as a source delivers it, with the lifetime the margin is computed from. */
interface Fetched {
  token: GenesysToken;
  lifetimeMs: number;
}

type Fetch = (orgId: string, nowMs: number) => Promise<Fetched>;

const DEFAULT_MAX_AGE_MS = 300_000;
const DEFAULT_REFRESH_MARGIN_MS = 300_000;
const OPTION_KEYS = new Set(['source', 'maxAgeMs', 'refreshMarginMs', 'clock']);
const SECRETS_SOURCE_KEYS = new Set(['secretPrefix', 'client']);
const GETTER_SOURCE_KEYS = new Set(['getterFunctionName', 'client']);
/** Name, partial or full ARN, optionally qualified: what Lambda's FunctionName accepts. */
const FUNCTION_NAME = /^[A-Za-z0-9_.:$-]{1,256}$/;

function configError(field: string, message: string): ValidationError {
  return new ValidationError(`createTokenClient: ${message}`, { code: 'invalid_config', field });
}

function checkDuration(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw configError(field, `${field} must be a non-negative integer number of milliseconds`);
  return value;
}

/** Validates the orgId before anything is read: a UUID, returned lowercase. */
export function requireOrgId(orgId: unknown): string {
  if (!isOrgId(orgId)) {
    const got = typeof orgId === 'string' ? `a string of ${orgId.length} characters` : orgId === null ? 'null' : typeof orgId;
    throw new TokenClientError('invalid_request', `orgId must be a Genesys Cloud organization id (a UUID), got ${got}`, { transient: false });
  }
  return orgId.toLowerCase();
}

function freeze(token: GenesysToken): GenesysToken {
  return Object.freeze({ orgId: token.orgId, accessToken: token.accessToken, expiresAt: token.expiresAt, apiBaseUrl: token.apiBaseUrl, region: token.region });
}

function checkNotExpired(token: GenesysToken, nowMs: number, where: string): void {
  if (Date.parse(token.expiresAt) <= nowMs) {
    throw new TokenClientError('token_unavailable', `${where} for org ${token.orgId} expired at ${token.expiresAt}; the broker has not refreshed it (check its refresh alarms)`, {
      orgId: token.orgId,
    });
  }
}

// ---- Secrets Manager source ----------------------------------------------------------------------

function secretsManagerFetch(source: SecretsManagerTokenSource, client: SecretsManagerClient): Fetch {
  const prefix = source.secretPrefix;
  return async (orgId, nowMs) => {
    const secretId = tokenSecretName(prefix, orgId);
    let text: string | undefined;
    try {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
      text = out.SecretString;
    } catch (err) {
      throw secretsManagerError(err, orgId, secretId);
    }
    if (text === undefined) throw new TokenClientError('token_unavailable', `token secret ${secretId} holds binary data, not a token record`, { orgId, transient: false });
    let record;
    try {
      record = parseTokenRecord(text, orgId);
    } catch (err) {
      // parseTokenRecord names fields, never values.
      throw new TokenClientError('token_unavailable', err instanceof BrokerError ? err.message : `stored token for org ${orgId} could not be read`, { orgId, transient: false });
    }
    if (record.orgId.toLowerCase() !== orgId) {
      // Never hand one org's token to a caller asking for another.
      throw new TokenClientError('token_unavailable', `token secret ${secretId} holds a token for a different org`, { orgId, transient: false });
    }
    const token = freeze({ orgId, accessToken: record.accessToken, expiresAt: record.expiresAt, apiBaseUrl: record.apiBaseUrl, region: record.region });
    checkNotExpired(token, nowMs, `stored token ${secretId}`);
    return { token, lifetimeMs: Date.parse(record.expiresAt) - Date.parse(record.issuedAt) };
  };
}

/**
 * Secrets Manager exceptions onto the getter's codes. ResourceNotFoundException is `token_unavailable`,
 * not `org_not_found`: a registered org whose first refresh has not completed has no secret either,
 * and this source cannot ask the registry which case it is.
 */
function secretsManagerError(err: unknown, orgId: string, secretId: string): TokenClientError {
  const name = sdkErrorName(err) ?? 'unknown error';
  switch (name) {
    case 'ResourceNotFoundException':
      return new TokenClientError(
        'token_unavailable',
        `token secret ${secretId} does not exist yet: org ${orgId} is not registered with the broker, or its first refresh has not completed`,
        { orgId, cause: err },
      );
    case 'InvalidRequestException':
      // On a read this means the secret is scheduled for deletion, which the broker does when an org is removed.
      return new TokenClientError('org_not_found', `token secret ${secretId} is scheduled for deletion: org ${orgId} was removed from the broker`, { orgId, cause: err });
    case 'AccessDeniedException':
      return new TokenClientError(
        'access_denied',
        `this function's role may not read token secret ${secretId} (AccessDeniedException); add broker.grantReadToken(thisFunction, '${orgId}') to the stack. ` +
          'If it is granted already, the secret may not exist yet: Secrets Manager can answer AccessDenied rather than not found for a secret the policy names by ARN pattern',
        { orgId, cause: err },
      );
    case 'DecryptionFailure':
      return new TokenClientError(
        'access_denied',
        `Secrets Manager could not decrypt token secret ${secretId} (DecryptionFailure): the role needs kms:Decrypt on the broker's key, which broker.grantReadToken(thisFunction, '${orgId}') grants`,
        { orgId, cause: err },
      );
    default:
      return new TokenClientError('token_unavailable', `Secrets Manager GetSecretValue of ${secretId} failed for org ${orgId} (${name})`, {
        orgId,
        cause: err,
        transient: isTransientSecretsManagerError(err),
      });
  }
}

// ---- Getter Lambda source ------------------------------------------------------------------------

const isoInstant = z.string().refine((s) => !Number.isNaN(Date.parse(s)));

const getterSuccessSchema = z.object({
  orgId: z.string(),
  accessToken: z.string().min(1),
  tokenType: z.literal('bearer'),
  expiresAt: isoInstant,
  apiBaseUrl: z.string().url(),
  region: z.string().min(1),
});

const getterErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    retryAfterSeconds: z.number().nonnegative().optional(),
  }),
});

const GETTER_CODES: ReadonlySet<string> = new Set<TokenClientErrorCode>(['invalid_request', 'org_not_found', 'org_disabled', 'token_unavailable']);

function getterFetch(source: GetterLambdaTokenSource, client: LambdaClient): Fetch {
  const functionName = source.getterFunctionName;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return async (orgId, nowMs) => {
    let out;
    try {
      out = await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: encoder.encode(JSON.stringify({ orgId })) }));
    } catch (err) {
      throw lambdaError(err, orgId, functionName);
    }
    const text = out.Payload ? decoder.decode(out.Payload) : '';
    if (out.FunctionError) {
      const errorType = functionErrorType(text);
      throw new GetterInvocationError(`getter function ${functionName} failed for org ${orgId} (${out.FunctionError}${errorType ? `: ${errorType}` : ''}); see the getter's logs`, {
        orgId,
        functionError: out.FunctionError,
        ...(errorType ? { errorType } : {}),
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new TokenClientError('token_unavailable', `getter function ${functionName} returned a payload that is not JSON for org ${orgId}`, { orgId });
    }
    const failed = getterErrorSchema.safeParse(json);
    if (failed.success) {
      const { code, message, retryAfterSeconds } = failed.data.error;
      const known = GETTER_CODES.has(code) ? (code as TokenClientErrorCode) : 'token_unavailable';
      // The getter's messages are secret-free by its own contract (they name the org and the failure);
      // the length cap only keeps a misbehaving getter from flooding the consumer's logs.
      const text = message.slice(0, 500);
      throw new TokenClientError(known, known === code ? text : `${text} (${code.slice(0, 64)})`, {
        orgId,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
      });
    }
    const ok = getterSuccessSchema.safeParse(json);
    if (!ok.success) {
      const fields = [...new Set(ok.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
      throw new TokenClientError('token_unavailable', `getter function ${functionName} returned an unexpected response for org ${orgId} (${fields})`, { orgId });
    }
    if (ok.data.orgId.toLowerCase() !== orgId) {
      throw new TokenClientError('token_unavailable', `getter function ${functionName} returned a token for a different org than ${orgId}`, { orgId, transient: false });
    }
    const token = freeze({ orgId, accessToken: ok.data.accessToken, expiresAt: ok.data.expiresAt, apiBaseUrl: ok.data.apiBaseUrl, region: ok.data.region });
    checkNotExpired(token, nowMs, 'token from the getter');
    // The getter does not say when the token was issued; what is left of it is a lower bound on its
    // lifetime, so the margin cap (10% of the lifetime) errs on the small side.
    return { token, lifetimeMs: Date.parse(token.expiresAt) - nowMs };
  };
}

/** The runtime's `errorType` from a function error payload, if it looks like one (never the message). */
function functionErrorType(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { errorType?: unknown };
    return typeof parsed.errorType === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(parsed.errorType) ? parsed.errorType : undefined;
  } catch {
    return undefined;
  }
}

function lambdaError(err: unknown, orgId: string, functionName: string): TokenClientError {
  const name = sdkErrorName(err) ?? 'unknown error';
  switch (name) {
    case 'ResourceNotFoundException':
      return new TokenClientError('token_unavailable', `getter function ${functionName} does not exist (ResourceNotFoundException); check getterFunctionName`, {
        orgId,
        cause: err,
        transient: false,
      });
    case 'AccessDeniedException':
      return new TokenClientError(
        'access_denied',
        `this function's role may not invoke getter function ${functionName} (AccessDeniedException); add broker.grantInvokeGetter(thisFunction) to the stack`,
        { orgId, cause: err },
      );
    case 'TooManyRequestsException': {
      const retryAfter = Number((err as { retryAfterSeconds?: unknown }).retryAfterSeconds);
      return new TokenClientError('token_unavailable', `getter function ${functionName} is throttled (TooManyRequestsException)`, {
        orgId,
        cause: err,
        ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: Math.ceil(retryAfter) } : {}),
      });
    }
    default: {
      const status = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
      const permanent = typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
      return new TokenClientError('token_unavailable', `invoking getter function ${functionName} failed for org ${orgId} (${name})`, { orgId, cause: err, transient: !permanent });
    }
  }
}

// ---- The client ----------------------------------------------------------------------------------

function buildFetch(source: unknown): Fetch {
  if (typeof source !== 'object' || source === null) throw configError('source', 'source must be { secretPrefix } or { getterFunctionName }');
  const s = source as Record<string, unknown>;
  const isSecrets = 'secretPrefix' in s;
  const isGetter = 'getterFunctionName' in s;
  if (isSecrets === isGetter) throw configError('source', 'source must have exactly one of secretPrefix and getterFunctionName');
  const allowed = isSecrets ? SECRETS_SOURCE_KEYS : GETTER_SOURCE_KEYS;
  const unknown = Object.keys(s).filter((k) => !allowed.has(k));
  if (unknown.length > 0) throw configError(`source.${unknown[0]}`, `unknown source option(s): ${unknown.join(', ')}`);
  if (s.client !== undefined && (typeof s.client !== 'object' || s.client === null || typeof (s.client as { send?: unknown }).send !== 'function')) {
    throw configError('source.client', 'source.client must be an AWS SDK v3 client');
  }
  if (isSecrets) {
    try {
      assertSecretPrefix(s.secretPrefix);
    } catch (err) {
      throw configError('source.secretPrefix', err instanceof Error ? err.message : 'invalid secretPrefix');
    }
    const src = s as unknown as SecretsManagerTokenSource;
    return secretsManagerFetch(src, src.client ?? new SecretsManagerClient({}));
  }
  if (typeof s.getterFunctionName !== 'string' || !FUNCTION_NAME.test(s.getterFunctionName)) {
    throw configError('source.getterFunctionName', 'source.getterFunctionName must be a Lambda function name or ARN');
  }
  const src = s as unknown as GetterLambdaTokenSource;
  return getterFetch(src, src.client ?? new LambdaClient({}));
}

/**
 * Creates a token client. Call it once at module scope so the cache outlives invocations:
 *
 * ```ts
 * const tokens = createTokenClient({ source: { secretPrefix: 'genesys-token-broker' } });
 * export const handler = async () => {
 *   const { accessToken, apiBaseUrl } = await tokens.getToken(ORG_ID);
 *   ...
 * };
 * ```
 *
 * Throws a ValidationError (`invalid_config`) for unknown or malformed options.
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  if (typeof options !== 'object' || options === null) throw configError('(root)', 'options must be an object');
  const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
  if (unknown.length > 0) throw configError(unknown[0]!, `unknown option(s): ${unknown.join(', ')}`);
  const maxAgeMs = checkDuration(options.maxAgeMs, 'maxAgeMs', DEFAULT_MAX_AGE_MS);
  const refreshMarginMs = checkDuration(options.refreshMarginMs, 'refreshMarginMs', DEFAULT_REFRESH_MARGIN_MS);
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') throw configError('clock', 'clock must have a now() method');
  const clock = options.clock ?? { now: () => Date.now() };
  const fetchToken = buildFetch(options.source);

  const cache = new Map<string, { token: GenesysToken; untilMs: number }>();
  const inFlight = new Map<string, Promise<GenesysToken>>();
  // Bumped by invalidate(): a fetch started before it must not repopulate the cache with what may be the rejected token.
  const generations = new Map<string, number>();

  async function load(orgId: string, generation: number): Promise<GenesysToken> {
    const fetchedAtMs = clock.now();
    const { token, lifetimeMs } = await fetchToken(orgId, fetchedAtMs);
    const { untilMs } = cacheUntil({ fetchedAtMs, expiresAtMs: Date.parse(token.expiresAt), lifetimeMs, maxAgeMs, refreshMarginMs });
    if ((generations.get(orgId) ?? 0) === generation && untilMs > clock.now()) cache.set(orgId, { token, untilMs });
    return token;
  }

  return {
    async getToken(orgIdInput) {
      const orgId = requireOrgId(orgIdInput);
      const entry = cache.get(orgId);
      if (entry) {
        if (clock.now() < entry.untilMs) return entry.token;
        cache.delete(orgId);
      }
      let pending = inFlight.get(orgId);
      if (!pending) {
        const started = load(orgId, generations.get(orgId) ?? 0).finally(() => {
          if (inFlight.get(orgId) === started) inFlight.delete(orgId);
        });
        pending = started;
        inFlight.set(orgId, pending);
      }
      return pending;
    },

    invalidate(orgIdInput) {
      const orgId = requireOrgId(orgIdInput);
      cache.delete(orgId);
      inFlight.delete(orgId);
      generations.set(orgId, (generations.get(orgId) ?? 0) + 1);
    },
  };
}
