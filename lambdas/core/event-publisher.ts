/**
 * The batching, retrying, time-bounded half of publishing per-org events; an adapter supplies the one
 * call that puts a batch on a bus ({@link SendOrgEvents}: EventBridge PutEvents on AWS).
 *
 * Never fails or slows a refresh:
 * - `publish` queues and returns; a background pump sends the queue in batches of at most
 *   {@link MAX_BATCH_SIZE} (PutEvents' limit), one batch in flight at a time. Events queued while a
 *   batch is in flight go out together in the next one.
 * - Entries the bus refused with a retryable code (throttling, an internal failure), or a whole batch
 *   that failed transiently, are sent again after a short backoff, up to `maxAttempts` sends per event.
 *   Anything else is given up at once.
 * - `flush(deadlineMs)` waits for the queue to drain, no longer than the deadline: then it aborts the
 *   send in flight, drops the rest, and counts all of it as failed. Events sent but answered after
 *   the deadline are counted failed too (they may have arrived: counts err towards failure). Events
 *   published while a flush is ending are counted with it (the refresher flushes after its work, so
 *   there are none).
 * - The queue holds at most `maxQueued` events; more are dropped and counted, so a bus that is down
 *   for a long sweep cannot grow the function's memory without bound.
 *
 * `flush` reports and logs what it counted since the previous flush and publishes `EventsPublished`
 * and `EventsFailed` (metric-names.ts). Logs carry counts and error codes, never an event's detail.
 */
import { METRIC } from './metric-names.js';
import type { Clock, OrgEvent, OrgEventPublisher, Telemetry } from './ports.js';
import { silentTelemetry } from './ports.js';

/** PutEvents takes at most 10 entries per call. */
export const MAX_BATCH_SIZE = 10;

/** One entry of a batch the bus did not take. */
export interface EntryFailure {
  /** Position in the batch sent. */
  index: number;
  /** The bus's error code (`ThrottlingException`, `AccessDeniedException`, ...). */
  errorCode: string;
  /** Whether sending it again may succeed. */
  retryable: boolean;
}

/**
 * Puts one batch (at most {@link MAX_BATCH_SIZE} events) on the bus and answers which entries failed;
 * a failure of the whole call is a failure of every entry. Stops early when `signal` aborts. Should not
 * throw; if it does, the whole batch counts as a retryable failure.
 */
export type SendOrgEvents = (batch: readonly OrgEvent[], signal: AbortSignal) => Promise<EntryFailure[]>;

export interface BatchingPublisherOptions {
  send: SendOrgEvents;
  clock: Clock;
  telemetry?: Telemetry;
  /** Sends per event, the first included. @default 3 */
  maxAttempts?: number;
  /** Wait before the first resend; doubled for each later one. @default 100 */
  retryBaseMs?: number;
  /** Most events waiting at once. @default 5000 */
  maxQueued?: number;
}

interface Pending {
  event: OrgEvent;
  sends: number;
}

export function createBatchingPublisher(options: BatchingPublisherOptions): OrgEventPublisher {
  const { send, clock } = options;
  const telemetry = options.telemetry ?? silentTelemetry;
  const maxAttempts = options.maxAttempts ?? 3;
  const retryBaseMs = options.retryBaseMs ?? 100;
  const maxQueued = options.maxQueued ?? 5000;
  let queue: Pending[] = [];
  /** The batch being sent, so a flush that gives up can count it. */
  let sending: Pending[] = [];
  let pump: Promise<void> | undefined;
  let controller = new AbortController();
  let published = 0;
  let failed = 0;
  const failedCodes = new Set<string>();

  const giveUp = (count: number, code: string) => {
    failed += count;
    failedCodes.add(code);
  };

  /** Sends until the queue is empty or the signal aborts (a flush gave up on everything). */
  async function drain(signal: AbortSignal): Promise<void> {
    // Let the events published in the same turn join one batch.
    await Promise.resolve();
    for (let round = 0; queue.length > 0 && !signal.aborted; ) {
      const batch = queue.splice(0, MAX_BATCH_SIZE);
      sending = batch;
      let failures: EntryFailure[];
      try {
        failures = await send(batch.map((p) => p.event), signal);
      } catch {
        failures = batch.map((_, index) => ({ index, errorCode: 'send_failed', retryable: true }));
      }
      // The flush that aborted counted this batch already; a newer pump may be sending by now.
      if (signal.aborted) return;
      const failedAt = new Map(failures.map((f) => [f.index, f]));
      const again: Pending[] = [];
      batch.forEach((pending, index) => {
        const failure = failedAt.get(index);
        if (!failure) published++;
        else if (failure.retryable && pending.sends + 1 < maxAttempts) again.push({ event: pending.event, sends: pending.sends + 1 });
        else giveUp(1, failure.errorCode);
      });
      sending = [];
      if (again.length > 0) {
        queue = [...again, ...queue];
        await clock.sleep(retryBaseMs * 2 ** round);
        round++;
      }
    }
  }

  function start(): Promise<void> | undefined {
    if (pump || queue.length === 0) return pump;
    const current = drain(controller.signal)
      .catch(() => {
        // Not expected (a send's failures are answers, not throws; a clock that fails, an answer that is
        // no list): give up what waits, the batch in hand included, rather than spin.
        giveUp(queue.length + sending.length, 'publisher_error');
        queue = [];
        sending = [];
      })
      .finally(() => {
        if (pump === current) pump = undefined;
        // Events published while the last batch was being answered.
        start();
      });
    pump = current;
    return current;
  }

  return {
    publish(events) {
      for (const event of events) {
        if (queue.length >= maxQueued) giveUp(1, 'queue_full');
        else queue.push({ event, sends: 0 });
      }
      start();
    },

    async flush(deadlineMs) {
      // Nothing to send: the race is over at once.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([start(), new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs - clock.now())))]);
      clearTimeout(timer);
      if (pump) {
        // Out of time: what is queued or in flight is given up, and the pump is stopped.
        giveUp(queue.length + sending.length, 'deadline');
        queue = [];
        sending = [];
        controller.abort();
        controller = new AbortController();
        pump = undefined;
      }
      const report = { published, failed };
      if (failed > 0) telemetry.log('warn', 'org events could not be published', { published, failed, errorCodes: [...failedCodes].sort() });
      telemetry.metric(METRIC.eventsPublished, published, 'Count');
      telemetry.metric(METRIC.eventsFailed, failed, 'Count');
      published = 0;
      failed = 0;
      failedCodes.clear();
      return report;
    },
  };
}
