/**
 * The local broker runtime: the same refresh engine and getter as the Lambdas, over the embedded file
 * store, on a timer with the Lambda schedule's semantics, behind a small HTTP API on 127.0.0.1.
 * Importable by tests and by the CLI (main.ts); it prints nothing itself and reports through `onEvent`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { brokerPolicy, createBrokerEngine, type GenesysNetwork } from '../../lambdas/core/broker-engine.js';
import type { OrgResult, SweepSummary } from '../../lambdas/core/engine.js';
import { toBrokerError } from '../../lambdas/core/errors.js';
import type { LogFields, LogLevel, Telemetry } from '../../lambdas/core/ports.js';
import { listOrgsAndUnreadable } from '../../lambdas/core/registry-pages.js';
import { resultOf } from '../../lambdas/core/sweep-summary.js';
import { createEngineOnDemandRefresher } from '../../lambdas/core/on-demand.js';
import { createTokenGetter, type TokenGetter } from '../../lambdas/core/token-getter.js';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SCHEDULE_SECONDS, isLoopbackHost } from './config.js';
import { localPolicySettings } from './lifetimes.js';
import { createApiListener, type HealthState } from './http-api.js';
import { LocalMetrics } from './metrics.js';
import { corruptOrgStatus, type OrgStatus, orgStatus } from './org-status.js';
import { RejectionLog } from './rejection-log.js';
import { localLeaseOwner, releaseLeasesOfDeadBrokers } from './stale-leases.js';
import { SweepScheduler } from './sweep-scheduler.js';

/** Longest a token request waits (including an on-demand refresh) before answering. */
export const GETTER_REQUEST_BUDGET_MS = 12_000;
/** Default bound on a graceful stop: in-flight refreshes and requests get this long to finish. */
export const DEFAULT_STOP_GRACE_MS = 10_000;

/**
 * Something worth reporting: a JSON log line, or a line in the status view. Fields are identifiers,
 * outcomes, codes and times; never a token or a secret.
 */
export interface BrokerEvent {
  event: string;
  level: Exclude<LogLevel, 'debug'>;
  [field: string]: unknown;
}

export interface LocalBrokerOptions {
  /** The file world's ports (`createFilePorts`); their clock is the broker's. */
  ports: FilePorts;
  /** How Genesys is reached: unset for real orgs; the demo (and tests) point it at the simulator. */
  network?: GenesysNetwork;
  /** Seconds between sweeps; also each sweep's deadline. @default 300 */
  scheduleSeconds?: number;
  /** @default 0.75 */
  refreshAtFraction?: number;
  /** Serve the HTTP API. @default true */
  serve?: boolean;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 4180 */
  port?: number;
  /** Bearer key for every route but /healthz. @default - none */
  apiKey?: string;
  /** Run the first sweep now and then on schedule. False for `--once` and tests that sweep by hand. @default true */
  schedule?: boolean;
  onEvent?: (event: BrokerEvent) => void;
  /** Orgs refreshed at once in a sweep. @default 16 */
  concurrency?: number;
}

export interface LastSweep {
  startedAt: string;
  durationMs: number;
  ok: boolean;
}

export interface LocalBroker {
  /** `http://127.0.0.1:PORT` when serving. */
  readonly url: string | undefined;
  readonly port: number | undefined;
  readonly scheduleSeconds: number;
  /** Runs a sweep now, or waits for the one in flight; resolves with its summary (undefined if it threw). */
  sweep(): Promise<SweepSummary | undefined>;
  /** Every org with its health and timings. */
  orgs(): Promise<OrgStatus[]>;
  health(): HealthState;
  metricsText(): Promise<string>;
  readonly lastSweep: LastSweep | undefined;
  readonly nextSweepAtMs: number | undefined;
  readonly sweepRunning: boolean;
  /**
   * Stops the schedule and the server, letting the sweep and requests in flight finish within
   * `graceMs`; `drained` is false when the bound cut them off.
   */
  stop(options?: { graceMs?: number }): Promise<{ drained: boolean }>;
}

