/**
 * The broker's functions (the refresher, the getter, scoped getters): each a bundled Lambda function
 * (its code from handler-code.ts) with its own log group and an execution role that starts with nothing but that log group, plus its
 * own grants: the refresher's on the broker's secrets, key and tables, a getter's read-only ones.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { PENDING_TOKEN_PURPOSE } from '../../../lambdas/adapters/aws/tables.js';
import { ORG_EVENT_SOURCE } from '../../../lambdas/core/org-events.js';
import {
  AUDIT_ACTIONS,
  CREDENTIAL_SECRET_ACTIONS,
  JOURNAL_KEY_ACTIONS,
  KEY_READER_ACTIONS,
  ORG_EVENT_ACTIONS,
  REFRESHER_INVOKE_ACTIONS,
  REGISTRY_ACTIONS,
  REGISTRY_READER_ACTIONS,
  SECRETS_KEY_WRITER_ACTIONS,
  TABLE_KEY_WRITER_ACTIONS,
  TOKEN_READER_ACTIONS,
  TOKEN_SECRET_WRITER_ACTIONS,
} from '../permissions.js';
import { handlerCode, type HandlerName } from './handler-code.js';

/** What distinguishes the refresher from the getter. */
export interface BrokerFunctionOptions {
  /** Which of the broker's handlers the function runs. */
  readonly handler: HandlerName;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
  readonly tracing: lambda.Tracing | undefined;
  readonly reservedConcurrentExecutions?: number;
  readonly retryAttempts?: number;
  readonly maxEventAge?: Duration;
}

/** The function `id`, its log group `<id>Logs` and its role `<id>Role`, all children of `scope`. */
export function createBrokerFunction(scope: Construct, id: string, options: BrokerFunctionOptions): { fn: lambda.Function; logGroup: logs.LogGroup } {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: options.logRetention, removalPolicy: options.removalPolicy });
  // An explicit role instead of the default one: the default attaches the AWS managed
  // AWSLambdaBasicExecutionRole (logs on every log group in the account); this role may write to its
  // own log group only.
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of the Genesys token broker ${id.toLowerCase()}`,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
  );
  const fn = new lambda.Function(scope, id, {
    code: handlerCode(options.handler),
    handler: 'index.handler',
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
  });
  return { fn, logGroup };
}

/** The broker resources the refresher works on. */
export interface RefresherResources {
  /** `<prefix>/tokens/*` as a secret ARN pattern. */
  readonly tokenSecretsPattern: string;
  /** `<prefix>/credentials/*` as a secret ARN pattern. */
  readonly credentialSecretsPattern: string;
  readonly extraCredentialSecretArns: string[];
  readonly encryptionKey: kms.IKey;
  readonly registryTable: dynamodb.ITable;
  readonly auditTable: dynamodb.ITable;
  /** Where per-org events go; undefined when they are disabled. */
  readonly eventBus?: events.IEventBus;
}

const viaService = (service: 'secretsmanager' | 'dynamodb', fn: lambda.IFunction) => `${service}.${Stack.of(fn).region}.amazonaws.com`;

