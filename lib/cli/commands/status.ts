/**
 * `status`: one row per org with its health (core policy's orgHealth), token age, time to expiry,
 * next refresh and last error, from the registry alone (no secret is read).
 */
import type { ErrorCode } from '../../../lambdas/core/errors.js';
import { DEFAULT_POLICY, type Health, nextRefreshAt, orgHealth, type PolicyOptions } from '../../../lambdas/core/policy.js';
import type { OrgRecord, UnreadableOrg } from '../../../lambdas/core/ports.js';
import { findRegion } from '../../../lambdas/core/regions.js';
import { BIN, type CommandSpec, flag } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { formatDuration, renderTable, unreadableNotes } from '../format.js';
import { sortedOrgsAndUnreadable } from './orgs.js';

/**
 * The policy's health of an org, or `corrupt`: its registry record cannot be read, so there is nothing
 * for the policy to judge and no token is served until an operator restores or replaces it.
 */
export type StatusHealth = Health | 'corrupt';

/** Health values that fail `status --fail-on-unhealthy`. */
export const UNHEALTHY: ReadonlySet<StatusHealth> = new Set(['failing', 'at_risk', 'expired', 'corrupt']);

/** One org's status, as the table and `--json` show it. */
export interface StatusRow {
  orgId: string;
  label?: string;
  /** Region key when known (`eu-west-1`), else the stored domain. */
  region: string;
  enabled: boolean;
  health: Health;
  issuedAt?: string;
  expiresAt?: string;
  tokenAgeSeconds?: number;
  expiresInSeconds?: number;
  /** When the next attempt is planned: the refresh mark, or the retry time while backing off. */
  nextRefreshAt?: string;
  nextRefreshKind: 'scheduled' | 'retry' | 'due' | 'none';
  lastOutcome?: 'success' | 'failure';
  lastErrorCode?: ErrorCode;
  consecutiveFailures: number;
}

/** An org whose registry record cannot be read, as the table and `--json` show it. */
export interface CorruptStatusRow {
  orgId: string;
  health: 'corrupt';
  lastErrorCode: 'registry_unavailable';
  /** What is wrong (no values), where the record is, and what to do. */
  problem: string;
  location: string;
  remedy: string;
}

export function corruptStatusRow(entry: UnreadableOrg): CorruptStatusRow {
  return { orgId: entry.orgId, health: 'corrupt', lastErrorCode: 'registry_unavailable', problem: entry.problem, location: entry.location, remedy: entry.remedy };
}

/** A corrupt row's cells: nothing is known but the org id; the notes under the table say the rest. */
export function corruptStatusCells(row: CorruptStatusRow): string[] {
  return [row.orgId, '-', '-', row.health, '-', '-', '-', `${row.lastErrorCode} (see below)`];
}

/** Builds an org's status row at `nowMs`; the next refresh is the policy's own answer (`nextRefreshAt`). */
export function statusRow(org: OrgRecord, nowMs: number, policy: PolicyOptions): StatusRow {
  const s = org.state;
  const report = orgHealth(org, nowMs);
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const next = nextRefreshAt(org, nowMs, policy);
  const nextRefreshKind = next.kind;
  // "due" means now: the row says so without a time.
  const nextRefreshAtMs = next.kind === 'retry' || next.kind === 'scheduled' ? next.atMs : undefined;
  const row: StatusRow = {
    orgId: org.orgId,
    region: findRegion(org.region)?.key ?? org.region,
    enabled: org.enabled,
    health: report.health,
    nextRefreshKind,
    consecutiveFailures: s.consecutiveFailures,
  };
  if (org.label) row.label = org.label;
  if (s.issuedAtMs !== undefined) {
    row.issuedAt = iso(s.issuedAtMs)!;
    row.tokenAgeSeconds = Math.floor((nowMs - s.issuedAtMs) / 1000);
  }
  if (s.expiresAtMs !== undefined) {
    row.expiresAt = iso(s.expiresAtMs)!;
    row.expiresInSeconds = Math.floor((s.expiresAtMs - nowMs) / 1000);
  }
  if (nextRefreshAtMs !== undefined) row.nextRefreshAt = iso(nextRefreshAtMs)!;
  if (s.lastOutcome) row.lastOutcome = s.lastOutcome;
  if (s.lastOutcome === 'failure' && s.lastErrorCode) row.lastErrorCode = s.lastErrorCode;
  return row;
}

