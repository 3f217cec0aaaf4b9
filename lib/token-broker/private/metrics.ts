/** The handlers' own CloudWatch metrics, as the alarms and the dashboard read them. */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** CloudWatch namespace the handlers' Powertools Metrics publish to. */
export const METRICS_NAMESPACE = 'GenesysTokenBroker';

/** Powertools `serviceName` of each handler; Powertools adds it as the `service` dimension. */
export const METRICS_SERVICE = Object.freeze({ refresher: 'refresher', getter: 'getter' } as const);

/** One handler metric (dimension `service`), by default over five minutes. */
export function brokerMetric(service: 'refresher' | 'getter', metricName: string, statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: METRICS_SERVICE[service] }, statistic, period });
}
