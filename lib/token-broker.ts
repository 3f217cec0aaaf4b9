/**
 * The TokenBroker L3 construct: the registry and audit tables, the scheduled refresher, the getter,
 * their least-privilege roles, alarms and a dashboard. Customers deploy it into their own accounts,
 * so every permission below is scoped to the broker's own resources and every choice that a security
 * reviewer would ask about carries its reason next to it.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Stack, Token, Tokenization, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_TABLE, DEFAULT_AUDIT_RETENTION_DAYS, REGISTRY_TABLE, type KeyAttribute, type TableDesign } from '../lambdas/adapters/aws/tables.js';
import { CREDENTIALS_SEGMENT, secretArnPattern, secretPrefixProblem, TOKENS_SEGMENT, tokenSecretName } from '../lambdas/adapters/aws/secret-names.js';
import { ENV } from '../lambdas/core/env-names.js';
import { DEFAULT_REFRESH_AT_FRACTION, MAX_REFRESH_AT_FRACTION, MIN_REFRESH_AT_FRACTION } from '../lambdas/core/policy.js';
import { isOrgId } from '../lambdas/core/token-record.js';

/** Repository root, resolved from this file so synth works from any working directory. */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** CloudWatch namespace the handlers' Powertools Metrics publish to. */
export const METRICS_NAMESPACE = 'GenesysTokenBroker';

/** Powertools `serviceName` of each handler; Powertools adds it as the `service` dimension. */
export const METRICS_SERVICE = Object.freeze({ refresher: 'refresher', getter: 'getter' } as const);

/** Actions the refresher and getter may take on token secrets (`<prefix>/tokens/*`). */
export const TOKEN_SECRET_WRITER_ACTIONS = Object.freeze([
  'secretsmanager:CreateSecret',
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  // CreateSecret with Tags (org-id, managed-by) is authorized as TagResource too.
  'secretsmanager:TagResource',
] as const);

/** Actions the refresher and getter may take on credential secrets. */
export const CREDENTIAL_SECRET_ACTIONS = Object.freeze([
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  // Authorization-code orgs get a new single-use refresh token on every refresh, written back here.
  'secretsmanager:PutSecretValue',
] as const);

/** Actions a token consumer gets from `grantReadToken` / `grantReadAllTokens`. */
export const TOKEN_READER_ACTIONS = Object.freeze(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'] as const);

/** KMS actions the functions need on the broker key (Secrets Manager and DynamoDB call KMS for them). */
export const KEY_USER_ACTIONS = Object.freeze(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'] as const);

/** DynamoDB actions on the registry table: the engine's Get/Scan/Update and the lease's conditional updates. */
export const REGISTRY_ACTIONS = Object.freeze(['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'] as const);

/** DynamoDB actions on the audit table: append only. Reading the audit trail is the operator's job. */
export const AUDIT_ACTIONS = Object.freeze(['dynamodb:PutItem'] as const);

/** Limits of the numeric props, shared with the handlers' config schema where one exists. */
export const TOKEN_BROKER_LIMITS = Object.freeze({
  sweepConcurrency: { min: 1, max: 256 },
  secretWriteRatePerSecond: { min: 1, max: 50 },
  auditRetentionDays: { min: 1, max: 3650 },
  getterCacheMaxAgeSeconds: { min: 0, max: 3600 },
  memorySizeMb: { min: 128, max: 10240 },
  refresherTimeoutSeconds: { min: 30, max: 900 },
  getterTimeoutSeconds: { min: 5, max: 900 },
} as const);

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
   * When the refresher sweeps all orgs.
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
}

/** Throws the construct's validation error: the prop, the bad value and what is allowed. */
function invalid(prop: string, value: unknown, allowed: string): never {
  throw new Error(`${prop} ${allowed}, got ${describeValue(value)}`);
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
function integerProp(prop: string, value: number | undefined, fallback: number, limits: { min: number; max: number }): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && isTokenNumber(value)) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < limits.min || value > limits.max) {
    invalid(prop, value, `must be an integer from ${limits.min} to ${limits.max}`);
  }
  return value;
}

