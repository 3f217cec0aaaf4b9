/**
 * The getter: consumers invoke it with `{ "orgId": "<uuid>" }` and get the current token, or a typed
 * error. It caches per container and refreshes one org on demand only when its token is missing or
 * about to expire.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createPowertoolsTelemetry } from '../adapters/powertools/powertools-telemetry.js';
import { createTokenGetter, type GetTokenError, type GetTokenResponse } from '../core/token-getter.js';
import { loadConfig } from './config.js';
import { wireAws, type WiringOverrides } from './wiring.js';

export function createGetterHandler(options: { env?: Record<string, string | undefined>; overrides?: WiringOverrides } = {}) {
  const config = loadConfig(options.env ?? process.env);
  const logger = new Logger({ serviceName: 'genesys-token-broker-getter' });
  const metrics = new Metrics({ namespace: 'GenesysTokenBroker', serviceName: 'getter' });
  const { engine, deps } = wireAws(config, createPowertoolsTelemetry(logger, metrics), options.overrides);
  const getter = createTokenGetter({ registry: deps.registry, vault: deps.vault, engine, clock: deps.clock }, { cacheMaxAgeMs: config.getterCacheMaxAgeSeconds * 1000 });

  async function get(event: unknown, context: Context): Promise<GetTokenResponse | GetTokenError> {
    const startedMs = deps.clock.now();
    const before = { ...getter.stats };
    const response = await getter.handle(event, {
      deadlineMs: startedMs + Math.max(0, context.getRemainingTimeInMillis() - 1_000),
      requestId: context.awsRequestId,
    });
    const cacheHit = getter.stats.hits > before.hits;
    metrics.addMetric('GetterLatencyMs', 'Milliseconds', deps.clock.now() - startedMs);
    metrics.addMetric(cacheHit ? 'GetterCacheHit' : 'GetterCacheMiss', 'Count', 1);
    if ('error' in response) {
      metrics.addMetric('GetterError', 'Count', 1);
      logger.warn('token not served', { errorCode: response.error.code, retryAfterSeconds: response.error.retryAfterSeconds });
    } else {
      logger.info('token served', { orgId: response.orgId, cacheHit, expiresAt: response.expiresAt });
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
