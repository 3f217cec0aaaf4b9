/**
 * The one way every world builds its engine: the Lambdas (over `createAwsPorts`), the operator CLI
 * (AWS or file ports) and local mode (`createFilePorts`). It owns the defaults and limits of the
 * broker's settings (core/settings.ts), the broker version stamped on audit records, and the Genesys
 * OAuth client with its User-Agent, so none of the three composition roots repeats them.
 */
import { createRefreshEngine, type EngineDependencies, type RefreshEngine } from './engine.js';
import { createOAuthClient, type FetchLike, type GenesysOAuthClient, type OAuthClientOptions } from './oauth.js';
import { type PolicyOptions, policyOptions, SECRETS_MANAGER_MIN_WRITE_INTERVAL_MS } from './policy.js';
import type { BrokerPorts, OrgEventPublisher, Telemetry } from './ports.js';
import type { BaseUrlResolver } from './regions.js';
import { settingValue } from './settings.js';
import { BROKER_VERSION } from './version.js';

/** Who runs the engine; it appears in the User-Agent sent to Genesys. */
export type BrokerRuntime = 'lambda' | 'cli' | 'local';

/** How the broker reaches Genesys Cloud. Production sets none of these. */
export interface GenesysNetwork {
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  /** Maps `login.<domain>` / `api.<domain>` to a base URL: only tests and the local demo set it. */
  genesysBaseUrl?: BaseUrlResolver;
}

/** The ports, plus where logs and metrics go and how Genesys is reached. */
export interface BrokerEngineDependencies extends BrokerPorts, GenesysNetwork {
  telemetry?: Telemetry;
  /** Where per-org events go: the refresher Lambda's EventBridge publisher; none elsewhere. */
  events?: OrgEventPublisher;
  /** Test-only crash points of a rotation (see EngineDependencies.checkpoint). */
  checkpoint?: EngineDependencies['checkpoint'];
}

/**
 * Least time between two writes of one org's token in a file store (local mode). A file has no version
 * quota, unlike a secret ({@link SECRETS_MANAGER_MIN_WRITE_INTERVAL_MS}); one minute still keeps a
 * client with a tiny token lifetime from rewriting the file and asking Genesys on every short sweep.
 */
export const FILE_MIN_WRITE_INTERVAL_MS = 60_000;

/** Where tokens are written: it sets the minimum write interval. */
export type TokenStoreKind = 'secrets_manager' | 'file';

/** What decides when a token is refreshed and which lifetimes are supported. */
export interface BrokerPolicySettings {
  /** @default BROKER_SETTINGS.refreshAtFraction.default (0.75) */
  refreshAtFraction?: number;
  /** Seconds between sweeps (the schedule). @default BROKER_SETTINGS.sweepIntervalSeconds.default (300) */
  sweepIntervalSeconds?: number;
  /** @default 'secrets_manager' (10-minute write interval; `file`: {@link FILE_MIN_WRITE_INTERVAL_MS}) */
  tokenStore?: TokenStoreKind;
}

/**
 * The refresh policy of a deployment or a local broker, from its settings: the engine refreshes by it,
 * and `orgs add` and local mode's start-up check token lifetimes against it. A bad setting is `invalid_config`.
 */
export function brokerPolicy(settings: BrokerPolicySettings): PolicyOptions {
  return policyOptions({
    refreshAtFraction: settingValue('refreshAtFraction', settings.refreshAtFraction),
    sweepIntervalMs: settingValue('sweepIntervalSeconds', settings.sweepIntervalSeconds) * 1000,
    minWriteIntervalMs: settings.tokenStore === 'file' ? FILE_MIN_WRITE_INTERVAL_MS : SECRETS_MANAGER_MIN_WRITE_INTERVAL_MS,
  });
}

/** What may be tuned; anything left out takes the broker's default. */
export interface BrokerEngineSettings extends BrokerPolicySettings {
  runtime: BrokerRuntime;
  /** @default BROKER_SETTINGS.sweepConcurrency.default (16) */
  sweepConcurrency?: number;
  /** Lease owner; engines that may refresh the same org at once need different owners. @default a random id */
  owner?: string;
  /** No new org starts in a sweep with less time than this left. @default 30_000 */
  orgTimeBudgetMs?: number;
  /** @default 60_000 */
  leaseTtlMs?: number;
  /** Per-request timeout of the Genesys calls. @default 10_000 */
  requestTimeoutMs?: number;
}

/** `genesys-token-broker/<version>`, with the runtime for the CLI and local mode. */
export function userAgentFor(runtime: BrokerRuntime): string {
  return `genesys-token-broker/${BROKER_VERSION}${runtime === 'lambda' ? '' : ` (${runtime})`}`;
}

/**
 * The Genesys OAuth client every runtime uses (the engine's, and the CLI's onboarding check). Extra
 * options tune retries and timeouts; the fetch, base URL and User-Agent are always these.
 */
export function createGenesysOAuthClient(
  network: GenesysNetwork & { clock: BrokerPorts['clock']; runtime: BrokerRuntime },
  options: Pick<OAuthClientOptions, 'maxRetries' | 'requestTimeoutMs'> = {},
): GenesysOAuthClient {
  return createOAuthClient({
    fetch: network.fetch ?? (globalThis.fetch as unknown as FetchLike),
    clock: network.clock,
    userAgent: userAgentFor(network.runtime),
    ...(network.genesysBaseUrl ? { baseUrl: network.genesysBaseUrl } : {}),
    ...options,
  });
}

/** Builds the refresh engine over `deps` with validated settings. A bad setting is `invalid_config`. */
export function createBrokerEngine(deps: BrokerEngineDependencies, settings: BrokerEngineSettings): RefreshEngine {
  const policy = brokerPolicy(settings);
  const concurrency = settingValue('sweepConcurrency', settings.sweepConcurrency);
  const oauth = createGenesysOAuthClient(
    { clock: deps.clock, runtime: settings.runtime, ...(deps.fetch ? { fetch: deps.fetch } : {}), ...(deps.genesysBaseUrl ? { genesysBaseUrl: deps.genesysBaseUrl } : {}) },
    settings.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: settings.requestTimeoutMs },
  );
  return createRefreshEngine(
    {
      registry: deps.registry,
      credentials: deps.credentials,
      vault: deps.vault,
      audit: deps.audit,
      lease: deps.lease,
      journal: deps.journal,
      clock: deps.clock,
      oauth,
      ...(deps.checkpoint ? { checkpoint: deps.checkpoint } : {}),
      ...(deps.telemetry ? { telemetry: deps.telemetry } : {}),
      ...(deps.events ? { events: deps.events } : {}),
    },
    {
      concurrency,
      policy,
      brokerVersion: BROKER_VERSION,
      ...(settings.owner !== undefined ? { owner: settings.owner } : {}),
      ...(settings.orgTimeBudgetMs !== undefined ? { orgTimeBudgetMs: settings.orgTimeBudgetMs } : {}),
      ...(settings.leaseTtlMs !== undefined ? { leaseTtlMs: settings.leaseTtlMs } : {}),
    },
  );
}