/** The row's cells: `17h 59m`, `expired 5m 2s ago`, `retry in 4m 0s`, `due`. */
export function statusCells(row: StatusRow, nowMs: number): string[] {
  const age = row.tokenAgeSeconds === undefined ? '-' : formatDuration(row.tokenAgeSeconds * 1000);
  const expires = row.expiresInSeconds === undefined ? '-' : row.expiresInSeconds > 0 ? formatDuration(row.expiresInSeconds * 1000) : `expired ${formatDuration(row.expiresInSeconds * 1000)} ago`;
  let next = '-';
  if (row.nextRefreshKind === 'due') next = 'due now';
  else if (row.nextRefreshAt) {
    const delta = Date.parse(row.nextRefreshAt) - nowMs;
    const prefix = row.nextRefreshKind === 'retry' ? 'retry ' : '';
    next = delta > 0 ? `${prefix}in ${formatDuration(delta)}` : `${prefix}due now`;
  }
  const lastError = row.lastErrorCode ? `${row.lastErrorCode}${row.consecutiveFailures > 1 ? ` (${row.consecutiveFailures} in a row)` : ''}` : '-';
  return [row.orgId, row.label ?? '-', row.region, row.health, age, expires, next, lastError];
}

const spec: CommandSpec = {
  name: 'status',
  summary: 'health of every org: token age, expiry, next refresh, last error',
  usage: '[--json] [--fail-on-unhealthy] <target>',
  target: true,
  readOnly: true,
  options: {
    json: { type: 'boolean', description: 'print the rows as JSON' },
    'fail-on-unhealthy': { type: 'boolean', description: 'exit 1 when any org is failing, at_risk, expired or corrupt (for cron and CI checks)' },
  },
  details: `Health (from the refresh policy):
  healthy      token valid and not yet at its refresh mark
  refresh_due  past the refresh mark (or never issued) and no failure yet: the next sweep refreshes it
  at_risk      the last attempt failed and the token is past its refresh mark
  failing      the last attempt failed permanently (bad credentials, wrong org): needs an operator
  expired      no valid token
  disabled     turned off with 'orgs disable'
  corrupt      its registry record cannot be read (a damaged file in local mode): no token is served;
               the notes under the table say where it is and what to do`,
};

async function run(ctx: CommandContext): Promise<number> {
  const backend = await ctx.backend();
  const now = ctx.io.now();
  // The engine stores each token's refresh mark in the registry, so the policy's fraction matters only
  // for records without one; the CLI cannot read the deployment's setting and uses the default.
  const { orgs, unreadable } = await sortedOrgsAndUnreadable(backend.registry);
  const rows = orgs.map((org) => statusRow(org, now, DEFAULT_POLICY));
  const corrupt = unreadable.map(corruptStatusRow);
  const all: (StatusRow | CorruptStatusRow)[] = [...rows, ...corrupt];
  if (flag(ctx.values, 'json')) {
    ctx.io.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  } else if (all.length === 0) {
    ctx.io.stdout.write(`No orgs registered in ${backend.description}. Add one with '${BIN} orgs add'.\n`);
  } else {
    ctx.io.stdout.write(renderTable(['ORG', 'LABEL', 'REGION', 'HEALTH', 'TOKEN AGE', 'EXPIRES IN', 'NEXT REFRESH', 'LAST ERROR'], [...rows.map((r) => statusCells(r, now)), ...corrupt.map(corruptStatusCells)]));
    const counts = new Map<StatusHealth, number>();
    for (const r of all) counts.set(r.health, (counts.get(r.health) ?? 0) + 1);
    ctx.io.stdout.write(`${all.length} org${all.length === 1 ? '' : 's'}: ${[...counts].map(([h, n]) => `${n} ${h}`).join(', ')}\n`);
    ctx.io.stdout.write(unreadableNotes(unreadable));
  }
  const unhealthy = all.filter((r) => UNHEALTHY.has(r.health));
  if (flag(ctx.values, 'fail-on-unhealthy') && unhealthy.length > 0) {
    ctx.io.stderr.write(`error: ${unhealthy.length} org${unhealthy.length === 1 ? ' is' : 's are'} unhealthy: ${unhealthy.map((r) => `${r.orgId} (${r.health})`).join(', ')}\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}

export const STATUS_COMMAND: Command = { spec, run };
