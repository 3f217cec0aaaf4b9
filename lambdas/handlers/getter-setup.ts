/**
 * What a getter does once per container: read its environment (config.ts) and build its read-only
 * ports (aws-getter-ports.ts). Apart from setup.ts so that the getter's bundle never pulls in the
 * engine, the OAuth client, KMS or the credential store. Tests pass `env` and emulator clients.
 */
import { type AwsGetterClients, type AwsGetterPorts, createAwsGetterPorts } from '../adapters/aws/aws-getter-ports.js';
import { type GetterConfig, loadGetterConfig } from './config.js';

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
