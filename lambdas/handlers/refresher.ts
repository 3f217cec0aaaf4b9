/**
 * The scheduled refresher. EventBridge invokes it every few minutes; operators may invoke it with
 * `{ "orgIds": [...], "force": true }`. One sweep per invocation, bounded by the Lambda's remaining time.
 * The getter invokes it with `{ "onDemand": {...} }` to refresh one org and gets an OnDemandResult back
 * (never a token): the refresher is the only function that writes tokens or reads credentials.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createPowertoolsTelemetry } from '../adapters/powertools/powertools-telemetry.js';
import { emitRefreshCounters, emitSweepMetrics } from '../adapters/powertools/sweep-metrics.js';
import { BrokerError } from '../core/errors.js';
import { DEPLOYMENT_DIMENSION, METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../core/metric-names.js';
import { createEngineOnDemandRefresher, type OnDemandResult } from '../core/on-demand.js';
import { parseRefresherEvent } from '../core/refresher-event.js';
import { addOutcome, emptySummary, type SweepSummary } from '../core/sweep-summary.js';
import { type HandlerOptions, setUpBroker } from './setup.js';

/** Time kept back from the Lambda timeout to write state, audit and metrics after the last org. */
const DEADLINE_RESERVE_MS = 5_000;
/** Longest a sweep's invocation spends bringing token secret policies in line before it sweeps. */
export const POLICY_RECONCILE_BUDGET_MS = 60_000;

/**
 * Longest wait for per-org events to reach the bus at the end of an invocation: a sweep's, and an
 * on-demand refresh's (whose caller, a getter, is waiting for the answer). A put takes tens of
 * milliseconds and starts as soon as an attempt ends, so these bound only a slow or failing bus. The
 * engine's work ends by the deadline, so both fit in the {@link DEADLINE_RESERVE_MS} after it, with
 * time left for logs and metrics.
 */
export const EVENT_FLUSH_BUDGET_MS = Object.freeze({ sweep: 2_000, onDemand: 500 });

export function createRefresherHandler(options: HandlerOptions = {}) {
  const logger = new Logger({ serviceName: 'genesys-token-broker-refresher' });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE.refresher });
  const { config, ports, engine, events } = setUpBroker(options, createPowertoolsTelemetry(logger, metrics));
  if (config.deployment) metrics.setDefaultDimensions({ [DEPLOYMENT_DIMENSION]: config.deployment });
  const onDemand = createEngineOnDemandRefresher({
    engine,
    registry: ports.registry,
    clock: ports.clock,
    // The getter's refreshes count like any other: RefreshFailed, CriticalEvents and the rest.
    onOutcome(outcome) {
      const summary = emptySummary(ports.clock.now());
      addOutcome(summary, outcome, ports.clock.now());
      emitRefreshCounters(metrics, summary);
    },
  });

  async function refresh(event: unknown, context: Context): Promise<SweepSummary | OnDemandResult> {
    const request = parseRefresherEvent(event);
    const deadlineMs = ports.clock.now() + Math.max(0, context.getRemainingTimeInMillis() - DEADLINE_RESERVE_MS);
    if (request.trigger === 'on_demand') {
      const result = await onDemand.refresh({ ...request.onDemand, requestId: request.onDemand.requestId ?? context.awsRequestId }, { deadlineMs });
      await events?.flush(ports.clock.now() + EVENT_FLUSH_BUDGET_MS.onDemand);
      logger.info('on-demand refresh', { orgId: result.orgId, reason: request.onDemand.reason, outcome: result.outcome, ...('errorCode' in result ? { errorCode: result.errorCode } : {}) });
      return result;
    }
    await reconcilePolicies(deadlineMs);
    logger.info('sweep starting', { trigger: request.trigger, force: request.force, orgCount: request.orgIds?.length });
    const summary = await engine.sweep({ ...request, deadlineMs, requestId: context.awsRequestId });
    await events?.flush(ports.clock.now() + EVENT_FLUSH_BUDGET_MS.sweep);
    emitSweepMetrics(metrics, summary);
    const { results, ...counts } = summary;
    logger.info('sweep finished', { ...counts, resultCount: results.length });
    // Fail the invocation so the Errors alarm fires; the work already done stands.
    if (summary.registryError) throw new BrokerError(summary.registryError, `registry could not be listed to the end after ${summary.examined} orgs`);
    return summary;
  }

  /** Token secret resource policies for cross-account readers; a failure here never stops the sweep. */
  async function reconcilePolicies(deadlineMs: number): Promise<void> {
    try {
      const result = await ports.tokenSecretPolicies.reconcile((page) => ports.registry.listPage(page), Math.min(deadlineMs, ports.clock.now() + POLICY_RECONCILE_BUDGET_MS));
      if (result.status !== 'in_line') logger.info('token secret policies', { ...result });
    } catch (err) {
      logger.error('token secret policies could not be reconciled; the next sweep retries', { errorName: err instanceof Error ? err.name : 'Error' });
      metrics.addMetric(METRIC.tokenSecretPolicyFailures, 'Count', 1);
    }
  }

  return middy(refresh).use(injectLambdaContext(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
}

let instance: ReturnType<typeof createRefresherHandler> | undefined;

/** The Lambda entry point; config, clients and adapters are built on the first (cold) invocation. */
export const handler = (event: unknown, context: Context) => (instance ??= createRefresherHandler())(event, context);
