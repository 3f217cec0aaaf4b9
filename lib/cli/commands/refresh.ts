/**
 * `refresh`: one sweep, now. A deployed stack (or `--refresher-function`) runs it in the refresher
 * Lambda, so it happens with the Lambda's role and code; other targets run the engine in-process.
 */
import type { OrgResult, SweepSummary } from '../../../lambdas/core/engine.js';
import { BIN, type CommandSpec, flag, listValue } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { formatRelative, renderTable } from '../format.js';
import { parseOrgId } from './orgs.js';

const spec: CommandSpec = {
  name: 'refresh',
  summary: 'refresh tokens now: the orgs that are due, or the ones named',
  usage: '[--org <uuid> ...] [--force] [--json] <target>',
  target: true,
  options: {
    org: { type: 'string', multiple: true, valueName: '<uuid>', description: 'only this org (repeatable); default every org' },
    force: { type: 'boolean', description: 'refresh even when not due, and past any backoff (disabled orgs are still skipped)' },
    json: { type: 'boolean', description: 'print the sweep summary as JSON' },
  },
  details: `With --stack (or --refresher-function) the refresher Lambda is invoked synchronously with
{"orgIds":[...],"force":true} and its summary printed. With explicit tables or --local the same engine
runs in this process against the same stores. Progress goes to stderr, the summary to stdout.
Exit 1 when any org failed or its registry record cannot be read, 4 when a named org is not registered.`,
  examples: [`${BIN} refresh --stack my-broker`, `${BIN} refresh --stack my-broker --org 3f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33 --force`],
};

/** One line that says what a sweep did. */
export function summaryLine(summary: SweepSummary): string {
  const failed = Object.entries(summary.failed).filter(([, n]) => (n ?? 0) > 0);
  const failedTotal = failed.reduce((a, [, n]) => a + (n ?? 0), 0);
  const skipped = summary.skipped;
  const parts = [
    `examined ${summary.examined}`,
    `due ${summary.due}`,
    `refreshed ${summary.refreshed}`,
    `failed ${failedTotal}${failed.length ? ` (${failed.map(([code, n]) => `${code}: ${n}`).join(', ')})` : ''}`,
    `not due ${skipped.notDue}`,
    ...(skipped.backingOff ? [`backing off ${skipped.backingOff}`] : []),
    ...(skipped.disabled ? [`disabled ${skipped.disabled}`] : []),
    ...(skipped.leaseHeld ? [`busy elsewhere ${skipped.leaseHeld}`] : []),
    ...(skipped.notFound ? [`not registered ${skipped.notFound}`] : []),
    // A summary from an older refresher Lambda has no such counter.
    ...(skipped.unreadable ? [`unreadable ${skipped.unreadable}`] : []),
    ...(summary.deferred ? [`deferred ${summary.deferred}`] : []),
  ];
  return `${parts.join(', ')}; took ${(summary.durationMs / 1000).toFixed(1)} s`;
}

function resultRows(results: OrgResult[], nowMs: number): string[][] {
  return results.map((r) => [
    r.orgId,
    r.outcome,
    r.reason,
    r.errorCode ?? '-',
    r.expiresAt ? formatRelative(Date.parse(r.expiresAt), nowMs) : '-',
    r.health ?? '-',
  ]);
}

/**
 * Exit code for a sweep: any failure, or an org whose registry record cannot be read, is 1; otherwise
 * a named org that is not registered is 4.
 */
export function sweepExitCode(summary: SweepSummary): number {
  const failed = Object.values(summary.failed).some((n) => (n ?? 0) > 0);
  if (failed || summary.registryError || summary.critical > 0 || (summary.skipped.unreadable ?? 0) > 0) return EXIT.failed;
  if (summary.results.some((r) => r.reason === 'not_found')) return EXIT.notFound;
  return EXIT.ok;
}

async function run(ctx: CommandContext): Promise<number> {
  const orgIds = listValue(ctx.values, 'org').map((id) => parseOrgId(id, '--org'));
  const force = flag(ctx.values, 'force');
  const backend = await ctx.backend();
  const scope = orgIds.length ? `${orgIds.length} org${orgIds.length === 1 ? '' : 's'}` : 'every org';
  ctx.progress(`Refreshing ${scope}${force ? ' (forced)' : ''} in ${backend.description} via ${backend.refreshVia}...`);
  const summary = await backend.refresh({ ...(orgIds.length ? { orgIds: [...new Set(orgIds)] } : {}), force });
  if (flag(ctx.values, 'json')) {
    ctx.io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    ctx.io.stdout.write(`Sweep via ${backend.refreshVia}: ${summaryLine(summary)}\n`);
    if (summary.results.length > 0) {
      ctx.io.stdout.write(renderTable(['ORG', 'OUTCOME', 'REASON', 'ERROR', 'EXPIRES', 'HEALTH'], resultRows(summary.results, ctx.io.now())));
    }
    if (summary.registryError) ctx.io.stdout.write(`The registry could not be read to the end (${summary.registryError}); later orgs were not examined.\n`);
    if (summary.critical > 0) ctx.io.stdout.write(`${summary.critical} critical event(s): a rotated refresh token could not be saved; re-authorize those orgs.\n`);
    if (summary.skipped.unreadable) ctx.io.stdout.write(`${summary.skipped.unreadable} org(s) could not be read from the registry and were skipped; '${BIN} status' says where and what to do.\n`);
  }
  const code = sweepExitCode(summary);
  if (code === EXIT.failed) {
    const failed = Object.values(summary.failed).some((n) => (n ?? 0) > 0) || summary.registryError !== undefined || summary.critical > 0;
    if (failed) ctx.io.stderr.write(`error: some refreshes failed; '${BIN} status' and '${BIN} audit --org <id> --failures' show why\n`);
    if (summary.skipped.unreadable) ctx.io.stderr.write(`error: some orgs could not be read from the registry; '${BIN} status' shows them as corrupt\n`);
  }
  if (code === EXIT.notFound) ctx.io.stderr.write('error: some named orgs are not registered\n');
  return code;
}

export const REFRESH_COMMAND: Command = { spec, run };
