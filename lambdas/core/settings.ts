/**
 * The broker's tunable numbers: their defaults and the ranges they may take. One module, so the CDK
 * construct (which validates props), the handlers' config (which validates environment variables),
 * local mode and the engine can never disagree about them.
 */
import { BrokerError } from './errors.js';

/** A numeric setting: the range it may take and its default. */
export interface SettingRange {
  readonly min: number;
  readonly max: number;
  readonly default: number;
  /** Whole numbers only. */
  readonly integer: boolean;
}

/** Prefix of every secret the broker owns, when a deployment names none. */
export const DEFAULT_SECRET_PREFIX = 'genesys-token-broker';

/** Every setting that crosses from the construct to the Lambdas (as an environment variable) or into local mode. */
export const BROKER_SETTINGS = Object.freeze({
  /** Fraction of a token's lifetime after which it is refreshed: 0.75 is the 18-hour mark of a 24-hour token. */
  refreshAtFraction: { min: 0.5, max: 0.9, default: 0.75, integer: false },
  /** Orgs one sweep refreshes at once. */
  sweepConcurrency: { min: 1, max: 256, default: 16, integer: true },
  /** Secrets Manager CreateSecret/PutSecretValue calls per second; the account quota is 50. */
  secretWriteRatePerSecond: { min: 1, max: 50, default: 20, integer: true },
  /** Days an audit record is kept. */
  auditRetentionDays: { min: 1, max: 3650, default: 90, integer: true },
  /**
   * Seconds between two sweeps: the refresher's schedule (set by the construct from its `rate(...)`)
   * or local mode's `scheduleSeconds`. The refresh mark leaves two of them before a token's expiry,
   * so it sets the shortest supported token lifetime.
   */
  sweepIntervalSeconds: { min: 5, max: 86_400, default: 300, integer: true },
  /** Longest a getter container serves a token from memory without re-reading the store; 0 disables the cache. */
  getterCacheMaxAgeSeconds: { min: 0, max: 3600, default: 300, integer: true },
} as const satisfies Record<string, SettingRange>);

export type BrokerSettingName = keyof typeof BROKER_SETTINGS;

/** What is allowed for a setting, for error messages: `an integer from 1 to 256`. */
export function describeRange(range: SettingRange): string {
  return `${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}`;
}

/** True when `value` is within the setting's range (and whole, for integer settings). */
export function inRange(range: SettingRange, value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && (!range.integer || Number.isInteger(value)) && value >= range.min && value <= range.max;
}

/**
 * The setting's value, or its default when undefined. A value out of range is an `invalid_config`
 * error naming the setting, the value and what is allowed (the values are numbers, never secrets).
 */
export function settingValue(name: BrokerSettingName, value: number | undefined): number {
  const range: SettingRange = BROKER_SETTINGS[name];
  if (value === undefined) return range.default;
  if (!inRange(range, value)) throw new BrokerError('invalid_config', `${name} must be ${describeRange(range)}, got ${String(value)}`);
  return value;
}
