/**
 * Token lifetimes in local mode. Local mode writes tokens to a file, not to Secrets Manager, so it has
 * no versions quota to protect: its refresh policy takes the sweep interval from `scheduleSeconds` and
 * a one-minute write interval (FILE_MIN_WRITE_INTERVAL_MS). At start-up it refuses to run when an org's
 * last token is shorter than that policy supports, saying which schedule would support it.
 */
import { type BrokerPolicySettings, brokerPolicy } from '../../lambdas/core/broker-engine.js';
import { BrokerError } from '../../lambdas/core/errors.js';
import { checkTokenLifetime, describeShortLifetime } from '../../lambdas/core/policy.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { MIN_SCHEDULE_SECONDS } from './config.js';

/** The policy settings of a local broker: its schedule is the sweep interval, and tokens go to a file. */
export function localPolicySettings(input: { scheduleSeconds: number; refreshAtFraction?: number }): BrokerPolicySettings {
  return { sweepIntervalSeconds: input.scheduleSeconds, tokenStore: 'file', ...(input.refreshAtFraction !== undefined ? { refreshAtFraction: input.refreshAtFraction } : {}) };
}

/** The longest `scheduleSeconds` that supports `lifetimeMs`, or undefined when even the shortest does not. */
function longestScheduleFor(lifetimeMs: number, settings: BrokerPolicySettings): number | undefined {
  const supports = (seconds: number) => checkTokenLifetime(lifetimeMs, brokerPolicy({ ...settings, sweepIntervalSeconds: seconds })).supported;
  if (!supports(MIN_SCHEDULE_SECONDS)) return undefined;
  // Support only shrinks as the interval grows: binary search for the last interval that has it.
  let ok = MIN_SCHEDULE_SECONDS;
  let tooLong = (settings.sweepIntervalSeconds ?? ok) + 1;
  if (supports(tooLong)) return tooLong;
  while (tooLong - ok > 1) {
    const mid = ok + Math.floor((tooLong - ok) / 2);
    if (supports(mid)) ok = mid;
    else tooLong = mid;
  }
  return ok;
}

/**
 * Enabled orgs whose last token (as the registry recorded it) is shorter than the local policy
 * supports, as one `token_lifetime_too_short` error naming each org, its lifetime, the minimum and
 * the remedy; undefined when every org is fine. Orgs without a token yet are checked by their first refresh.
 */
export function checkLocalLifetimes(orgs: OrgRecord[], settings: BrokerPolicySettings): BrokerError | undefined {
  const policy = brokerPolicy(settings);
  const problems: string[] = [];
  for (const org of orgs) {
    const { issuedAtMs, expiresAtMs } = org.state;
    if (!org.enabled || issuedAtMs === undefined || expiresAtMs === undefined) continue;
    const lifetimeMs = expiresAtMs - issuedAtMs;
    if (checkTokenLifetime(lifetimeMs, policy).supported) continue;
    const longest = longestScheduleFor(lifetimeMs, settings);
    const remedy = longest === undefined ? "raise the OAuth client's token lifetime in Genesys Cloud" : `set "scheduleSeconds" to at most ${longest}, or raise the OAuth client's token lifetime in Genesys Cloud`;
    problems.push(`org ${org.orgId}: ${describeShortLifetime(lifetimeMs, policy)}; ${remedy}`);
  }
  if (problems.length === 0) return undefined;
  return new BrokerError('token_lifetime_too_short', problems.join('\n'));
}
