/**
 * The getter use case: hand a consumer the current token for one org. Serves from a per-container
 * cache, reads the vault on a miss, and only when the stored token is missing or about to expire does
 * it refresh that one org on demand, under the same lease the scheduled sweep uses.
 */
import { BrokerError, toBrokerError, TokenUnavailableError, ValidationError } from './errors.js';
import type { RefreshEngine } from './engine.js';
import type { Clock, OrgRegistry, TokenRecord, TokenVault } from './ports.js';
import { isOrgId } from './token-record.js';

export interface GetTokenResponse {
  orgId: string;
  accessToken: string;
  tokenType: 'bearer';
  expiresAt: string;
  apiBaseUrl: string;
  region: string;
}

export type GetterErrorCode = 'invalid_request' | 'org_not_found' | 'org_disabled' | 'token_unavailable';

export interface GetTokenError {
  error: { code: GetterErrorCode; message: string; retryAfterSeconds?: number };
}

export interface TokenGetterOptions {
  /** Longest a cached token is served without re-reading the vault. @default 300_000 (5 minutes) */
  cacheMaxAgeMs?: number;
  /** A token is served only while it has more than min(this, 10% of its lifetime) left. @default 300_000 */
  minRemainingMs?: number;
  /** How long to wait for another worker's in-flight refresh to land. @default 8_000 */
  peerWaitMs?: number;
  /** Poll interval while waiting for a peer. @default 200 */
  peerPollMs?: number;
}

export interface TokenGetter {
  /** Validates `input` ({ orgId }) and returns a token or a typed error; never throws for expected failures. */
  handle(input: unknown, context: { deadlineMs: number; requestId?: string }): Promise<GetTokenResponse | GetTokenError>;
  /** Cache statistics since the container started, for metrics. */
  readonly stats: { hits: number; misses: number; onDemandRefreshes: number };
}

/** Maximum accepted size of a serialized request, to refuse junk before doing anything with it. */
const MAX_REQUEST_BYTES = 1024;

/** Validates the getter's input. Anything other than `{ orgId: <uuid> }` is `invalid_request`. */
export function parseGetTokenRequest(input: unknown): { orgId: string } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('request must be a JSON object like {"orgId":"<uuid>"}', { field: '(root)' });
  }
  let size = 0;
  try {
    size = JSON.stringify(input).length;
  } catch {
    throw new ValidationError('request is not serializable JSON', { field: '(root)' });
  }
  if (size > MAX_REQUEST_BYTES) throw new ValidationError(`request is ${size} bytes; the limit is ${MAX_REQUEST_BYTES}`, { field: '(root)' });
  const extra = Object.keys(input).filter((k) => k !== 'orgId');
  if (extra.length > 0) throw new ValidationError(`unknown field(s): ${extra.slice(0, 5).join(', ')}`, { field: extra[0]! });
  const { orgId } = input as { orgId?: unknown };
  if (orgId === undefined) throw new ValidationError('orgId is required', { field: 'orgId' });
  if (!isOrgId(orgId)) throw new ValidationError('orgId must be a Genesys Cloud organization id (a UUID)', { field: 'orgId' });
  return { orgId: orgId.toLowerCase() };
}

function errorResponse(code: GetterErrorCode, message: string, retryAfterSeconds?: number): GetTokenError {
  return { error: { code, message, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) } };
}

/** Maps any error to the getter's stable error contract. The one place that does so. */
export function toGetterError(err: unknown): GetTokenError {
  const error = toBrokerError(err);
  switch (error.code) {
    case 'invalid_request':
      return errorResponse('invalid_request', error.message);
    case 'org_not_found':
      return errorResponse('org_not_found', error.message);
    case 'org_disabled':
      return errorResponse('org_disabled', error.message);
    default:
      if (error instanceof TokenUnavailableError) return errorResponse('token_unavailable', error.message, error.retryAfterSeconds);
      return errorResponse('token_unavailable', error.code === 'token_unavailable' ? error.message : `token unavailable (${error.code})`);
  }
}

interface CacheEntry {
  record: TokenRecord;
  validUntilMs: number;
}

