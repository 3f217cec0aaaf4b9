/**
 * The refresh engine. `refreshOne` refreshes one org the caller holds, if it is due (or forced), under
 * a per-org lease, and returns a typed outcome; `sweep` examines every org (or the ones named), calls
 * `refreshOne` for each and counts the outcomes. The same engine runs in the refresher Lambda, the
 * getter's on-demand path, the operator CLI and local mode; only the ports differ.
 *
 * This file is the I/O half: it talks to the ports in a fixed order. What an attempt's results mean
 * (new state, audit record) is decided by the pure `settleAttempt` (attempt.ts), and the sweep summary
 * is built from outcomes by `addOutcome` (sweep-summary.ts).
 */
import { type AttemptFacts, buildTokenRecord, settleAttempt } from './attempt.js';
import { BrokerError, ConflictError, toBrokerError, UnreadableRecordError } from './errors.js';
import { createRotation, credentialsChanged, RefreshTokenPersistError, type Secured } from './rotation.js';
import { attemptEvents } from './org-events.js';
import { checkReportedToken, type TokenReport } from './token-rejection.js';
import type { GenesysOAuthClient } from './oauth.js';
import { type PolicyOptions, policyOptions, type RefreshDecision, type RefreshReason, shouldRefresh } from './policy.js';
import type {
  AuditLog,
  AuditRecord,
  AuditTrigger,
  Clock,
  CredentialStore,
  Lease,
  LeaseHandle,
  OrgEventPublisher,
  OrgRecord,
  OrgRegistry,
  PendingRefreshToken,
  RefreshTokenJournal,
  Telemetry,
  TokenState,
  TokenVault,
} from './ports.js';
import { silentTelemetry } from './ports.js';
import { resolveRegion } from './regions.js';
import { allEntries, REGISTRY_PAGE_SIZE, type UnreadableEntry } from './registry-pages.js';
import { addOutcome, emptySummary, type RefreshOutcome, type SweepSummary } from './sweep-summary.js';

export type { OrgOutcome, OrgResult, RefreshOutcome, SweepSummary } from './sweep-summary.js';

export interface EngineDependencies {
  registry: OrgRegistry;
  credentials: CredentialStore;
  vault: TokenVault;
  audit: AuditLog;
  lease: Lease;
  oauth: GenesysOAuthClient;
  clock: Clock;
  /** Where rotated refresh tokens wait, write-ahead, until the credentials hold them. */
  journal: RefreshTokenJournal;
  telemetry?: Telemetry;
  /** Gets each attempt's per-org events (org-events.ts); it only queues them. @default - none published */
  events?: OrgEventPublisher;
  /** @default crypto.randomUUID */
  newId?: () => string;
  /**
   * Test-only: called after each durable step of an attempt, so a test can stop the process at an
   * exact point of a rotation and prove nothing is lost on restart. Production leaves it unset.
   */
  checkpoint?: (step: RotationStep, orgId: string) => void | Promise<void>;
}

/** The durable steps of an attempt, in order: a crash between any two loses nothing. */
export type RotationStep = 'spend_noted' | 'write_ahead' | 'credentials_written' | 'token_written' | 'state_written';

export interface EngineOptions {
  /** Orgs refreshed at once. @default 16 */
  concurrency?: number;
  policy?: Partial<PolicyOptions>;
  /** Lease lifetime; longer than one org's worst-case attempt. @default 60_000 */
  leaseTtlMs?: number;
  /** Identifies this engine instance as lease owner. @default a random id */
  owner?: string;
  /** No new org starts in a sweep unless this much time is left before its deadline. @default 30_000 */
  orgTimeBudgetMs?: number;
  /** Registry page size. @default 100 */
  pageSize?: number;
  /** Recorded in every audit item. @default '0.0.0' */
  brokerVersion?: string;
}

/** A refresh of one org. */
export interface RefreshRequest {
  /** Absolute clock time by which the work must have finished. */
  deadlineMs: number;
  /** Refresh even when not due (still under the lease, still skipping disabled orgs). */
  force?: boolean;
  trigger: AuditTrigger;
  /** Lambda request id or similar, copied into audit records. */
  requestId?: string;
  /**
   * The org is started only with at least this much time left before `deadlineMs`.
   * @default for `refreshOne`, the least one attempt needs (a caller on its own clock, such as a
   *   getter invocation, uses the time there is); for `sweep`, the engine's `orgTimeBudgetMs`
   */
  minTimeToStartMs?: number;
  /**
   * What the caller found wrong with the org's current token: Genesys rejected it (by the token's
   * fingerprint, fingerprint.ts), or the vault has none. An org that is otherwise not due is checked
   * under its lease (token-rejection.ts) and refreshed only when the report holds.
   */
  report?: TokenReport;
}

