/**
 * `npm start`: the whole broker on one machine, no AWS account.
 *
 * With `broker.config.json` in the working directory (or `--config <path>`), it refreshes the real
 * Genesys Cloud orgs listed there. Without one it runs the demo: a simulated Genesys Cloud in this
 * process, clearly labelled, with its own data directory.
 *
 * Output: a live status view when stdout is a terminal, JSON lines otherwise (the first line is always
 * `{"event":"listening","url":...}` when serving). Neither ever contains a token or a secret.
 * Exit codes: 0 success (and after SIGINT/SIGTERM), 1 runtime failure (or `--once` found an org
 * without a valid token), 2 usage or configuration error (an org whose token lifetime the schedule
 * cannot keep fresh included: see lifetimes.ts).
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { DEFAULT_DATA_DIR } from '../../lambdas/adapters/file/file-store.js';
import type { GenesysNetwork } from '../../lambdas/core/broker-engine.js';
import { BrokerError } from '../../lambdas/core/errors.js';
import { listOrgsAndUnreadable } from '../../lambdas/core/registry-pages.js';
import { type BrokerEvent, DEFAULT_STOP_GRACE_MS, type LocalBroker, startLocalBroker } from './broker.js';
import {
  CONFIG_FILE_NAME,
  ConfigError,
  DEFAULT_API_KEY_ENV,
  DEFAULT_HOST,
  DEFAULT_PORT,
  locateConfigFile,
  readLocalConfig,
  resolveApiKey,
  resolveOrgSecrets,
} from './config.js';
import { assertDataDirMode, DEMO_BANNER, DEMO_DATA_DIR, DEMO_SCHEDULE_SECONDS, type DemoEnvironment, startDemo } from '../demo/demo.js';
import { checkLocalLifetimes, localPolicySettings } from './lifetimes.js';
import { describeEvent, formatJsonLine, renderStatusView, StatusView } from './output.js';
import { type DesiredOrg, syncOrgs } from './org-sync.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** An org's tokens live shorter than the broker supports at this schedule: the CLI's "verification failed". */
export const EXIT_LIFETIME_REFUSED = 3;

export const USAGE = `Usage: npm start -- [options]      (or: npx tsx lib/local/main.ts [options])

Runs the Genesys token broker locally: refreshes tokens on a schedule into an embedded store
and serves them over HTTP on 127.0.0.1. Without a config file it runs a clearly labelled demo
against a simulated Genesys Cloud.

Options:
  --config <path>    config file (default: ./${CONFIG_FILE_NAME} if present, else demo mode)
  --port <n>         HTTP port (default: ${DEFAULT_PORT}; 0 picks a free one)
  --data-dir <path>  data directory (default: ./${DEFAULT_DATA_DIR}, or ./${DEMO_DATA_DIR} in demo mode)
  --once             run one sweep, print the result and exit (0 = every org has a valid token)
  -h, --help         show this help

HTTP API (bearer key from the config's apiKeyEnv or ${DEFAULT_API_KEY_ENV}, if set):
  GET /v1/orgs/{orgId}/token   the current token, as the getter Lambda returns it
  GET /v1/orgs                 orgs with health, expiresAt, nextRefreshAt, lastErrorCode (no tokens)
  GET /healthz                 200 while sweeps run on schedule (never needs the key; HEAD too)
  GET /metrics                 Prometheus text format

Config file (secrets stay in environment variables; the file only names them):
  { "orgs": [ { "orgId": "<uuid>", "region": "mypurecloud.ie", "clientId": "<id>",
                "clientSecretEnv": "GENESYS_ACME_CLIENT_SECRET" } ],
    "port": ${DEFAULT_PORT}, "scheduleSeconds": 300, "apiKeyEnv": "BROKER_API_KEY" }
`;

