/**
 * The stack `cdk deploy` creates: one TokenBroker configured from CDK context, and its outputs. The
 * cdk-nag acknowledgments for findings inherent to the design live in the construct, next to the
 * resources they are about, each with its reason.
 *
 * Environment-agnostic: no account or Region is fixed here; the CLI's credentials and Region decide.
 *
 * Context keys (set in cdk.json or with `cdk deploy -c key=value`; values from `-c` arrive as strings
 * and are parsed). Unknown keys under the `genesys-token-broker:` prefix are rejected, so a typo never
 * silently falls back to a default.
 *
 * | key                                                | type            | default                |
 * |----------------------------------------------------|-----------------|------------------------|
 * | `genesys-token-broker:stackName`                   | string          | `GenesysTokenBroker` (read by lib/app.ts) |
 * | `genesys-token-broker:secretPrefix`                | string          | `genesys-token-broker` |
 * | `genesys-token-broker:refreshAtFraction`           | number 0.5-0.9  | 0.75                   |
 * | `genesys-token-broker:scheduleMinutes`             | integer >= 1    | 5                      |
 * | `genesys-token-broker:alarmEmail`                  | e-mail or ''    | '' (no subscription)   |
 * | `genesys-token-broker:sweepConcurrency`            | integer 1-256   | 16                     |
 * | `genesys-token-broker:secretWriteRatePerSecond`    | integer 1-50    | 20                     |
 * | `genesys-token-broker:auditRetentionDays`          | integer 1-3650  | 90                     |
 * | `genesys-token-broker:getterCacheMaxAgeSeconds`    | integer 0-3600  | 300                    |
 * | `genesys-token-broker:logRetentionDays`            | a CloudWatch Logs retention in days | 90 |
 * | `genesys-token-broker:removalPolicy`               | `retain` or `destroy` | `retain`         |
 * | `genesys-token-broker:activeTracing`               | boolean         | false                  |
 * | `genesys-token-broker:refresherTimeoutSeconds`     | integer 30-900  | 240                    |
 * | `genesys-token-broker:refresherMemoryMb`           | integer 128-10240 | 512                  |
 * | `genesys-token-broker:getterTimeoutSeconds`        | integer 5-900   | 30                     |
 * | `genesys-token-broker:getterMemoryMb`              | integer 128-10240 | 256                  |
 * | `genesys-token-broker:extraCredentialSecretArns`   | string[] (or comma-separated) | none     |
 * | `genesys-token-broker:eventsEnabled`               | boolean         | true                   |
 * | `genesys-token-broker:eventBusName`                | event bus name or '' | '' (the default bus) |
 *
 * What each key does is documented on the matching TokenBrokerProps property (`activeTracing` maps to
 * `tracing: ACTIVE`, the `...Seconds`/`...Days`/`...Mb` keys to the Duration and size props,
 * `eventBusName` to `eventBus` as an existing bus of this account and Region). An extra
 * credential ARN containing `*` makes cdk-nag fail the synth (IAM5) until it is acknowledged with a
 * reason: that wildcard is the deployer's decision, not the construct's.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { TokenBroker, type TokenBrokerProps } from './token-broker/index.js';
import { STACK_OUTPUT_KEYS } from './stack-outputs.js';

/** Prefix of every context key this stack reads. */
export const CONTEXT_PREFIX = 'genesys-token-broker:';

/** Context keys (without the prefix) the stack and app understand. */
export const CONTEXT_KEYS = Object.freeze([
  'stackName',
  'secretPrefix',
  'refreshAtFraction',
  'scheduleMinutes',
  'alarmEmail',
  'sweepConcurrency',
  'secretWriteRatePerSecond',
  'auditRetentionDays',
  'getterCacheMaxAgeSeconds',
  'logRetentionDays',
  'removalPolicy',
  'activeTracing',
  'refresherTimeoutSeconds',
  'refresherMemoryMb',
  'getterTimeoutSeconds',
  'getterMemoryMb',
  'extraCredentialSecretArns',
  'eventsEnabled',
  'eventBusName',
] as const);

