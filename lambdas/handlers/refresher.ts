/**
 * The scheduled refresher. EventBridge invokes it every few minutes; operators may invoke it with
 * `{ "orgIds": [...], "force": true }`. One sweep per invocation, bounded by the Lambda's remaining time.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createPowertoolsTelemetry } from '../adapters/powertools/powertools-telemetry.js';
import { emitSweepMetrics } from '../adapters/powertools/sweep-metrics.js';
import { BrokerError } from '../core/errors.js';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../core/metric-names.js';
import { parseRefresherEvent } from '../core/refresher-event.js';
import type { SweepSummary } from '../core/sweep-summary.js';
import { type HandlerOptions, setUpBroker } from './setup.js';

/** Time kept back from the Lambda timeout to write state, audit and metrics after the last org. */
const DEADLINE_RESERVE_MS = 5_000;

export function createRefresherHandler(options: HandlerOptions = {}) {
  const logger = new Logger({ serviceName: 'genesys-token-broker-refresher' });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE.refresher });
  const { ports, engine } = setUpBroker(options, createPowertoolsTelemetry(logger, metrics));

  async function refresh(event: unknown, context: Context): Promise<SweepSummary> {
    const request = parseRefresherEvent(event);
    const deadlineMs = ports.clock.now() + Math.max(0, context.getRemainingTimeInMillis() - DEADLINE_RESERVE_MS);
    logger.info('sweep starting', { trigger: request.trigger, force: request.force, orgCount: request.orgIds?.length });
    const summary = await engine.sweep({ ...request, deadlineMs, requestId: context.awsRequestId });
    emitSweepMetrics(metrics, summary);
    const { results, ...counts } = summary;
    logger.info('sweep finished', { ...counts, resultCount: results.length });
    // Fail the invocation so the Errors alarm fires; the work already done stands.
    if (summary.registryError) throw new BrokerError(summary.registryError, `registry could not be listed to the end after ${summary.examined} orgs`);
    return summary;
  }

  return middy(refresh).use(injectLambdaContext(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
}

let instance: ReturnType<typeof createRefresherHandler> | undefined;

/** The Lambda entry point; config, clients and adapters are built on the first (cold) invocation. */
export const handler = (event: unknown, context: Context) => (instance ??= createRefresherHandler())(event, context);
