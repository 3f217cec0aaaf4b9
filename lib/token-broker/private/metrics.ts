/**
 * The handlers' own CloudWatch metrics, as the alarms and the dashboard read them. Namespace, service
 * dimension and names come from lambdas/core/metric-names.ts, the module the handlers publish by.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { DEPLOYMENT_DIMENSION, METRICS_NAMESPACE, METRICS_SERVICE, type MetricName, type MetricsService } from '../../../lambdas/core/metric-names.js';

/**
 * One handler metric of one deployment (dimensions `service` and `deployment`), by default over five
 * minutes. Name it with `METRIC.*`. The deployment dimension keeps two brokers in one account and
 * Region from reading each other's metrics.
 */
export function brokerMetric(deployment: string, service: MetricsService, metricName: MetricName, statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRICS_SERVICE[service], [DEPLOYMENT_DIMENSION]: deployment },
    statistic,
    period,
  });
}