/** Stack name used when the context does not set one. */
export const DEFAULT_STACK_NAME = 'GenesysTokenBroker';

/**
 * CloudFormation output keys. The operator CLI reads the deployed stack's outputs by these keys, so
 * they are stable: never rename one. No output is exported (no cross-stack coupling).
 */
export { STACK_OUTPUT_KEYS };

/** Properties of {@link TokenBrokerStack}. */
export interface TokenBrokerStackProps extends StackProps {
  /**
   * Construct props that take precedence over the context settings (for tests and for apps that
   * embed the stack).
   * @default - everything from context
   */
  readonly broker?: TokenBrokerProps;
}

type Context = Partial<Record<(typeof CONTEXT_KEYS)[number], unknown>>;

function contextError(key: string, value: unknown, allowed: string): never {
  throw new Error(`context ${CONTEXT_PREFIX}${key} ${allowed}, got ${JSON.stringify(value)}`);
}

/** A number from JSON context or from a `-c key=value` string. */
function numberFrom(ctx: Context, key: keyof Context, integer: boolean): number | undefined {
  const raw = ctx[key];
  if (raw === undefined || raw === '') return undefined;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) contextError(key, raw, integer ? 'must be an integer' : 'must be a number');
  return value;
}

function stringFrom(ctx: Context, key: keyof Context): string | undefined {
  const raw = ctx[key];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') contextError(key, raw, 'must be a string');
  return raw;
}

function booleanFrom(ctx: Context, key: keyof Context): boolean | undefined {
  const raw = ctx[key];
  if (raw === undefined || raw === '') return undefined;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  return contextError(key, raw, 'must be true or false');
}

/** Reads and checks the `genesys-token-broker:` context into TokenBroker props. */
export function brokerPropsFromContext(scope: Construct): TokenBrokerProps {
  const all = scope.node.getAllContext() as Record<string, unknown>;
  const ctx: Context = {};
  for (const [fullKey, value] of Object.entries(all)) {
    if (!fullKey.startsWith(CONTEXT_PREFIX)) continue;
    const key = fullKey.slice(CONTEXT_PREFIX.length);
    if (!(CONTEXT_KEYS as readonly string[]).includes(key)) {
      throw new Error(`unknown context key ${fullKey}; known keys: ${CONTEXT_KEYS.map((k) => CONTEXT_PREFIX + k).join(', ')}`);
    }
    ctx[key as keyof Context] = value;
  }

  const scheduleMinutes = numberFrom(ctx, 'scheduleMinutes', true);
  if (scheduleMinutes !== undefined && scheduleMinutes < 1) contextError('scheduleMinutes', ctx.scheduleMinutes, 'must be at least 1');
  const removal = stringFrom(ctx, 'removalPolicy');
  if (removal !== undefined && removal !== 'retain' && removal !== 'destroy') contextError('removalPolicy', removal, 'must be "retain" or "destroy"');
  const logRetentionDays = numberFrom(ctx, 'logRetentionDays', true);
  if (logRetentionDays !== undefined && !Object.values(logs.RetentionDays).includes(logRetentionDays)) {
    contextError('logRetentionDays', ctx.logRetentionDays, `must be one of ${Object.values(logs.RetentionDays).filter((v) => typeof v === 'number').join(', ')}`);
  }
  const extraRaw = ctx.extraCredentialSecretArns;
  let extraCredentialSecretArns: string[] | undefined;
  if (typeof extraRaw === 'string' && extraRaw !== '') extraCredentialSecretArns = extraRaw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  else if (Array.isArray(extraRaw) && extraRaw.every((s) => typeof s === 'string')) extraCredentialSecretArns = extraRaw as string[];
  else if (extraRaw !== undefined && extraRaw !== '') contextError('extraCredentialSecretArns', extraRaw, 'must be a list of secret ARNs');

  const eventBusName = stringFrom(ctx, 'eventBusName');
  if (eventBusName !== undefined && !/^[A-Za-z0-9._-]{1,256}$/.test(eventBusName)) contextError('eventBusName', eventBusName, 'must be an event bus name (letters, digits, ".", "_", "-")');

  const seconds = (key: keyof Context) => {
    const n = numberFrom(ctx, key, true);
    return n === undefined ? undefined : Duration.seconds(n);
  };
  const props: Record<string, unknown> = {
    secretPrefix: stringFrom(ctx, 'secretPrefix'),
    refreshAtFraction: numberFrom(ctx, 'refreshAtFraction', false),
    schedule: scheduleMinutes === undefined ? undefined : events.Schedule.rate(Duration.minutes(scheduleMinutes)),
    alarmEmail: stringFrom(ctx, 'alarmEmail'),
    sweepConcurrency: numberFrom(ctx, 'sweepConcurrency', true),
    secretWriteRatePerSecond: numberFrom(ctx, 'secretWriteRatePerSecond', true),
    auditRetention: ((n) => (n === undefined ? undefined : Duration.days(n)))(numberFrom(ctx, 'auditRetentionDays', true)),
    getterCacheMaxAge: seconds('getterCacheMaxAgeSeconds'),
    logRetention: logRetentionDays as logs.RetentionDays | undefined,
    removalPolicy: removal === undefined ? undefined : removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    tracing: booleanFrom(ctx, 'activeTracing') ? lambda.Tracing.ACTIVE : undefined,
    refresherTimeout: seconds('refresherTimeoutSeconds'),
    refresherMemorySize: numberFrom(ctx, 'refresherMemoryMb', true),
    getterTimeout: seconds('getterTimeoutSeconds'),
    getterMemorySize: numberFrom(ctx, 'getterMemoryMb', true),
    extraCredentialSecretArns,
    eventsEnabled: booleanFrom(ctx, 'eventsEnabled'),
    eventBus: eventBusName === undefined ? undefined : events.EventBus.fromEventBusName(scope, 'EventBus', eventBusName),
  };
  return Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined)) as TokenBrokerProps;
}

