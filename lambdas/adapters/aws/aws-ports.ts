/**
 * The AWS world's composition root: typed settings in, the broker's ports out. The Lambda handlers
 * call it with the config they read from the environment once; the operator CLI calls it with the
 * resources of its `--stack` or explicit target. It reads no environment itself, and it is the only
 * place that builds the DynamoDB and Secrets Manager clients the ports share.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type BrokerPorts, type Clock, systemClock } from '../../core/ports.js';
import { settingValue } from '../../core/settings.js';
import { DynamoDbAuditLog } from './dynamodb-audit-log.js';
import { DynamoDbLease } from './dynamodb-lease.js';
import { DynamoDbOrgRegistry } from './dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from './secrets-manager-credential-store.js';
import { SecretsManagerTokenVault } from './secrets-manager-token-vault.js';
import { WriteLimiter } from './write-limiter.js';

export type { DynamoDBClient };

/** Where a broker's state lives in AWS, and how hard the broker may write to it. */
export interface AwsSettings {
  registryTable: string;
  auditTable: string;
  secretPrefix: string;
  /** KMS key for secrets the broker creates. @default - the account's aws/secretsmanager key */
  kmsKeyId?: string;
  /** @default BROKER_SETTINGS.secretWriteRatePerSecond.default (20) */
  secretWriteRatePerSecond?: number;
  /** @default BROKER_SETTINGS.auditRetentionDays.default (90) */
  auditRetentionDays?: number;
}

/** Clients and clock to use instead of the defaults: tests pass emulator-backed clients. */
export interface AwsClients {
  secretsManager?: SecretsManagerClient;
  dynamoDb?: DynamoDBClient;
  /** Attempts of the clients built here (standard retry mode: throttling and 5xx, jittered). @default 5 */
  maxAttempts?: number;
  clock?: Clock;
}

/** The ports on DynamoDB and Secrets Manager, typed as the concrete adapters. */
export interface AwsPorts extends BrokerPorts {
  registry: DynamoDbOrgRegistry;
  lease: DynamoDbLease;
  audit: DynamoDbAuditLog;
  vault: SecretsManagerTokenVault;
  credentials: SecretsManagerCredentialStore;
  /** Releases the sockets of the clients built here (the CLI calls it; a Lambda keeps them warm). */
  close(): void;
}

export function createAwsPorts(settings: AwsSettings, clients: AwsClients = {}): AwsPorts {
  const clock = clients.clock ?? systemClock;
  const maxAttempts = clients.maxAttempts ?? 5;
  const secretsManager = clients.secretsManager ?? new SecretsManagerClient({ maxAttempts });
  const dynamoDb = clients.dynamoDb ?? new DynamoDBClient({ maxAttempts });
  // One limiter for both secret writers: the quota is per account and Region, not per secret kind.
  const limiter = new WriteLimiter({ ratePerSecond: settingValue('secretWriteRatePerSecond', settings.secretWriteRatePerSecond), clock });
  // Credentials secrets the broker creates (CLI onboarding) use the same customer-managed key as tokens.
  const secretStore = { client: secretsManager, secretPrefix: settings.secretPrefix, limiter, ...(settings.kmsKeyId ? { kmsKeyId: settings.kmsKeyId } : {}) };
  return {
    registry: new DynamoDbOrgRegistry({ client: dynamoDb, tableName: settings.registryTable }),
    lease: new DynamoDbLease({ client: dynamoDb, tableName: settings.registryTable }),
    audit: new DynamoDbAuditLog({ client: dynamoDb, tableName: settings.auditTable, retentionDays: settingValue('auditRetentionDays', settings.auditRetentionDays), clock }),
    vault: new SecretsManagerTokenVault(secretStore),
    credentials: new SecretsManagerCredentialStore(secretStore),
    clock,
    close() {
      if (!clients.secretsManager) secretsManager.destroy();
      if (!clients.dynamoDb) dynamoDb.destroy();
    },
  };
}
