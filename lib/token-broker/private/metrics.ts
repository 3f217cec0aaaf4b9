/**
 * The handlers' own CloudWatch metrics, as the alarms and the dashboard read them. Namespace, service
 * dimension and names come from lambdas/core/metric-names.ts, the module the handlers publish by.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE, METRICS_SERVICE, type MetricName, type MetricsService } from '../../../lambdas/core/metric-names.js';

/** One handler metric (dimension `service`), by default over five minutes. Name it with `METRIC.*`. */
export function brokerMetric(service: MetricsService, metricName: MetricName, statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: METRICS_SERVICE[service] }, statistic, period });
}