export interface SweepRequest extends RefreshRequest {
  /** Only these orgs; otherwise every org in the registry. */
  orgIds?: string[];
}

export interface RefreshEngine {
  sweep(request: SweepRequest): Promise<SweepSummary>;
  /**
   * Refreshes `org` now if it is due (or forced). `org` is the record the caller already holds; the
   * engine re-reads it once, under the lease, before it acts. Never throws: every failure is an outcome.
   */
  refreshOne(org: OrgRecord, request: RefreshRequest): Promise<RefreshOutcome>;
}

/** Time kept after a refresh_token grant's answer to make the rotated refresh token durable. */
const PERSIST_RESERVE_MS = 5_000;
/** Time the credentials write of a token the journal already holds may take before the attempt moves on. */
const MIRROR_BUDGET_MS = 2_000;
/**
 * How long after a lease runs out nobody may take it over: a holder's last write (one SDK call,
 * bounded by the clients' timeouts and retries, or a file write) may still be landing. Together with
 * attempts that end inside their lease, a second worker never presents a refresh token the first
 * may still be replacing.
 */
export const LEASE_TAKEOVER_GRACE_MS = 30_000;
/** The least time one attempt is started with: the persist reserve and a couple of seconds of HTTP. */
export const MIN_TIME_FOR_ONE_REFRESH_MS = PERSIST_RESERVE_MS + 2_000;

const NO_EFFECTS = Object.freeze({ auditWriteFailed: false, stateWriteFailed: false });

/**
 * A report about the token is looked into only for an org that is otherwise fine and not due; a due
 * org is refreshed anyway, and a disabled or backing-off one stays as it is.
 */
function checksReport(report: TokenReport | undefined, decision: RefreshDecision): report is TokenReport {
  return report !== undefined && !decision.due && decision.reason === 'not_due';
}

