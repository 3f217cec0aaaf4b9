/**
 * Token requests the local getter refused (`unauthorized`, `token_unavailable`, `org_not_found`, ...)
 * are logged without flooding: the first of each reason in a minute is logged at once as
 * `token_not_served`, and the rest are counted and reported once at the end of that minute as one
 * `requests_rejected` line with a count per reason. A client retrying in a tight loop therefore costs
 * at most two lines a minute per reason, however fast it asks.
 */
import type { BrokerEvent } from './broker.js';

/** Length of one counting window. */
export const REJECTION_WINDOW_MS = 60_000;
/** Org ids kept per reason in a summary: enough to point at the culprits, bounded whatever the traffic. */
export const MAX_ORG_IDS_PER_REASON = 10;

interface Suppressed {
  count: number;
  orgIds: Set<string>;
}

export class RejectionLog {
  readonly #emit: (event: BrokerEvent) => void;
  readonly #windowMs: number;
  readonly #announced = new Set<string>();
  readonly #suppressed = new Map<string, Suppressed>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { emit: (event: BrokerEvent) => void; windowMs?: number }) {
    this.#emit = options.emit;
    this.#windowMs = options.windowMs ?? REJECTION_WINDOW_MS;
  }

  /** Records one refused token request; `orgId` only when well-formed. */
  record(reason: string, orgId: string | undefined): void {
    if (!this.#announced.has(reason)) {
      this.#announced.add(reason);
      this.#emit({ event: 'token_not_served', level: 'warn', errorCode: reason, ...(orgId ? { orgId } : {}) });
      return;
    }
    const entry = this.#suppressed.get(reason) ?? { count: 0, orgIds: new Set<string>() };
    entry.count += 1;
    if (orgId && entry.orgIds.size < MAX_ORG_IDS_PER_REASON) entry.orgIds.add(orgId);
    this.#suppressed.set(reason, entry);
  }

  /** Ends the current window: reports what was counted, if anything, and logs the next first-of-reason at once again. */
  flush(): void {
    this.#announced.clear();
    if (this.#suppressed.size === 0) return;
    const counts: Record<string, number> = {};
    const orgIds: Record<string, string[]> = {};
    for (const [reason, entry] of [...this.#suppressed].sort(([a], [b]) => a.localeCompare(b))) {
      counts[reason] = entry.count;
      if (entry.orgIds.size > 0) orgIds[reason] = [...entry.orgIds].sort();
    }
    this.#suppressed.clear();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    this.#emit({
      event: 'requests_rejected',
      level: 'warn',
      message: `${total} more token request${total === 1 ? '' : 's'} refused in the last ${Math.round(this.#windowMs / 1000)} s`,
      windowSeconds: Math.round(this.#windowMs / 1000),
      counts,
      ...(Object.keys(orgIds).length > 0 ? { orgIds } : {}),
    });
  }

  /** Flushes every window until {@link stop}. The timer never keeps the process alive. */
  start(): void {
    this.#timer ??= setInterval(() => this.flush(), this.#windowMs);
    this.#timer.unref();
  }

  /** Stops the timer and reports what the last window counted. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
