/**
 * The consumer library: how another team's Lambda gets the current Genesys Cloud token for an org.
 *
 * Two sources, one contract (sources/): `{ secretPrefix }` reads the token secret straight from
 * Secrets Manager; `{ getterFunctionName }` invokes the broker's getter Lambda.
 *
 * Either way the client keeps a per-container cache: an entry is served until the core's
 * `tokenCacheUntil` says so: min(refreshAt + a sweep interval + jitter, expiresAt - margin, idlesAt,
 * fetchedAt + maxAgeMs if capped) with margin = min(refreshMarginMs, 10% of the token's lifetime). A
 * token fetched when it is already inside that margin (the broker is late) is still served, and re-read
 * after at most NEAR_EXPIRY_RECHECK_MS. Concurrent calls for one org share one fetch; a failed fetch is
 * not cached. After Genesys answers 401, call `invalidate(orgId, token)` (or use `withTokenRetry`) so
 * the next call reads the newest token, and the getter source has the broker check the refused one.
 *
 * Errors are {@link TokenClientError}s with the getter's codes (see errors.ts). No message ever
 * contains a token.
 */
import { ValidationError } from '../core/errors.js';
import { type CacheExpiryReason, NEAR_EXPIRY_RECHECK_MS, REPLACEMENT_DELAY_MS, tokenCacheUntil } from '../core/policy.js';
import type { Clock } from '../core/ports.js';
import { isOrgId } from '../core/token-record.js';
import { TokenClientError } from './errors.js';
import { type GetterLambdaTokenSource, getterLambdaSource } from './sources/getter-lambda.js';
import { type SecretsManagerTokenSource, secretsManagerSource } from './sources/secrets-manager.js';
import type { FetchToken, GenesysToken } from './sources/source.js';

export type { GenesysToken, GetterLambdaTokenSource, SecretsManagerTokenSource };
export { type CacheExpiryReason, NEAR_EXPIRY_RECHECK_MS };

export type TokenSource = SecretsManagerTokenSource | GetterLambdaTokenSource;

export interface TokenClientOptions {
  /** Where tokens come from. */
  source: TokenSource;
  /**
   * Longest a token is served from the cache before the source is read again: a cap on top of the
   * token's own schedule. Without it a token is cached until the broker writes its replacement
   * (its refresh mark, plus a sweep interval and up to a minute of jitter so containers spread their
   * reads) or until it comes within `refreshMarginMs` of expiry, whichever is first: one or two reads
   * per token lifetime. A token Genesys revoked is caught by `invalidate(orgId, token)` after a 401.
   * 0 disables caching (concurrent calls still share one fetch).
   * @default - none when the source says when the token will be replaced; 300_000 (5 minutes) otherwise
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
   * source once more. Call it when Genesys answered 401, with the token it refused: the next fetch then
   * tells the source, and the getter source has the broker check that token and replace it at once
   * (the secret source can only re-read the secret, and says so when it still holds that token).
   */
  invalidate(orgId: string, rejected?: GenesysToken | string): void;
}

/**
 * Until when a token fetched at `fetchedAtMs` may be served from the cache: the core's
 * `tokenCacheUntil`, under the consumer-facing option name `refreshMarginMs`. Exported so the
 * arithmetic can be checked on its own.
 */
export function cacheUntil(input: {
  fetchedAtMs: number;
  expiresAtMs: number;
  lifetimeMs: number;
  maxAgeMs?: number;
  refreshMarginMs: number;
  idlesAtMs?: number;
  replacedAtMs?: number;
}): {
  untilMs: number;
  reason: CacheExpiryReason;
} {
  const { refreshMarginMs, ...rest } = input;
  return tokenCacheUntil({ ...rest, marginMs: refreshMarginMs });
}