/** The refresher's statements: it alone writes tokens, reads and rotates credentials, and audits. */
export function grantRefresherAccess(fn: lambda.IFunction, resources: RefresherResources): void {
  const statements = [
    new iam.PolicyStatement({ sid: 'TokenSecretsWrite', actions: [...TOKEN_SECRET_WRITER_ACTIONS], resources: [resources.tokenSecretsPattern] }),
    new iam.PolicyStatement({
      sid: 'CredentialSecretsReadRotate',
      actions: [...CREDENTIAL_SECRET_ACTIONS],
      resources: [resources.credentialSecretsPattern, ...resources.extraCredentialSecretArns],
    }),
    new iam.PolicyStatement({
      sid: 'BrokerKeyViaSecretsManager',
      actions: [...SECRETS_KEY_WRITER_ACTIONS],
      resources: [resources.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': viaService('secretsmanager', fn) } },
    }),
    new iam.PolicyStatement({
      sid: 'BrokerKeyViaDynamoDB',
      actions: [...TABLE_KEY_WRITER_ACTIONS],
      resources: [resources.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': viaService('dynamodb', fn) } },
    }),
    new iam.PolicyStatement({
      sid: 'BrokerKeyForTheRefreshTokenJournal',
      actions: [...JOURNAL_KEY_ACTIONS],
      resources: [resources.encryptionKey.keyArn],
      // Envelope encryption of a rotated refresh token (kms-envelope.ts): only with the journal's
      // encryption context, so this grant opens nothing else the key protects.
      conditions: { StringEquals: { 'kms:EncryptionContext:purpose': PENDING_TOKEN_PURPOSE } },
    }),
    new iam.PolicyStatement({ sid: 'RegistryReadWrite', actions: [...REGISTRY_ACTIONS], resources: [resources.registryTable.tableArn] }),
    new iam.PolicyStatement({ sid: 'AuditAppend', actions: [...AUDIT_ACTIONS], resources: [resources.auditTable.tableArn] }),
  ];
  if (resources.eventBus) {
    // That bus only, and only events whose source is the broker's.
    const conditions = { StringEquals: { 'events:source': ORG_EVENT_SOURCE } };
    statements.push(new iam.PolicyStatement({ sid: 'OrgEventsPut', actions: [...ORG_EVENT_ACTIONS], resources: [resources.eventBus.eventBusArn], conditions }));
  }
  for (const statement of statements) fn.addToRolePolicy(statement);
}

/** What a getter may read, and whom it asks for refreshes. */
export interface GetterResources {
  /** Token secret ARNs (or the `<prefix>/tokens/*` pattern) it may read. */
  readonly tokenSecretArns: string[];
  readonly encryptionKey: kms.IKey;
  readonly registryTable: dynamodb.ITable;
  readonly refresher: lambda.IFunction;
  /** A scoped getter's orgs: GetItem is then limited to their registry items. */
  readonly orgIds?: string[];
}

/**
 * A getter's statements: read token secrets (those ARNs only, and the key only for them), read one
 * registry item, invoke the refresher. No write, no credentials, no audit table.
 */
export function grantGetterAccess(fn: lambda.IFunction, resources: GetterResources): void {
  const statements = [
    new iam.PolicyStatement({ sid: 'TokenSecretsRead', actions: [...TOKEN_READER_ACTIONS], resources: resources.tokenSecretArns }),
    new iam.PolicyStatement({
      sid: 'BrokerKeyForTokenSecrets',
      actions: [...KEY_READER_ACTIONS],
      resources: [resources.encryptionKey.keyArn],
      // Secrets Manager decrypts with the secret's ARN as encryption context: the key grant is no wider
      // than the secret grant.
      conditions: {
        StringEquals: { 'kms:ViaService': viaService('secretsmanager', fn) },
        StringLike: { 'kms:EncryptionContext:SecretARN': resources.tokenSecretArns },
      },
    }),
    new iam.PolicyStatement({
      sid: 'BrokerKeyForRegistryReads',
      actions: [...KEY_READER_ACTIONS],
      resources: [resources.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': viaService('dynamodb', fn) } },
    }),
    new iam.PolicyStatement({
      sid: 'RegistryRead',
      actions: [...REGISTRY_READER_ACTIONS],
      resources: [resources.registryTable.tableArn],
      // A scoped getter reads its own orgs' items only: the partition key is the org id.
      ...(resources.orgIds ? { conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': resources.orgIds } } } : {}),
    }),
    new iam.PolicyStatement({ sid: 'RefreshOnDemand', actions: [...REFRESHER_INVOKE_ACTIONS], resources: [resources.refresher.functionArn] }),
  ];
  for (const statement of statements) fn.addToRolePolicy(statement);
}
