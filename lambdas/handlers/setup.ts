/**
 * What the handlers do once per container: read the environment (config.ts) and build their ports:
 * the refresher the AWS ports and the engine, a getter its read-only ports (aws-getter-ports.ts).
 * Tests pass `env` and `overrides` (emulator clients, the Genesys simulator).
 */
import type { AwsClients } from '../adapters/aws/aws-ports.js';
import { type AwsPorts, createAwsPorts } from '../adapters/aws/aws-ports.js';
import { type AwsGetterClients, type AwsGetterPorts, createAwsGetterPorts } from '../adapters/aws/aws-getter-ports.js';
import { createBrokerEngine, type GenesysNetwork } from '../core/broker-engine.js';
import type { RefreshEngine } from '../core/engine.js';
import type { Telemetry } from '../core/ports.js';
import { type BrokerConfig, type GetterConfig, loadConfig, loadGetterConfig } from './config.js';

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
  const ports = createAwsPorts(config, clients);
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

export interface GetterHandlerOptions {
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** Only tests set these (emulator clients, including the Lambda client that reaches the refresher). */
  overrides?: AwsGetterClients;
}

export function setUpGetter(options: GetterHandlerOptions): { config: GetterConfig; ports: AwsGetterPorts } {
  const config = loadGetterConfig(options.env ?? process.env);
  return { config, ports: createAwsGetterPorts(config, options.overrides) };
}
