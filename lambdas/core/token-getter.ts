/**
 * The getter use case: hand a consumer the current token for one org. Serves from a per-container
 * cache and reads the vault on a miss. It never refreshes anything itself: when the stored token is
 * missing, about to expire, or rejected by Genesys, it asks an {@link OnDemandRefresher} (the refresher
 * Lambda on AWS) to refresh that one org, and then reads the vault again. So the getter needs to read
 * tokens and the registry, and nothing else.
 */
import { BrokerError, toBrokerError, TokenUnavailableError, UnreadableRecordError, ValidationError } from './errors.js';
import { fingerprint } from './fingerprint.js';
import type { OnDemandReason, OnDemandRefresher, OnDemandResult } from './on-demand.js';
import { SERVING_MARGIN_MS, tokenCacheUntil, tokenFreshUntil } from './policy.js';
import type { Clock, OrgRegistry, TokenRecord, TokenVault } from './ports.js';
import { isOrgId } from './token-record.js';

export interface GetTokenResponse {
  orgId: string;
  accessToken: string;
  tokenType: 'bearer';
  expiresAt: string;
  apiBaseUrl: string;
  region: string;
  /** When Genesys said the token idles out if unused; absent when it did not say. */
  idlesAt?: string;
  /**
   * The token's refresh mark: the broker writes its replacement then, so readers may cache until a
   * little after. Always sent; optional in the type because earlier getters did not send it.
   */
  refreshAt?: string;
}

export type GetterErrorCode = 'invalid_request' | 'org_not_allowed' | 'org_not_found' | 'org_disabled' | 'token_unavailable';

export interface GetTokenError {
  error: { code: GetterErrorCode; message: string; retryAfterSeconds?: number };
}

export interface TokenGetterOptions {
  /** Longest a cached token is served without re-reading the vault (see `tokenCacheUntil`). @default 300_000 (5 minutes) */
  cacheMaxAgeMs?: number;
  /** A token is served only while it has more than min(this, 10% of its lifetime) left. @default 300_000 */
  minRemainingMs?: number;
  /** How long to wait for another worker's in-flight refresh to land. @default 8_000 */
  peerWaitMs?: number;
  /** Poll interval while waiting for a peer. @default 200 */
  peerPollMs?: number;
  /**
   * Orgs this getter serves (a scoped getter); any other is `org_not_allowed`, answered before anything
   * is read. @default every org
   */
  allowedOrgIds?: readonly string[];
}

export interface TokenGetterDeps {
  registry: Pick<OrgRegistry, 'get'>;
  vault: Pick<TokenVault, 'read'>;
  refresher: OnDemandRefresher;
  clock: Clock;
}

export interface TokenGetter {
  /** Validates `input` ({ orgId, rejectedToken? }) and returns a token or a typed error; never throws for expected failures. */
  handle(input: unknown, context: { deadlineMs: number; requestId?: string }): Promise<GetTokenResponse | GetTokenError>;
  /** As {@link TokenGetter.handle}, and says where a served token came from. */
  serve(input: unknown, context: { deadlineMs: number; requestId?: string }): Promise<Served>;
  /** Cache statistics since the container started, for metrics. */
  readonly stats: { hits: number; misses: number; onDemandRefreshes: number };
}

/** Longest `rejectedToken` accepted: Genesys access tokens are far shorter. */
export const MAX_REJECTED_TOKEN_LENGTH = 4096;
/** Maximum accepted size of a serialized request, to refuse junk before doing anything with it. */
const MAX_REQUEST_BYTES = MAX_REJECTED_TOKEN_LENGTH + 1024;
const REQUEST_FIELDS = new Set(['orgId', 'rejectedToken']);

export interface GetTokenRequest {
  orgId: string;
  /** The access token Genesys refused (a 401), so the getter checks it rather than serve it again. */
  rejectedToken?: string;
}

/**
 * Validates the getter's input: `{ orgId: <uuid>, rejectedToken?: <string of at most 4 KB> }`;
 * anything else is `invalid_request`. Messages never echo a token.
 */
export function parseGetTokenRequest(input: unknown): GetTokenRequest {
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
  const extra = Object.keys(input).filter((k) => !REQUEST_FIELDS.has(k));
  if (extra.length > 0) throw new ValidationError(`unknown field(s): ${extra.slice(0, 5).join(', ')}`, { field: extra[0]! });
  const { orgId, rejectedToken } = input as { orgId?: unknown; rejectedToken?: unknown };
  if (orgId === undefined) throw new ValidationError('orgId is required', { field: 'orgId' });
  if (!isOrgId(orgId)) throw new ValidationError('orgId must be a Genesys Cloud organization id (a UUID)', { field: 'orgId' });
  if (rejectedToken !== undefined && (typeof rejectedToken !== 'string' || rejectedToken.length === 0 || rejectedToken.length > MAX_REJECTED_TOKEN_LENGTH)) {
    throw new ValidationError(`rejectedToken must be the access token Genesys rejected: a string of 1 to ${MAX_REJECTED_TOKEN_LENGTH} characters`, { field: 'rejectedToken' });
  }
  return { orgId: orgId.toLowerCase(), ...(rejectedToken !== undefined ? { rejectedToken } : {}) };
}

