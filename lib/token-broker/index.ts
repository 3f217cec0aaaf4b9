/**
 * The TokenBroker construct's public API. Everything under private/ is an implementation detail.
 */
export { TokenBroker } from './token-broker.js';
export { scheduleIntervalMinutes, TOKEN_BROKER_LIMITS, type TokenBrokerProps } from './props.js';
export {
  AUDIT_ACTIONS,
  CREDENTIAL_SECRET_ACTIONS,
  JOURNAL_KEY_ACTIONS,
  KEY_USER_ACTIONS,
  REGISTRY_ACTIONS,
  TOKEN_READER_ACTIONS,
  TOKEN_SECRET_WRITER_ACTIONS,
} from './permissions.js';
// Defined beside the handlers that publish them; re-exported here for the construct's existing importers.
export { METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambdas/core/metric-names.js';
