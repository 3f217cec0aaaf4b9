/**
 * The props of {@link TokenBroker} and their validation: one function checks every prop, in a fixed
 * order, and returns the values the construct builds from (defaults applied), so the constructor
 * creates nothing until all props have passed.
 */
import { Annotations, Duration, RemovalPolicy, Token, ValidationError } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct, IConstruct } from 'constructs';
import { secretPrefixProblem } from '../../lambdas/adapters/aws/secret-names.js';
import { BROKER_SETTINGS, DEFAULT_SECRET_PREFIX, inRange, type SettingRange } from '../../lambdas/core/settings.js';

/** The `{ min, max }` of a shared setting, keeping its literal types. */
function limitsOf<R extends SettingRange>(range: R): { readonly min: R['min']; readonly max: R['max'] } {
  return { min: range.min, max: range.max };
}

/**
 * Limits of the numeric props. The settings that reach the handlers come from BROKER_SETTINGS, the
 * ranges the handlers' config checks too; the Lambda sizing limits are the construct's own.
 */
export const TOKEN_BROKER_LIMITS = Object.freeze({
  sweepConcurrency: limitsOf(BROKER_SETTINGS.sweepConcurrency),
  secretWriteRatePerSecond: limitsOf(BROKER_SETTINGS.secretWriteRatePerSecond),
  auditRetentionDays: limitsOf(BROKER_SETTINGS.auditRetentionDays),
  getterCacheMaxAgeSeconds: limitsOf(BROKER_SETTINGS.getterCacheMaxAgeSeconds),
  memorySizeMb: { min: 128, max: 10240 },
  refresherTimeoutSeconds: { min: 30, max: 900 },
  getterTimeoutSeconds: { min: 5, max: 900 },
} as const);

/** Defaults of the props only the construct knows: the functions' sizing (see TokenBrokerProps). */
const FUNCTION_DEFAULTS = Object.freeze({
  refresherMemorySizeMb: 512,
  refresherTimeout: Duration.minutes(4),
  getterMemorySizeMb: 256,
  getterTimeout: Duration.seconds(30),
});

