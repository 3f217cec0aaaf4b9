/**
 * The TokenBroker L3 construct: the registry and audit tables, the scheduled refresher, the getter,
 * their least-privilege roles, alarms and a dashboard. Customers deploy it into their own accounts,
 * so every permission below is scoped to the broker's own resources and every choice that a security
 * reviewer would ask about carries its reason next to it.
 *
 * The pieces live beside it: props.ts (props and their validation), permissions.ts (the IAM actions),
 * private/ (tables, functions, alarms, dashboard, cdk-nag acknowledgments).
 */
import { Aws, Duration, Fn, Stack, Token, Tokenization } from 'aws-cdk-lib';
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
import { CrossAccountReaders, isCrossAccount } from './private/cross-account.js';
import { createBrokerFunction, grantRefresherAccess } from './private/functions.js';
import { createGetterFunction, registerGetterSettings } from './private/getter.js';
import { acknowledgeDeadLetterQueue, acknowledgeRoleFindings } from './private/nag.js';
import { ScopedGetter, type ScopedGetterProps } from './scoped-getter.js';
import { createTable } from './private/tables.js';

/**
 * The refresher's reserved concurrency: one sweep and four on-demand refreshes for getters at once.
 */
export const REFRESHER_RESERVED_CONCURRENCY = 5;

