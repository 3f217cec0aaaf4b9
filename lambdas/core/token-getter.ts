/**
 * The getter use case: hand a consumer the current token for one org. Serves from a per-container
 * cache, reads the vault on a miss, and only when the stored token is missing or about to expire does
 * it refresh that one org on demand, under the same lease the scheduled sweep uses.
 */
import { BrokerError, toBrokerError, TokenUnavailableError, UnreadableRecordError, ValidationError } from './errors.js';
import type { RefreshEngine } from './engine.js';
import { tokenCacheUntil, tokenFreshUntil } from './policy.js';
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
  /** Longest a cached token is served without re-reading the vault (see `tokenCacheUntil`). @default 300_000 (5 minutes) */
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
  /** As {@link TokenGetter.handle}, and says where a served token came from. */
  serve(input: unknown, context: { deadlineMs: number; requestId?: string }): Promise<Served>;
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
      // The org's record is damaged: its message names the problem, where, and the remedy (never a value).
      if (error instanceof UnreadableRecordError) return errorResponse('token_unavailable', error.message);
      return errorResponse('token_unavailable', error.code === 'token_unavailable' ? error.message : `token unavailable (${error.code})`);
  }
}

interface CacheEntry {
  record: TokenRecord;
  validUntilMs: number;
}

/** Where a served token came from: the container cache, the store, or an on-demand refresh. */
export type ServedFrom = 'cache' | 'store' | 'refresh';

/** A getter answer and, when a token was served, where it came from (for metrics). */
export interface Served {
  response: GetTokenResponse | GetTokenError;
  from?: ServedFrom;
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
  const inFlight = new Map<string, Promise<{ record: TokenRecord; from: ServedFrom }>>();
  const stats = { hits: 0, misses: 0, onDemandRefreshes: 0 };

  const lifetimeOf = (r: TokenRecord): number => Date.parse(r.expiresAt) - Date.parse(r.issuedAt);
  /** Served only while fresh: more than min(minRemainingMs, 10% of its lifetime) before expiry. */
  const servable = (r: TokenRecord, nowMs: number): boolean =>
    tokenFreshUntil({ expiresAtMs: Date.parse(r.expiresAt), lifetimeMs: lifetimeOf(r), marginMs: minRemainingMs }) > nowMs;

  /** Reads the vault until a fresh token shows up or `untilMs` passes (at least once). */
  async function awaitStored(orgId: string, untilMs: number): Promise<TokenRecord | undefined> {
    for (;;) {
      const fresh = await vault.read(orgId);
      if (fresh && servable(fresh, clock.now())) return fresh;
      if (clock.now() + peerPollMs > untilMs) return undefined;
      await clock.sleep(peerPollMs);
    }
  }

  async function load(orgId: string, deadlineMs: number, requestId: string | undefined): Promise<{ record: TokenRecord; from: ServedFrom }> {
    const org = await registry.get(orgId);
    if (!org) throw new BrokerError('org_not_found', `org ${orgId} is not registered`, { orgId });
    if (!org.enabled) throw new BrokerError('org_disabled', `org ${orgId} is disabled`, { orgId });
    const stored = await vault.read(orgId);
    if (stored && servable(stored, clock.now())) return { record: stored, from: 'store' };

    // Missing or about to expire: refresh this org now. The lease makes concurrent getters in other
    // containers wait for one refresh instead of each asking Genesys.
    stats.onDemandRefreshes++;
    // refreshOne starts the attempt with whatever time the caller has left, as long as one attempt fits.
    const outcome = await engine.refreshOne(org, { trigger: 'getter', deadlineMs, ...(requestId ? { requestId } : {}) });
    // A token written by this refresh is served as it is, even one whose rotated refresh token could
    // not be persisted: it is valid, and the critical event is audited and alarmed elsewhere.
    const written = outcome.kind === 'refreshed' ? outcome.token : outcome.kind === 'failed' ? outcome.token : undefined;
    if (written) return { record: written, from: 'refresh' };
    if (outcome.kind === 'skipped') {
      // Another worker holds the lease (wait for its token), or refreshed the org since we looked.
      const waitUntil = Math.min(deadlineMs - 500, clock.now() + (outcome.reason === 'lease_held' ? peerWaitMs : 0));
      const fresh = await awaitStored(orgId, waitUntil);
      if (fresh) return { record: fresh, from: 'refresh' };
    }
    // Better a token with a little life left than none at all.
    if (stored && Date.parse(stored.expiresAt) > clock.now()) return { record: stored, from: 'store' };
    const state = ('org' in outcome && outcome.org ? outcome.org : org).state;
    const nextAttemptAtMs = state.nextAttemptAtMs;
    const retryAfterSeconds = nextAttemptAtMs !== undefined && nextAttemptAtMs > clock.now() ? Math.ceil((nextAttemptAtMs - clock.now()) / 1000) : undefined;
    const why = (outcome.kind === 'failed' ? outcome.errorCode : undefined) ?? state.lastErrorCode;
    throw new TokenUnavailableError(`no valid token for org ${orgId}${why ? `: last refresh failed (${why})` : ''}`, {
      orgId,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    });
  }

  async function serve(input: unknown, context: { deadlineMs: number; requestId?: string }): Promise<Served> {
    let orgId: string;
    try {
      ({ orgId } = parseGetTokenRequest(input));
    } catch (err) {
      return { response: toGetterError(err) };
    }
    const nowMs = clock.now();
    const cached = cache.get(orgId);
    let record: TokenRecord;
    let from: ServedFrom;
    if (cached && nowMs < cached.validUntilMs) {
      stats.hits++;
      record = cached.record;
      from = 'cache';
    } else {
      stats.misses++;
      let pending = inFlight.get(orgId);
      if (!pending) {
        pending = load(orgId, context.deadlineMs, context.requestId).finally(() => inFlight.delete(orgId));
        inFlight.set(orgId, pending);
      }
      try {
        ({ record, from } = await pending);
      } catch (err) {
        cache.delete(orgId);
        return { response: toGetterError(err) };
      }
      const fetchedAtMs = clock.now();
      const { untilMs } = tokenCacheUntil({ fetchedAtMs, expiresAtMs: Date.parse(record.expiresAt), lifetimeMs: lifetimeOf(record), maxAgeMs: cacheMaxAgeMs, marginMs: minRemainingMs });
      if (untilMs > fetchedAtMs) cache.set(orgId, { record, validUntilMs: untilMs });
    }
    return {
      from,
      response: {
        orgId: record.orgId,
        accessToken: record.accessToken,
        tokenType: record.tokenType,
        expiresAt: record.expiresAt,
        apiBaseUrl: record.apiBaseUrl,
        region: record.region,
      },
    };
  }

  return {
    stats,
    serve,
    async handle(input, context) {
      return (await serve(input, context)).response;
    },
  };
}
