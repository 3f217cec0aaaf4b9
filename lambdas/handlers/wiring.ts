/**
 * Builds the AWS-backed ports and the engine from validated config. Handlers call this once at
 * module scope; tests call it with emulator endpoints and the Genesys simulator's base-URL resolver.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbAuditLog } from '../adapters/aws/dynamodb-audit-log.js';
import { DynamoDbLease } from '../adapters/aws/dynamodb-lease.js';
import { DynamoDbOrgRegistry } from '../adapters/aws/dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from '../adapters/aws/secrets-manager-credential-store.js';
import { SecretsManagerTokenVault } from '../adapters/aws/secrets-manager-token-vault.js';
import { WriteLimiter } from '../adapters/aws/write-limiter.js';
import { createRefreshEngine, type EngineDependencies, type RefreshEngine } from '../core/engine.js';
import { createOAuthClient, type FetchLike } from '../core/oauth.js';
import { type Clock, systemClock, type Telemetry } from '../core/ports.js';
import type { BaseUrlResolver } from '../core/regions.js';
import { BROKER_VERSION } from '../core/version.js';
import type { BrokerConfig } from './config.js';

export { BROKER_VERSION };

export interface WiringOverrides {
  /** Only tests and the local demo set this; production always calls https://login.<domain>. */
  genesysBaseUrl?: BaseUrlResolver;
  fetch?: FetchLike;
  clock?: Clock;
  secretsManager?: SecretsManagerClient;
  dynamoDb?: DynamoDBClient;
  /** Passed to the OAuth client. */
  requestTimeoutMs?: number;
}

export interface Wired {
  deps: EngineDependencies;
  engine: RefreshEngine;
  config: BrokerConfig;
}

export function wireAws(config: BrokerConfig, telemetry: Telemetry, overrides: WiringOverrides = {}): Wired {
  const clock = overrides.clock ?? systemClock;
  // Standard retry mode retries throttling and 5xx with backoff; both clients are reused across invocations.
  const secretsManager = overrides.secretsManager ?? new SecretsManagerClient({ maxAttempts: 5 });
  const dynamoDb = overrides.dynamoDb ?? new DynamoDBClient({ maxAttempts: 5 });
  const limiter = new WriteLimiter({ ratePerSecond: config.secretWriteRatePerSecond, clock });
  const deps: EngineDependencies = {
    registry: new DynamoDbOrgRegistry({ client: dynamoDb, tableName: config.registryTable }),
    lease: new DynamoDbLease({ client: dynamoDb, tableName: config.registryTable }),
    audit: new DynamoDbAuditLog({ client: dynamoDb, tableName: config.auditTable, retentionDays: config.auditRetentionDays, clock }),
    vault: new SecretsManagerTokenVault({
      client: secretsManager,
      secretPrefix: config.secretPrefix,
      limiter,
      ...(config.kmsKeyId ? { kmsKeyId: config.kmsKeyId } : {}),
    }),
    // Credentials secrets the broker creates (CLI onboarding) use the same customer-managed key as tokens.
    credentials: new SecretsManagerCredentialStore({
      client: secretsManager,
      secretPrefix: config.secretPrefix,
      limiter,
      ...(config.kmsKeyId ? { kmsKeyId: config.kmsKeyId } : {}),
    }),
    oauth: createOAuthClient({
      fetch: overrides.fetch ?? (globalThis.fetch as unknown as FetchLike),
      clock,
      userAgent: `genesys-token-broker/${BROKER_VERSION}`,
      ...(overrides.genesysBaseUrl ? { baseUrl: overrides.genesysBaseUrl } : {}),
      ...(overrides.requestTimeoutMs ? { requestTimeoutMs: overrides.requestTimeoutMs } : {}),
    }),
    clock,
    telemetry,
  };
  const engine = createRefreshEngine(deps, {
    concurrency: config.sweepConcurrency,
    policy: { refreshAtFraction: config.refreshAtFraction },
    brokerVersion: BROKER_VERSION,
  });
  return { deps, engine, config };
}
