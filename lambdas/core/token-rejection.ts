/**
 * Reports about an org's current token that its state cannot know of, checked under the org's lease:
 *
 * - `rejected`: a consumer says Genesys rejected the token (a 401 on an API call). Tokens die before
 *   their expiry when an admin revokes the OAuth client's tokens or the token idles out, and nothing
 *   but such a report tells the broker. At most once per org per {@link REJECTION_CHECK_INTERVAL_MS},
 *   the token is asked about with GET /api/v2/tokens/me, and only when Genesys does not vouch for it
 *   is the org refreshed. The rejected token itself never comes here: the caller sends its
 *   fingerprint, and only a token the vault still holds is ever presented to Genesys.
 * - `missing`: the getter found no token in the vault although the org's state says it has one (the
 *   secret was deleted, or could not be read back): refreshed if the vault still has none.
 */
import { toBrokerError } from './errors.js';
import { fingerprint } from './fingerprint.js';
import type { GenesysOAuthClient } from './oauth.js';
import type { Clock, OrgRecord, TokenState, TokenVault, Telemetry } from './ports.js';
import { resolveRegion } from './regions.js';

/** One rejection check (and the refresh it may lead to) per org per minute. */
export const REJECTION_CHECK_INTERVAL_MS = 60_000;

/** Why a rejection report did not lead to a refresh. */
export type RejectionSkipReason =
  /** The vault holds a (different) token now: the reported one was already replaced. */
  | 'token_replaced'
  /** tokens/me answered 200 for the current token: Genesys vouches for it. */
  | 'token_valid'
  /** A check ran less than a minute ago; `retryAtMs` says when the next may. */
  | 'recently_checked';

/** What a caller reports about the org's current token. */
export type TokenReport = { kind: 'missing' } | { kind: 'rejected'; fingerprint: string };

export type RejectionVerdict = { refresh: true; org: OrgRecord } | { refresh: false; reason: RejectionSkipReason; org: OrgRecord; retryAtMs?: number };

export interface RejectionCheckDeps {
  vault: Pick<TokenVault, 'read'>;
  oauth: Pick<GenesysOAuthClient, 'verifyToken'>;
  clock: Clock;
  telemetry: Telemetry;
  /** Records the org's state under the lease the caller holds; returns the org as stored. */
  recordState(org: OrgRecord, state: TokenState): Promise<OrgRecord>;
}

/** Decides, for an org the caller holds the lease on, whether a report about its token calls for a refresh. */
export async function checkReportedToken(deps: RejectionCheckDeps, org: OrgRecord, report: TokenReport, deadlineMs: number): Promise<RejectionVerdict> {
  const { vault, oauth, clock, telemetry } = deps;
  const nowMs = clock.now();
  const lastMs = org.state.rejectionCheckedAtMs;
  if (report.kind === 'rejected' && lastMs !== undefined && nowMs - lastMs < REJECTION_CHECK_INTERVAL_MS) {
    return { refresh: false, reason: 'recently_checked', org, retryAtMs: lastMs + REJECTION_CHECK_INTERVAL_MS };
  }
  const stored = await vault.read(org.orgId);
  // No token at all: the report is right, whatever it was.
  if (!stored) return { refresh: true, org };
  if (report.kind === 'missing' || (await fingerprint(stored.accessToken)) !== report.fingerprint) return { refresh: false, reason: 'token_replaced', org };

  // Noted before Genesys is asked, so a crash or a slow answer still counts against the limit.
  let checked = org;
  try {
    checked = await deps.recordState(org, { ...org.state, rejectionCheckedAtMs: nowMs });
  } catch (err) {
    // The lease still serialises checks; only the once-a-minute limit across attempts is lost.
    telemetry.log('warn', 'rejection check could not be noted in the registry', { orgId: org.orgId, errorCode: toBrokerError(err, 'registry_write_failed').code });
  }
  try {
    await oauth.verifyToken({ orgId: org.orgId, region: resolveRegion(org.region), accessToken: stored.accessToken, deadlineMs });
    telemetry.log('info', 'reported token rejection not confirmed: Genesys vouches for the token', { orgId: org.orgId });
    return { refresh: false, reason: 'token_valid', org: checked };
  } catch (err) {
    // 401 (revoked, idled out), a wrong org, or no verdict at all: a new token is the remedy in each case.
    telemetry.log('warn', 'reported token rejection: refreshing', { orgId: org.orgId, errorCode: toBrokerError(err).code });
    return { refresh: true, org: checked };
  }
}
