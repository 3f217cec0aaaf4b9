/**
 * The refresh engine: one sweep examines every org (or the ones named), refreshes those that are
 * due under a per-org lease, and reports what happened. The same engine runs in the refresher
 * Lambda, the getter's on-demand path, the operator CLI and local mode; only the ports differ.
 */
import { BrokerError, ConflictError, type ErrorCode, StoreError, toBrokerError } from './errors.js';
import type { GenesysOAuthClient, TokenInfo } from './oauth.js';
import { computeRefreshAt, type Health, nextAttemptAfterFailure, orgHealth, type PolicyOptions, policyOptions, type RefreshReason, shouldRefresh } from './policy.js';
import type {
  AuditLog,
  AuditRecord,
  AuditTrigger,
  Clock,
  CredentialStore,
  Lease,
  LeaseHandle,
  OrgRecord,
  OrgRegistry,
  Telemetry,
  TokenRecord,
  TokenState,
  TokenVault,
} from './ports.js';
import { silentTelemetry } from './ports.js';
import { apiBaseUrlFor, resolveRegion } from './regions.js';

export interface EngineDependencies {
  registry: OrgRegistry;
  credentials: CredentialStore;
  vault: TokenVault;
  audit: AuditLog;
  lease: Lease;
  oauth: GenesysOAuthClient;
  clock: Clock;
  telemetry?: Telemetry;
  /** @default crypto.randomUUID */
  newId?: () => string;
}

export interface EngineOptions {
  /** Orgs refreshed at once. @default 16 */
  concurrency?: number;
  policy?: Partial<PolicyOptions>;
  /** Lease lifetime; longer than one org's worst-case attempt. @default 60_000 */
  leaseTtlMs?: number;
  /** Identifies this engine instance as lease owner. @default a random id */
  owner?: string;
  /** No new org starts unless this much time is left before the sweep deadline. @default 30_000 */
  orgTimeBudgetMs?: number;
  /** Attempts to persist a rotated refresh token before declaring it critical. @default 5 */
  persistAttempts?: number;
  /** Registry page size. @default 100 */
  pageSize?: number;
  /** Recorded in every audit item. @default '0.0.0' */
  brokerVersion?: string;
}

export interface SweepRequest {
  /** Absolute clock time by which the sweep must have finished. */
  deadlineMs: number;
  /** Only these orgs; otherwise every org in the registry. */
  orgIds?: string[];
  /** Refresh even when not due (still under the lease, still skipping disabled orgs). */
  force?: boolean;
  trigger: AuditTrigger;
  /** Lambda request id or similar, copied into audit records. */
  requestId?: string;
  /** An org is started only with at least this much time left. @default the engine's orgTimeBudgetMs */
  minTimeToStartMs?: number;
}

export type OrgOutcome = 'refreshed' | 'failed' | 'skipped' | 'deferred';

export interface OrgResult {
  orgId: string;
  outcome: OrgOutcome;
  /** Why it was refreshed, skipped or deferred. */
  reason: RefreshReason | 'disabled' | 'not_due' | 'backing_off' | 'lease_held' | 'not_found' | 'deadline';
  errorCode?: ErrorCode;
  expiresAt?: string;
  /** Final health after this sweep. */
  health?: Health;
}

export interface SweepSummary {
  startedAt: string;
  durationMs: number;
  examined: number;
  due: number;
  refreshed: number;
  /** Failed attempts by error code. */
  failed: Partial<Record<ErrorCode, number>>;
  skipped: { leaseHeld: number; notDue: number; disabled: number; backingOff: number; notFound: number };
  deferred: number;
  /** Orgs whose health is at_risk or expired after the sweep. */
  orgsAtRisk: number;
  health: Partial<Record<Health, number>>;
  /** Least remaining token life among enabled orgs with a token. */
  minTokenSecondsRemaining?: number;
  /** Audit appends that failed (the refresh itself stood). */
  auditWriteFailures: number;
  /** Registry state writes that failed after a successful token write. */
  stateWriteFailures: number;
  /** Critical events, such as a rotated refresh token that could not be persisted. */
  critical: number;
  /** Set when the registry could not be listed to the end: orgs after that point were not examined. */
  registryError?: ErrorCode;
  /** Every org that was due, refreshed, failed or deferred (skips that were not due are counted only). */
  results: OrgResult[];
}

export interface RefreshEngine {
  sweep(request: SweepRequest): Promise<SweepSummary>;
  /** Refreshes one org now if it is due (or forced); used by the getter and the CLI. */
  refreshOrg(orgId: string, options: Omit<SweepRequest, 'orgIds'>): Promise<OrgResult>;
}