export function createTokenGetter(
  deps: { registry: OrgRegistry; vault: TokenVault; engine: RefreshEngine; clock: Clock },
  options: TokenGetterOptions = {},
): TokenGetter {
  const { registry, vault, engine, clock } = deps;
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? 300_000;
  const minRemainingMs = options.minRemainingMs ?? 300_000;
  const peerWaitMs = options.peerWaitMs ?? 8_000;
  const peerPollMs = options.peerPollMs ?? 200;
  const cache = new Map<string, CacheEntry>();
  const inFlight = new Map<string, Promise<TokenRecord>>();
  const stats = { hits: 0, misses: 0, onDemandRefreshes: 0 };

  /** Margin before expiry under which a token is no longer handed out: 5 min, or 10% of a short lifetime. */
  const marginFor = (r: TokenRecord): number => Math.min(minRemainingMs, Math.floor((Date.parse(r.expiresAt) - Date.parse(r.issuedAt)) / 10));
  const servable = (r: TokenRecord, nowMs: number): boolean => Date.parse(r.expiresAt) - marginFor(r) > nowMs;

  async function load(orgId: string, deadlineMs: number, requestId: string | undefined): Promise<TokenRecord> {
    const org = await registry.get(orgId);
    if (!org) throw new BrokerError('org_not_found', `org ${orgId} is not registered`, { orgId });
    if (!org.enabled) throw new BrokerError('org_disabled', `org ${orgId} is disabled`, { orgId });
    const stored = await vault.read(orgId);
    if (stored && servable(stored, clock.now())) return stored;

    // Missing or about to expire: refresh this org now. The lease makes concurrent getters in other
    // containers wait for one refresh instead of each asking Genesys.
    stats.onDemandRefreshes++;
    const result = await engine.refreshOrg(orgId, { trigger: 'getter', deadlineMs, ...(requestId ? { requestId } : {}) });
    if (result.outcome === 'refreshed' || result.outcome === 'skipped') {
      const waitUntil = Math.min(deadlineMs - 500, clock.now() + (result.reason === 'lease_held' ? peerWaitMs : 0));
      for (;;) {
        const fresh = await vault.read(orgId);
        if (fresh && servable(fresh, clock.now())) return fresh;
        if (clock.now() + peerPollMs > waitUntil) break;
        await clock.sleep(peerPollMs);
      }
    }
    // Better a token with a little life left than none at all.
    if (stored && Date.parse(stored.expiresAt) > clock.now()) return stored;
    const latest = await registry.get(orgId);
    const nextAttemptAtMs = latest?.state.nextAttemptAtMs;
    const retryAfterSeconds = nextAttemptAtMs !== undefined && nextAttemptAtMs > clock.now() ? Math.ceil((nextAttemptAtMs - clock.now()) / 1000) : undefined;
    const why = result.errorCode ?? latest?.state.lastErrorCode;
    throw new TokenUnavailableError(`no valid token for org ${orgId}${why ? `: last refresh failed (${why})` : ''}`, {
      orgId,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    });
  }

  return {
    stats,
    async handle(input, context) {
      let orgId: string;
      try {
        ({ orgId } = parseGetTokenRequest(input));
      } catch (err) {
        return toGetterError(err);
      }
      const nowMs = clock.now();
      const cached = cache.get(orgId);
      let record: TokenRecord;
      if (cached && nowMs < cached.validUntilMs) {
        stats.hits++;
        record = cached.record;
      } else {
        stats.misses++;
        let pending = inFlight.get(orgId);
        if (!pending) {
          pending = load(orgId, context.deadlineMs, context.requestId).finally(() => inFlight.delete(orgId));
          inFlight.set(orgId, pending);
        }
        try {
          record = await pending;
        } catch (err) {
          cache.delete(orgId);
          return toGetterError(err);
        }
        const validUntilMs = Math.min(clock.now() + cacheMaxAgeMs, Date.parse(record.expiresAt) - marginFor(record));
        if (validUntilMs > clock.now()) cache.set(orgId, { record, validUntilMs });
      }
      return {
        orgId: record.orgId,
        accessToken: record.accessToken,
        tokenType: record.tokenType,
        expiresAt: record.expiresAt,
        apiBaseUrl: record.apiBaseUrl,
        region: record.region,
      };
    },
  };
}