/** Properties of {@link TokenBroker}. */
export interface TokenBrokerProps {
  /**
   * Prefix of every secret the broker owns: `<prefix>/tokens/<orgId>` and `<prefix>/credentials/<orgId>`.
   * IAM permissions are scoped to these two paths, so two brokers in one account need two prefixes.
   * @default 'genesys-token-broker'
   */
  readonly secretPrefix?: string;
  /**
   * KMS key for the tables, the token secrets the broker creates and the alarm topic.
   * A key passed in must let CloudWatch alarms use it (see `alarmTopic`) or alarm e-mails are dropped;
   * the construct adds that statement itself only to a key it can edit.
   * @default - a new customer-managed key with automatic rotation enabled
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Fraction of a token's lifetime after which it is refreshed, from 0.5 to 0.9.
   * @default 0.75
   */
  readonly refreshAtFraction?: number;
  /**
   * When the refresher sweeps all orgs: a `rate(...)` of at most 1 day, or a cron expression. The rate
   * is passed to the refresher: tokens are refreshed at least two intervals before they expire, so it
   * sets the shortest token lifetime the broker accepts (about 22 minutes at 5 minutes; see README
   * "Token lifetimes"). With a cron expression the refresher assumes a 5-minute interval.
   * @default events.Schedule.rate(Duration.minutes(5))
   */
  readonly schedule?: events.Schedule;
  /**
   * How many orgs one sweep refreshes at once (1 to 256).
   * @default 16
   */
  readonly sweepConcurrency?: number;
  /**
   * Upper bound on Secrets Manager CreateSecret/PutSecretValue calls per second, per function
   * container (1 to 50). Secrets Manager allows 50 writes per second per account and Region;
   * keep room for everything else in the account.
   * @default 20
   */
  readonly secretWriteRatePerSecond?: number;
  /**
   * How long audit items are kept before DynamoDB TTL removes them, in whole days (1 to 3650).
   * @default Duration.days(90)
   */
  readonly auditRetention?: Duration;
  /**
   * Topic the alarms notify. Its policy must let CloudWatch publish (and, if encrypted, its key must
   * let CloudWatch use it). Cannot be combined with `alarmEmail`.
   * @default - a new topic encrypted with `encryptionKey`, subscribed by `alarmEmail` when given
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * E-mail address subscribed to the new alarm topic. Cannot be combined with `alarmTopic`.
   * @default - no subscription; subscribe to the `AlarmTopicArn` output later
   */
  readonly alarmEmail?: string;
  /**
   * Removal policy of the tables, the key and the log groups: RETAIN, RETAIN_ON_UPDATE_OR_DELETE or
   * DESTROY. Unless it is DESTROY the tables also get deletion protection. DESTROY is meant for throwaway test stacks: token secrets the broker
   * created at run time are not CloudFormation resources and outlive the stack, unreadable once
   * the key is gone.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Retention of the functions' log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * X-Ray tracing mode of both functions. Any mode but `DISABLED` adds `xray:PutTraceSegments` and
   * `xray:PutTelemetryRecords` on `*` to their roles (X-Ray has no resource-level permissions).
   * @default - not set: Lambda's default (PassThrough) without X-Ray permissions
   */
  readonly tracing?: lambda.Tracing;
  /**
   * Memory of the refresher in MB (128 to 10240).
   * @default 512
   */
  readonly refresherMemorySize?: number;
  /**
   * Timeout of the refresher (30 seconds to 15 minutes). A sweep stops taking new orgs 5 seconds
   * before it. Keep it shorter than the schedule's interval: the refresher runs one sweep at a time,
   * and a scheduled invocation that arrives while a sweep still runs is throttled.
   * @default Duration.minutes(4)
   */
  readonly refresherTimeout?: Duration;
  /**
   * Memory of the getter in MB (128 to 10240).
   * @default 256
   */
  readonly getterMemorySize?: number;
  /**
   * Timeout of the getter (5 seconds to 15 minutes). It covers an on-demand refresh: lease, one
   * OAuth call (10 s timeout) and the secret writes.
   * @default Duration.seconds(30)
   */
  readonly getterTimeout?: Duration;
  /**
   * ARNs of credential secrets outside `<prefix>/credentials/`, for orgs whose registry entry names
   * another secret. The functions may read them and write rotated refresh tokens to them. Give full
   * ARNs, or partial ARNs ending in `-??????`. If these secrets use a customer-managed KMS key other
   * than `encryptionKey`, grant the functions `kms:Decrypt` and `kms:GenerateDataKey` on it yourself.
   * @default - none
   */
  readonly extraCredentialSecretArns?: string[];
  /**
   * How long a getter container may serve a token from its memory before re-reading the secret
   * (0 to 3600 seconds; 0 disables the cache).
   * @default Duration.minutes(5)
   */
  readonly getterCacheMaxAge?: Duration;
  /**
   * Put an event on `eventBus` for every refresh attempt: `Genesys Token Refreshed`, `Genesys Token
   * Refresh Failed`, `Genesys Org At Risk` and `Genesys Org Needs Reauthorization`, with source
   * `genesys-token-broker` (README "Events"). The refresher may then call `events:PutEvents` on that
   * bus, for that source only. When false, it gets neither the permission nor the bus's name.
   * @default true
   */
  readonly eventsEnabled?: boolean;
  /**
   * The bus the per-org events go to (a bus in another account needs a resource policy there that
   * lets this account put events).
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;
}

/** {@link TokenBrokerProps} after validation, with every default applied. */
export interface ResolvedTokenBrokerProps {
  readonly secretPrefix: string;
  readonly encryptionKey: kms.IKey | undefined;
  readonly refreshAtFraction: number;
  readonly schedule: events.Schedule;
  /** Minutes between sweeps when `schedule` is a `rate(...)`; undefined for cron. */
  readonly scheduleIntervalMinutes: number | undefined;
  readonly sweepConcurrency: number;
  readonly secretWriteRatePerSecond: number;
  readonly auditRetention: Duration;
  readonly getterCacheMaxAge: Duration;
  readonly refresherMemorySize: number;
  readonly getterMemorySize: number;
  readonly refresherTimeout: Duration;
  readonly getterTimeout: Duration;
  readonly alarmTopic: sns.ITopic | undefined;
  readonly alarmEmail: string | undefined;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
  readonly tracing: lambda.Tracing | undefined;
  readonly extraCredentialSecretArns: string[];
  readonly eventsEnabled: boolean;
  /** The bus given, when events are enabled; undefined means the default bus (or events disabled). */
  readonly eventBus: events.IEventBus | undefined;
}

/**
 * The `name` argument of aws-cdk-lib's ValidationError: a string branded as literal, which aws-cdk-lib
 * obtains with its `lit` tag (not exported). Ours are literals too, so the cast only applies the brand.
 */
type ErrorName = ConstructorParameters<typeof ValidationError>[0];

/** Name of the error a bad prop throws; stable, so callers and tooling may match on it. */
const INVALID_PROP = 'TokenBrokerInvalidProp' as ErrorName;

/** Name of the error a bad argument of a construct method (a grant's org ids) throws. */
const INVALID_ARGUMENT = 'TokenBrokerInvalidArgument' as ErrorName;

/** Throws the construct's validation error: the prop, the bad value and what is allowed. */
function invalid(scope: IConstruct, prop: string, value: unknown, allowed: string): never {
  throw new ValidationError(INVALID_PROP, `${prop} ${allowed}, got ${describeValue(value)}`, scope);
}

/** Throws the validation error of a method argument, worded like {@link invalid}. */
export function invalidArgument(scope: IConstruct, argument: string, value: unknown, allowed: string): never {
  throw new ValidationError(INVALID_ARGUMENT, `${argument} ${allowed}, got ${describeValue(value)}`, scope);
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Duration) return value.toHumanString();
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  return String(value);
}

