/**
 * The AWS world's composition root: typed settings in, the broker's ports out. The Lambda handlers
 * call it with the config they read from the environment once; the operator CLI calls it with the
 * resources of its `--stack` or explicit target. It reads no environment itself, and it is the only
 * place that builds the DynamoDB and Secrets Manager clients the ports share.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SDK_TIMEOUTS } from './aws-timeouts.js';
import { BrokerError } from '../../core/errors.js';
import type { CrossAccountReader } from '../../core/cross-account-readers.js';
import { type BrokerPorts, type Clock, type RefreshTokenJournal, silentTelemetry, systemClock, type Telemetry } from '../../core/ports.js';
import { settingValue } from '../../core/settings.js';
import { DynamoDbAuditLog } from './dynamodb-audit-log.js';
import { DynamoDbLease } from './dynamodb-lease.js';
import { DynamoDbOrgRegistry } from './dynamodb-org-registry.js';
import { DynamoDbRefreshTokenJournal } from './dynamodb-refresh-token-journal.js';
import { createKmsEnvelope } from './kms-envelope.js';
import { SecretsManagerCredentialStore } from './secrets-manager-credential-store.js';
import { SecretsManagerTokenVault } from './secrets-manager-token-vault.js';
import { TokenSecretPolicies } from './token-secret-policies.js';
import { WriteLimiter } from './write-limiter.js';

export type { DynamoDBClient };

/** Where a broker's state lives in AWS, and how hard the broker may write to it. */
export interface AwsSettings {
  registryTable: string;
  auditTable: string;
  secretPrefix: string;
  /**
   * The broker's KMS key: secrets the broker creates use it, and it seals rotated refresh tokens held
   * write-ahead. Without it, refresh_token orgs cannot be refreshed (client_credentials ones can).
   * @default - the account's aws/secretsmanager key for secrets; no write-ahead journal
   */
  kmsKeyId?: string;
  /** @default BROKER_SETTINGS.secretWriteRatePerSecond.default (20) */
  secretWriteRatePerSecond?: number;
  /** @default BROKER_SETTINGS.auditRetentionDays.default (90) */
  auditRetentionDays?: number;
  /**
   * Readers of token secrets in other accounts (the refresher's list). Undefined where the list is
   * not known (the CLI): a token secret created here is then noted for the refresher to apply.
   */
  crossAccountReaders?: readonly CrossAccountReader[];
}

/** Clients and clock to use instead of the defaults: tests pass emulator-backed clients. */
export interface AwsClients {
  secretsManager?: SecretsManagerClient;
  dynamoDb?: DynamoDBClient;
  kms?: KMSClient;
  /** Attempts of the clients built here (standard retry mode: throttling and 5xx, jittered). @default 3 */
  maxAttempts?: number;
  clock?: Clock;
  /** Where the resource-policy bookkeeping logs and counts its failures. @default silentTelemetry */
  telemetry?: Telemetry;
}

/** The ports on DynamoDB and Secrets Manager, typed as the concrete adapters. */
export interface AwsPorts extends BrokerPorts {
  registry: DynamoDbOrgRegistry;
  lease: DynamoDbLease;
  audit: DynamoDbAuditLog;
  vault: SecretsManagerTokenVault;
  credentials: SecretsManagerCredentialStore;
  journal: RefreshTokenJournal;
  /** Resource policies on token secrets for readers in other accounts. */
  tokenSecretPolicies: TokenSecretPolicies;
  /** Releases the sockets of the clients built here (the CLI calls it; a Lambda keeps them warm). */
  close(): void;
}

/** A journal for a deployment without a KMS key: refresh_token orgs fail before anything is spent. */
const NO_JOURNAL: RefreshTokenJournal = {
  record: async (handle) => {
    throw new BrokerError('invalid_config', `no KMS key is configured, so a rotated refresh token of org ${handle.orgId} cannot be held write-ahead`, { orgId: handle.orgId });
  },
  read: async (orgId) => {
    throw new BrokerError('invalid_config', `no KMS key is configured: org ${orgId} uses the refresh_token grant, which needs the write-ahead journal`, { orgId });
  },
  clear: async () => undefined,
};

export function createAwsPorts(settings: AwsSettings, clients: AwsClients = {}): AwsPorts {
  const clock = clients.clock ?? systemClock;
  const maxAttempts = clients.maxAttempts ?? 3;
  const config = { maxAttempts, requestHandler: SDK_TIMEOUTS };
  const secretsManager = clients.secretsManager ?? new SecretsManagerClient(config);
  const dynamoDb = clients.dynamoDb ?? new DynamoDBClient(config);
  const kms = settings.kmsKeyId ? (clients.kms ?? new KMSClient(config)) : undefined;
  // One limiter for both secret writers: the quota is per account and Region, not per secret kind.
  const limiter = new WriteLimiter({ ratePerSecond: settingValue('secretWriteRatePerSecond', settings.secretWriteRatePerSecond), clock });
  // Credentials secrets the broker creates (CLI onboarding) use the same customer-managed key as tokens.
  const secretStore = { client: secretsManager, secretPrefix: settings.secretPrefix, limiter, ...(settings.kmsKeyId ? { kmsKeyId: settings.kmsKeyId } : {}) };
  const tokenSecretPolicies = new TokenSecretPolicies({
    secretsManager,
    dynamoDb,
    registryTable: settings.registryTable,
    secretPrefix: settings.secretPrefix,
    ...(settings.crossAccountReaders ? { readers: settings.crossAccountReaders } : {}),
    clock,
    telemetry: clients.telemetry ?? silentTelemetry,
    limiter,
  });
  return {
    registry: new DynamoDbOrgRegistry({ client: dynamoDb, tableName: settings.registryTable }),
    lease: new DynamoDbLease({ client: dynamoDb, tableName: settings.registryTable }),
    audit: new DynamoDbAuditLog({ client: dynamoDb, tableName: settings.auditTable, retentionDays: settingValue('auditRetentionDays', settings.auditRetentionDays), clock }),
    vault: new SecretsManagerTokenVault({ ...secretStore, onCreated: (orgId) => tokenSecretPolicies.afterCreate(orgId) }),
    credentials: new SecretsManagerCredentialStore(secretStore),
    journal:
      kms && settings.kmsKeyId
        ? new DynamoDbRefreshTokenJournal({ client: dynamoDb, tableName: settings.registryTable, sealer: createKmsEnvelope({ keyId: settings.kmsKeyId, client: kms }) })
        : NO_JOURNAL,
    tokenSecretPolicies,
    clock,
    close() {
      if (!clients.secretsManager) secretsManager.destroy();
      if (!clients.dynamoDb) dynamoDb.destroy();
      if (kms && !clients.kms) kms.destroy();
    },
  };
}
