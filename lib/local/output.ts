/**
 * How local mode talks to a person or a log collector: JSON lines when stdout is not a terminal, a live
 * status view redrawn every second when it is. Both show identifiers, health and times; neither ever
 * receives a token (the events and org statuses they render carry none).
 */
import type { BrokerEvent, LastSweep } from './broker.js';
import type { OrgStatus } from './org-status.js';
import { findRegion } from '../../lambdas/core/regions.js';

/** One JSON log line (newline-terminated): `time`, `level`, `event`, then the event's fields. */
export function formatJsonLine(event: BrokerEvent, nowMs: number): string {
  const { event: name, level, ...fields } = event;
  return `${JSON.stringify({ time: new Date(nowMs).toISOString(), level, event: name, ...fields })}\n`;
}

/** `4m 05s`, `1h 02m`, `12s`; negative durations read as `-12s`. */
export function formatDuration(seconds: number): string {
  const sign = seconds < 0 ? '-' : '';
  let s = Math.abs(Math.round(seconds));
  if (s < 60) return `${sign}${s}s`;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${sign}${h}h ${String(m).padStart(2, '0')}m`;
  return `${sign}${m}m ${String(s).padStart(2, '0')}s`;
}

const FIELDS_SHOWN = ['orgId', 'reason', 'errorCode', 'expiresInSeconds', 'refreshed', 'durationMs', 'url', 'message', 'skippedTicks'] as const;

/** A one-line, human description of an event for the status view. */
export function describeEvent(event: BrokerEvent, nowMs: number): string {
  const time = new Date(nowMs).toISOString().slice(11, 19);
  const parts: string[] = [];
  for (const key of FIELDS_SHOWN) {
    const value = event[key];
    if (value === undefined || value === null || typeof value === 'object') continue;
    parts.push(`${key}=${String(value)}`);
  }
  if (event.event === 'sweep' && typeof event.failed === 'object' && event.failed && Object.keys(event.failed).length > 0) {
    parts.push(`failed=${Object.entries(event.failed as Record<string, number>).map(([k, v]) => `${k}:${v}`).join(',')}`);
  }
  if (event.event === 'requests_rejected' && typeof event.counts === 'object' && event.counts) {
    parts.push(`counts=${Object.entries(event.counts as Record<string, number>).map(([k, v]) => `${k}:${v}`).join(',')}`);
  }
  const unreadable = event.event === 'sweep' ? (event.skipped as { unreadable?: unknown } | undefined)?.unreadable : undefined;
  if (typeof unreadable === 'number' && unreadable > 0) parts.push(`unreadable=${unreadable}`);
  return `${time} ${event.level === 'info' ? ' ' : '!'} ${event.event} ${parts.join(' ')}`.trimEnd();
}

export interface StatusViewInput {
  banner?: string;
  url?: string;
  /** A command to try, shown under the URL (demo mode). */
  hint?: string;
  orgs: readonly OrgStatus[];
  nowMs: number;
  lastSweep?: LastSweep;
  nextSweepAtMs?: number;
  sweepRunning: boolean;
  events: readonly string[];
  color: boolean;
  /** Terminal width: a table wider than this puts label, region and last error on a second line. @default 80 */
  columns?: number;
}

const COLORS: Record<string, string> = {
  healthy: '32',
  refresh_due: '36',
  at_risk: '33',
  expired: '31',
  failing: '31',
  disabled: '90',
  corrupt: '1;31',
};

/** Labels come from a config file and paths from the file system: no escape sequence reaches the terminal from there. */
function printable(raw: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return raw.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

function pad(raw: string, width: number): string {
  const text = printable(raw);
  const cut = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return cut.padEnd(width);
}

/** `text` (made printable) in lines of at most `width`, broken at spaces where possible, each after `indent`. */
function wrap(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let rest = printable(text);
  const room = width - indent.length;
  while (rest.length > room) {
    const space = rest.lastIndexOf(' ', room);
    const cut = space > room / 2 ? space : room;
    out.push(`${indent}${rest.slice(0, cut)}`);
    rest = rest.slice(cut).trimStart();
  }
  out.push(`${indent}${rest}`);
  return out;
}

/** Width assumed when the terminal does not say. */
export const DEFAULT_COLUMNS = 80;

/** A region as `status` shows it: its key (`eu-west-1`), or the domain when it has none. */
function regionKey(domain: string): string {
  return findRegion(domain)?.key ?? domain;
}

/**
 * The order `status` lists orgs in (lib/cli/commands/orgs.ts `sortedOrgsAndUnreadable`): by label,
 * then id, with corrupt orgs (no label can be read) after the rest in id order.
 */
export function statusOrder(orgs: readonly OrgStatus[]): OrgStatus[] {
  const byId = (a: OrgStatus, b: OrgStatus) => a.orgId.localeCompare(b.orgId);
  const readable = orgs.filter((o) => o.health !== 'corrupt').sort((a, b) => (a.label ?? '').localeCompare(b.label ?? '') || byId(a, b));
  return [...readable, ...orgs.filter((o) => o.health === 'corrupt').sort(byId)];
}

/** Renders one frame of the status view (no cursor control; the caller positions the cursor). */
export function renderStatusView(input: StatusViewInput): string {
  const paint = (code: string, text: string) => (input.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const lines: string[] = [];
  if (input.banner) lines.push(paint('1;35', input.banner), '');
  lines.push(`${paint('1', 'genesys-token-broker')}  local mode  ${input.url ? `getter: ${input.url}` : '(no HTTP server)'}`);
  const width = Math.max(40, input.columns ?? DEFAULT_COLUMNS);
  // The hint is meant to be copied whole: on its own line when it does not fit after "try: ".
  if (input.hint) lines.push(...(input.hint.length + 5 <= width ? [`try: ${input.hint}`] : ['try:', input.hint]));
  const sweep = input.sweepRunning
    ? 'sweep running'
    : input.lastSweep
      ? `last sweep ${formatDuration((input.nowMs - Date.parse(input.lastSweep.startedAt)) / 1000)} ago (${input.lastSweep.durationMs} ms${input.lastSweep.ok ? '' : ', FAILED'})`
      : 'no sweep yet';
  // While a sweep runs, "next in 0s" would say it has not started; it is the one running.
  const next = input.nextSweepAtMs === undefined || input.sweepRunning ? '' : `, next in ${formatDuration(Math.max(0, (input.nextSweepAtMs - input.nowMs) / 1000))}`;
  lines.push(`${sweep}${next}`, '');
  const rows = statusOrder(input.orgs).map((org) => {
    const expires = org.expiresInSeconds === null ? '-' : org.expiresInSeconds < 0 ? 'expired' : formatDuration(org.expiresInSeconds);
    // A due org is the running sweep's to refresh: "now", as the header says, not the tick after it.
    const nextRefresh = input.sweepRunning && org.health === 'refresh_due' ? 'now' : org.nextRefreshAt === null ? '-' : (() => {
      const inSeconds = (Date.parse(org.nextRefreshAt) - input.nowMs) / 1000;
      return inSeconds <= 0 ? 'now' : `in ${formatDuration(inSeconds)}`;
    })();
    const lastError = org.health === 'corrupt' ? `${org.lastErrorCode ?? ''} (see below)` : org.lastErrorCode ?? '';
    return { org, expires, nextRefresh, lastError, region: org.region ? regionKey(org.region) : '-' };
  });
  const health = (org: OrgStatus) => paint(COLORS[org.health] ?? '0', pad(org.health, 11));
  const wideHeader = `${pad('ORG ID', 36)}  ${pad('LABEL', 32)}  ${pad('REGION', 14)}  ${pad('HEALTH', 11)}  ${pad('EXPIRES IN', 10)}  ${pad('NEXT REFRESH', 12)}  LAST ERROR`;
  const widest = Math.max(0, ...rows.map((r) => r.lastError.length));
  if (wideHeader.length - 'LAST ERROR'.length + widest <= width) {
    lines.push(paint('1', wideHeader));
    if (rows.length === 0) lines.push('(no orgs registered)');
    for (const r of rows) {
      lines.push([pad(r.org.orgId, 36), pad(r.org.label ?? '', 32), pad(r.region, 14), health(r.org), pad(r.expires, 10), pad(r.nextRefresh, 12), r.lastError].join('  ').trimEnd());
    }
  } else {
    // Narrow (80 columns fits 70 plus the indent): the facts that change each second on the org's
    // line, what names it and what went wrong on the line under it, cut to the width.
    lines.push(paint('1', `${pad('ORG ID', 36)}  ${pad('HEALTH', 11)}  ${pad('EXPIRES', 7)}  NEXT REFRESH`));
    if (rows.length === 0) lines.push('(no orgs registered)');
    for (const r of rows) {
      lines.push([pad(r.org.orgId, 36), health(r.org), pad(r.expires, 7), r.nextRefresh].join('  ').trimEnd());
      lines.push(pad(`  ${[r.org.label, r.region, r.lastError].filter((part) => part).join(' · ')}`, width).trimEnd());
    }
  }
  // A corrupt org needs an operator: say where its file is and what to do, under the table.
  for (const org of input.orgs.filter((o) => o.health === 'corrupt')) {
    // The file's path and the remedy are read, not copied from here: wrapped to the width, not cut.
    lines.push(...wrap(`corrupt ${org.orgId} (${org.location ?? '?'}): ${org.problem ?? 'unreadable'}`, width, '').map((l) => paint(COLORS.corrupt ?? '0', l)), ...wrap(org.remedy ?? '', width, '  '));
  }
  lines.push('', paint('1', 'recent events'));
  lines.push(...(input.events.length > 0 ? input.events.map((e) => pad(e, width).trimEnd()) : ['(none yet)']));
  lines.push('', 'Ctrl-C stops the broker (in-flight refreshes finish first).');
  return `${lines.join('\n')}\n`;
}

/**
 * A frame drawn over the previous one without clearing the screen first (which flickers): the cursor
 * goes home, each line erases what is left of the old one after it, and whatever the old frame had
 * below the new one is erased last.
 */
export function overdraw(frame: string): string {
  return `\x1b[H${frame.replace(/\n/g, '\x1b[K\n')}\x1b[J`;
}

/** Redraws the status view on a TTY every second and keeps the last few events. */
export class StatusView {
  readonly #write: (text: string) => void;
  readonly #input: () => Promise<Omit<StatusViewInput, 'events' | 'color'>>;
  readonly #events: string[] = [];
  readonly #maxEvents: number;
  #timer: NodeJS.Timeout | undefined;
  #drawing = false;

  constructor(write: (text: string) => void, input: () => Promise<Omit<StatusViewInput, 'events' | 'color'>>, options: { maxEvents?: number } = {}) {
    this.#write = write;
    this.#input = input;
    this.#maxEvents = options.maxEvents ?? 8;
  }

  addEvent(event: BrokerEvent, nowMs: number): void {
    this.#events.push(describeEvent(event, nowMs));
    if (this.#events.length > this.#maxEvents) this.#events.splice(0, this.#events.length - this.#maxEvents);
  }

  start(): void {
    this.#write('\x1b[?25l'); // hide the cursor while redrawing
    void this.redraw();
    this.#timer = setInterval(() => void this.redraw(), 1_000);
  }

  async redraw(): Promise<void> {
    if (this.#drawing) return;
    this.#drawing = true;
    try {
      const frame = renderStatusView({ ...(await this.#input()), events: this.#events, color: true });
      this.#write(overdraw(frame));
    } catch {
      // A frame that cannot be drawn (store busy) is skipped; the next one tries again.
    } finally {
      this.#drawing = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#write('\x1b[?25h');
  }
}