/** Maps the engine's telemetry to events: refresh outcomes get their own event names. */
function eventTelemetry(emit: (event: BrokerEvent) => void, trigger: 'schedule' | 'getter'): Telemetry {
  return {
    log(level: LogLevel, message: string, fields: LogFields = {}) {
      const lvl = level === 'debug' ? 'info' : level;
      if (message === 'token refreshed') emit({ event: 'refreshed', level: 'info', trigger, ...fields });
      else if (message === 'token refresh failed') emit({ event: 'refresh_failed', level: lvl, trigger, ...fields });
      else emit({ event: 'engine', level: lvl, message, trigger, ...fields });
    },
    metric: () => undefined,
  };
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts the broker. With `serve`, the HTTP API is listening when this resolves; with `schedule`, the first sweep has started. */
export async function startLocalBroker(options: LocalBrokerOptions): Promise<LocalBroker> {
  const { ports } = options;
  const { store, clock } = ports;
  const emit = (event: BrokerEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // A broken event sink must not stop refreshes.
    }
  };
  const scheduleSeconds = options.scheduleSeconds ?? DEFAULT_SCHEDULE_SECONDS;
  const intervalMs = scheduleSeconds * 1000;
  const host = options.host ?? DEFAULT_HOST;
  const metrics = new LocalMetrics();
  const sweepOwner = localLeaseOwner('sweep');
  const getterOwner = localLeaseOwner('getter');

  // Before anything can refresh; reported after `listening`, which is always the first event.
  const released = await releaseLeasesOfDeadBrokers(store, { ownOwners: [sweepOwner, getterOwner] });

  const refreshAtFraction = options.refreshAtFraction;
  // Local mode writes a file, not a secret: its own sweep interval and a one-minute write interval
  // (localPolicySettings), so the demo's 300 s tokens are supported at its 30 s schedule.
  const policySettings = localPolicySettings({ scheduleSeconds, ...(refreshAtFraction !== undefined ? { refreshAtFraction } : {}) });
  const policy = brokerPolicy(policySettings);
  // No org starts with less than this left before the deadline; half an interval, at most the engine's 30 s default.
  const orgTimeBudgetMs = Math.min(30_000, Math.floor(intervalMs / 2));
  const sweepEngine = createBrokerEngine({ ...ports, ...options.network, telemetry: eventTelemetry(emit, 'schedule') }, {
    runtime: 'local',
    owner: sweepOwner,
    ...policySettings,
    ...(options.concurrency !== undefined ? { sweepConcurrency: options.concurrency } : {}),
    orgTimeBudgetMs,
    // Longer than one org's worst case, so a live attempt never loses its lease.
    leaseTtlMs: Math.max(60_000, 2 * orgTimeBudgetMs),
  });
  // A separate engine (and lease owner) for on-demand refreshes: a lease's owner may re-acquire it, so
  // sharing one owner would let the getter refresh an org the sweep is refreshing right now.
  const getterEngine = createBrokerEngine({ ...ports, ...options.network, telemetry: eventTelemetry(emit, 'getter') }, {
    runtime: 'local',
    owner: getterOwner,
    ...policySettings,
    orgTimeBudgetMs: GETTER_REQUEST_BUDGET_MS - 2_000,
    leaseTtlMs: 60_000,
  });
  const recordResult = (result: OrgResult | undefined) => {
    if (result?.outcome === 'refreshed') metrics.recordRefresh('success');
    else if (result?.outcome === 'failed') metrics.recordRefresh('failure', result.errorCode);
  };
  // The getter's on-demand refreshes run in this process, through the same engine path the refresher
  // Lambda runs for its on-demand events on AWS.
  const onDemand = createEngineOnDemandRefresher({
    engine: getterEngine,
    registry: ports.registry,
    clock,
    onOutcome: (outcome) => recordResult(resultOf(outcome)),
  });
  const getter: TokenGetter = createTokenGetter(
    { registry: ports.registry, vault: ports.vault, refresher: onDemand, clock },
    // Reading a local file is cheap: a short cache keeps the getter close to the store.
    { cacheMaxAgeMs: 10_000, peerPollMs: 100 },
  );

  let lastSweep: LastSweep | undefined;
  let lastOkSweepAtMs: number | undefined;
  let lastSummary: SweepSummary | undefined;

  async function runSweep(deadlineMs: number): Promise<void> {
    const startedMs = clock.now();
    lastSummary = undefined;
    try {
      const summary = await sweepEngine.sweep({ deadlineMs, trigger: 'local' });
      lastSummary = summary;
      // From the counters: a full sweep's results list only problems, and at most MAX_RESULT_LINES.
      for (let i = 0; i < summary.refreshed; i++) metrics.recordRefresh('success');
      for (const [code, count] of Object.entries(summary.failed)) for (let i = 0; i < (count ?? 0); i++) metrics.recordRefresh('failure', code);
      const ok = summary.registryError === undefined;
      const doneMs = clock.now();
      metrics.recordSweep(summary.durationMs, ok, doneMs);
      lastSweep = { startedAt: summary.startedAt, durationMs: summary.durationMs, ok };
      if (ok) lastOkSweepAtMs = doneMs;
      const { results, ...counts } = summary;
      const unreadableOrgIds = results.filter((r) => r.reason === 'unreadable').map((r) => r.orgId);
      const attention = Object.keys(summary.failed).length > 0 || summary.critical > 0 || unreadableOrgIds.length > 0;
      emit({
        event: 'sweep',
        level: ok ? (attention ? 'warn' : 'info') : 'error',
        ...counts,
        deferredOrgIds: results.filter((r) => r.outcome === 'deferred').map((r) => r.orgId),
        ...(unreadableOrgIds.length > 0 ? { unreadableOrgIds } : {}),
      });
    } catch (err) {
      const error = toBrokerError(err);
      const doneMs = clock.now();
      metrics.recordSweep(doneMs - startedMs, false, doneMs);
      lastSweep = { startedAt: new Date(startedMs).toISOString(), durationMs: doneMs - startedMs, ok: false };
      emit({ event: 'sweep_failed', level: 'error', errorCode: error.code, message: error.message });
    }
  }

  const scheduler = new SweepScheduler({
    intervalMs,
    now: () => clock.now(),
    run: runSweep,
    onOverrun: (skippedTicks) => emit({ event: 'sweep_overrun', level: 'warn', message: 'a sweep ran past the next scheduled one, which was skipped', skippedTicks }),
  });

  const scheduleInfo = () => (scheduler.firstRunAtMs === undefined ? undefined : { firstRunAtMs: scheduler.firstRunAtMs, intervalMs });
  const orgs = async (): Promise<OrgStatus[]> => {
    const nowMs = clock.now();
    const schedule = scheduleInfo();
    // A damaged registry file is shown as a corrupt org, in id order with the others, not an error.
    const { orgs: records, unreadable } = await listOrgsAndUnreadable(ports.registry);
    return [...records.map((org) => orgStatus(org, nowMs, policy, schedule)), ...unreadable.map(corruptOrgStatus)].sort((a, b) =>
      a.orgId < b.orgId ? -1 : a.orgId > b.orgId ? 1 : 0,
    );
  };
  const health = (): HealthState => {
    const nowMs = clock.now();
    const lastSweepAt = lastOkSweepAtMs === undefined ? null : new Date(lastOkSweepAtMs).toISOString();
    if (lastOkSweepAtMs !== undefined && nowMs - lastOkSweepAtMs <= 2 * intervalMs) {
      return { ok: true, body: { status: 'ok', lastSweepAt, scheduleSeconds } };
    }
    return { ok: false, body: { status: lastOkSweepAtMs === undefined ? 'starting' : 'stale', lastSweepAt, scheduleSeconds } };
  };
  const metricsText = async () => metrics.render(await orgs());

  let firstTokenServed = false;
  const rejections = new RejectionLog({ emit });
  let server: Server | undefined;
  let url: string | undefined;
  let boundPort: number | undefined;
  if (options.serve ?? true) {
    const allowedHostnames = isLoopbackHost(host) ? new Set(['127.0.0.1', 'localhost', '::1', host.toLowerCase()]) : undefined;
    server = createServer({ maxHeaderSize: 8 * 1024, requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, createApiListener({
      getToken: (orgId) => getter.handle({ orgId }, { deadlineMs: clock.now() + GETTER_REQUEST_BUDGET_MS }),
      listOrgs: orgs,
      metrics: metricsText,
      health,
      ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
      ...(allowedHostnames ? { allowedHostnames } : {}),
      get defaultRetryAfterSeconds() {
        const next = scheduler.nextRunAtMs;
        return next === undefined ? scheduleSeconds : Math.max(1, Math.ceil((next - clock.now()) / 1000));
      },
      onTokenResult(result, orgId) {
        metrics.recordGetterRequest(result);
        if (result !== 'ok') rejections.record(result, orgId);
        else if (!firstTokenServed) {
          firstTokenServed = true;
          emit({ event: 'first_token_served', level: 'info', orgId, sinceProcessStartMs: Math.round(performance.now()) });
        }
      },
    }));
    boundPort = await listen(server, options.port ?? DEFAULT_PORT, host);
    rejections.start();
    url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
    emit({ event: 'listening', level: 'info', url, port: boundPort, host, auth: options.apiKey !== undefined, scheduleSeconds, dataDir: ports.dataDir });
  }
  if (released.length > 0) emit({ event: 'leases_released', level: 'warn', message: 'released leases left by a broker that is no longer running', orgIds: released });
  if (options.schedule ?? true) scheduler.start();

  let stopping: Promise<{ drained: boolean }> | undefined;
  return {
    url,
    port: boundPort,
    scheduleSeconds,
    async sweep() {
      await scheduler.runNow();
      return lastSummary;
    },
    orgs,
    health,
    metricsText,
    get lastSweep() {
      return lastSweep;
    },
    get nextSweepAtMs() {
      return scheduler.nextRunAtMs;
    },
    get sweepRunning() {
      return scheduler.running;
    },
    stop({ graceMs = DEFAULT_STOP_GRACE_MS } = {}) {
      stopping ??= (async () => {
        const closed = server ? new Promise<void>((resolve) => server!.close(() => resolve())) : Promise.resolve();
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), graceMs);
        });
        const drained = await Promise.race([Promise.all([scheduler.stop(), closed]).then(() => true as const), bound]);
        clearTimeout(timer);
        // Whatever is still open after the bound is cut: leases it held expire by themselves.
        server?.closeAllConnections();
        rejections.stop();
        emit({ event: 'stopped', level: drained ? 'info' : 'warn', drained });
        return { drained };
      })();
      return stopping;
    },
  };
}
