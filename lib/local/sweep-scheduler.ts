/**
 * The local sweep schedule, with the Lambda schedule's semantics: a sweep at start, then one every
 * interval at fixed times (`start + k * interval`); a sweep never overlaps the previous one (a tick that
 * falls inside a running sweep is skipped, as a rate schedule with reserved concurrency 1 would drop it),
 * and each sweep's deadline is one interval after it starts.
 */

export interface SweepSchedulerOptions {
  intervalMs: number;
  /** Runs one sweep; must finish by `deadlineMs`. A rejection is swallowed (report it inside `run`). */
  run: (deadlineMs: number) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
  /** Called when ticks were skipped because a sweep ran past them. */
  onOverrun?: (skippedTicks: number) => void;
}

export class SweepScheduler {
  readonly intervalMs: number;
  readonly #run: (deadlineMs: number) => Promise<void>;
  readonly #now: () => number;
  readonly #onOverrun: ((skippedTicks: number) => void) | undefined;
  #firstRunAtMs: number | undefined;
  #nextRunAtMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(options: SweepSchedulerOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) throw new RangeError('intervalMs must be a positive number');
    this.intervalMs = options.intervalMs;
    this.#run = options.run;
    this.#now = options.now ?? Date.now;
    this.#onOverrun = options.onOverrun;
  }

  /** When the first scheduled sweep started; undefined before `start`. */
  get firstRunAtMs(): number | undefined {
    return this.#firstRunAtMs;
  }

  /** When the next scheduled sweep will start; undefined before `start` and after `stop`. */
  get nextRunAtMs(): number | undefined {
    return this.#stopped ? undefined : this.#nextRunAtMs;
  }

  get running(): boolean {
    return this.#inFlight !== undefined;
  }

  /** Runs the first sweep now and schedules the rest. */
  start(): void {
    if (this.#firstRunAtMs !== undefined || this.#stopped) return;
    this.#firstRunAtMs = this.#now();
    this.#nextRunAtMs = this.#firstRunAtMs;
    void this.#tick(this.#firstRunAtMs);
  }

  /** Runs a sweep now unless one is running, in which case it waits for that one. Does not move the schedule. */
  runNow(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    const startedMs = this.#now();
    const run = (async () => {
      try {
        await this.#run(startedMs + this.intervalMs);
      } catch {
        // `run` reports its own failures; the schedule goes on.
      } finally {
        this.#inFlight = undefined;
      }
    })();
    this.#inFlight = run;
    return run;
  }

  /** Stops scheduling; resolves when the sweep in flight (if any) has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  async #tick(tickAtMs: number): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    await this.runNow();
    if (this.#stopped) return;
    const first = this.#firstRunAtMs as number;
    const now = this.#now();
    let next = tickAtMs + this.intervalMs;
    if (next <= now) {
      const k = Math.floor((now - first) / this.intervalMs) + 1;
      const skipped = Math.round((first + k * this.intervalMs - next) / this.intervalMs);
      next = first + k * this.intervalMs;
      if (skipped > 0) this.#onOverrun?.(skipped);
    }
    this.#nextRunAtMs = next;
    this.#timer = setTimeout(() => void this.#tick(next), Math.max(0, next - now));
    // The HTTP server keeps a serving broker alive; the timer alone must not (tests, --once).
    this.#timer.unref();
  }
}