/** The deployable stack: a TokenBroker configured from context, and its outputs. */
export class TokenBrokerStack extends Stack {
  /** The broker this stack deploys. */
  readonly broker: TokenBroker;

  constructor(scope: Construct, id: string, props: TokenBrokerStackProps = {}) {
    super(scope, id, {
      description: 'Genesys token broker: keeps Genesys Cloud OAuth tokens fresh in Secrets Manager and serves them to Lambda consumers',
      ...props,
    });
    this.broker = new TokenBroker(this, 'Broker', { ...brokerPropsFromContext(this), ...props.broker });

    const outputs: Record<keyof typeof STACK_OUTPUT_KEYS, { value: string; description: string }> = {
      getterFunctionName: { value: this.broker.getter.functionName, description: 'Getter Lambda name: consumers invoke it with {"orgId": "<uuid>"}' },
      getterFunctionArn: { value: this.broker.getter.functionArn, description: 'Getter Lambda ARN' },
      refresherFunctionName: { value: this.broker.refresher.functionName, description: 'Refresher Lambda name: invoke with {"orgIds": [...], "force": true} for a manual refresh' },
      refresherFunctionArn: { value: this.broker.refresher.functionArn, description: 'Refresher Lambda ARN' },
      registryTableName: { value: this.broker.registryTable.tableName, description: 'DynamoDB table of registered orgs and their leases' },
      auditTableName: { value: this.broker.auditTable.tableName, description: 'DynamoDB table of refresh attempts' },
      secretPrefix: { value: this.broker.secretPrefix, description: 'Prefix of the broker secrets: <prefix>/tokens/<orgId>, <prefix>/credentials/<orgId>' },
      alarmTopicArn: { value: this.broker.alarmTopic.topicArn, description: 'SNS topic the alarms notify' },
      encryptionKeyArn: { value: this.broker.encryptionKey.keyArn, description: 'KMS key of the tables and token secrets' },
      dashboardName: { value: this.broker.dashboard.dashboardName, description: 'CloudWatch dashboard of the broker' },
    };
    for (const [key, output] of Object.entries(outputs)) {
      new CfnOutput(this, STACK_OUTPUT_KEYS[key as keyof typeof STACK_OUTPUT_KEYS], output);
    }
  }
}
