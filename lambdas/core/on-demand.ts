/**
 * On-demand refreshes: the getter's way to get one org refreshed now, without holding any of the
 * refresh's privileges itself. The getter sends an {@link OnDemandRequest} (on AWS, a synchronous
 * invoke of the refresher; in local mode, a call in the same process) and reads the token from the
 * vault afterwards: the answer ({@link OnDemandResult}) never carries a token.
 *
 * The request and the answer are a wire contract between two functions that may run different
 * versions for a moment during a deployment, so both are validated where they are received.
 */
// zod/mini: the getter bundles this module, and every kilobyte there is cold-start time.
import * as z from 'zod/mini';
import type { RefreshEngine, RefreshOutcome } from './engine.js';
import { type ErrorCode, ERROR_CODES, toBrokerError, ValidationError } from './errors.js';
import { FINGERPRINT_PATTERN } from './fingerprint.js';
import type { Clock, OrgRegistry } from './ports.js';
import type { TokenReport } from './token-rejection.js';
import { isOrgId } from './token-record.js';

/** Why the getter asks: no token stored, the stored one about to expire, or Genesys rejected it. */
export type OnDemandReason = 'missing' | 'expiring' | 'rejected';

export interface OnDemandRequest {
  orgId: string;
  reason: OnDemandReason;
  /** With `rejected`: the fingerprint (fingerprint.ts) of the token Genesys rejected, never the token. */
  rejectedTokenFingerprint?: string;
  /** The getter's request id, copied into the audit record. */
  requestId?: string;
  /**
   * How long the caller waits for the answer, in milliseconds: the refresh must end within it. Relative,
   * so the two functions' clocks need not agree. @default the refresher's own remaining time
   */
  budgetMs?: number;
}

/** Longest budget an on-demand request may carry: a Lambda's maximum timeout. */
export const MAX_ON_DEMAND_BUDGET_MS = 900_000;

/**
 * - `refreshed`: a new token is in the vault.
 * - `current`: the stored token stands (not due, already replaced, or Genesys vouches for it).
 * - `busy`: another worker holds the org's lease: its token lands in the vault shortly.
 * - `recently_checked`: a rejection was checked less than a minute ago; ask again after `retryAfterSeconds`.
 * - `unavailable`: no refresh happened or it failed; `errorCode` says why (never a secret).
 */
export type OnDemandResult =
  | { orgId: string; outcome: 'refreshed'; expiresAt: string }
  | { orgId: string; outcome: 'current' | 'busy' }
  | { orgId: string; outcome: 'recently_checked'; retryAfterSeconds: number }
  | { orgId: string; outcome: 'unavailable'; errorCode: ErrorCode; message: string; retryAfterSeconds?: number };

/** Something that refreshes one org on request: the refresher Lambda (AWS) or the engine itself (local mode). */
export interface OnDemandRefresher {
  refresh(request: OnDemandRequest, context: { deadlineMs: number }): Promise<OnDemandResult>;
}

const requestSchema = z.strictObject({
  orgId: z.string().check(z.refine(isOrgId, 'must be a UUID')),
  reason: z.enum(['missing', 'expiring', 'rejected']),
  rejectedTokenFingerprint: z.optional(z.string().check(z.regex(FINGERPRINT_PATTERN, 'must be a token fingerprint (32 hex digits)'))),
  requestId: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  budgetMs: z.optional(z.int().check(z.minimum(1), z.maximum(MAX_ON_DEMAND_BUDGET_MS))),
});

