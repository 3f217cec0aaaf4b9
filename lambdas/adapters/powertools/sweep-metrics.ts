/**
 * A sweep's outcome as CloudWatch EMF metrics, under the names the construct's alarms and dashboard
 * read (core/metric-names.ts).
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ERROR_CODE_DIMENSION, METRIC } from '../../core/metric-names.js';
import type { SweepSummary } from '../../core/sweep-summary.js';

export function emitSweepMetrics(metrics: Metrics, summary: SweepSummary): void {
  const failedTotal = Object.values(summary.failed).reduce((a, b) => a + (b ?? 0), 0);
  metrics.addMetric(METRIC.refreshSucceeded, MetricUnit.Count, summary.refreshed);
  metrics.addMetric(METRIC.refreshFailed, MetricUnit.Count, failedTotal);
  metrics.addMetric(METRIC.orgsDue, MetricUnit.Count, summary.due);
  metrics.addMetric(METRIC.orgsDeferred, MetricUnit.Count, summary.deferred);
  metrics.addMetric(METRIC.orgsAtRisk, MetricUnit.Count, summary.orgsAtRisk);
  metrics.addMetric(METRIC.sweepDurationMs, MetricUnit.Milliseconds, summary.durationMs);
  metrics.addMetric(METRIC.auditWriteFailures, MetricUnit.Count, summary.auditWriteFailures);
  metrics.addMetric(METRIC.criticalEvents, MetricUnit.Count, summary.critical);
  if (summary.minTokenSecondsRemaining !== undefined) metrics.addMetric(METRIC.minTokenSecondsRemaining, MetricUnit.Seconds, summary.minTokenSecondsRemaining);
  for (const [code, count] of Object.entries(summary.failed)) {
    // Per-code counts go out as their own EMF blobs so the dimension does not multiply the others.
    const single = metrics.singleMetric();
    single.addDimension(ERROR_CODE_DIMENSION, code);
    single.addMetric(METRIC.refreshFailed, MetricUnit.Count, count ?? 0);
  }
}