/** The cap when a source does not say when a token will be replaced. */
const DEFAULT_MAX_AGE_MS = 300_000;
/** Spreads the reads of many containers after a replacement over this long. */
const REPLACEMENT_JITTER_MS = 60_000;
const DEFAULT_REFRESH_MARGIN_MS = 300_000;
const OPTION_KEYS = new Set(['source', 'maxAgeMs', 'refreshMarginMs', 'clock']);
const SECRETS_SOURCE_KEYS = new Set(['secretPrefix', 'client', 'brokerAccount']);
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

// ---- The client ----------------------------------------------------------------------------------

function buildFetch(source: unknown): FetchToken {
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
      // The vault validates the prefix exactly as the broker does.
      return secretsManagerSource(s as unknown as SecretsManagerTokenSource);
    } catch (err) {
      // The vault names the part of the broker account it refused as owner.<part>.
      const owner = err instanceof ValidationError && err.field?.startsWith('owner.') ? `source.brokerAccount.${err.field.slice('owner.'.length)}` : undefined;
      throw configError(owner ?? 'source.secretPrefix', err instanceof Error ? err.message.replace(/^owner\./, 'brokerAccount.') : 'invalid secretPrefix');
    }
  }
  if (typeof s.getterFunctionName !== 'string' || !FUNCTION_NAME.test(s.getterFunctionName)) {
    throw configError('source.getterFunctionName', 'source.getterFunctionName must be a Lambda function name or ARN');
  }
  return getterLambdaSource(s as unknown as GetterLambdaTokenSource);
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
  const maxAgeCap = options.maxAgeMs === undefined ? undefined : checkDuration(options.maxAgeMs, 'maxAgeMs', DEFAULT_MAX_AGE_MS);
  const refreshMarginMs = checkDuration(options.refreshMarginMs, 'refreshMarginMs', DEFAULT_REFRESH_MARGIN_MS);
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') throw configError('clock', 'clock must have a now() method');
  const clock = options.clock ?? { now: () => Date.now() };
  const fetchToken = buildFetch(options.source);

  const cache = new Map<string, { token: GenesysToken; untilMs: number }>();
  const inFlight = new Map<string, Promise<GenesysToken>>();
  // Bumped by invalidate(): a fetch started before it must not repopulate the cache with what may be the rejected token.
  const generations = new Map<string, number>();
  // The access token Genesys refused, per org, until a fetch brings another.
  const rejectedTokens = new Map<string, string>();

  async function load(orgId: string, generation: number): Promise<GenesysToken> {
    const fetchedAtMs = clock.now();
    const rejectedToken = rejectedTokens.get(orgId);
    const { token, lifetimeMs, refreshAtMs } = await fetchToken(orgId, fetchedAtMs, rejectedToken !== undefined ? { rejectedToken } : {});
    if (rejectedTokens.get(orgId) === rejectedToken && token.accessToken !== rejectedToken) rejectedTokens.delete(orgId);
    const known = refreshAtMs !== undefined && Number.isFinite(refreshAtMs);
    const maxAgeMs = maxAgeCap ?? (known ? undefined : DEFAULT_MAX_AGE_MS);
    const { untilMs } = cacheUntil({
      fetchedAtMs,
      expiresAtMs: Date.parse(token.expiresAt),
      lifetimeMs,
      refreshMarginMs,
      ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
      ...(known ? { replacedAtMs: refreshAtMs + REPLACEMENT_DELAY_MS + Math.floor(Math.random() * REPLACEMENT_JITTER_MS) } : {}),
      ...(token.idlesAt !== undefined ? { idlesAtMs: Date.parse(token.idlesAt) } : {}),
    });
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

    invalidate(orgIdInput, rejected) {
      const orgId = requireOrgId(orgIdInput);
      const rejectedToken = typeof rejected === 'string' ? rejected : rejected?.accessToken;
      if (typeof rejectedToken === 'string' && rejectedToken.length > 0) rejectedTokens.set(orgId, rejectedToken);
      cache.delete(orgId);
      inFlight.delete(orgId);
      generations.set(orgId, (generations.get(orgId) ?? 0) + 1);
    },
  };
}