function errorResponse(code: GetterErrorCode, message: string, retryAfterSeconds?: number): GetTokenError {
  return { error: { code, message, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) } };
}

/** Maps any error to the getter's stable error contract. The one place that does so. */
export function toGetterError(err: unknown): GetTokenError {
  const error = toBrokerError(err);
  switch (error.code) {
    case 'invalid_request':
    case 'org_not_allowed':
    case 'org_not_found':
    case 'org_disabled':
      return errorResponse(error.code, error.message);
    default:
      if (error instanceof TokenUnavailableError) return errorResponse('token_unavailable', error.message, error.retryAfterSeconds);
      // The org's record is damaged: its message names the problem, where, and the remedy (never a value).
      if (error instanceof UnreadableRecordError) return errorResponse('token_unavailable', error.message);
      return errorResponse('token_unavailable', error.code === 'token_unavailable' ? error.message : `token unavailable (${error.code})`);
  }
}

interface CacheEntry {
  record: TokenRecord;
  validUntilMs: number;
}

/** Where a served token came from: the container cache, the store, or the store after an on-demand refresh. */
export type ServedFrom = 'cache' | 'store' | 'refresh';

/** A getter answer and, when a token was served, where it came from (for metrics). */
export interface Served {
  response: GetTokenResponse | GetTokenError;
  from?: ServedFrom;
}

/** What the refresher answers when it cannot be asked at all. */
function refresherDown(orgId: string, err: unknown): OnDemandResult {
  const error = toBrokerError(err, 'refresher_unavailable', orgId);
  return { orgId, outcome: 'unavailable', errorCode: error.code, message: error.message };
}

