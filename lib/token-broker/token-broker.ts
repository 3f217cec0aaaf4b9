/**
 * The TokenBroker L3 construct: the registry and audit tables, the scheduled refresher, the getter,
 * their least-privilege roles, alarms and a dashboard. Customers deploy it into their own accounts,
 * so every permission below is scoped to the broker's own resources and every choice that a security
 * reviewer would ask about carries its reason next to it.
 *
 * The pieces live beside it: props.ts (props and their validation), permissions.ts (the IAM actions),
 * private/ (tables, functions, alarms, dashboard, cdk-nag acknowledgments).
 */
import { Duration, Stack, Token, Tokenization } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_TABLE, REGISTRY_TABLE } from '../../lambdas/adapters/aws/tables.js';
import { CREDENTIALS_SEGMENT, secretArnPattern, TOKENS_SEGMENT, tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { ENV } from '../../lambdas/core/env-names.js';
import { isOrgId } from '../../lambdas/core/token-record.js';
import { TOKEN_READER_ACTIONS } from './permissions.js';
import { invalidArgument, resolveTokenBrokerProps, type TokenBrokerProps } from './props.js';
import { createAlarms, createAlarmTopic } from './private/alarms.js';
import { createDashboard } from './private/dashboard.js';
import { createBrokerFunction, grantEngineAccess } from './private/functions.js';
import { acknowledgeInherentNagFindings } from './private/nag.js';
import { createTable } from './private/tables.js';

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
    const resolved = resolveTokenBrokerProps(this, props);
    const { secretPrefix, removalPolicy, refresherTimeout, scheduleIntervalMinutes: interval } = resolved;
    this.secretPrefix = secretPrefix;

    // ---- Key, tables.
    this.encryptionKey =
      resolved.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: `Encrypts the Genesys token broker's tables, token secrets and alarm topic (${stack.stackName})`,
        enableKeyRotation: true,
        removalPolicy,
      });

    this.registryTable = createTable(this, 'RegistryTable', REGISTRY_TABLE, this.encryptionKey, removalPolicy);
    this.auditTable = createTable(this, 'AuditTable', AUDIT_TABLE, this.encryptionKey, removalPolicy);

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
      [ENV.refreshAtFraction]: Tokenization.stringifyNumber(resolved.refreshAtFraction),
      // The refresh policy's sweep interval comes from the schedule, its one source; a cron schedule
      // leaves it unset and the refresher assumes 5 minutes.
      ...(interval !== undefined ? { [ENV.sweepIntervalSeconds]: String(interval * 60) } : {}),
      [ENV.sweepConcurrency]: Tokenization.stringifyNumber(resolved.sweepConcurrency),
      [ENV.secretWriteRatePerSecond]: Tokenization.stringifyNumber(resolved.secretWriteRatePerSecond),
      [ENV.auditRetentionDays]: Tokenization.stringifyNumber(resolved.auditRetention.toDays()),
      [ENV.getterCacheMaxAgeSeconds]: Tokenization.stringifyNumber(resolved.getterCacheMaxAge.toSeconds()),
      // Stack traces point at the TypeScript sources through the bundled source maps.
      NODE_OPTIONS: '--enable-source-maps',
    };

    const refresher = createBrokerFunction(this, 'Refresher', {
      entry: 'lambdas/handlers/refresher.ts',
      description: 'Genesys token broker: refreshes due org tokens on a schedule',
      memorySize: resolved.refresherMemorySize,
      timeout: refresherTimeout,
      environment,
      removalPolicy,
      logRetention: resolved.logRetention,
      tracing: resolved.tracing,
      // One sweep at a time keeps Genesys and Secrets Manager load predictable. It is not what keeps
      // two writers off one org: the per-org leases in the registry still guard every refresh (the
      // getter refreshes on demand concurrently with the sweep).
      reservedConcurrentExecutions: 1,
      // A failed sweep is retried by the next scheduled one; an immediate async retry would only add
      // load on a failing upstream and collide with the single concurrency slot.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(Math.min(Math.max(interval ?? 60, 1), 360)),
    });
    const getter = createBrokerFunction(this, 'Getter', {
      entry: 'lambdas/handlers/getter.ts',
      description: 'Genesys token broker: serves an org token to consumers, refreshing on demand',
      memorySize: resolved.getterMemorySize,
      timeout: resolved.getterTimeout,
      environment,
      removalPolicy,
      logRetention: resolved.logRetention,
      tracing: resolved.tracing,
    });
    this.refresher = refresher.fn;
    this.getter = getter.fn;

    for (const fn of [refresher.fn, getter.fn]) {
      grantEngineAccess(fn, {
        tokenSecretsPattern: this.#tokenSecretsPattern,
        credentialSecretsPattern,
        extraCredentialSecretArns: resolved.extraCredentialSecretArns,
        encryptionKey: this.encryptionKey,
        registryTable: this.registryTable,
        auditTable: this.auditTable,
      });
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
      schedule: resolved.schedule,
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
    this.alarmTopic = resolved.alarmTopic ?? createAlarmTopic(this, this.encryptionKey, resolved.alarmEmail);

    // ---- Alarms and dashboard.
    this.alarms = createAlarms(this, {
      topic: this.alarmTopic,
      refresher: refresher.fn,
      getter: getter.fn,
      deadLetterQueue: dlq,
      refresherTimeout,
      scheduleIntervalMinutes: interval,
    });
    this.dashboard = createDashboard(this, refresher.fn, getter.fn);

    // Lambda adds the X-Ray statement for any mode but DISABLED (PassThrough included when set explicitly).
    const xrayStatement = resolved.tracing !== undefined && resolved.tracing !== lambda.Tracing.DISABLED;
    acknowledgeInherentNagFindings(this, {
      functions: [refresher.fn, getter.fn],
      tokenSecretsPattern: this.#tokenSecretsPattern,
      credentialSecretsPattern,
      xrayStatement,
      sweepDeadLetterQueue: this.sweepDeadLetterQueue,
    });
  }

  /**
   * Lets `grantee` read the tokens of the given orgs: GetSecretValue/DescribeSecret on
   * `<prefix>/tokens/<orgId>-??????` and kms:Decrypt on the key, only through Secrets Manager and only
   * for those secrets. The grantee must be in this account.
   */
  grantReadToken(grantee: iam.IGrantable, ...orgIds: string[]): iam.Grant {
    if (orgIds.length === 0) invalidArgument(this, 'grantReadToken orgIds', '(none)', 'must name at least one org');
    const names = [...new Set(orgIds.map((orgId) => {
      if (Token.isUnresolved(orgId)) return `${this.secretPrefix}/${TOKENS_SEGMENT}/${orgId}`;
      if (!isOrgId(orgId)) invalidArgument(this, 'grantReadToken orgId', orgId, 'must be a Genesys Cloud organization id (UUID)');
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
}