/** Where main reads and writes; tests pass their own. */
export interface MainIo {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  cwd: string;
  /**
   * Install SIGINT/SIGTERM handlers and run until one arrives. They stay installed (ignoring further
   * signals) after the broker stops, until the process exits. @default true
   */
  handleSignals: boolean;
  /** Resolves when the serving broker should stop (tests). */
  stopSignal?: Promise<void>;
  /** Receives the running broker (tests). */
  onStarted?: (broker: LocalBroker) => void;
}

interface Args {
  config?: string;
  port?: number;
  dataDir?: string;
  once: boolean;
  help: boolean;
}

class UsageError extends Error {}

function parseCliArgs(argv: string[]): Args {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        once: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : Number.NaN;
    if (!(port >= 0 && port <= 65_535)) throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port.slice(0, 20))}`);
  }
  if (values['data-dir'] === '') throw new UsageError('--data-dir must not be empty');
  return {
    ...(values.config !== undefined ? { config: values.config } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
    once: values.once ?? false,
    help: values.help ?? false,
  };
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[], ioOverrides: Partial<MainIo> = {}): Promise<number> {
  const io: MainIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    handleSignals: true,
    ...ioOverrides,
  };
  let args: Args;
  try {
    args = parseCliArgs(argv);
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (args.help) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }

  let demo: DemoEnvironment | undefined;
  try {
    return await run(args, io, (d) => {
      demo = d;
    });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      io.stderr.write(`error: invalid configuration: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof BrokerError && err.code === 'token_lifetime_too_short') {
      io.stderr.write(`error: ${err.code}: ${err.message}\n`);
      return EXIT_LIFETIME_REFUSED;
    }
    if (err instanceof BrokerError && err.code === 'invalid_config') {
      io.stderr.write(`error: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const code = (err as { code?: unknown }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      io.stderr.write(`error: cannot listen (${String(code)}); is another broker running? Pick another port with --port\n`);
      return EXIT_FAILURE;
    }
    // BrokerError messages are secret-free by contract; anything else is reported by type only.
    io.stderr.write(`error: ${err instanceof BrokerError ? err.message : `unexpected ${err instanceof Error ? err.name : typeof err}`}\n`);
    return EXIT_FAILURE;
  } finally {
    await demo?.close();
  }
}

async function run(args: Args, io: MainIo, setDemo: (demo: DemoEnvironment) => void): Promise<number> {
  const configPath = locateConfigFile(io.cwd, args.config);
  const isTty = io.stdout.isTTY === true;
  const config = configPath ? readLocalConfig(configPath) : undefined;
  const resolvedOrgs = config ? resolveOrgSecrets(config, io.env) : [];
  const host = config?.host ?? DEFAULT_HOST;
  const apiKeyEnv = config?.apiKeyEnv ?? DEFAULT_API_KEY_ENV;
  const apiKey = resolveApiKey({ source: config?.source ?? 'environment', host, ...(config?.apiKeyEnv ? { apiKeyEnv: config.apiKeyEnv } : {}) }, io.env);
  const dataDir = args.dataDir !== undefined ? resolve(io.cwd, args.dataDir) : config ? config.dataDir ?? resolve(io.cwd, DEFAULT_DATA_DIR) : resolve(io.cwd, DEMO_DATA_DIR);
  const ports = createFilePorts(dataDir);
  const store = ports.store;
  await assertDataDirMode(store, config ? 'config' : 'demo');

  let desired: DesiredOrg[];
  let network: GenesysNetwork = {};
  let demo: DemoEnvironment | undefined;
  if (config) {
    desired = resolvedOrgs.map(({ org, path, credentials }) => ({
      orgId: org.orgId,
      region: org.region,
      grantType: org.grantType,
      enabled: org.enabled,
      ...(org.label !== undefined ? { label: org.label } : {}),
      credentials,
      path,
    }));
  } else {
    demo = await startDemo({ store });
    setDemo(demo);
    desired = demo.orgs;
    // The simulator is reachable only through this resolver; no org record can name a host.
    network = { genesysBaseUrl: demo.simulator.resolver, fetch: demo.fetch };
  }
  const synced = await syncOrgs(store, desired, { source: config?.source ?? 'demo' });
  const scheduleSeconds = config?.scheduleSeconds ?? DEMO_SCHEDULE_SECONDS;
  // Refused before anything runs: an org whose tokens the schedule cannot keep fresh (its last token
  // tells the lifetime; a new org is checked by its first refresh, which flags it).
  const tooShort = checkLocalLifetimes(
    (await listOrgsAndUnreadable(ports.registry)).orgs,
    localPolicySettings({ scheduleSeconds, ...(config?.refreshAtFraction !== undefined ? { refreshAtFraction: config.refreshAtFraction } : {}) }),
  );
  if (tooShort) throw tooShort;

  // Filled in once the broker runs; the status view reads it on every frame.
  const live: { broker?: LocalBroker; hint?: string } = {};
  const view = isTty && !args.once ? new StatusView((text) => io.stdout.write(text), async () => {
    const { broker, hint } = live;
    return {
      ...(demo ? { banner: DEMO_BANNER } : {}),
      ...(broker?.url ? { url: broker.url } : {}),
      ...(hint ? { hint } : {}),
      orgs: broker ? await broker.orgs() : [],
      nowMs: Date.now(),
      ...(broker?.lastSweep ? { lastSweep: broker.lastSweep } : {}),
      ...(broker?.nextSweepAtMs !== undefined ? { nextSweepAtMs: broker.nextSweepAtMs } : {}),
      sweepRunning: broker?.sweepRunning ?? false,
      ...(io.stdout.columns ? { columns: io.stdout.columns } : {}),
    };
  }) : undefined;
  const emit = (event: BrokerEvent) => {
    const nowMs = Date.now();
    if (!isTty) io.stdout.write(formatJsonLine(event, nowMs));
    else if (view) view.addEvent(event, nowMs);
    else io.stdout.write(`${describeEvent(event, nowMs)}\n`);
  };

  if (isTty && demo) io.stdout.write(`${DEMO_BANNER}\n`);
  const broker = await startLocalBroker({
    ports,
    network,
    scheduleSeconds,
    ...(config?.refreshAtFraction !== undefined ? { refreshAtFraction: config.refreshAtFraction } : {}),
    serve: !args.once,
    schedule: !args.once,
    host,
    port: args.port ?? config?.port ?? DEFAULT_PORT,
    ...(apiKey !== undefined ? { apiKey } : {}),
    onEvent: emit,
  });
  const auth = apiKey !== undefined ? ` -H "Authorization: Bearer $${apiKeyEnv}"` : '';
  const exampleOrg = demo?.exampleOrgId ?? desired[0]?.orgId;
  const hint = broker.url && exampleOrg ? `curl -s${auth} ${broker.url}/v1/orgs/${exampleOrg}/token` : undefined;
  live.broker = broker;
  if (hint) live.hint = hint;
  if (demo) {
    emit({ event: 'demo_mode', level: 'info', message: DEMO_BANNER, simulatorUrl: demo.simulator.baseUrl, brokenOrgIds: demo.brokenOrgIds, ...(hint ? { try: hint } : {}) });
  }
  const unreadable = synced.filter((r) => r.action === 'unreadable').map((r) => r.orgId);
  emit({
    event: 'orgs_synced',
    level: unreadable.length > 0 ? 'warn' : 'info',
    mode: demo ? 'demo' : 'config',
    ...(config ? { config: config.source } : {}),
    dataDir: store.dataDir,
    orgs: synced.length,
    created: synced.filter((r) => r.action === 'created').map((r) => r.orgId),
    credentialsChanged: synced.filter((r) => r.action === 'credentials_changed').map((r) => r.orgId),
    updated: synced.filter((r) => r.action === 'updated').map((r) => r.orgId),
    disabledUnmanaged: synced.filter((r) => r.action === 'disabled_unmanaged').map((r) => r.orgId),
    // Registry files that cannot be read were left as they are; the status shows them as corrupt.
    ...(unreadable.length > 0 ? { unreadable } : {}),
  });

  if (args.once) return runOnce(broker, io, isTty, demo);

  if (isTty) {
    io.stdout.write(`getter: ${broker.url}\n${hint ? `try:    ${hint}\n` : ''}`);
    view?.start();
  }
  io.onStarted?.(broker);
  const exitCode = await untilStopped(broker, io, emit);
  view?.stop();
  if (isTty) io.stdout.write('broker stopped\n');
  return exitCode;
}

/** `--once`: one sweep, a report, and an exit code that says whether every org has a valid token. */
async function runOnce(broker: LocalBroker, io: MainIo, isTty: boolean, demo: DemoEnvironment | undefined): Promise<number> {
  const summary = await broker.sweep();
  const orgs = await broker.orgs();
  await broker.stop();
  const expectedFailures = new Set(demo?.brokenOrgIds ?? []);
  const failedNow = new Set((summary?.results ?? []).filter((r) => r.outcome === 'failed').map((r) => r.orgId));
  // A corrupt org (unreadable registry file) has no valid token either, whatever its enabled flag was.
  const unhealthy = orgs.filter((o) => o.health === 'corrupt' || (o.enabled && !expectedFailures.has(o.orgId) && (failedNow.has(o.orgId) || o.health === 'expired' || o.health === 'failing' || o.expiresAt === null)));
  const ok = summary !== undefined && summary.registryError === undefined && unhealthy.length === 0;
  if (isTty) {
    io.stdout.write(renderStatusView({ ...(demo ? { banner: DEMO_BANNER } : {}), orgs, nowMs: Date.now(), sweepRunning: false, events: [], color: true, ...(io.stdout.columns ? { columns: io.stdout.columns } : {}), ...(broker.lastSweep ? { lastSweep: broker.lastSweep } : {}) }));
  } else {
    io.stdout.write(formatJsonLine({ event: 'once_done', level: ok ? 'info' : 'error', ok, orgsWithoutValidToken: unhealthy.map((o) => o.orgId), expectedFailures: [...expectedFailures] }, Date.now()));
  }
  return ok ? EXIT_OK : EXIT_FAILURE;
}

/** A repeat of the first stop signal within this long is the same request (see untilStopped). */
const REPEATED_SIGNAL_MS = 1_000;

/** Runs until SIGINT/SIGTERM (or the test's stop signal), then stops within the grace bound. A second signal (a second later or more) forces exit. */
async function untilStopped(broker: LocalBroker, io: MainIo, emit: (event: BrokerEvent) => void): Promise<number> {
  return new Promise<number>((resolvePromise) => {
    let stopping = false;
    let done = false;
    // The handlers are never removed: the process is about to exit, and a signal that arrives late
    // (npm's forwarded copy of a Ctrl-C, delayed under load) must find one, not Node's default action,
    // which would kill a broker that has already stopped cleanly. Once done, they ignore everything.
    let firstSignal: { reason: string; atMs: number } | undefined;
    const stop = (reason: string) => {
      if (done) return;
      // `npm start` forwards the terminal's Ctrl-C to its child, which the terminal already signalled:
      // the same signal again within a second is that one request, not an operator insisting.
      const nowMs = Date.now();
      if (stopping && firstSignal?.reason === reason && nowMs - firstSignal.atMs < REPEATED_SIGNAL_MS) return;
      if (stopping) {
        done = true;
        emit({ event: 'forced_exit', level: 'warn', reason });
        resolvePromise(EXIT_FAILURE);
        return;
      }
      stopping = true;
      firstSignal = { reason, atMs: nowMs };
      emit({ event: 'stopping', level: 'info', reason, graceMs: DEFAULT_STOP_GRACE_MS });
      void broker.stop({ graceMs: DEFAULT_STOP_GRACE_MS }).then(() => {
        done = true;
        resolvePromise(EXIT_OK);
      });
    };
    if (io.handleSignals) {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
    }
    void io.stopSignal?.then(() => stop('stop requested'));
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main(process.argv.slice(2));
  // Pooled upstream connections and timers must not keep a stopped broker alive.
  process.exit(code);
}