export function createRefreshEngine(deps: EngineDependencies, options: EngineOptions = {}): RefreshEngine {
  const { registry, credentials, vault, audit, lease, oauth, clock } = deps;
  const telemetry = deps.telemetry ?? silentTelemetry;
  const rotation = createRotation({ credentials, journal: deps.journal, clock, telemetry });
  const checkpoint = async (step: RotationStep, orgId: string) => deps.checkpoint?.(step, orgId);
  const newId = deps.newId ?? (() => globalThis.crypto.randomUUID());
  const policy = policyOptions(options.policy);
  const concurrency = options.concurrency ?? 16;
  const leaseTtlMs = options.leaseTtlMs ?? 60_000;
  const owner = options.owner ?? `engine-${newId()}`;
  const orgTimeBudgetMs = options.orgTimeBudgetMs ?? 30_000;
  const pageSize = options.pageSize ?? REGISTRY_PAGE_SIZE;
  const brokerVersion = options.brokerVersion ?? '0.0.0';
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new BrokerError('invalid_config', `concurrency must be an integer from 1 to 256, got ${String(concurrency)}`);
  }

  /** An org to examine, an org id the registry does not know, one it could not read, or one it could not be asked about. */
  type Item = OrgRecord | UnreadableEntry | { orgId: string; missing: true } | { orgId: string; error: unknown };

  async function* orgsToExamine(orgIds?: string[]): AsyncGenerator<Item> {
    if (orgIds) {
      // The same org twice would race itself under one lease owner and spend a refresh token twice.
      for (const orgId of new Set(orgIds.map((id) => id.toLowerCase()))) {
        try {
          yield (await registry.get(orgId)) ?? { orgId, missing: true };
        } catch (error) {
          yield error instanceof UnreadableRecordError ? { orgId, unreadable: error.unreadable } : { orgId, error };
        }
      }
      return;
    }
    yield* allEntries(registry, pageSize);
  }

  /** Orgs whose stored token cannot be read, for vaults that can tell; none when the vault cannot say. */
  async function unreadableTokens(): Promise<ReadonlySet<string>> {
    if (!vault.listUnreadable) return new Set();
    try {
      const found = await vault.listUnreadable();
      for (const entry of found) telemetry.log('warn', 'stored token unreadable: it reads as missing, and the sweep refreshes the org unless it is disabled or backing off', { orgId: entry.orgId, problem: entry.problem, location: entry.location });
      return new Set(found.map((entry) => entry.orgId.toLowerCase()));
    } catch (err) {
      // Only an optimisation of when those orgs refresh: the sweep goes on without it.
      telemetry.log('warn', 'unreadable tokens could not be listed', { errorCode: toBrokerError(err, 'token_unavailable').code });
      return new Set();
    }
  }

  /** Extends the org's lease (fenced); a lost lease ends the attempt before it does anything more. */
  async function renewLease(handle: LeaseHandle, orgId: string, when: string): Promise<void> {
    const renewed = await lease.renew(handle, leaseTtlMs, clock.now());
    if (!renewed) throw new ConflictError('lease_held', `lease on org ${orgId} was lost ${when}`, { orgId });
    handle.expiresAtMs = renewed.expiresAtMs;
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

  /** Appends an audit record; false when it could not be written (the refresh itself stands). */
  async function appendAudit(record: AuditRecord): Promise<boolean> {
    try {
      await audit.append(record);
      return true;
    } catch (err) {
      telemetry.log('error', 'audit write failed', { orgId: record.orgId, attemptId: record.attemptId, errorCode: toBrokerError(err, 'audit_write_failed').code });
      return false;
    }
  }

  /** Runs one attempt on `org` (read under `handle`) and gathers its facts; never throws. */
  async function runAttempt(org: OrgRecord, reason: RefreshReason, handle: LeaseHandle, request: RefreshRequest): Promise<AttemptFacts> {
    const startedMs = clock.now();
    const facts: AttemptFacts = {
      org,
      reason,
      attemptId: newId(),
      startedMs,
      finishedMs: startedMs,
      trigger: request.trigger,
      brokerVersion,
      httpAttempts: 0,
      ...(request.requestId ? { requestId: request.requestId } : {}),
    };
    // Every step, the spend of a refresh token included, ends well inside the lease.
    const orgDeadline = Math.min(request.deadlineMs, startedMs + orgTimeBudgetMs, handle.expiresAtMs - PERSIST_RESERVE_MS);
    try {
      const region = resolveRegion(org.region);
      let current = await credentials.readCurrent(org);
      let refreshToken = current.credentials.refreshToken;
      let secured: Secured | undefined;
      let rotated: PendingRefreshToken | undefined;
      let spending = false;
      if (org.grantType === 'refresh_token') {
        ({ current, refreshToken } = await rotation.resume(org, current, handle));
        // Renewed (fenced) right before the spend: nobody else can take the org and present the same
        // token while this attempt may still be writing the rotated one.
        await renewLease(handle, org.orgId, 'before spending its refresh token');
        if (refreshToken) {
          await rotation.beginSpend(org, current, handle, facts.attemptId, refreshToken, orgDeadline);
          spending = true;
          await checkpoint('spend_noted', org.orgId);
        }
      }
      const clientCredentials = { ...current.credentials, ...(refreshToken ? { refreshToken } : {}) };
      // A refresh_token grant spends the stored refresh token: keep time after the answer to persist
      // the rotated one before the caller's deadline (a Lambda timeout would lose it).
      const tokenDeadline = org.grantType === 'refresh_token' ? orgDeadline - PERSIST_RESERVE_MS : orgDeadline;
      let granted;
      try {
        granted = await oauth.requestToken({
          orgId: org.orgId,
          region,
          grantType: org.grantType,
          credentials: clientCredentials,
          deadlineMs: tokenDeadline,
          onRefreshToken: async (token) => {
            rotated = { kind: 'received', refreshToken: token, attemptId: facts.attemptId, atMs: clock.now(), clientId: current.credentials.clientId, credentialsVersion: org.credentialsVersion };
            secured = await rotation.secure(org, current, handle, rotated, orgDeadline);
            await checkpoint('write_ahead', org.orgId);
          },
        });
      } catch (err) {
        // Refused before Genesys spent anything: the noted spend is over. An unknown outcome stays noted.
        if (spending && !rotated && !(err instanceof BrokerError && err.code === 'refresh_outcome_unknown')) await rotation.endSpend(org, handle, facts.attemptId);
        throw err;
      }
      // A grant without a new refresh token leaves the presented one valid: nothing to keep noted.
      if (spending && !rotated) await rotation.endSpend(org, handle, facts.attemptId);
      facts.httpAttempts += granted.attempts;
      facts.httpStatus = granted.httpStatus;
      const grant = granted.value;
      if (rotated && secured) {
        if (secured.kind === 'lost') {
          facts.persistError = new RefreshTokenPersistError(org.orgId, secured.error);
          telemetry.log('critical', 'rotated refresh token could not be persisted; re-authorize this org', { orgId: org.orgId, attemptId: facts.attemptId });
        } else if (secured.kind === 'changed') {
          throw credentialsChanged(org.orgId);
        } else if (secured.kind === 'journal') {
          // The journal holds it, so a failing credentials store gets a few tries, not the whole budget.
          const settled = await rotation.settle(org, current, handle, rotated, Math.min(orgDeadline, clock.now() + MIRROR_BUDGET_MS));
          if (settled === 'written') await checkpoint('credentials_written', org.orgId);
        } else {
          await checkpoint('credentials_written', org.orgId);
        }
      }
      const verified = await oauth.verifyToken({ orgId: org.orgId, region, accessToken: grant.accessToken, deadlineMs: orgDeadline });
      facts.httpAttempts += verified.attempts;
      const record = buildTokenRecord({
        orgId: org.orgId,
        region,
        accessToken: grant.accessToken,
        expiresInSeconds: grant.expiresInSeconds,
        issuedAtMs: startedMs,
        info: verified.value,
        clientId: current.credentials.clientId,
        policy,
      });
      // The lease guards the write: if it lapsed (a very slow attempt), another worker may be writing.
      if (clock.now() > handle.expiresAtMs - leaseTtlMs / 2) await renewLease(handle, org.orgId, 'before the token write');
      try {
        await vault.write(record, { attemptId: facts.attemptId, firstWrite: org.state.issuedAtMs === undefined });
      } catch (err) {
        throw toBrokerError(err, 'vault_write_failed', org.orgId);
      }
      facts.written = { record, info: verified.value, expiresInSeconds: grant.expiresInSeconds };
      await checkpoint('token_written', org.orgId);
    } catch (err) {
      const error = toBrokerError(err, 'internal_error', org.orgId);
      facts.httpAttempts += (error as { attempts?: number }).attempts ?? 0;
      facts.error = error;
    }
    facts.finishedMs = clock.now();
    return facts;
  }

  /** Runs an attempt, then records its state, logs it and audits it. */
  async function attempt(org: OrgRecord, reason: RefreshReason, handle: LeaseHandle, request: RefreshRequest): Promise<RefreshOutcome> {
    const facts = await runAttempt(org, reason, handle, request);
    const settled = settleAttempt(facts, policy);
    let after: OrgRecord = { ...org, state: settled.state };
    let stateWriteFailed = false;
    if (settled.recordState) {
      try {
        after = await recordState(org, settled.state);
        await checkpoint('state_written', org.orgId);
      } catch (err) {
        stateWriteFailed = true;
        const when = facts.written ? 'after the token was stored' : 'after a failed attempt';
        telemetry.log('error', `registry state write failed ${when}`, { orgId: org.orgId, errorCode: toBrokerError(err, 'registry_write_failed').code });
      }
    }
    if (settled.log) telemetry.log(settled.log.level, settled.log.message, settled.log.fields);
    const effects = { auditWriteFailed: !(await appendAudit(settled.audit)), stateWriteFailed };
    deps.events?.publish(attemptEvents(org, settled));
    if (settled.outcome === 'refreshed' && facts.written) {
      return { kind: 'refreshed', orgId: org.orgId, reason, token: facts.written.record, org: after, effects };
    }
    const error = settled.error ?? facts.error!;
    return {
      kind: 'failed',
      orgId: org.orgId,
      reason,
      errorCode: error.code,
      error,
      critical: settled.critical,
      org: after,
      ...(facts.written ? { token: facts.written.record } : {}),
      effects,
    };
  }

  /** A failure outside an attempt (the lease store or the registry read failed): it touches only this org. */
  function failedBeforeAttempt(org: OrgRecord, reason: RefreshReason, err: unknown): RefreshOutcome {
    const error = toBrokerError(err, 'internal_error', org.orgId);
    telemetry.log('error', 'org could not be examined', { orgId: org.orgId, errorCode: error.code });
    return { kind: 'failed', orgId: org.orgId, reason, errorCode: error.code, error, critical: false, effects: NO_EFFECTS };
  }

  /** Orgs a refreshOne of this engine is working on. */
  const inProgress = new Set<string>();

  async function refreshOne(org: OrgRecord, request: RefreshRequest): Promise<RefreshOutcome> {
    const force = request.force ?? false;
    const nowMs = clock.now();
    const decision = shouldRefresh(org, nowMs, policy, { force });
    if (!decision.due && !checksReport(request.report, decision)) return { kind: 'skipped', orgId: org.orgId, reason: decision.reason, org };
    const reason: RefreshReason = decision.due ? decision.reason : request.report!.kind;
    if (nowMs + (request.minTimeToStartMs ?? MIN_TIME_FOR_ONE_REFRESH_MS) > request.deadlineMs) {
      return { kind: 'deferred', orgId: org.orgId, reason: 'deadline', org };
    }
    // The lease lets its own owner back in (a restarted worker resumes at once), so two calls of this
    // engine for one org must not both reach it: the second would take over the first's lease.
    if (inProgress.has(org.orgId)) return { kind: 'skipped', orgId: org.orgId, reason: 'lease_held', org };
    inProgress.add(org.orgId);
    try {
      return await refreshLeased(org, request, reason, force, nowMs);
    } finally {
      inProgress.delete(org.orgId);
    }
  }

  async function refreshLeased(org: OrgRecord, request: RefreshRequest, reason: RefreshReason, force: boolean, nowMs: number): Promise<RefreshOutcome> {
    const { report } = request;
    let handle: LeaseHandle | undefined;
    try {
      handle = await lease.acquire(org.orgId, owner, leaseTtlMs, nowMs, LEASE_TAKEOVER_GRACE_MS);
    } catch (err) {
      // Removed between listing and now (a store that keeps the lease on the org item says so).
      if (err instanceof BrokerError && err.code === 'org_not_found') return { kind: 'skipped', orgId: org.orgId, reason: 'not_found' };
      return failedBeforeAttempt(org, reason, err);
    }
    if (!handle) return { kind: 'skipped', orgId: org.orgId, reason: 'lease_held', org };
    try {
      // Re-read under the lease: another worker may have refreshed this org since it was listed.
      let fresh: OrgRecord | undefined;
      try {
        fresh = await registry.get(org.orgId);
      } catch (err) {
        return failedBeforeAttempt(org, reason, err);
      }
      if (!fresh) return { kind: 'skipped', orgId: org.orgId, reason: 'not_found' };
      const recheck = shouldRefresh(fresh, clock.now(), policy, { force });
      if (checksReport(report, recheck)) {
        let verdict;
        try {
          verdict = await checkReportedToken({ vault, oauth, clock, telemetry, recordState }, fresh, report, request.deadlineMs);
        } catch (err) {
          return failedBeforeAttempt(fresh, report.kind, err);
        }
        if (!verdict.refresh) return { kind: 'skipped', orgId: org.orgId, reason: verdict.reason, org: verdict.org, ...(verdict.retryAtMs !== undefined ? { retryAtMs: verdict.retryAtMs } : {}) };
        return await attempt(verdict.org, report.kind, handle, request);
      }
      if (!recheck.due) return { kind: 'skipped', orgId: org.orgId, reason: recheck.reason, org: fresh };
      return await attempt(fresh, recheck.reason, handle, request);
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
    const { orgIds, ...each } = request;
    const summary = emptySummary(startedMs, orgIds ? 'all' : 'problems');
    const perOrg: RefreshRequest = { ...each, minTimeToStartMs: request.minTimeToStartMs ?? orgTimeBudgetMs };
    const source = orgsToExamine(orgIds);
    const lostTokens = await unreadableTokens();
    let listingError: unknown;

    const examine = async (item: Item): Promise<RefreshOutcome> => {
      if ('missing' in item) return { kind: 'skipped', orgId: item.orgId, reason: 'not_found' };
      if ('unreadable' in item) {
        const { problem, location, remedy } = item.unreadable;
        telemetry.log('warn', 'org registry entry unreadable; skipped', { orgId: item.orgId, errorCode: 'registry_unavailable', problem, location, remedy });
        return { kind: 'skipped', orgId: item.orgId, reason: 'unreadable', unreadable: item.unreadable };
      }
      if ('error' in item) {
        const error = toBrokerError(item.error, 'registry_unavailable', item.orgId);
        telemetry.log('error', 'org could not be examined', { orgId: item.orgId, errorCode: error.code });
        return { kind: 'failed', orgId: item.orgId, reason: 'unexamined', errorCode: error.code, error, critical: false, effects: NO_EFFECTS };
      }
      // The registry says the token is good, but the store has lost it: refresh now, not at the
      // refresh mark. Only an org that is merely not due yet; backoff and disabled still hold.
      if (lostTokens.has(item.orgId.toLowerCase()) && shouldRefresh(item, clock.now(), policy).reason === 'not_due') {
        return refreshOne(item, { ...perOrg, force: true });
      }
      return refreshOne(item, perOrg);
    };

    const worker = async (): Promise<void> => {
      for (;;) {
        let next: IteratorResult<Item>;
        try {
          next = await source.next(); // async generators queue concurrent next() calls
        } catch (err) {
          listingError ??= err;
          return;
        }
        if (next.done) return;
        addOutcome(summary, await examine(next.value), clock.now());
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

  return { sweep, refreshOne };
}