/** A Duration prop in whole seconds within [min, max], or its default. Token durations pass unchecked. */
function durationProp(prop: string, value: Duration | undefined, fallback: Duration, limits: { min: number; max: number }, unit: 'seconds' | 'days' = 'seconds'): Duration {
  if (value === undefined) return fallback;
  if (!(value instanceof Duration)) invalid(prop, value, 'must be a Duration');
  if (value.isUnresolved()) return value;
  const amount = unit === 'days' ? value.toDays({ integral: false }) : value.toSeconds({ integral: false });
  if (!Number.isInteger(amount) || amount < limits.min || amount > limits.max) {
    invalid(prop, value, `must be a whole number of ${unit} from ${limits.min} to ${limits.max}`);
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

const ATTRIBUTE_TYPES: Record<KeyAttribute['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
};

const attribute = (key: KeyAttribute): dynamodb.Attribute => ({ name: key.name, type: ATTRIBUTE_TYPES[key.type] });

/**
 * A resolved CloudFormation value flattened the way cdk-nag names IAM5 findings (`Ref` as `<Name>`,
 * `Fn::GetAtt` as `<Resource.Attr>`, `Fn::Join` joined), so acknowledgments match its finding ids.
 */
function flattenForNag(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof value === 'object' && value !== null) {
    const node = value as Record<string, unknown>;
    if (Array.isArray(node['Fn::Join'])) {
      const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if (node.Ref !== undefined) return `<${flattenForNag(node.Ref)}>`;
    if (Array.isArray(node['Fn::GetAtt'])) {
      const [resource, attr] = node['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenForNag(resource)}.${flattenForNag(attr)}>`;
    }
  }
  return JSON.stringify(value);
}

const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]*:\d{12}:secret:(.+)$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Keeps Genesys Cloud OAuth tokens fresh for many orgs and hands them out.
 *
 * - `refresher` sweeps the registry on `schedule`, refreshes tokens that are due and writes them to
 *   `<prefix>/tokens/<orgId>` in Secrets Manager; every attempt is audited in `auditTable`.
 * - `getter` serves one org's token to consumers (`grantInvokeGetter`), refreshing on demand when it
 *   is missing or about to expire. Consumers may instead read the secret directly (`grantReadToken`).
 * - Alarms notify `alarmTopic`; a dashboard shows sweep outcomes, orgs at risk and getter latency.
 */
export class TokenBroker extends Construct {
  /** Serves tokens to consumers: invoke with `{ "orgId": "<uuid>" }`. */
  readonly getter: lambda.IFunction;
  /** Sweeps the registry on the schedule; operators may invoke it with `{ "orgIds": [...], "force": true }`. */
  readonly refresher: lambda.IFunction;
  /** One item per org (partition key `orgId`), holding its state and lease. */
  readonly registryTable: dynamodb.ITable;
  /** Every refresh attempt, per org in time order; items expire after the audit retention. */
  readonly auditTable: dynamodb.ITable;
  /** Encrypts the tables, the token secrets and (when created here) the alarm topic. */
  readonly encryptionKey: kms.IKey;
  /** Topic every alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  /** Prefix of every secret the broker owns. */
  readonly secretPrefix: string;
  /** Dead-letter queue of scheduled sweep events EventBridge could not deliver. */
  readonly sweepDeadLetterQueue: sqs.IQueue;
  /** The broker's CloudWatch dashboard. */
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm the construct created, by purpose. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  readonly #tokenSecretsPattern: string;

  constructor(scope: Construct, id: string, props: TokenBrokerProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);

    // ---- Validate every prop before creating anything.
    const secretPrefix = props.secretPrefix ?? 'genesys-token-broker';
    if (!Token.isUnresolved(secretPrefix)) {
      const problem = secretPrefixProblem(secretPrefix);
      if (problem !== undefined) invalid('secretPrefix', secretPrefix, problem);
    }
    const refreshAtFraction = props.refreshAtFraction ?? DEFAULT_REFRESH_AT_FRACTION;
    if (!isTokenNumber(refreshAtFraction) && !(typeof refreshAtFraction === 'number' && refreshAtFraction >= MIN_REFRESH_AT_FRACTION && refreshAtFraction <= MAX_REFRESH_AT_FRACTION)) {
      invalid('refreshAtFraction', refreshAtFraction, `must be between ${MIN_REFRESH_AT_FRACTION} and ${MAX_REFRESH_AT_FRACTION}`);
    }
    const schedule = props.schedule ?? events.Schedule.rate(Duration.minutes(5));
    if (!(schedule instanceof events.Schedule)) invalid('schedule', schedule, 'must be an events.Schedule');
    const sweepConcurrency = integerProp('sweepConcurrency', props.sweepConcurrency, 16, TOKEN_BROKER_LIMITS.sweepConcurrency);
    const secretWriteRatePerSecond = integerProp('secretWriteRatePerSecond', props.secretWriteRatePerSecond, 20, TOKEN_BROKER_LIMITS.secretWriteRatePerSecond);
    const auditRetention = durationProp('auditRetention', props.auditRetention, Duration.days(DEFAULT_AUDIT_RETENTION_DAYS), TOKEN_BROKER_LIMITS.auditRetentionDays, 'days');
    const getterCacheMaxAge = durationProp('getterCacheMaxAge', props.getterCacheMaxAge, Duration.minutes(5), TOKEN_BROKER_LIMITS.getterCacheMaxAgeSeconds);
    const refresherMemorySize = integerProp('refresherMemorySize', props.refresherMemorySize, 512, TOKEN_BROKER_LIMITS.memorySizeMb);
    const getterMemorySize = integerProp('getterMemorySize', props.getterMemorySize, 256, TOKEN_BROKER_LIMITS.memorySizeMb);
    const refresherTimeout = durationProp('refresherTimeout', props.refresherTimeout, Duration.minutes(4), TOKEN_BROKER_LIMITS.refresherTimeoutSeconds);
    const getterTimeout = durationProp('getterTimeout', props.getterTimeout, Duration.seconds(30), TOKEN_BROKER_LIMITS.getterTimeoutSeconds);
    if (props.alarmTopic !== undefined && props.alarmEmail !== undefined) {
      invalid('alarmEmail', props.alarmEmail, 'cannot be combined with alarmTopic (subscribe the address to your topic instead)');
    }
    if (props.alarmEmail !== undefined && !Token.isUnresolved(props.alarmEmail) && !(typeof props.alarmEmail === 'string' && EMAIL.test(props.alarmEmail))) {
      invalid('alarmEmail', props.alarmEmail, 'must be an e-mail address');
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // SNAPSHOT is not offered: DynamoDB tables and KMS keys do not support it.
    const removalPolicies = [RemovalPolicy.RETAIN, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, RemovalPolicy.DESTROY];
    if (!removalPolicies.includes(removalPolicy)) {
      invalid('removalPolicy', removalPolicy, `must be one of ${removalPolicies.join(', ')}`);
    }
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    if (!Object.values(logs.RetentionDays).includes(logRetention)) {
      invalid('logRetention', logRetention, 'must be a logs.RetentionDays value');
    }
    if (props.tracing !== undefined && !Object.values(lambda.Tracing).includes(props.tracing)) {
      invalid('tracing', props.tracing, `must be one of ${Object.values(lambda.Tracing).join(', ')}`);
    }
    const extraCredentialSecretArns = props.extraCredentialSecretArns ?? [];
    if (!Array.isArray(extraCredentialSecretArns)) invalid('extraCredentialSecretArns', extraCredentialSecretArns, 'must be an array of secret ARNs');
    for (const arn of extraCredentialSecretArns) {
      if (Token.isUnresolved(arn)) continue;
      const name = typeof arn === 'string' ? SECRET_ARN.exec(arn)?.[1] : undefined;
      // A name made only of wildcards would grant every secret in the account.
      if (name === undefined || /^[*?]*$/.test(name)) {
        invalid('extraCredentialSecretArns', arn, 'entries must be Secrets Manager secret ARNs (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>) naming specific secrets');
      }
    }
    const interval = scheduleIntervalMinutes(schedule);
    if (interval !== undefined && !refresherTimeout.isUnresolved() && refresherTimeout.toSeconds() >= interval * 60) {
      Annotations.of(this).addWarningV2(
        'genesys-token-broker:refresherTimeoutVsSchedule',
        `refresherTimeout (${refresherTimeout.toHumanString()}) is not shorter than the schedule interval (${interval} minutes): a long sweep makes the next scheduled invocation throttle`,
      );
    }
    this.secretPrefix = secretPrefix;

    // ---- Key, tables.
    this.encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: `Encrypts the Genesys token broker's tables, token secrets and alarm topic (${stack.stackName})`,
        enableKeyRotation: true,
        removalPolicy,
      });

    this.registryTable = this.#table('RegistryTable', REGISTRY_TABLE, removalPolicy);
    this.auditTable = this.#table('AuditTable', AUDIT_TABLE, removalPolicy);

    // ---- Functions.
    const scopeArn = { partition: stack.partition, region: stack.region, account: stack.account };
    // `<prefix>/tokens/*`, not `*-??????`: the same statement authorizes CreateSecret, and a plain `*`
    // covers the new secret's ARN whether or not it already carries the random suffix at that point.
    this.#tokenSecretsPattern = `arn:${scopeArn.partition}:secretsmanager:${scopeArn.region}:${scopeArn.account}:secret:${secretPrefix}/${TOKENS_SEGMENT}/*`;
    const credentialSecretsPattern = `arn:${scopeArn.partition}:secretsmanager:${scopeArn.region}:${scopeArn.account}:secret:${secretPrefix}/${CREDENTIALS_SEGMENT}/*`;

    const environment: Record<string, string> = {
      [ENV.secretPrefix]: secretPrefix,
      [ENV.registryTable]: this.registryTable.tableName,
      [ENV.auditTable]: this.auditTable.tableName,
      [ENV.kmsKeyId]: this.encryptionKey.keyArn,
      [ENV.refreshAtFraction]: Tokenization.stringifyNumber(refreshAtFraction),
      [ENV.sweepConcurrency]: Tokenization.stringifyNumber(sweepConcurrency),
      [ENV.secretWriteRatePerSecond]: Tokenization.stringifyNumber(secretWriteRatePerSecond),
      [ENV.auditRetentionDays]: Tokenization.stringifyNumber(auditRetention.toDays()),
      [ENV.getterCacheMaxAgeSeconds]: Tokenization.stringifyNumber(getterCacheMaxAge.toSeconds()),
      // Stack traces point at the TypeScript sources through the bundled source maps.
      NODE_OPTIONS: '--enable-source-maps',
    };

    const refresher = this.#function('Refresher', {
      entry: 'lambdas/handlers/refresher.ts',
      description: 'Genesys token broker: refreshes due org tokens on a schedule',
      memorySize: refresherMemorySize,
      timeout: refresherTimeout,
      environment,
      removalPolicy,
      logRetention,
      tracing: props.tracing,
      // One sweep at a time keeps Genesys and Secrets Manager load predictable. It is not what keeps
      // two writers off one org: the per-org leases in the registry still guard every refresh (the
      // getter refreshes on demand concurrently with the sweep).
      reservedConcurrentExecutions: 1,
      // A failed sweep is retried by the next scheduled one; an immediate async retry would only add
      // load on a failing upstream and collide with the single concurrency slot.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(Math.min(Math.max(interval ?? 60, 1), 360)),
    });
    const getter = this.#function('Getter', {
      entry: 'lambdas/handlers/getter.ts',
      description: 'Genesys token broker: serves an org token to consumers, refreshing on demand',
      memorySize: getterMemorySize,
      timeout: getterTimeout,
      environment,
      removalPolicy,
      logRetention,
      tracing: props.tracing,
    });
    this.refresher = refresher.fn;
    this.getter = getter.fn;

    for (const fn of [refresher.fn, getter.fn]) {
      this.#grantEngineAccess(fn, credentialSecretsPattern, extraCredentialSecretArns);
    }

    // ---- Schedule: EventBridge retries delivery, then parks the event in an encrypted DLQ.
    const dlq = new sqs.Queue(this, 'SweepDeadLetterQueue', {
      // SQS-managed SSE: a customer-managed key would need a key policy for events.amazonaws.com, and
      // KMS does not support aws:SourceArn/aws:SourceAccount conditions for EventBridge delivery, so
      // it could not be scoped to this rule. The queue holds scheduled events only, never secrets.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.sweepDeadLetterQueue = dlq;
    new events.Rule(this, 'SweepSchedule', {
      description: 'Starts a Genesys token broker sweep',
      schedule,
      targets: [
        new targets.LambdaFunction(refresher.fn, {
          retryAttempts: 2,
          // A late sweep is still useful until the next one is due; after that it is redundant.
          maxEventAge: Duration.minutes(Math.min(Math.max(interval ?? 60, 1), 1440)),
          deadLetterQueue: dlq,
        }),
      ],
    });

    // ---- Alarm topic.
    this.alarmTopic = props.alarmTopic ?? this.#createAlarmTopic(props.alarmEmail);

    // ---- Alarms and dashboard.
    this.alarms = this.#createAlarms(refresher.fn, getter.fn, dlq, refresherTimeout, interval);
    this.dashboard = this.#createDashboard(refresher.fn, getter.fn);

    // Lambda adds the X-Ray statement for any mode but DISABLED (PassThrough included when set explicitly).
    const xrayStatement = props.tracing !== undefined && props.tracing !== lambda.Tracing.DISABLED;
    this.#acknowledgeInherentNagFindings([refresher.fn, getter.fn], credentialSecretsPattern, xrayStatement);
  }

  /**
   * Lets `grantee` read the tokens of the given orgs: GetSecretValue/DescribeSecret on
   * `<prefix>/tokens/<orgId>-??????` and kms:Decrypt on the key, only through Secrets Manager and only
   * for those secrets. The grantee must be in this account.
   */
  grantReadToken(grantee: iam.IGrantable, ...orgIds: string[]): iam.Grant {
    if (orgIds.length === 0) invalid('grantReadToken orgIds', '(none)', 'must name at least one org');
    const names = [...new Set(orgIds.map((orgId) => {
      if (Token.isUnresolved(orgId)) return `${this.secretPrefix}/${TOKENS_SEGMENT}/${orgId}`;
      if (!isOrgId(orgId)) invalid('grantReadToken orgId', orgId, 'must be a Genesys Cloud organization id (UUID)');
      // Org ids are stored lower-case; secret names (and so IAM ARN matching) are case-sensitive.
      const canonical = orgId.toLowerCase();
      return Token.isUnresolved(this.secretPrefix) ? `${this.secretPrefix}/${TOKENS_SEGMENT}/${canonical}` : tokenSecretName(this.secretPrefix, canonical);
    }))];
    const stack = Stack.of(this);
    const arns = names.map((name) => secretArnPattern(name, { partition: stack.partition, region: stack.region, account: stack.account }));
    return this.#grantTokenRead(grantee, arns);
  }

  /** Lets `grantee` read every org's token: GetSecretValue/DescribeSecret on `<prefix>/tokens/*` plus kms:Decrypt through Secrets Manager. */
  grantReadAllTokens(grantee: iam.IGrantable): iam.Grant {
    return this.#grantTokenRead(grantee, [this.#tokenSecretsPattern]);
  }

  /** Lets `grantee` invoke the getter (lambda:InvokeFunction on the function). */
  grantInvokeGetter(grantee: iam.IGrantable): iam.Grant {
    return this.getter.grantInvoke(grantee);
  }

  /**
   * Acknowledges (CDK `Validations`, which cdk-nag v3 reads) the cdk-nag AwsSolutions findings that
   * are inherent to the design. Each acknowledgment names one exact finding and gives the reason;
   * anything else cdk-nag reports still fails synthesis. Wildcards in `extraCredentialSecretArns`
   * are deliberately not acknowledged here: whoever adds them owns that decision.
   */
  #acknowledgeInherentNagFindings(functions: NodejsFunction[], credentialSecretsPattern: string, xrayStatement: boolean): void {
    const stack = Stack.of(this);
    const resourceFinding = (arn: string) => `AwsSolutions-IAM5[Resource::${flattenForNag(stack.resolve(arn))}]`;
    for (const fn of functions) {
      const role = fn.role;
      if (!role) continue;
      Validations.of(role).acknowledge(
        {
          id: resourceFinding(this.#tokenSecretsPattern),
          reason:
            'One token secret per org, created as orgs are registered: the functions write <prefix>/tokens/<orgId> for any registered org, ' +
            'so the grant is scoped to the broker\'s own tokens/ path rather than to a list that would need a redeploy per org.',
        },
        {
          id: resourceFinding(credentialSecretsPattern),
          reason:
            'One credentials secret per org, created by the operator as orgs are registered: the functions read it and write rotated ' +
            'refresh tokens back, scoped to the broker\'s own credentials/ path.',
        },
        {
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason:
            'kms:GenerateDataKey* is the GenerateDataKey family (with and without plaintext) on the broker key only, and only via Secrets Manager and DynamoDB (kms:ViaService).',
        },
      );
      if (xrayStatement) {
        Validations.of(role).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
        });
      }
    }
    Validations.of(this.sweepDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue: the EventBridge target DLQ of the sweep schedule, which cdk-nag only recognises for SQS redrive.',
    });
  }

  #grantTokenRead(grantee: iam.IGrantable, secretArns: string[]): iam.Grant {
    const secrets = iam.Grant.addToPrincipal({ grantee, actions: [...TOKEN_READER_ACTIONS], resourceArns: secretArns, scope: this });
    const key = iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      // Secrets Manager decrypts with the secret's ARN as encryption context, so the key grant is no
      // wider than the secret grant: it cannot decrypt table data or other secrets.
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
        StringLike: { 'kms:EncryptionContext:SecretARN': secretArns },
      },
      scope: this,
    });
    return secrets.combine(key);
  }

  #table(id: string, design: TableDesign, removalPolicy: RemovalPolicy): dynamodb.Table {
    // dynamodb.Table (AWS::DynamoDB::Table) rather than TableV2 (AWS::DynamoDB::GlobalTable): a single-
    // Region table is what reviewers expect, and cdk-nag's point-in-time-recovery rule checks it.
    const table = new dynamodb.Table(this, id, {
      partitionKey: attribute(design.partitionKey),
      ...(design.sortKey ? { sortKey: attribute(design.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(design.timeToLiveAttribute ? { timeToLiveAttribute: design.timeToLiveAttribute } : {}),
      removalPolicy,
      deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
    });
    for (const index of design.globalSecondaryIndexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: index.projectionType === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
      });
    }
    return table;
  }

  #function(
    id: 'Refresher' | 'Getter',
    options: {
      entry: string;
      description: string;
      memorySize: number;
      timeout: Duration;
      environment: Record<string, string>;
      removalPolicy: RemovalPolicy;
      logRetention: logs.RetentionDays;
      tracing: lambda.Tracing | undefined;
      reservedConcurrentExecutions?: number;
      retryAttempts?: number;
      maxEventAge?: Duration;
    },
  ): { fn: NodejsFunction; logGroup: logs.LogGroup } {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: options.logRetention, removalPolicy: options.removalPolicy });
    // An explicit role instead of the default one: the default attaches the AWS managed
    // AWSLambdaBasicExecutionRole (logs on every log group in the account); this role may write to its
    // own log group only.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the Genesys token broker ${id.toLowerCase()}`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    const fn = new NodejsFunction(this, id, {
      entry: resolve(PROJECT_ROOT, options.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      description: options.description,
      memorySize: options.memorySize,
      timeout: options.timeout,
      environment: options.environment,
      role,
      logGroup,
      ...(options.tracing ? { tracing: options.tracing } : {}),
      ...(options.reservedConcurrentExecutions !== undefined ? { reservedConcurrentExecutions: options.reservedConcurrentExecutions } : {}),
      ...(options.retryAttempts !== undefined ? { retryAttempts: options.retryAttempts } : {}),
      ...(options.maxEventAge ? { maxEventAge: options.maxEventAge } : {}),
      bundling: {
        // Local esbuild only (it is a devDependency); no Docker on the operator's machine.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node24',
        platform: 'node',
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; leaving the sources out shrinks the map Node parses at
        // cold start under --enable-source-maps from about 3.3 MB to 1.2 MB.
        sourcesContent: false,
        // Prefer packages' ESM builds (@middy/core is ESM only).
        mainFields: ['module', 'main'],
        // Bundle the AWS SDK too: the versions in package-lock.json are the ones the tests ran against,
        // not whatever the Lambda runtime happens to ship.
        externalModules: [],
        // esbuild turns a CommonJS dependency's require() of a Node built-in into a shim that throws in
        // an ES module unless `require` exists; defining it keeps such dependencies working.
        banner: "import { createRequire as __gtbCreateRequire } from 'node:module'; const require = __gtbCreateRequire(import.meta.url);",
      },
    });
    return { fn, logGroup };
  }

  #grantEngineAccess(fn: lambda.IFunction, credentialSecretsPattern: string, extraCredentialSecretArns: string[]): void {
    const stack = Stack.of(this);
    const statements = [
      new iam.PolicyStatement({ sid: 'TokenSecretsWrite', actions: [...TOKEN_SECRET_WRITER_ACTIONS], resources: [this.#tokenSecretsPattern] }),
      new iam.PolicyStatement({ sid: 'CredentialSecretsReadRotate', actions: [...CREDENTIAL_SECRET_ACTIONS], resources: [credentialSecretsPattern, ...extraCredentialSecretArns] }),
      new iam.PolicyStatement({
        sid: 'BrokerKeyViaServices',
        actions: [...KEY_USER_ACTIONS],
        resources: [this.encryptionKey.keyArn],
        // Only Secrets Manager (token secrets) and DynamoDB (the tables) use the key on the functions' behalf.
        conditions: { StringEquals: { 'kms:ViaService': [`secretsmanager.${stack.region}.amazonaws.com`, `dynamodb.${stack.region}.amazonaws.com`] } },
      }),
      new iam.PolicyStatement({ sid: 'RegistryReadWrite', actions: [...REGISTRY_ACTIONS], resources: [this.registryTable.tableArn] }),
      new iam.PolicyStatement({ sid: 'AuditAppend', actions: [...AUDIT_ACTIONS], resources: [this.auditTable.tableArn] }),
    ];
    for (const statement of statements) fn.addToRolePolicy(statement);
  }

  #createAlarmTopic(alarmEmail: string | undefined): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Genesys token broker alarms',
      // The AWS managed aws/sns key would not work: CloudWatch cannot use it, so alarms would never arrive.
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });
    const stack = Stack.of(this);
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
    const added = this.encryptionKey.addToResourcePolicy(
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
      Annotations.of(this).addWarningV2(
        'genesys-token-broker:alarmTopicKeyPolicy',
        'encryptionKey was imported, so its key policy cannot be edited here: allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* on it, or alarm notifications are dropped',
      );
    }
    if (alarmEmail !== undefined && alarmEmail !== '') topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
    return topic;
  }

  #metric(service: 'refresher' | 'getter', metricName: string, statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
    return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: METRICS_SERVICE[service] }, statistic, period });
  }

  #createAlarms(refresher: lambda.IFunction, getter: lambda.IFunction, dlq: sqs.IQueue, refresherTimeout: Duration, interval: number | undefined): Record<string, cloudwatch.Alarm> {
    const fiveMinutes = Duration.minutes(5);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const add = (key: string, props: cloudwatch.AlarmProps) => {
      const alarm = new cloudwatch.Alarm(this, `${key}Alarm`, props);
      alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
      alarm.addOkAction(new cloudwatchActions.SnsAction(this.alarmTopic));
      alarms[key] = alarm;
    };
    const atLeastOnce = { threshold: 1, evaluationPeriods: 1, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD };

    add('RefreshFailed', {
      ...atLeastOnce,
      metric: this.#metric('refresher', 'RefreshFailed', 'Sum'),
      alarmDescription: 'A sweep failed to refresh at least one org token. See the audit table (failures-by-day index) for the org and error code.',
      // No data means no sweep reported in the period: no failures. A sweep that stops running is the
      // SweepsMissing alarm's job.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('OrgsAtRisk', {
      ...atLeastOnce,
      metric: this.#metric('refresher', 'OrgsAtRisk', 'Maximum'),
      alarmDescription: 'At least one org token is close to expiry without a successful refresh: consumers will soon get no token for it.',
      // Every sweep reports OrgsAtRisk (0 when healthy), so no data only means no sweep ended in the
      // period; SweepsMissing covers that.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
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
      alarmDescription: 'A scheduled sweep was throttled: the previous sweep was still running (reserved concurrency 1), or the account is out of concurrency.',
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
      metric: refresher.metricInvocations({ period: Duration.minutes(missingWindowMinutes), statistic: 'Sum' }),
      alarmDescription: `The refresher was not invoked for ${missingWindowMinutes} minutes: is the schedule rule disabled?`,
      // Lambda publishes no Invocations datapoint when there were none, which is exactly the alarm case.
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

  #createDashboard(refresher: lambda.IFunction, getter: lambda.IFunction): cloudwatch.Dashboard {
    const hits = this.#metric('getter', 'GetterCacheHit', 'Sum');
    const misses = this.#metric('getter', 'GetterCacheMiss', 'Sum');
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(1) });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Sweep outcomes',
        left: [this.#metric('refresher', 'RefreshSucceeded', 'Sum'), this.#metric('refresher', 'RefreshFailed', 'Sum')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Orgs at risk',
        left: [this.#metric('refresher', 'OrgsAtRisk', 'Maximum')],
        leftAnnotations: [{ value: 1, label: 'alarm', color: cloudwatch.Color.RED }],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Least token lifetime left (seconds)',
        left: [this.#metric('refresher', 'MinTokenSecondsRemaining', 'Minimum')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Getter latency (ms)',
        left: [this.#metric('getter', 'GetterLatencyMs', 'p50'), this.#metric('getter', 'GetterLatencyMs', 'p99')],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Getter cache hit ratio',
        left: [
          new cloudwatch.MathExpression({
            expression: 'hits / (hits + misses)',
            usingMetrics: { hits, misses },
            label: 'cache hit ratio',
            period: Duration.minutes(5),
          }),
        ],
        leftYAxis: { min: 0, max: 1 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Function errors and throttles',
        left: [refresher.metricErrors(), refresher.metricThrottles(), getter.metricErrors()],
        width: 12,
      }),
    );
    return dashboard;
  }
}