export function createTokenGetter(deps: TokenGetterDeps, options: TokenGetterOptions = {}): TokenGetter {
  const { registry, vault, refresher, clock } = deps;
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? 300_000;
  // The same margin the refresh mark leaves at every sweep (policy.ts servingMarginMs).
  const minRemainingMs = options.minRemainingMs ?? SERVING_MARGIN_MS;
  const peerWaitMs = options.peerWaitMs ?? 8_000;
  const peerPollMs = options.peerPollMs ?? 200;
  const allowed = options.allowedOrgIds ? new Set(options.allowedOrgIds.map((id) => id.toLowerCase())) : undefined;
  const cache = new Map<string, CacheEntry>();
  const inFlight = new Map<string, Promise<{ record: TokenRecord; from: ServedFrom }>>();
  const stats = { hits: 0, misses: 0, onDemandRefreshes: 0 };

  const times = (r: TokenRecord) => ({
    expiresAtMs: Date.parse(r.expiresAt),
    lifetimeMs: Date.parse(r.expiresAt) - Date.parse(r.issuedAt),
    marginMs: minRemainingMs,
    ...(r.idlesAt !== undefined ? { idlesAtMs: Date.parse(r.idlesAt) } : {}),
  });
  /** Served only while fresh: more than min(minRemainingMs, 10% of its lifetime) before expiry, and not idled out. */
  const servable = (r: TokenRecord, nowMs: number): boolean => tokenFreshUntil(times(r)) > nowMs;
  /** Still works, if only just: better than no token when no fresh one can be had. */
  const alive = (r: TokenRecord, nowMs: number): boolean => Date.parse(r.expiresAt) > nowMs && (r.idlesAt === undefined || Date.parse(r.idlesAt) > nowMs);

  /** Reads the vault until a fresh token other than `rejected` shows up or `untilMs` passes (at least once). */
  async function awaitStored(orgId: string, untilMs: number, rejected: string | undefined): Promise<TokenRecord | undefined> {
    for (;;) {
      const fresh = await vault.read(orgId);
      if (fresh && servable(fresh, clock.now()) && fresh.accessToken !== rejected) return fresh;
      if (clock.now() + peerPollMs > untilMs) return undefined;
      await clock.sleep(peerPollMs);
    }
  }

  async function askRefresher(orgId: string, reason: OnDemandReason, rejected: string | undefined, deadlineMs: number, requestId: string | undefined): Promise<OnDemandResult> {
    stats.onDemandRefreshes++;
    try {
      return await refresher.refresh(
        { orgId, reason, ...(rejected !== undefined ? { rejectedTokenFingerprint: await fingerprint(rejected) } : {}), ...(requestId ? { requestId } : {}) },
        // The answer must leave time to read the vault and reply.
        { deadlineMs: deadlineMs - 500 },
      );
    } catch (err) {
      return refresherDown(orgId, err);
    }
  }

  async function load(orgId: string, deadlineMs: number, requestId: string | undefined, rejected: string | undefined): Promise<{ record: TokenRecord; from: ServedFrom }> {
    const org = await registry.get(orgId);
    if (!org) throw new BrokerError('org_not_found', `org ${orgId} is not registered`, { orgId });
    if (!org.enabled) throw new BrokerError('org_disabled', `org ${orgId} is disabled`, { orgId });
    const stored = await vault.read(orgId);
    const storedIsRejected = stored !== undefined && stored.accessToken === rejected;
    if (stored && !storedIsRejected && servable(stored, clock.now())) return { record: stored, from: 'store' };

    const reason: OnDemandReason = storedIsRejected ? 'rejected' : stored ? 'expiring' : 'missing';
    const result = await askRefresher(orgId, reason, storedIsRejected ? rejected : undefined, deadlineMs, requestId);
    let retryAfterSeconds: number | undefined;
    let why: string | undefined;
    switch (result.outcome) {
      case 'refreshed':
      case 'current': {
        // `current` after a rejection: Genesys vouched for the token, or it was replaced meanwhile.
        const fresh = await awaitStored(orgId, clock.now(), result.outcome === 'refreshed' ? rejected : undefined);
        if (fresh) return { record: fresh, from: result.outcome === 'refreshed' ? 'refresh' : 'store' };
        break;
      }
      case 'busy': {
        // Another worker holds the org's lease: wait for its token.
        const fresh = await awaitStored(orgId, Math.min(deadlineMs - 500, clock.now() + peerWaitMs), rejected);
        if (fresh) return { record: fresh, from: 'refresh' };
        retryAfterSeconds = 1;
        why = 'another refresh of it is still running';
        break;
      }
      case 'recently_checked': {
        const fresh = await awaitStored(orgId, clock.now(), rejected);
        if (fresh) return { record: fresh, from: 'store' };
        retryAfterSeconds = result.retryAfterSeconds;
        why = 'its token was reported rejected and checked less than a minute ago';
        break;
      }
      case 'unavailable':
        retryAfterSeconds = result.retryAfterSeconds;
        why = `last refresh failed (${result.errorCode})`;
        break;
    }
    // Better a token with a little life left than none at all; never the one Genesys rejected.
    if (stored && !storedIsRejected && alive(stored, clock.now())) return { record: stored, from: 'store' };
    throw new TokenUnavailableError(`no valid token for org ${orgId}${why ? `: ${why}` : ''}`, {
      orgId,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    });
  }

  function respond(record: TokenRecord, from: ServedFrom): Served {
    return {
      from,
      response: {
        orgId: record.orgId,
        accessToken: record.accessToken,
        tokenType: record.tokenType,
        expiresAt: record.expiresAt,
        apiBaseUrl: record.apiBaseUrl,
        region: record.region,
        ...(record.idlesAt !== undefined ? { idlesAt: record.idlesAt } : {}),
        refreshAt: record.refreshAt,
      },
    };
  }

  async function serve(input: unknown, context: { deadlineMs: number; requestId?: string }): Promise<Served> {
    let request: GetTokenRequest;
    try {
      request = parseGetTokenRequest(input);
      if (allowed && !allowed.has(request.orgId)) {
        throw new BrokerError('org_not_allowed', `this getter does not serve org ${request.orgId}; ask the broker's operator for a getter scoped to it`, { orgId: request.orgId });
      }
    } catch (err) {
      return { response: toGetterError(err) };
    }
    const { orgId, rejectedToken } = request;
    const nowMs = clock.now();
    const cached = cache.get(orgId);
    if (cached && nowMs < cached.validUntilMs && cached.record.accessToken !== rejectedToken) {
      stats.hits++;
      return respond(cached.record, 'cache');
    }
    stats.misses++;
    if (cached) cache.delete(orgId);
    // Callers asking the same question share one load; a rejection is a different question.
    const key = rejectedToken === undefined ? orgId : `${orgId}\u0000${rejectedToken}`;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = load(orgId, context.deadlineMs, context.requestId, rejectedToken).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    let loaded: { record: TokenRecord; from: ServedFrom };
    try {
      loaded = await pending;
    } catch (err) {
      return { response: toGetterError(err) };
    }
    const fetchedAtMs = clock.now();
    const { untilMs } = tokenCacheUntil({ ...times(loaded.record), fetchedAtMs, maxAgeMs: cacheMaxAgeMs });
    if (untilMs > fetchedAtMs) cache.set(orgId, { record: loaded.record, validUntilMs: untilMs });
    return respond(loaded.record, loaded.from);
  }

  return {
    stats,
    serve,
    async handle(input, context) {
      return (await serve(input, context)).response;
    },
  };
}