function isTokenNumber(value: number): boolean {
  return Token.isUnresolved(value);
}

/** An integer prop within [min, max], or its default. Token numbers pass unchecked. */
function integerProp(scope: IConstruct, prop: string, value: number | undefined, fallback: number, limits: { min: number; max: number }): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && isTokenNumber(value)) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < limits.min || value > limits.max) {
    invalid(scope, prop, value, `must be an integer from ${limits.min} to ${limits.max}`);
  }
  return value;
}

/** A Duration prop in whole seconds within [min, max], or its default. Token durations pass unchecked. */
function durationProp(scope: IConstruct, prop: string, value: Duration | undefined, fallback: Duration, limits: { min: number; max: number }, unit: 'seconds' | 'days' = 'seconds'): Duration {
  if (value === undefined) return fallback;
  if (!(value instanceof Duration)) invalid(scope, prop, value, 'must be a Duration');
  if (value.isUnresolved()) return value;
  const amount = unit === 'days' ? value.toDays({ integral: false }) : value.toSeconds({ integral: false });
  if (!Number.isInteger(amount) || amount < limits.min || amount > limits.max) {
    invalid(scope, prop, value, `must be a whole number of ${unit} from ${limits.min} to ${limits.max}`);
  }
  return value;
}

/** Minutes between sweeps when the schedule is a `rate(...)` expression; undefined for cron. */
export function scheduleIntervalMinutes(schedule: events.Schedule): number | undefined {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(schedule.expressionString);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2] ?? '';
  return amount * (unit.startsWith('minute') ? 1 : unit.startsWith('hour') ? 60 : 1440);
}

const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]*:\d{12}:secret:(.+)$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Validates every prop, in a fixed order, and returns them with their defaults applied. Throws a
 * ValidationError (on `scope`) at the first bad prop; warns about a refresher timeout that is not
 * shorter than the schedule. Creates nothing, so the constructor calls it before building anything.
 */
