/**
 * What the refresher does once per container: read the environment (config.ts), build the AWS ports
 * and the engine (getter-setup.ts is the getter's, kept apart so its bundle carries none of this).
 * Tests pass `env` and `overrides` (emulator clients, the Genesys simulator).
 */
import type { AwsClients } from '../adapters/aws/aws-ports.js';
import { type AwsPorts, createAwsPorts } from '../adapters/aws/aws-ports.js';
import { createBrokerEngine, type GenesysNetwork } from '../core/broker-engine.js';
import type { RefreshEngine } from '../core/engine.js';
import type { Telemetry } from '../core/ports.js';
import { type BrokerConfig, loadConfig } from './config.js';

/** Only tests set these; production uses the SDK defaults and https://login.<domain>. */
export interface HandlerOverrides extends GenesysNetwork, Pick<AwsClients, 'secretsManager' | 'dynamoDb' | 'kms' | 'clock'> {
  /** Per-request timeout of the Genesys calls. */
  requestTimeoutMs?: number;
}

export interface HandlerOptions {
  /** @default process.env */
  env?: Record<string, string | undefined>;
  overrides?: HandlerOverrides;
}

export function setUpBroker(options: HandlerOptions, telemetry: Telemetry): { config: BrokerConfig; ports: AwsPorts; engine: RefreshEngine } {
  const config = loadConfig(options.env ?? process.env);
  const { genesysBaseUrl, fetch, requestTimeoutMs, ...clients } = options.overrides ?? {};
  const ports = createAwsPorts(config, { ...clients, telemetry });
  const engine = createBrokerEngine(
    { ...ports, telemetry, ...(fetch ? { fetch } : {}), ...(genesysBaseUrl ? { genesysBaseUrl } : {}) },
    {
      runtime: 'lambda',
      refreshAtFraction: config.refreshAtFraction,
      sweepIntervalSeconds: config.sweepIntervalSeconds,
      sweepConcurrency: config.sweepConcurrency,
      ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    },
  );
  return { config, ports, engine };
}

