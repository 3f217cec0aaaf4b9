/**
 * Environment variable names: a contract between the CDK construct (which sets them) and the
 * handlers (which read them once at cold start). Values are names, ARNs and numbers, never secrets.
 */
export const ENV = {
  /** Prefix of every secret the broker owns: `<prefix>/tokens/<orgId>`, `<prefix>/credentials/<orgId>`. */
  secretPrefix: 'BROKER_SECRET_PREFIX',
  /** DynamoDB table holding the org registry and the leases. */
  registryTable: 'BROKER_REGISTRY_TABLE',
  /** DynamoDB table holding the audit log. */
  auditTable: 'BROKER_AUDIT_TABLE',
  /** KMS key id or ARN used to encrypt token secrets the broker creates. */
  kmsKeyId: 'BROKER_KMS_KEY_ID',
  /** Fraction of a token's lifetime after which it is refreshed (0.5 to 0.9). */
  refreshAtFraction: 'BROKER_REFRESH_AT_FRACTION',
  /** How many orgs one sweep refreshes at once. */
  sweepConcurrency: 'BROKER_SWEEP_CONCURRENCY',
  /** Upper bound on PutSecretValue/CreateSecret calls per second for this broker. */
  secretWriteRatePerSecond: 'BROKER_SECRET_WRITE_RATE_PER_SECOND',
  /** Days an audit item is kept before DynamoDB TTL removes it. */
  auditRetentionDays: 'BROKER_AUDIT_RETENTION_DAYS',
  /** Getter per-container cache bound, in seconds. */
  getterCacheMaxAgeSeconds: 'BROKER_GETTER_CACHE_MAX_AGE_SECONDS',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
