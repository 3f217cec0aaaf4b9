/**
 * What the refresher does once per container: read the environment (config.ts), build the AWS ports
 * and the engine (getter-setup.ts is the getter's, kept apart so its bundle carries none of this).
 * Tests pass `env` and `overrides` (emulator clients, the Genesys simulator).
 */
import type { AwsClients } from '../adapters/aws/aws-ports.js';
import { type AwsPorts, createAwsPorts } from '../adapters/aws/aws-ports.js';
import { createEventBridgePublisher, type EventBridgeClient } from '../adapters/aws/eventbridge-org-events.js';
import { createBrokerEngine, type GenesysNetwork } from '../core/broker-engine.js';
import type { RefreshEngine } from '../core/engine.js';
import type { OrgEventPublisher, Telemetry } from '../core/ports.js';
import { type BrokerConfig, loadConfig } from './config.js';

/** Only tests set these; production uses the SDK defaults and https://login.<domain>. */
export interface HandlerOverrides extends GenesysNetwork, Pick<AwsClients, 'secretsManager' | 'dynamoDb' | 'kms' | 'clock'> {
  /** Per-request timeout of the Genesys calls. */
  requestTimeoutMs?: number;
  /** The client per-org events are put with (when the environment names a bus). */
  eventBridge?: EventBridgeClient;
}

export interface HandlerOptions {
  /** @default process.env */
  env?: Record<string, string | undefined>;
  overrides?: HandlerOverrides;
}

export interface BrokerSetup {
  config: BrokerConfig;
  ports: AwsPorts;
  engine: RefreshEngine;
  /** Per-org events: present when the environment names an event bus. */
  events?: OrgEventPublisher;
}

export function setUpBroker(options: HandlerOptions, telemetry: Telemetry): BrokerSetup {
  const config = loadConfig(options.env ?? process.env);
  const { genesysBaseUrl, fetch, requestTimeoutMs, eventBridge, ...clients } = options.overrides ?? {};
  const ports = createAwsPorts(config, { ...clients, telemetry });
  const events = config.eventBus
    ? createEventBridgePublisher(
        { eventBus: config.eventBus, ...(config.deployment ? { deployment: config.deployment } : {}) },
        { clock: ports.clock, telemetry, ...(eventBridge ? { client: eventBridge } : {}) },
      )
    : undefined;
  const engine = createBrokerEngine(
    { ...ports, telemetry, ...(events ? { events } : {}), ...(fetch ? { fetch } : {}), ...(genesysBaseUrl ? { genesysBaseUrl } : {}) },
    {
      runtime: 'lambda',
      refreshAtFraction: config.refreshAtFraction,
      sweepIntervalSeconds: config.sweepIntervalSeconds,
      sweepConcurrency: config.sweepConcurrency,
      ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    },
  );
  return { config, ports, engine, ...(events ? { events } : {}) };
}