/** Validates an on-demand request; `rejected` needs the fingerprint and nothing else may carry one. */
export function parseOnDemandRequest(input: unknown): OnDemandRequest {
  const parsed = requestSchema.safeParse(input);
  if (!parsed.success) {
    // zod/mini carries no message catalogue: name unknown fields ourselves (never their values).
    const problems = parsed.error.issues
      .map((i) => (i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.slice(0, 5).join(', ')}` : `${i.path.join('.') || '(root)'}: ${i.message}`))
      .slice(0, 5)
      .join('; ');
    throw new ValidationError(`invalid on-demand refresh request: ${problems}`);
  }
  const { rejectedTokenFingerprint, ...rest } = parsed.data;
  if ((rest.reason === 'rejected') !== (rejectedTokenFingerprint !== undefined)) {
    throw new ValidationError('invalid on-demand refresh request: rejectedTokenFingerprint goes with reason "rejected", and only with it', { field: 'rejectedTokenFingerprint' });
  }
  return { ...rest, orgId: rest.orgId.toLowerCase(), ...(rejectedTokenFingerprint ? { rejectedTokenFingerprint } : {}) };
}

const resultSchema = z.discriminatedUnion('outcome', [
  z.object({ orgId: z.string(), outcome: z.literal('refreshed'), expiresAt: z.string() }),
  z.object({ orgId: z.string(), outcome: z.enum(['current', 'busy']) }),
  z.object({ orgId: z.string(), outcome: z.literal('recently_checked'), retryAfterSeconds: z.int().check(z.minimum(1)) }),
  z.object({
    orgId: z.string(),
    outcome: z.literal('unavailable'),
    errorCode: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
    message: z.string().check(z.maxLength(2_000)),
    retryAfterSeconds: z.optional(z.int().check(z.minimum(1))),
  }),
]);

/** Validates the refresher's answer; anything else is `undefined` (the caller reports the refresher as broken). */
export function parseOnDemandResult(input: unknown): OnDemandResult | undefined {
  const parsed = resultSchema.safeParse(input);
  return parsed.success ? (parsed.data as OnDemandResult) : undefined;
}

const secondsUntil = (atMs: number | undefined, nowMs: number): number | undefined =>
  atMs !== undefined && atMs > nowMs && Number.isFinite(atMs) && atMs < Number.MAX_SAFE_INTEGER ? Math.ceil((atMs - nowMs) / 1000) : undefined;

/** What an engine outcome means to the getter. Pure; the one place that decides it. */
export function onDemandResult(outcome: RefreshOutcome, nowMs: number): OnDemandResult {
  const { orgId } = outcome;
  const unavailable = (errorCode: ErrorCode, message: string, retryAtMs?: number): OnDemandResult => {
    const retryAfterSeconds = secondsUntil(retryAtMs, nowMs);
    return { orgId, outcome: 'unavailable', errorCode, message, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
  };
  switch (outcome.kind) {
    case 'refreshed':
      return { orgId, outcome: 'refreshed', expiresAt: outcome.token.expiresAt };
    case 'failed':
      // A token written all the same (its rotated refresh token could not be kept) is valid: serve it.
      if (outcome.token) return { orgId, outcome: 'refreshed', expiresAt: outcome.token.expiresAt };
      return unavailable(outcome.errorCode, outcome.error.message, outcome.org?.state.nextAttemptAtMs);
    case 'deferred':
      return unavailable('deadline_exceeded', `not enough time was left to refresh org ${orgId}`);
    case 'skipped':
      switch (outcome.reason) {
        case 'lease_held':
          return { orgId, outcome: 'busy' };
        case 'not_due':
        case 'token_replaced':
        case 'token_valid':
          return { orgId, outcome: 'current' };
        case 'recently_checked':
          return { orgId, outcome: 'recently_checked', retryAfterSeconds: secondsUntil(outcome.retryAtMs, nowMs) ?? 1 };
        case 'disabled':
          return unavailable('org_disabled', `org ${orgId} is disabled`);
        case 'backing_off': {
          const state = outcome.org.state;
          return unavailable(state.lastErrorCode ?? 'token_unavailable', `org ${orgId} is backing off after ${state.consecutiveFailures} failed refreshes (last: ${state.lastErrorCode ?? 'unknown'})`, state.nextAttemptAtMs);
        }
        case 'not_found':
          return unavailable('org_not_found', `org ${orgId} is not registered`);
        case 'unreadable':
          return unavailable('registry_unavailable', `the registry entry of org ${orgId} is unreadable: ${outcome.unreadable.remedy}`);
      }
  }
}

/**
 * The engine as an {@link OnDemandRefresher}: what the refresher Lambda runs for an on-demand event,
 * and what local mode's getter calls directly. Never throws for an expected failure.
 */
export function createEngineOnDemandRefresher(deps: {
  engine: RefreshEngine;
  registry: Pick<OrgRegistry, 'get'>;
  clock: Clock;
  /** Sees every engine outcome (the refresher Lambda publishes its refresh metrics from it). */
  onOutcome?: (outcome: RefreshOutcome) => void;
}): OnDemandRefresher {
  const { engine, registry, clock } = deps;
  return {
    async refresh(request, context) {
      const { orgId } = request;
      const deadlineMs = request.budgetMs === undefined ? context.deadlineMs : Math.min(context.deadlineMs, clock.now() + request.budgetMs);
      let org;
      try {
        org = await registry.get(orgId);
      } catch (err) {
        const error = toBrokerError(err, 'registry_unavailable', orgId);
        return { orgId, outcome: 'unavailable', errorCode: error.code, message: error.message };
      }
      if (!org) return onDemandResult({ kind: 'skipped', orgId, reason: 'not_found' }, clock.now());
      const report: TokenReport | undefined =
        request.reason === 'rejected' && request.rejectedTokenFingerprint ? { kind: 'rejected', fingerprint: request.rejectedTokenFingerprint } : request.reason === 'missing' ? { kind: 'missing' } : undefined;
      const outcome = await engine.refreshOne(org, {
        trigger: 'getter',
        deadlineMs,
        ...(request.requestId ? { requestId: request.requestId } : {}),
        ...(report ? { report } : {}),
      });
      deps.onOutcome?.(outcome);
      return onDemandResult(outcome, clock.now());
    },
  };
}
