/**
 * CloudWatch metric names: a contract between the handlers (which publish them as EMF) and the CDK
 * construct (whose alarms and dashboard read them). Both sides import this module, so a renamed
 * metric can never leave an alarm watching nothing.
 */

/** Namespace every broker metric is published in. */
export const METRICS_NAMESPACE = 'GenesysTokenBroker';

/** Powertools `serviceName` of each handler; Powertools adds it as the `service` dimension. */
export const METRICS_SERVICE = Object.freeze({ refresher: 'refresher', getter: 'getter' } as const);

export type MetricsService = keyof typeof METRICS_SERVICE;

/** Metric names. */
export const METRIC = Object.freeze({
  // The refresher: counters for every refresh (sweep or on-demand), gauges once per sweep.
  refreshSucceeded: 'RefreshSucceeded',
  /** Also published per `errorCode` dimension. */
  refreshFailed: 'RefreshFailed',
  orgsDue: 'OrgsDue',
  orgsDeferred: 'OrgsDeferred',
  orgsAtRisk: 'OrgsAtRisk',
  sweepDurationMs: 'SweepDurationMs',
  auditWriteFailures: 'AuditWriteFailures',
  /** An org's new state (retry time, failure count) could not be written after an attempt. */
  stateWriteFailures: 'StateWriteFailures',
  criticalEvents: 'CriticalEvents',
  minTokenSecondsRemaining: 'MinTokenSecondsRemaining',
  /** A token secret's resource policy for cross-account readers could not be written (the next sweep retries). */
  tokenSecretPolicyFailures: 'TokenSecretPolicyFailures',
  // Per-org events (event-publisher.ts), once per invocation of a refresher that publishes them.
  eventsPublished: 'EventsPublished',
  /** Events given up: refused, out of retries or out of time. The refreshes themselves stood. */
  eventsFailed: 'EventsFailed',
  // The getter, once per request.
  getterLatencyMs: 'GetterLatencyMs',
  getterCacheHit: 'GetterCacheHit',
  getterCacheMiss: 'GetterCacheMiss',
  getterError: 'GetterError',
} as const);

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Dimension carrying the error code on the per-code `RefreshFailed` metric. */
export const ERROR_CODE_DIMENSION = 'errorCode';

/**
 * Dimension naming the deployment on every metric (the construct sets it to `<stack name>/<construct
 * id>` through `BROKER_DEPLOYMENT`), so two brokers in one account and Region keep their alarms apart.
 */
export const DEPLOYMENT_DIMENSION = 'deployment';