export function resolveTokenBrokerProps(scope: Construct, props: TokenBrokerProps): ResolvedTokenBrokerProps {
  const secretPrefix = props.secretPrefix ?? DEFAULT_SECRET_PREFIX;
  if (!Token.isUnresolved(secretPrefix)) {
    const problem = secretPrefixProblem(secretPrefix);
    if (problem !== undefined) invalid(scope, 'secretPrefix', secretPrefix, problem);
  }
  const refreshAtFraction = props.refreshAtFraction ?? BROKER_SETTINGS.refreshAtFraction.default;
  if (!isTokenNumber(refreshAtFraction) && !inRange(BROKER_SETTINGS.refreshAtFraction, refreshAtFraction)) {
    invalid(scope, 'refreshAtFraction', refreshAtFraction, `must be between ${BROKER_SETTINGS.refreshAtFraction.min} and ${BROKER_SETTINGS.refreshAtFraction.max}`);
  }
  const schedule = props.schedule ?? events.Schedule.rate(Duration.minutes(5));
  if (!(schedule instanceof events.Schedule)) invalid(scope, 'schedule', schedule, 'must be an events.Schedule');
  const sweepConcurrency = integerProp(scope, 'sweepConcurrency', props.sweepConcurrency, BROKER_SETTINGS.sweepConcurrency.default, TOKEN_BROKER_LIMITS.sweepConcurrency);
  const secretWriteRatePerSecond = integerProp(scope, 'secretWriteRatePerSecond', props.secretWriteRatePerSecond, BROKER_SETTINGS.secretWriteRatePerSecond.default, TOKEN_BROKER_LIMITS.secretWriteRatePerSecond);
  const auditRetention = durationProp(scope, 'auditRetention', props.auditRetention, Duration.days(BROKER_SETTINGS.auditRetentionDays.default), TOKEN_BROKER_LIMITS.auditRetentionDays, 'days');
  const getterCacheMaxAge = durationProp(scope, 'getterCacheMaxAge', props.getterCacheMaxAge, Duration.seconds(BROKER_SETTINGS.getterCacheMaxAgeSeconds.default), TOKEN_BROKER_LIMITS.getterCacheMaxAgeSeconds);
  const refresherMemorySize = integerProp(scope, 'refresherMemorySize', props.refresherMemorySize, FUNCTION_DEFAULTS.refresherMemorySizeMb, TOKEN_BROKER_LIMITS.memorySizeMb);
  const getterMemorySize = integerProp(scope, 'getterMemorySize', props.getterMemorySize, FUNCTION_DEFAULTS.getterMemorySizeMb, TOKEN_BROKER_LIMITS.memorySizeMb);
  const refresherTimeout = durationProp(scope, 'refresherTimeout', props.refresherTimeout, FUNCTION_DEFAULTS.refresherTimeout, TOKEN_BROKER_LIMITS.refresherTimeoutSeconds);
  const getterTimeout = durationProp(scope, 'getterTimeout', props.getterTimeout, FUNCTION_DEFAULTS.getterTimeout, TOKEN_BROKER_LIMITS.getterTimeoutSeconds);
  if (props.alarmTopic !== undefined && props.alarmEmail !== undefined) {
    invalid(scope, 'alarmEmail', props.alarmEmail, 'cannot be combined with alarmTopic (subscribe the address to your topic instead)');
  }
  if (props.alarmEmail !== undefined && !Token.isUnresolved(props.alarmEmail) && !(typeof props.alarmEmail === 'string' && EMAIL.test(props.alarmEmail))) {
    invalid(scope, 'alarmEmail', props.alarmEmail, 'must be an e-mail address');
  }
  const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
  // SNAPSHOT is not offered: DynamoDB tables and KMS keys do not support it.
  const removalPolicies = [RemovalPolicy.RETAIN, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, RemovalPolicy.DESTROY];
  if (!removalPolicies.includes(removalPolicy)) {
    invalid(scope, 'removalPolicy', removalPolicy, `must be one of ${removalPolicies.join(', ')}`);
  }
  const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
  if (!Object.values(logs.RetentionDays).includes(logRetention)) {
    invalid(scope, 'logRetention', logRetention, 'must be a logs.RetentionDays value');
  }
  if (props.tracing !== undefined && !Object.values(lambda.Tracing).includes(props.tracing)) {
    invalid(scope, 'tracing', props.tracing, `must be one of ${Object.values(lambda.Tracing).join(', ')}`);
  }
  const extraCredentialSecretArns = props.extraCredentialSecretArns ?? [];
  if (!Array.isArray(extraCredentialSecretArns)) invalid(scope, 'extraCredentialSecretArns', extraCredentialSecretArns, 'must be an array of secret ARNs');
  for (const arn of extraCredentialSecretArns) {
    if (Token.isUnresolved(arn)) continue;
    const name = typeof arn === 'string' ? SECRET_ARN.exec(arn)?.[1] : undefined;
    // A name made only of wildcards would grant every secret in the account.
    if (name === undefined || /^[*?]*$/.test(name)) {
      invalid(scope, 'extraCredentialSecretArns', arn, 'entries must be Secrets Manager secret ARNs (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>) naming specific secrets');
    }
  }
  const eventsEnabled = props.eventsEnabled ?? true;
  if (typeof eventsEnabled !== 'boolean') invalid(scope, 'eventsEnabled', eventsEnabled, 'must be true or false');
  if (props.eventBus !== undefined) {
    if (typeof (props.eventBus as { eventBusArn?: unknown } | null)?.eventBusArn !== 'string') invalid(scope, 'eventBus', props.eventBus, 'must be an events.IEventBus');
    if (!eventsEnabled) invalid(scope, 'eventBus', props.eventBus.eventBusName, 'cannot be combined with eventsEnabled: false');
  }
  const interval = scheduleIntervalMinutes(schedule);
  if (interval !== undefined && interval * 60 > BROKER_SETTINGS.sweepIntervalSeconds.max) {
    invalid(scope, 'schedule', schedule.expressionString, `must run at least once a day (${BROKER_SETTINGS.sweepIntervalSeconds.max / 60} minutes): the refresh policy allows no longer sweep interval`);
  }
  if (interval !== undefined && !refresherTimeout.isUnresolved() && refresherTimeout.toSeconds() >= interval * 60) {
    Annotations.of(scope).addWarningV2(
      'genesys-token-broker:refresherTimeoutVsSchedule',
      `refresherTimeout (${refresherTimeout.toHumanString()}) is not shorter than the schedule interval (${interval} minutes): a long sweep makes the next scheduled invocation throttle`,
    );
  }
  return {
    secretPrefix,
    encryptionKey: props.encryptionKey,
    refreshAtFraction,
    schedule,
    scheduleIntervalMinutes: interval,
    sweepConcurrency,
    secretWriteRatePerSecond,
    auditRetention,
    getterCacheMaxAge,
    refresherMemorySize,
    getterMemorySize,
    refresherTimeout,
    getterTimeout,
    alarmTopic: props.alarmTopic,
    alarmEmail: props.alarmEmail,
    removalPolicy,
    logRetention,
    tracing: props.tracing,
    extraCredentialSecretArns,
    eventsEnabled,
    eventBus: props.eventBus,
  };
}
