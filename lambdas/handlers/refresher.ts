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
import { z } from 'zod';
import { createPowertoolsTelemetry } from '../adapters/powertools/powertools-telemetry.js';
import type { SweepSummary } from '../core/engine.js';
import { BrokerError, ValidationError } from '../core/errors.js';
import { isOrgId } from '../core/token-record.js';
import { loadConfig } from './config.js';
import { wireAws, type WiringOverrides } from './wiring.js';

/** Time kept back from the Lambda timeout to write state, audit and metrics after the last org. */
const DEADLINE_RESERVE_MS = 5_000;

const manualEventSchema = z.strictObject({
  orgIds: z.array(z.string().refine(isOrgId, 'must be a UUID')).min(1).max(1000).optional(),
  force: z.boolean().optional(),
});

export interface RefreshRequest {
  trigger: 'schedule' | 'manual';
  orgIds?: string[];
  force: boolean;
}

/** Accepts an EventBridge scheduled event or a manual `{ orgIds?, force? }`; anything else is invalid_request. */
export function parseRefresherEvent(event: unknown): RefreshRequest {
  if (typeof event === 'object' && event !== null && (event as { source?: unknown }).source === 'aws.events') {
    return { trigger: 'schedule', force: false };
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new ValidationError('event must be an EventBridge scheduled event or an object like {"orgIds":[...],"force":true}');
  }
  const parsed = manualEventSchema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).slice(0, 5).join('; ');
    throw new ValidationError(`invalid manual refresh event: ${problems}`);
  }
  const orgIds = parsed.data.orgIds?.map((id) => id.toLowerCase());
  return { trigger: 'manual', force: parsed.data.force ?? false, ...(orgIds ? { orgIds } : {}) };
}

export function emitSweepMetrics(metrics: Metrics, summary: SweepSummary): void {
  metrics.addMetric('RefreshSucceeded', 'Count', summary.refreshed);
  const failedTotal = Object.values(summary.failed).reduce((a, b) => a + (b ?? 0), 0);
  metrics.addMetric('RefreshFailed', 'Count', failedTotal);
  metrics.addMetric('OrgsDue', 'Count', summary.due);
  metrics.addMetric('OrgsDeferred', 'Count', summary.deferred);
  metrics.addMetric('OrgsAtRisk', 'Count', summary.orgsAtRisk);
  metrics.addMetric('SweepDurationMs', 'Milliseconds', summary.durationMs);
  metrics.addMetric('AuditWriteFailures', 'Count', summary.auditWriteFailures);
  metrics.addMetric('CriticalEvents', 'Count', summary.critical);
  if (summary.minTokenSecondsRemaining !== undefined) metrics.addMetric('MinTokenSecondsRemaining', 'Seconds', summary.minTokenSecondsRemaining);
  for (const [code, count] of Object.entries(summary.failed)) {
    const single = metrics.singleMetric();
    single.addDimension('errorCode', code);
    single.addMetric('RefreshFailed', 'Count', count ?? 0);
  }
}

export function createRefresherHandler(options: { env?: Record<string, string | undefined>; overrides?: WiringOverrides } = {}) {
  const config = loadConfig(options.env ?? process.env);
  const logger = new Logger({ serviceName: 'genesys-token-broker-refresher' });
  const metrics = new Metrics({ namespace: 'GenesysTokenBroker', serviceName: 'refresher' });
  const { engine, deps } = wireAws(config, createPowertoolsTelemetry(logger, metrics), options.overrides);

  async function refresh(event: unknown, context: Context): Promise<SweepSummary> {
    const request = parseRefresherEvent(event);
    const nowMs = deps.clock.now();
    const deadlineMs = nowMs + Math.max(0, context.getRemainingTimeInMillis() - DEADLINE_RESERVE_MS);
    logger.info('sweep starting', { trigger: request.trigger, force: request.force, orgCount: request.orgIds?.length });
    const summary = await engine.sweep({ deadlineMs, trigger: request.trigger, force: request.force, requestId: context.awsRequestId, ...(request.orgIds ? { orgIds: request.orgIds } : {}) });
    emitSweepMetrics(metrics, summary);
    const { results, ...counts } = summary;
    logger.info('sweep finished', { ...counts, resultCount: results.length });
    if (summary.registryError) {
      // Fail the invocation so the Errors alarm fires; the work already done stands.
      throw new BrokerError(summary.registryError, `registry could not be listed to the end after ${summary.examined} orgs`);
    }
    return summary;
  }

  return middy(refresh).use(injectLambdaContext(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
}

let instance: ReturnType<typeof createRefresherHandler> | undefined;

/**
 * The Lambda entry point. Config, clients and adapters are built once per container, on the first
 * invocation (still the cold start), so importing this module for its factory needs no environment.
 */
export const handler = (event: unknown, context: Context) => (instance ??= createRefresherHandler())(event, context);
