/**
 * Output helpers: human durations (`17h 59m`), relative times, `--since` parsing and plain-text
 * tables. Pure functions of their arguments; `now` is always passed in.
 */
import type { UnreadableOrg } from '../../lambdas/core/ports.js';
import { UsageError } from './exit-codes.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A duration in the two largest units that matter: `2d 3h`, `17h 59m`, `4m 5s`, `42s`. Negative
 * durations are formatted by magnitude; callers say "ago" or "overdue". Rounds down.
 */
export function formatDuration(ms: number): string {
  const abs = Math.floor(Math.abs(ms) / SECOND) * SECOND;
  if (abs >= DAY) return `${Math.floor(abs / DAY)}d ${Math.floor((abs % DAY) / HOUR)}h`;
  if (abs >= HOUR) return `${Math.floor(abs / HOUR)}h ${Math.floor((abs % HOUR) / MINUTE)}m`;
  if (abs >= MINUTE) return `${Math.floor(abs / MINUTE)}m ${Math.floor((abs % MINUTE) / SECOND)}s`;
  return `${Math.floor(abs / SECOND)}s`;
}

/** `in 17h 59m` for the future, `5m 3s ago` for the past, `now` within a second. */
export function formatRelative(atMs: number, nowMs: number): string {
  const delta = atMs - nowMs;
  if (Math.abs(delta) < SECOND) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
}

const UNIT_MS: Record<string, number> = { s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };

/**
 * Parses `--since`: a look-back such as `30m`, `24h`, `7d`, `2w`, or an ISO-8601 instant. Returns
 * epoch milliseconds. Throws UsageError naming the flag for anything else.
 */
export function parseSince(value: string, nowMs: number, flagName = '--since'): number {
  const trimmed = value.trim();
  const relative = /^(\d{1,6})\s*([smhdw])$/i.exec(trimmed);
  if (relative) {
    const amount = Number(relative[1]);
    const unit = UNIT_MS[relative[2]!.toLowerCase()]!;
    return nowMs - amount * unit;
  }
  // Only date-shaped strings: Date.parse would otherwise accept things like "1" as a year.
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/i.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (!Number.isNaN(at)) return at;
  }
  throw new UsageError(`${flagName} must be a look-back like 30m, 24h, 7d or 2w, or an ISO-8601 time like 2025-01-31T08:00:00Z`);
}

/** ISO instant without milliseconds, for tables. */
export function shortIso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Left-aligned columns separated by two spaces; the header row first. Cells are single-line. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (cell: string) => cell.replace(/[\r\n\t]+/g, ' ');
  const all = [header, ...rows].map((row) => row.map(clean));
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return `${all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
}

/** Cuts a cell to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * Notes under a table for orgs whose registry record cannot be read: the org, the file and what to do,
 * two lines each. Empty when there are none.
 */
export function unreadableNotes(entries: readonly UnreadableOrg[]): string {
  if (entries.length === 0) return '';
  const lines = entries.flatMap((u) => [`corrupt ${u.orgId} (${u.location}): ${u.problem}`, `  ${u.remedy}`]);
  return `\n${lines.join('\n')}\n`;
}
