/**
 * The getter's composition root on AWS: what a getter reads (the registry item, the token secret) and
 * whom it asks for a refresh (the refresher Lambda). Nothing here can write a secret, read credentials
 * or use the broker's key directly, matching the getter's role; and nothing pulls in the engine, KMS or
 * the audit log, which keeps the getter's bundle and cold start small.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { OnDemandRefresher } from '../../core/on-demand.js';
import { type Clock, systemClock } from '../../core/ports.js';
import { SDK_TIMEOUTS } from './aws-timeouts.js';
import { DynamoDbOrgRegistry } from './dynamodb-org-registry.js';
import { createLambdaRefresher } from './lambda-refresher.js';
import { SecretsManagerTokenVault } from './secrets-manager-token-vault.js';

export interface AwsGetterSettings {
  registryTable: string;
  secretPrefix: string;
  /** The refresher's function name or ARN. */
  refresherFunction: string;
}

/** Clients and clock to use instead of the defaults: tests pass emulator-backed clients. */
export interface AwsGetterClients {
  secretsManager?: SecretsManagerClient;
  dynamoDb?: DynamoDBClient;
  lambda?: LambdaClient;
  clock?: Clock;
}

export interface AwsGetterPorts {
  registry: DynamoDbOrgRegistry;
  vault: SecretsManagerTokenVault;
  refresher: OnDemandRefresher;
  clock: Clock;
}

export function createAwsGetterPorts(settings: AwsGetterSettings, clients: AwsGetterClients = {}): AwsGetterPorts {
  const clock = clients.clock ?? systemClock;
  const config = { maxAttempts: 3, requestHandler: SDK_TIMEOUTS };
  return {
    registry: new DynamoDbOrgRegistry({ client: clients.dynamoDb ?? new DynamoDBClient(config), tableName: settings.registryTable }),
    vault: new SecretsManagerTokenVault({ client: clients.secretsManager ?? new SecretsManagerClient(config), secretPrefix: settings.secretPrefix }),
    refresher: createLambdaRefresher({ functionName: settings.refresherFunction, clock, ...(clients.lambda ? { client: clients.lambda } : {}) }),
    clock,
  };
}
