/**
 * The getter: consumers invoke it with `{ "orgId": "<uuid>" }` (and `"rejectedToken"` when Genesys
 * refused the token they had) and get the current token, or a typed error. It caches per container and
 * reads tokens and the registry only: when a token is missing, about to expire or rejected, it asks
 * the refresher to refresh that one org. A scoped getter serves only the orgs it was built for.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { DEPLOYMENT_DIMENSION, METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../core/metric-names.js';
import { createTokenGetter, type GetTokenError, type GetTokenResponse } from '../core/token-getter.js';
import { type GetterHandlerOptions, setUpGetter } from './getter-setup.js';

/** Time kept back from the Lambda timeout to answer after an on-demand refresh. */
const ANSWER_RESERVE_MS = 1_000;

export function createGetterHandler(options: GetterHandlerOptions = {}) {
  const logger = new Logger({ serviceName: 'genesys-token-broker-getter' });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE.getter });
  const { config, ports } = setUpGetter(options);
  if (config.deployment) metrics.setDefaultDimensions({ [DEPLOYMENT_DIMENSION]: config.deployment });
  const getter = createTokenGetter(ports, {
    cacheMaxAgeMs: config.getterCacheMaxAgeSeconds * 1000,
    ...(config.allowedOrgIds ? { allowedOrgIds: config.allowedOrgIds } : {}),
  });

  async function get(event: unknown, context: Context): Promise<GetTokenResponse | GetTokenError> {
    const startedMs = ports.clock.now();
    const { response, from } = await getter.serve(event, {
      deadlineMs: startedMs + Math.max(0, context.getRemainingTimeInMillis() - ANSWER_RESERVE_MS),
      requestId: context.awsRequestId,
    });
    const cacheHit = from === 'cache';
    metrics.addMetric(METRIC.getterLatencyMs, MetricUnit.Milliseconds, ports.clock.now() - startedMs);
    metrics.addMetric(cacheHit ? METRIC.getterCacheHit : METRIC.getterCacheMiss, MetricUnit.Count, 1);
    if ('error' in response) {
      metrics.addMetric(METRIC.getterError, MetricUnit.Count, 1);
      logger.warn('token not served', { errorCode: response.error.code, retryAfterSeconds: response.error.retryAfterSeconds });
    } else {
      logger.info('token served', { orgId: response.orgId, cacheHit, servedFrom: from, expiresAt: response.expiresAt });
    }
    return response;
  }

  return middy(get).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

let instance: ReturnType<typeof createGetterHandler> | undefined;

/**
 * The Lambda entry point. Config, clients and adapters are built once per container, on the first
 * invocation (still the cold start), so importing this module for its factory needs no environment.
 */
export const handler = (event: unknown, context: Context) => (instance ??= createGetterHandler())(event, context);
