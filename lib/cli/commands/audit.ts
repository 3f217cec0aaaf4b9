/**
 * `audit`: an org's refresh attempts, newest first, or failures across all orgs. Audit records hold
 * no secrets by construction (the adapters reject unknown fields), so they are printed as stored.
 */
import type { AuditRecord } from '../../../lambdas/core/ports.js';
import { BIN, type CommandSpec, flag, stringValue } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { formatDuration, parseSince, renderTable, shortIso, truncate } from '../format.js';
import { parseOrgId } from './orgs.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
/** Look-back of a cross-org failure listing when `--since` is not given. */
const DEFAULT_FAILURES_SINCE = '24h';

const spec: CommandSpec = {
  name: 'audit',
  summary: "an org's refresh attempts (newest first), or recent failures across all orgs",
  usage: '--org <uuid> [--since 24h|7d|<ISO time>] [--failures] [--limit <n>] [--json] <target>',
  target: true,
  readOnly: true,
  options: {
    org: { type: 'string', valueName: '<uuid>', description: 'the org; leave out with --failures to list failures of every org' },
    since: { type: 'string', valueName: '<when>', description: 'only attempts since then: 30m, 24h, 7d, 2w, or an ISO-8601 time' },
    failures: { type: 'boolean', description: 'only failed attempts' },
    limit: { type: 'string', valueName: '<n>', description: `at most n records (default ${DEFAULT_LIMIT}, max ${MAX_LIMIT})` },
    json: { type: 'boolean', description: 'print the records as JSON' },
  },
  details: `Audit records survive 'orgs remove' until their retention ends (90 days by default).
Without --org, --failures lists failures across all orgs since --since (default ${DEFAULT_FAILURES_SINCE}).`,
  examples: [`${BIN} audit --stack my-broker --org 3f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33 --since 7d --failures`],
};

function parseLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_LIMIT) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`);
  return Number(value);
}

function rows(records: AuditRecord[], withOrg: boolean): string[][] {
  return records.map((r) => [
    ...(withOrg ? [r.orgId] : []),
    shortIso(Date.parse(r.at)),
    r.outcome,
    r.trigger,
    r.reason,
    r.errorCode ?? '-',
    r.httpStatus === undefined ? '-' : String(r.httpStatus),
    String(r.attempts),
    formatDuration(r.durationMs).replace(/^0s$/, `${r.durationMs}ms`),
    r.outcome === 'success' ? (r.expiresAt ? `expires ${shortIso(Date.parse(r.expiresAt))}` : '') : truncate(r.message ?? '', 100),
  ]);
}

async function run(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  const rawOrg = stringValue(values, 'org');
  const orgId = rawOrg === undefined ? undefined : parseOrgId(rawOrg, '--org');
  const failuresOnly = flag(values, 'failures');
  if (!orgId && !failuresOnly) throw new UsageError('audit needs --org <uuid> (or --failures alone, for failures across all orgs)');
  const limit = parseLimit(stringValue(values, 'limit'));
  const now = io.now();
  const since = stringValue(values, 'since');
  const sinceMs = since === undefined ? undefined : parseSince(since, now);
  const backend = await ctx.backend();
  const records = orgId
    ? await backend.audit.query(orgId, { ...(sinceMs !== undefined ? { sinceMs } : {}), failuresOnly, limit })
    : await backend.audit.listFailures({ sinceMs: sinceMs ?? parseSince(DEFAULT_FAILURES_SINCE, now), untilMs: now, limit });
  if (flag(values, 'json')) {
    io.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    return EXIT.ok;
  }
  if (records.length === 0) {
    io.stdout.write(`No ${failuresOnly ? 'failed ' : ''}attempts${orgId ? ` for org ${orgId}` : ''}${since ? ` since ${since}` : ''}.\n`);
    return EXIT.ok;
  }
  const header = [...(orgId ? [] : ['ORG']), 'TIME', 'OUTCOME', 'TRIGGER', 'REASON', 'ERROR', 'HTTP', 'TRIES', 'TOOK', 'DETAIL'];
  io.stdout.write(renderTable(header, rows(records, !orgId)));
  if (records.length === limit) io.stdout.write(`(first ${limit} shown; --limit raises it)\n`);
  return EXIT.ok;
}

export const AUDIT_COMMAND: Command = { spec, run };
