/**
 * The alarm topic and the alarms: what an operator is woken for (failed refreshes, critical events,
 * orgs at risk, state writes that failed, function errors, throttles and timeouts, sweeps that
 * stopped, undeliverable schedule events).
 */
import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { METRIC } from '../../../lambdas/core/metric-names.js';
import { brokerMetric } from './metrics.js';

/**
 * The topic `AlarmTopic`, encrypted with `encryptionKey`, that CloudWatch alarms of this account may
 * publish to; adds the matching statement to the key policy when the key can be edited, and warns on
 * `scope` when it cannot.
 */
export function createAlarmTopic(scope: Construct, encryptionKey: kms.IKey, alarmEmail: string | undefined): sns.Topic {
  const topic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'Genesys token broker alarms',
    // The AWS managed aws/sns key would not work: CloudWatch cannot use it, so alarms would never arrive.
    masterKey: encryptionKey,
    enforceSSL: true,
  });
  const stack = Stack.of(scope);
  const fromOurAlarms = {
    StringEquals: { 'aws:SourceAccount': stack.account },
    ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` },
  };
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: fromOurAlarms,
    }),
  );
  const added = encryptionKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsUseKeyForAlarmTopic',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: fromOurAlarms,
    }),
    /* allowNoOp */ true,
  );
  if (!added.statementAdded) {
    Annotations.of(scope).addWarningV2(
      'genesys-token-broker:alarmTopicKeyPolicy',
      'encryptionKey was imported, so its key policy cannot be edited here: allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* on it, or alarm notifications are dropped',
    );
  }
  if (alarmEmail !== undefined && alarmEmail !== '') topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
  return topic;
}

/** What the alarms watch and whom they notify. */
export interface AlarmTargets {
  readonly topic: sns.ITopic;
  readonly refresher: lambda.IFunction;
  readonly getter: lambda.IFunction;
  readonly deadLetterQueue: sqs.IQueue;
  readonly refresherTimeout: Duration;
  /** Minutes between sweeps; undefined for a cron schedule. */
  readonly scheduleIntervalMinutes: number | undefined;
  /** The value of the handlers' `deployment` metric dimension. */
  readonly deployment: string;
  /** Whether the refresher puts per-org events on a bus. */
  readonly eventsEnabled: boolean;
}

/** The alarms `<key>Alarm`, children of `scope`, each notifying `topic` on ALARM and OK; returned by key. */
export function createAlarms(scope: Construct, targets: AlarmTargets): Record<string, cloudwatch.Alarm> {
  const { topic, refresher, getter, deadLetterQueue: dlq, refresherTimeout, scheduleIntervalMinutes: interval, deployment, eventsEnabled } = targets;
  const fiveMinutes = Duration.minutes(5);
  const alarms: Record<string, cloudwatch.Alarm> = {};
  const add = (key: string, props: cloudwatch.AlarmProps) => {
    const alarm = new cloudwatch.Alarm(scope, `${key}Alarm`, props);
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(topic));
    alarm.addOkAction(new cloudwatchActions.SnsAction(topic));
    alarms[key] = alarm;
  };
  const atLeastOnce = { threshold: 1, evaluationPeriods: 1, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD };

  add('RefreshFailed', {
    ...atLeastOnce,
    metric: brokerMetric(deployment, 'refresher', METRIC.refreshFailed, 'Sum'),
    alarmDescription: 'A sweep failed to refresh at least one org token. See the audit table (failures-by-day index) for the org and error code.',
    // No data means no sweep reported in the period: no failures. A sweep that stops running is the
    // SweepsMissing alarm's job.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  add('OrgsAtRisk', {
    ...atLeastOnce,
    metric: brokerMetric(deployment, 'refresher', METRIC.orgsAtRisk, 'Maximum'),
    alarmDescription: 'At least one org token is close to expiry without a successful refresh: consumers will soon get no token for it.',
    // Every sweep reports OrgsAtRisk (0 when healthy), so no data only means no sweep ended in the
    // period; SweepsMissing covers that.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  add('CriticalEvents', {
    ...atLeastOnce,
    metric: brokerMetric(deployment, 'refresher', METRIC.criticalEvents, 'Sum'),
    alarmDescription:
      'A refresh ended in a critical event, in a sweep or on a getter\'s request: a rotated refresh token could not be kept or its fate is unknown, ' +
      'or the org needs re-authorization. The audit table has the org (severity critical); see README "Durability".',
    // Counters are published for every refresh: no data means no refresh in the period.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  add('StateWriteFailures', {
    ...atLeastOnce,
    metric: brokerMetric(deployment, 'refresher', METRIC.stateWriteFailures, 'Sum'),
    alarmDescription:
      'The refresher could not record an org\'s state after an attempt (DynamoDB throttling or errors): its next refresh time may be stale. Check the registry table\'s metrics.',
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  add('TokenSecretPolicyFailures', {
    threshold: 1,
    // Each sweep retries: one failed policy write is noise, the same in two periods running is not.
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    metric: brokerMetric(deployment, 'refresher', METRIC.tokenSecretPolicyFailures, 'Sum'),
    alarmDescription:
      'Token secret resource policies for readers in other accounts could not be written in two periods running: those readers may be refused (AccessDenied). ' +
      'The refresher\'s log names the org and the error; see README "Readers in other AWS accounts".',
    // Published only on a failure: no data means none.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  if (eventsEnabled) {
    add('EventsFailed', {
      threshold: 1,
      // Events are best effort and a refused batch is resent: a bus that refuses them for 15 minutes
      // running (deleted, a policy or a quota) is what rules and their consumers must hear about.
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      metric: brokerMetric(deployment, 'refresher', METRIC.eventsFailed, 'Sum'),
      alarmDescription:
        'Per-org events could not be put on the event bus for 15 minutes: rules routing them (re-authorization tickets, cache invalidation) are not being fed. ' +
        'The refresher\'s log names the EventBridge error codes; see README "Events".',
      // Published with every flush (0 when all went out): no data means no invocation published any.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
  add('RefresherErrors', {
    ...atLeastOnce,
    metric: refresher.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
    alarmDescription: 'The refresher failed (an unhandled error, a registry that could not be read to the end, or a timeout).',
    // Lambda publishes no Errors datapoint without invocations: nothing failed.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  add('RefresherThrottles', {
    ...atLeastOnce,
    metric: refresher.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
    alarmDescription:
      'The refresher was throttled: its reserved concurrency (one sweep and four getter on-demand refreshes) was in use. Getters then serve stored tokens or answer token_unavailable.',
    // No datapoint means no throttled invocation.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  if (!refresherTimeout.isUnresolved()) {
    // Timeout detection by Duration, not by a log metric filter on "Task timed out": a filter's
    // metric cannot carry a per-deployment dimension (the line has no fields), so two brokers in
    // one account would share it, and it depends on the log format. Not at 95% either: the
    // refresher deliberately works until 5 s before its timeout when it has a backlog, so only a
    // run within the last second of the timeout is a timeout (Lambda reports about the timeout).
    const thresholdMs = refresherTimeout.toMilliseconds() - 1000;
    add('RefresherTimeouts', {
      threshold: thresholdMs,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      metric: refresher.metricDuration({ period: fiveMinutes, statistic: 'Maximum' }),
      alarmDescription: `A sweep ran into the refresher's timeout (${refresherTimeout.toHumanString()}); orgs after the cut-off waited for the next sweep.`,
      // No Duration datapoint means no invocation, so nothing timed out.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
  // Silence is the failure here: without invocations nothing refreshes and the other alarms see no data.
  const missingWindowMinutes = interval === undefined ? 1440 : Math.min(Math.max(interval * 3, 15), 1440);
  add('SweepsMissing', {
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    // Sweeps, not invocations: getters invoke the refresher too, and their on-demand refreshes must not
    // hide a disabled schedule. Every sweep publishes SweepDurationMs exactly once.
    metric: brokerMetric(deployment, 'refresher', METRIC.sweepDurationMs, 'SampleCount', Duration.minutes(missingWindowMinutes)),
    alarmDescription: `No sweep finished for ${missingWindowMinutes} minutes: is the schedule rule disabled, or is every sweep failing?`,
    // No datapoint means no sweep reported, which is exactly the alarm case.
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  add('SweepDeadLetters', {
    ...atLeastOnce,
    metric: dlq.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Maximum' }),
    alarmDescription: 'EventBridge could not deliver a scheduled sweep to the refresher; the event is in the dead-letter queue.',
    // SQS keeps publishing for a queue that holds messages; no data means an empty, idle queue.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  add('GetterErrors', {
    ...atLeastOnce,
    metric: getter.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
    alarmDescription: 'The getter failed unexpectedly (typed errors such as unknown_org are answers, not failures).',
    // An idle getter publishes no datapoints; that is normal.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return alarms;
}
