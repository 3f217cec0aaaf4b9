/**
 * Refresh outcomes as CloudWatch EMF metrics, under the names the construct's alarms and dashboard
 * read (core/metric-names.ts). Counters go out for every refresh, whatever triggered it (a sweep or
 * the getter's on-demand request), so `CriticalEvents` and `RefreshFailed` see all of them; gauges
 * describe the whole registry and go out once per sweep only.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ERROR_CODE_DIMENSION, METRIC } from '../../core/metric-names.js';
import type { SweepSummary } from '../../core/sweep-summary.js';

/** What happened: refreshes, failures (also per error code), critical events and failed side writes. */
export function emitRefreshCounters(metrics: Metrics, summary: SweepSummary): void {
  const failedTotal = Object.values(summary.failed).reduce((a, b) => a + (b ?? 0), 0);
  metrics.addMetric(METRIC.refreshSucceeded, MetricUnit.Count, summary.refreshed);
  metrics.addMetric(METRIC.refreshFailed, MetricUnit.Count, failedTotal);
  metrics.addMetric(METRIC.auditWriteFailures, MetricUnit.Count, summary.auditWriteFailures);
  metrics.addMetric(METRIC.stateWriteFailures, MetricUnit.Count, summary.stateWriteFailures);
  metrics.addMetric(METRIC.criticalEvents, MetricUnit.Count, summary.critical);
  for (const [code, count] of Object.entries(summary.failed)) {
    // Per-code counts go out as their own EMF blobs so the dimension does not multiply the others.
    const single = metrics.singleMetric();
    single.addDimension(ERROR_CODE_DIMENSION, code);
    single.addMetric(METRIC.refreshFailed, MetricUnit.Count, count ?? 0);
  }
}

/** A sweep: its counters, and the gauges only a pass over every org can give. */
export function emitSweepMetrics(metrics: Metrics, summary: SweepSummary): void {
  emitRefreshCounters(metrics, summary);
  metrics.addMetric(METRIC.orgsDue, MetricUnit.Count, summary.due);
  metrics.addMetric(METRIC.orgsDeferred, MetricUnit.Count, summary.deferred);
  metrics.addMetric(METRIC.orgsAtRisk, MetricUnit.Count, summary.orgsAtRisk);
  metrics.addMetric(METRIC.sweepDurationMs, MetricUnit.Milliseconds, summary.durationMs);
  if (summary.minTokenSecondsRemaining !== undefined) metrics.addMetric(METRIC.minTokenSecondsRemaining, MetricUnit.Seconds, summary.minTokenSecondsRemaining);
}