/**
 * Keeps Genesys Cloud OAuth tokens fresh for many orgs and hands them out.
 *
 * - `refresher` sweeps the registry on `schedule`, refreshes tokens that are due and writes them to
 *   `<prefix>/tokens/<orgId>` in Secrets Manager; every attempt is audited in `auditTable`.
 * - `getter` serves one org's token to consumers (`grantInvokeGetter`); when it is missing, about to
 *   expire or rejected by Genesys it asks the refresher to refresh that org. It reads and never writes.
 *   `addScopedGetter` builds getters that serve one tenant's orgs only; consumers may instead read the
 *   secret directly (`grantReadToken`).
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
  /**
   * The bus the refresher puts per-org events on (README "Events"): match them with
   * `{ source: ['genesys-token-broker'] }` on this bus. Undefined when `eventsEnabled` is false.
   */
  readonly eventBus?: events.IEventBus;

  readonly #tokenSecretsPattern: string;
  readonly #crossAccountReaders: CrossAccountReaders;

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

    this.#crossAccountReaders = new CrossAccountReaders(this, this.encryptionKey);
    this.registryTable = createTable(this, 'RegistryTable', REGISTRY_TABLE, this.encryptionKey, removalPolicy);
    this.auditTable = createTable(this, 'AuditTable', AUDIT_TABLE, this.encryptionKey, removalPolicy);

    // ---- Functions.
    const scopeArn = { partition: stack.partition, region: stack.region, account: stack.account };
    // `<prefix>/tokens/*`, not `*-??????`: the same statement authorizes CreateSecret, and a plain `*`
    // covers the new secret's ARN whether or not it already carries the random suffix at that point.
    this.#tokenSecretsPattern = `arn:${scopeArn.partition}:secretsmanager:${scopeArn.region}:${scopeArn.account}:secret:${secretPrefix}/${TOKENS_SEGMENT}/*`;
    const credentialSecretsPattern = `arn:${scopeArn.partition}:secretsmanager:${scopeArn.region}:${scopeArn.account}:secret:${secretPrefix}/${CREDENTIALS_SEGMENT}/*`;

    // The metrics' `deployment` dimension: this stack's name and this construct's id, resolved by
    // CloudFormation, so two brokers in one account and Region never share an alarm.
    const deployment = Fn.join('/', [Aws.STACK_NAME, this.node.id]);

    // Per-org events: the bus given, or the account's default bus (imported by name; nothing is created).
    this.eventBus = resolved.eventsEnabled ? (resolved.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultEventBus', 'default')) : undefined;

    // Each function gets the variables its handler reads, and no more (REFRESHER_ENV, GETTER_ENV).
    const environment = {
      [ENV.deployment]: deployment,
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
      // Readers in other accounts, as grantReadToken records them (`[]`: none).
      [ENV.crossAccountReaders]: this.#crossAccountReaders.environmentValue(),
      // The bus's ARN: PutEvents takes it for a bus in this account or another.
      ...(this.eventBus ? { [ENV.eventBus]: this.eventBus.eventBusArn } : {}),
      // Stack traces point at the TypeScript sources through the bundled source maps.
      NODE_OPTIONS: '--enable-source-maps',
    };

    const refresher = createBrokerFunction(this, 'Refresher', {
      handler: 'refresher',
      description: 'Genesys token broker: refreshes due org tokens on a schedule',
      memorySize: resolved.refresherMemorySize,
      timeout: refresherTimeout,
      environment,
      removalPolicy,
      logRetention: resolved.logRetention,
      tracing: resolved.tracing,
      // One running sweep plus four on-demand refreshes for getters at once. Sweeps rarely overlap (the
      // schedule interval is longer than a sweep) and never collide: per-org leases in the registry
      // guard every refresh, whoever runs it. Getters ask only for a missing, expiring or rejected
      // token, which the sweep keeps rare; a fifth concurrent ask is throttled, and the getter then
      // serves a still-valid stored token or answers token_unavailable with a retry hint.
      reservedConcurrentExecutions: REFRESHER_RESERVED_CONCURRENCY,
      // A failed sweep is retried by the next scheduled one; an immediate async retry would only add
      // load on a failing upstream.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(Math.min(Math.max(interval ?? 60, 1), 360)),
    });
    this.refresher = refresher.fn;
    grantRefresherAccess(refresher.fn, {
      tokenSecretsPattern: this.#tokenSecretsPattern,
      credentialSecretsPattern,
      extraCredentialSecretArns: resolved.extraCredentialSecretArns,
      encryptionKey: this.encryptionKey,
      registryTable: this.registryTable,
      auditTable: this.auditTable,
      ...(this.eventBus ? { eventBus: this.eventBus } : {}),
    });
    // Lambda adds the X-Ray statement for any mode but DISABLED (PassThrough included when set explicitly).
    const xrayStatement = resolved.tracing !== undefined && resolved.tracing !== lambda.Tracing.DISABLED;
    acknowledgeRoleFindings(refresher.fn, { tokenSecretsPattern: this.#tokenSecretsPattern, credentialSecretsPattern, generateDataKeyFamily: true, xrayStatement });

    const getterSettings = {
      secretPrefix,
      tokenSecretsPattern: this.#tokenSecretsPattern,
      encryptionKey: this.encryptionKey,
      registryTable: this.registryTable,
      refresher: refresher.fn,
      memorySize: resolved.getterMemorySize,
      timeout: resolved.getterTimeout,
      logRetention: resolved.logRetention,
      removalPolicy,
      tracing: resolved.tracing,
      cacheMaxAgeSeconds: Tokenization.stringifyNumber(resolved.getterCacheMaxAge.toSeconds()),
      deployment,
    };
    registerGetterSettings(this, getterSettings);
    this.getter = createGetterFunction(this, 'Getter', getterSettings, {
      description: 'Genesys token broker: serves an org token to consumers, asking the refresher for on-demand refreshes',
      tokenSecretArns: [this.#tokenSecretsPattern],
    });

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
      getter: this.getter,
      deadLetterQueue: dlq,
      refresherTimeout,
      scheduleIntervalMinutes: interval,
      deployment,
      eventsEnabled: this.eventBus !== undefined,
    });
    this.dashboard = createDashboard(this, refresher.fn, this.getter, deployment);

    acknowledgeDeadLetterQueue(this.sweepDeadLetterQueue);
  }

  /**
   * Lets `grantee` read the tokens of the given orgs: GetSecretValue on
   * `<prefix>/tokens/<orgId>-??????` and kms:Decrypt on the key, only through Secrets Manager and only
   * for those secrets. A grantee in another account (an account, or an IAM role or user there) also
   * gets the resource side: the refresher puts a resource policy naming it on those token secrets, and
   * the key policy lets it decrypt them through Secrets Manager. Its own account must still grant it
   * the same two actions on this account's resources.
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
    const canonicalIds = [...new Set(orgIds.map((id) => (Token.isUnresolved(id) ? id : id.toLowerCase())))];
    return this.#grantTokenRead(grantee, arns, canonicalIds);
  }

  /**
   * Lets `grantee` read every org's token: GetSecretValue on `<prefix>/tokens/*` plus kms:Decrypt
   * through Secrets Manager. Across accounts as {@link grantReadToken} describes.
   */
  grantReadAllTokens(grantee: iam.IGrantable): iam.Grant {
    return this.#grantTokenRead(grantee, [this.#tokenSecretsPattern], '*');
  }

  /**
   * A getter that serves only `orgIds` (at most 25), for one tenant's consumers: its role may read
   * those orgs' token secrets and registry items only, and it answers `org_not_allowed` for any other
   * org. Give a consumer `scoped.grantInvoke(fn)` instead of `grantInvokeGetter`.
   */
  addScopedGetter(id: string, props: ScopedGetterProps): ScopedGetter {
    return new ScopedGetter(this, id, props);
  }

  /**
   * Lets `grantee` invoke the default getter (lambda:InvokeFunction on the function). It serves every
   * org to whoever may invoke it: in a multi-tenant deployment use `addScopedGetter` or `grantReadToken`.
   */
  grantInvokeGetter(grantee: iam.IGrantable): iam.Grant {
    return this.getter.grantInvoke(grantee);
  }

  #grantTokenRead(grantee: iam.IGrantable, secretArns: string[], orgIds: string[] | '*'): iam.Grant {
    if (isCrossAccount(this, grantee)) this.#crossAccountReaders.add(grantee, orgIds, secretArns);
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