interface Attempt {
  attemptId: string;
  startedMs: number;
  httpAttempts: number;
  httpStatus?: number;
  info?: TokenInfo;
}

/** Time kept after a refresh_token grant's answer to make the rotated refresh token durable. */
const PERSIST_RESERVE_MS = 5_000;

/** Thrown inside an attempt when the rotated refresh token could not be made durable. */
class RefreshTokenPersistError extends StoreError {
  constructor(orgId: string, cause: unknown) {
    super('refresh_token_persist_failed', `rotated refresh token for org ${orgId} could not be persisted`, { orgId, cause, transient: false });
  }
}

export function createRefreshEngine(deps: EngineDependencies, options: EngineOptions = {}): RefreshEngine {
  const { registry, credentials, vault, audit, lease, oauth, clock } = deps;
  const telemetry = deps.telemetry ?? silentTelemetry;
  const newId = deps.newId ?? (() => globalThis.crypto.randomUUID());
  const policy = policyOptions(options.policy);
  const concurrency = options.concurrency ?? 16;
  const leaseTtlMs = options.leaseTtlMs ?? 60_000;
  const owner = options.owner ?? `engine-${newId()}`;
  const orgTimeBudgetMs = options.orgTimeBudgetMs ?? 30_000;
  const persistAttempts = options.persistAttempts ?? 5;
  const pageSize = options.pageSize ?? 100;
  const brokerVersion = options.brokerVersion ?? '0.0.0';
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new BrokerError('invalid_config', `concurrency must be an integer from 1 to 256, got ${String(concurrency)}`);
  }

  async function* orgsToExamine(orgIds?: string[]): AsyncGenerator<OrgRecord | string> {
    if (orgIds) {
      // The same org twice would race itself under one lease owner and spend a refresh token twice.
      for (const orgId of new Set(orgIds.map((id) => id.toLowerCase()))) yield (await registry.get(orgId)) ?? orgId;
      return;
    }
    let cursor: string | undefined;
    do {
      const page = await registry.listPage({ ...(cursor ? { cursor } : {}), limit: pageSize });
      yield* page.items;
      cursor = page.cursor;
    } while (cursor);
  }

  async function persistRefreshToken(org: OrgRecord, refreshToken: string): Promise<void> {
    let lastError: unknown;
    for (let i = 0; i < persistAttempts; i++) {
      try {
        await credentials.replaceRefreshToken(org, refreshToken);
        return;
      } catch (err) {
        lastError = err;
        telemetry.log('warn', 'refresh token persist failed, retrying', { orgId: org.orgId, attempt: i + 1, errorCode: toBrokerError(err).code });
        if (i + 1 < persistAttempts) await clock.sleep(Math.min(2_000, 100 * 2 ** i));
      }
    }
    throw new RefreshTokenPersistError(org.orgId, lastError);
  }

  /** Writes state, re-reading once per conflict: we hold the lease, so only config edits race us. */
  async function recordState(org: OrgRecord, state: TokenState): Promise<OrgRecord> {
    let current = org;
    for (let i = 0; ; i++) {
      try {
        return await registry.recordState(current.orgId, current.version, state);
      } catch (err) {
        if (!(err instanceof ConflictError) || i >= 3) throw err;
        const fresh = await registry.get(current.orgId);
        if (!fresh) throw err;
        // A later attempt (another worker, after our lease lapsed) already recorded its outcome:
        // ours is stale and must not overwrite it.
        if ((fresh.state.lastAttemptAtMs ?? -Infinity) > (state.lastAttemptAtMs ?? -Infinity)) return fresh;
        current = fresh;
      }
    }
  }

  async function appendAudit(record: AuditRecord, summary: SweepSummary): Promise<void> {
    try {
      await audit.append(record);
    } catch (err) {
      summary.auditWriteFailures++;
      telemetry.log('error', 'audit write failed', { orgId: record.orgId, attemptId: record.attemptId, errorCode: toBrokerError(err, 'audit_write_failed').code });
    }
  }

  async function attempt(org: OrgRecord, reason: RefreshReason, handle: LeaseHandle, request: SweepRequest, summary: SweepSummary): Promise<{ result: OrgResult; state: TokenState }> {
    const a: Attempt = { attemptId: newId(), startedMs: clock.now(), httpAttempts: 0 };
    const orgDeadline = Math.min(request.deadlineMs, a.startedMs + orgTimeBudgetMs);
    const baseAudit = {
      orgId: org.orgId,
      attemptId: a.attemptId,
      at: new Date(a.startedMs).toISOString(),
      trigger: request.trigger,
      reason,
      brokerVersion,
      ...(request.requestId ? { requestId: request.requestId } : {}),
    };
    let tokenWritten: TokenRecord | undefined;
    try {
      const region = resolveRegion(org.region);
      const creds = await credentials.read(org);
      // A refresh_token grant spends the stored refresh token: keep time after the answer to persist
      // the rotated one before the caller's deadline (a Lambda timeout would lose it).
      const tokenDeadline = org.grantType === 'refresh_token' ? orgDeadline - PERSIST_RESERVE_MS : orgDeadline;
      const granted = await oauth.requestToken({ orgId: org.orgId, region, grantType: org.grantType, credentials: creds, deadlineMs: tokenDeadline });
      a.httpAttempts += granted.attempts;
      a.httpStatus = granted.httpStatus;
      const grant = granted.value;
      // A rotated refresh token is single-use: the old one is already spent. Make the new one durable
      // before anything else can fail, including verification.
      let persistError: RefreshTokenPersistError | undefined;
      if (grant.refreshToken) {
        try {
          await persistRefreshToken(org, grant.refreshToken);
        } catch (err) {
          if (!(err instanceof RefreshTokenPersistError)) throw err;
          persistError = err;
          summary.critical++;
          telemetry.log('critical', 'rotated refresh token could not be persisted; re-authorize this org', { orgId: org.orgId, attemptId: a.attemptId });
        }
      }
      const verified = await oauth.verifyToken({ orgId: org.orgId, region, accessToken: grant.accessToken, deadlineMs: orgDeadline });
      a.httpAttempts += verified.attempts;
      a.info = verified.value;

      const issuedAtMs = a.startedMs; // the request time: expiry estimates err early, never late
      const expiresAtMs = issuedAtMs + grant.expiresInSeconds * 1000;
      const idlesAtMs = a.info.idlesAtMs;
      const refreshAtMs = computeRefreshAt(issuedAtMs, expiresAtMs, policy, idlesAtMs);
      const record: TokenRecord = {
        schemaVersion: 1,
        orgId: org.orgId,
        accessToken: grant.accessToken,
        tokenType: 'bearer',
        issuedAt: new Date(issuedAtMs).toISOString(),
        expiresAt: new Date(expiresAtMs).toISOString(),
        refreshAt: new Date(refreshAtMs).toISOString(),
        region: region.domain,
        apiBaseUrl: apiBaseUrlFor(region),
        oauthClientId: a.info.oauthClientId ?? creds.clientId,
        scopes: a.info.authorizedScope,
      };
      // The lease guards the write: if it lapsed (a very slow attempt), another worker may be writing.
      if (clock.now() > handle.expiresAtMs - leaseTtlMs / 2) {
        const renewed = await lease.renew(handle, leaseTtlMs, clock.now());
        if (!renewed) throw new ConflictError('lease_held', `lease on org ${org.orgId} was lost before the token write`, { orgId: org.orgId });
        handle.expiresAtMs = renewed.expiresAtMs;
      }
      try {
        await vault.write(record, { attemptId: a.attemptId });
      } catch (err) {
        throw toBrokerError(err, 'vault_write_failed', org.orgId);
      }
      tokenWritten = record;

      const state: TokenState = {
        issuedAtMs,
        expiresAtMs,
        refreshAtMs,
        ...(idlesAtMs !== undefined ? { idlesAtMs } : {}),
        lastAttemptAtMs: a.startedMs,
        lastOutcome: persistError ? 'failure' : 'success',
        ...(persistError ? { lastErrorCode: persistError.code, lastErrorClass: persistError.failureClass } : {}),
        consecutiveFailures: persistError ? org.state.consecutiveFailures + 1 : 0,
        credentialsVersionUsed: org.credentialsVersion,
        ...(record.oauthClientId ? { oauthClientId: record.oauthClientId } : {}),
      };
      // The stored refresh token is spent, so any retry would only earn invalid_grant (and may trip
      // Genesys' reuse detection): wait for an operator to re-authorize (credentials_changed).
      if (persistError) state.nextAttemptAtMs = Number.MAX_SAFE_INTEGER;
      try {
        await recordState(org, state);
      } catch (err) {
        summary.stateWriteFailures++;
        telemetry.log('error', 'registry state write failed after the token was stored', { orgId: org.orgId, errorCode: toBrokerError(err, 'registry_write_failed').code });
      }
      await appendAudit({
        ...baseAudit,
        outcome: persistError ? 'failure' : 'success',
        durationMs: clock.now() - a.startedMs,
        attempts: a.httpAttempts,
        ...(a.httpStatus !== undefined ? { httpStatus: a.httpStatus } : {}),
        expiresAt: record.expiresAt,
        oauthClientId: record.oauthClientId,
        ...(a.info.oauthClientName ? { oauthClientName: a.info.oauthClientName } : {}),
        scopes: record.scopes,
        ...(persistError ? { errorCode: persistError.code, errorClass: persistError.failureClass, severity: 'critical' as const, message: persistError.message } : {}),
      }, summary);
      if (persistError) {
        bump(summary.failed, persistError.code);
        return { result: { orgId: org.orgId, outcome: 'failed', reason, errorCode: persistError.code, expiresAt: record.expiresAt }, state };
      }
      summary.refreshed++;
      telemetry.log('info', 'token refreshed', { orgId: org.orgId, region: region.domain, reason, attempt: a.httpAttempts, expiresInSeconds: grant.expiresInSeconds });
      return { result: { orgId: org.orgId, outcome: 'refreshed', reason, expiresAt: record.expiresAt }, state };
    } catch (err) {
      const error = toBrokerError(err, 'internal_error', org.orgId);
      const httpStatus = (error as { httpStatus?: number }).httpStatus;
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      a.httpAttempts += (error as { attempts?: number }).attempts ?? 0;
      const failures = org.state.consecutiveFailures + 1;
      // The old token (if any) stays in the vault and in the state: a failure never overwrites it.
      const state: TokenState = {
        ...org.state,
        lastAttemptAtMs: a.startedMs,
        lastOutcome: 'failure',
        lastErrorCode: error.code,
        lastErrorClass: error.failureClass,
        consecutiveFailures: failures,
        credentialsVersionUsed: org.credentialsVersion,
      };
      state.nextAttemptAtMs = nextAttemptAfterFailure(state, clock.now(), { failureClass: error.failureClass, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, policy);
      // A lost lease means another worker owns this org now: its outcome, not ours, belongs in the registry.
      if (!tokenWritten && error.code !== 'lease_held') {
        try {
          await recordState(org, state);
        } catch (writeErr) {
          summary.stateWriteFailures++;
          telemetry.log('error', 'registry state write failed after a failed attempt', { orgId: org.orgId, errorCode: toBrokerError(writeErr, 'registry_write_failed').code });
        }
      }
      bump(summary.failed, error.code);
      telemetry.log(error.failureClass === 'permanent' ? 'error' : 'warn', 'token refresh failed', {
        orgId: org.orgId,
        region: org.region,
        reason,
        errorCode: error.code,
        errorClass: error.failureClass,
        attempt: a.httpAttempts,
        consecutiveFailures: failures,
      });
      await appendAudit({
        ...baseAudit,
        outcome: 'failure',
        durationMs: clock.now() - a.startedMs,
        attempts: a.httpAttempts,
        errorCode: error.code,
        errorClass: error.failureClass,
        ...(httpStatus !== undefined ? { httpStatus } : {}),
        message: error.message,
        ...(org.state.expiresAtMs !== undefined ? { expiresAt: new Date(org.state.expiresAtMs).toISOString() } : {}),
      }, summary);
      return { result: { orgId: org.orgId, outcome: 'failed', reason, errorCode: error.code }, state };
    }
  }

  async function examine(item: OrgRecord | string, request: SweepRequest, summary: SweepSummary): Promise<{ result?: OrgResult; org?: OrgRecord; state?: TokenState }> {
    summary.examined++;
    if (typeof item === 'string') {
      summary.skipped.notFound++;
      return { result: { orgId: item, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' } };
    }
    const org = item;
    const nowMs = clock.now();
    const decision = shouldRefresh(org, nowMs, { force: request.force ?? false });
    if (!decision.due) {
      if (decision.reason === 'disabled') summary.skipped.disabled++;
      else if (decision.reason === 'backing_off') summary.skipped.backingOff++;
      else summary.skipped.notDue++;
      return { org };
    }
    summary.due++;
    if (nowMs + (request.minTimeToStartMs ?? orgTimeBudgetMs) > request.deadlineMs) {
      summary.deferred++;
      return { org, result: { orgId: org.orgId, outcome: 'deferred', reason: 'deadline' } };
    }
    let handle: LeaseHandle | undefined;
    try {
      handle = await lease.acquire(org.orgId, owner, leaseTtlMs, nowMs);
    } catch (err) {
      // Removed between listing and now (a store that keeps the lease on the org item says so).
      if (err instanceof BrokerError && err.code === 'org_not_found') {
        summary.due--;
        summary.skipped.notFound++;
        return { result: { orgId: org.orgId, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' } };
      }
      throw err;
    }
    if (!handle) {
      summary.skipped.leaseHeld++;
      return { org, result: { orgId: org.orgId, outcome: 'skipped', reason: 'lease_held' } };
    }
    try {
      // Re-read under the lease: another worker may have refreshed this org since it was listed.
      const fresh = await registry.get(org.orgId);
      if (!fresh) {
        summary.skipped.notFound++;
        return { result: { orgId: org.orgId, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' } };
      }
      const recheck = shouldRefresh(fresh, clock.now(), { force: request.force ?? false });
      if (!recheck.due) {
        summary.due--;
        if (recheck.reason === 'disabled') summary.skipped.disabled++;
        else if (recheck.reason === 'backing_off') summary.skipped.backingOff++;
        else summary.skipped.notDue++;
        return { org: fresh };
      }
      const { result, state } = await attempt(fresh, recheck.reason, handle, request, summary);
      return { org: fresh, state, result };
    } finally {
      try {
        await lease.release(handle);
      } catch (err) {
        // An unreleased lease expires by itself after leaseTtlMs; nothing else depends on it.
        telemetry.log('warn', 'lease release failed', { orgId: org.orgId, errorCode: toBrokerError(err).code });
      }
    }
  }

  async function sweep(request: SweepRequest): Promise<SweepSummary> {
    const startedMs = clock.now();
    const summary: SweepSummary = {
      startedAt: new Date(startedMs).toISOString(),
      durationMs: 0,
      examined: 0,
      due: 0,
      refreshed: 0,
      failed: {},
      skipped: { leaseHeld: 0, notDue: 0, disabled: 0, backingOff: 0, notFound: 0 },
      deferred: 0,
      orgsAtRisk: 0,
      health: {},
      auditWriteFailures: 0,
      stateWriteFailures: 0,
      critical: 0,
      results: [],
    };
    const source = orgsToExamine(request.orgIds);
    let listingError: unknown;

    const worker = async (): Promise<void> => {
      for (;;) {
        let next: IteratorResult<OrgRecord | string>;
        try {
          next = await source.next(); // async generators queue concurrent next() calls
        } catch (err) {
          listingError ??= err;
          return;
        }
        if (next.done) return;
        let outcome: Awaited<ReturnType<typeof examine>>;
        try {
          outcome = await examine(next.value, request, summary);
        } catch (err) {
          // A failure outside an attempt (lease store down, registry read failed) still touches only this org.
          const orgId = typeof next.value === 'string' ? next.value : next.value.orgId;
          const error = toBrokerError(err, 'internal_error', orgId);
          bump(summary.failed, error.code);
          telemetry.log('error', 'org could not be examined', { orgId, errorCode: error.code });
          summary.results.push({ orgId, outcome: 'failed', reason: 'not_due', errorCode: error.code });
          continue;
        }
        const { org, state, result } = outcome;
        let health: Health | undefined;
        if (org) {
          const finalOrg = state ? { ...org, state } : org;
          const report = orgHealth(finalOrg, clock.now());
          health = report.health;
          bump(summary.health, health);
          if (health === 'at_risk' || health === 'expired') summary.orgsAtRisk++;
          if (finalOrg.enabled && report.expiresInSeconds !== undefined) {
            summary.minTokenSecondsRemaining = Math.min(summary.minTokenSecondsRemaining ?? Infinity, report.expiresInSeconds);
          }
        }
        if (result) summary.results.push(health ? { ...result, health } : result);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    summary.durationMs = clock.now() - startedMs;
    if (listingError) {
      // The registry could not be read past some page: the summary says so; callers fail loudly.
      summary.registryError = toBrokerError(listingError, 'registry_unavailable').code;
      telemetry.log('error', 'registry listing failed', { examined: summary.examined, errorCode: summary.registryError });
    }
    return summary;
  }

  return {
    sweep,
    async refreshOrg(orgId, options) {
      // One org on a caller's clock (a getter invocation): use the time there is, within the org budget.
      const summary = await sweep({ minTimeToStartMs: PERSIST_RESERVE_MS + 2_000, ...options, orgIds: [orgId] });
      const result = summary.results[0];
      if (result) return result;
      return { orgId, outcome: 'skipped', reason: summary.skipped.disabled ? 'disabled' : summary.skipped.backingOff ? 'backing_off' : 'not_due' };
    },
  };
}

function bump<K extends string>(counts: Partial<Record<K, number>>, key: K): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
