/**
 * The TokenBroker construct's public API. Everything under private/ is an implementation detail.
 */
export { TokenBroker } from './token-broker.js';
export { ScopedGetter, type ScopedGetterProps } from './scoped-getter.js';
export { scheduleIntervalMinutes, TOKEN_BROKER_LIMITS, type TokenBrokerProps } from './props.js';
export * from './permissions.js';
// Defined beside the handlers that publish them; re-exported here for the construct's existing importers.
export { METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambdas/core/metric-names.js';
