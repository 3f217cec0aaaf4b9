/** The broker's CloudWatch dashboard: sweep outcomes, orgs at risk, token lifetime, getter latency and cache. */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { METRIC } from '../../../lambdas/core/metric-names.js';
import { brokerMetric } from './metrics.js';

/** The dashboard `Dashboard`, a child of `scope`. */
export function createDashboard(scope: Construct, refresher: lambda.IFunction, getter: lambda.IFunction, deployment: string): cloudwatch.Dashboard {
  const hits = brokerMetric(deployment, 'getter', METRIC.getterCacheHit, 'Sum');
  const misses = brokerMetric(deployment, 'getter', METRIC.getterCacheMiss, 'Sum');
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { defaultInterval: Duration.days(1) });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Sweep outcomes',
      left: [brokerMetric(deployment, 'refresher', METRIC.refreshSucceeded, 'Sum'), brokerMetric(deployment, 'refresher', METRIC.refreshFailed, 'Sum')],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Orgs at risk',
      left: [brokerMetric(deployment, 'refresher', METRIC.orgsAtRisk, 'Maximum')],
      leftAnnotations: [{ value: 1, label: 'alarm', color: cloudwatch.Color.RED }],
      width: 12,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Least token lifetime left (seconds)',
      left: [brokerMetric(deployment, 'refresher', METRIC.minTokenSecondsRemaining, 'Minimum')],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Getter latency (ms)',
      left: [brokerMetric(deployment, 'getter', METRIC.getterLatencyMs, 'p50'), brokerMetric(deployment, 'getter', METRIC.getterLatencyMs, 'p99')],
      width: 12,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Getter cache hit ratio',
      left: [
        new cloudwatch.MathExpression({
          expression: 'hits / (hits + misses)',
          usingMetrics: { hits, misses },
          label: 'cache hit ratio',
          period: Duration.minutes(5),
        }),
      ],
      leftYAxis: { min: 0, max: 1 },
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Function errors and throttles',
      left: [refresher.metricErrors(), refresher.metricThrottles(), getter.metricErrors()],
      width: 12,
    }),
  );
  return dashboard;
}
