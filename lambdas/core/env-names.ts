/**
 * Environment variable names: a contract between the CDK construct (which sets them) and the
 * handlers (which read them once at cold start). Values are names, ARNs and numbers, never secrets.
 * Each function gets only the variables its handler reads ({@link REFRESHER_ENV}, {@link GETTER_ENV}).
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
  /**
   * Seconds between two scheduled sweeps, from the construct's `rate(...)` schedule: it sets when tokens
   * are refreshed and the shortest token lifetime the refresher accepts. Unset (a cron schedule): 300.
   */
  sweepIntervalSeconds: 'BROKER_SWEEP_INTERVAL_SECONDS',
  /** How many orgs one sweep refreshes at once. */
  sweepConcurrency: 'BROKER_SWEEP_CONCURRENCY',
  /** Upper bound on PutSecretValue/CreateSecret calls per second for this broker. */
  secretWriteRatePerSecond: 'BROKER_SECRET_WRITE_RATE_PER_SECOND',
  /** Days an audit item is kept before DynamoDB TTL removes it. */
  auditRetentionDays: 'BROKER_AUDIT_RETENTION_DAYS',
  /** Getter per-container cache bound, in seconds. */
  getterCacheMaxAgeSeconds: 'BROKER_GETTER_CACHE_MAX_AGE_SECONDS',
  /** The `deployment` dimension of every metric: keeps two brokers in one account apart. */
  deployment: 'BROKER_DEPLOYMENT',
  /** Getter only: the refresher function it asks for on-demand refreshes (name or ARN). */
  refresherFunction: 'BROKER_REFRESHER_FUNCTION',
  /**
   * Refresher only: readers of token secrets in other AWS accounts, a JSON list of
   * `{ "principal": "<account root or IAM role/user ARN>", "orgIds": [...] | "*" }` recorded by the
   * construct's grantReadToken (core/cross-account-readers.ts); `[]` or unset: none.
   */
  crossAccountReaders: 'BROKER_CROSS_ACCOUNT_READERS',
  /** Scoped getters only: the comma-separated org ids the getter serves; unset means every org. */
  allowedOrgIds: 'BROKER_ALLOWED_ORG_IDS',
  /** Refresher only: the event bus (ARN or name) it puts per-org events on; unset means no events. */
  eventBus: 'BROKER_EVENT_BUS',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** What the refresher reads. */
export const REFRESHER_ENV = Object.freeze([
  ENV.secretPrefix,
  ENV.registryTable,
  ENV.auditTable,
  ENV.kmsKeyId,
  ENV.refreshAtFraction,
  ENV.sweepIntervalSeconds,
  ENV.sweepConcurrency,
  ENV.secretWriteRatePerSecond,
  ENV.auditRetentionDays,
  ENV.deployment,
  ENV.crossAccountReaders,
  ENV.eventBus,
] as const);

/** What a getter reads (a scoped getter also reads {@link ENV.allowedOrgIds}). */
export const GETTER_ENV = Object.freeze([ENV.secretPrefix, ENV.registryTable, ENV.getterCacheMaxAgeSeconds, ENV.refresherFunction, ENV.allowedOrgIds, ENV.deployment] as const);
