/**
 * The TokenBroker construct and its stack, asserted on the synthesized template. Bundling is skipped
 * here (context `aws:cdk:bundling-stacks: []`: the functions' bundling assets then get a placeholder hash and
 * esbuild never runs); test/infra/synth.test.ts runs the real `cdk synth` and checks the bundles.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, CfnElement, CfnParameter, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, rules } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { AUDIT_TABLE, REGISTRY_TABLE } from '../../lambdas/adapters/aws/tables.js';
import { ENV, GETTER_ENV, REFRESHER_ENV } from '../../lambdas/core/env-names.js';
import { TokenBroker, type TokenBrokerProps } from '../../lib/token-broker/index.js';
import { CONTEXT_KEYS, CONTEXT_PREFIX, STACK_OUTPUT_KEYS, TokenBrokerStack } from '../../lib/token-broker-stack.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** cdk.json's context (feature flags and broker settings), so tests synthesize what `cdk deploy` would. */
const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(resolve(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

const ORG_A = '0b5d2c1e-3f4a-4b6c-8d7e-9f0a1b2c3d4e';
const ORG_B = '7e6d5c4b-3a29-4817-8615-243342516071';

/** The partition/region/account join the construct builds ARNs with in an environment-agnostic stack. */
const arnJoin = (service: string, rest: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, rest]],
});
/** The metrics' deployment dimension: the stack's name and the broker construct's id, joined at deploy time. */
const DEPLOYMENT = { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Broker']] };
const viaService = (service: string) => ({ 'Fn::Join': ['', [`${service}.`, { Ref: 'AWS::Region' }, '.amazonaws.com']] });

/** Every App synthesizes under this one directory, removed after the file's tests. */
const OUTDIR_ROOT = mkdtempSync(join(tmpdir(), 'gtb-infra-'));
let appCount = 0;
afterAll(() => rmSync(OUTDIR_ROOT, { recursive: true, force: true }));

function newApp(context: Record<string, unknown> = {}): App {
  return new App({
    outdir: join(OUTDIR_ROOT, `app-${++appCount}`),
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context },
    // The built-in CloudFormation schema validation costs seconds per synth; synth.test.ts runs it.
    builtinCloudFormationValidation: false,
  });
}

function buildStack(broker?: TokenBrokerProps, context: Record<string, unknown> = {}) {
  const app = newApp(context);
  const stack = new TokenBrokerStack(app, 'TestBroker', broker ? { broker } : {});
  return { app, stack, broker: stack.broker, template: Template.fromStack(stack) };
}

/** A bare stack for constructing TokenBroker directly (validation tests). */
function bareStack(): Stack {
  return new Stack(newApp(), 'Bare');
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnElement);

/** The statements of the default policy attached to `fn`'s role. */
function roleStatements(template: Template, stack: Stack, fn: lambda.IFunction): Record<string, unknown>[] {
  const roleId = logicalId(stack, fn.role as iam.Role);
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }));
  expect(policies).toHaveLength(1);
  return (policies[0] as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument.Statement;
}

const defaults = buildStack();

/** The account's default event bus, as the construct imports it. */
const DEFAULT_BUS_ARN = arnJoin('events', ':event-bus/default');

function expectedRefresherStatements(stack: Stack, broker: TokenBroker, logGroupLogicalId: string, prefix = 'genesys-token-broker', extraCredentialArns: string[] = [], eventBusArn: unknown = DEFAULT_BUS_ARN) {
  const keyArn = { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] };
  const credentials = arnJoin('secretsmanager', `:secret:${prefix}/credentials/*`);
  return [
    { Sid: 'OwnLogGroup', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupLogicalId, 'Arn'] } },
    {
      Sid: 'TokenSecretsWrite',
      Effect: 'Allow',
      Action: [
        'secretsmanager:CreateSecret',
        'secretsmanager:DeleteResourcePolicy',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutResourcePolicy',
        'secretsmanager:PutSecretValue',
        'secretsmanager:TagResource',
      ],
      Resource: arnJoin('secretsmanager', `:secret:${prefix}/tokens/*`),
    },
    {
      Sid: 'CredentialSecretsReadRotate',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
      // CDK renders literal ARNs before token-valued ones.
      Resource: extraCredentialArns.length > 0 ? [...extraCredentialArns, credentials] : credentials,
    },
    {
      Sid: 'BrokerKeyViaSecretsManager',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: keyArn,
      Condition: { StringEquals: { 'kms:ViaService': viaService('secretsmanager') } },
    },
    {
      Sid: 'BrokerKeyViaDynamoDB',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'],
      Resource: keyArn,
      Condition: { StringEquals: { 'kms:ViaService': viaService('dynamodb') } },
    },
    {
      Sid: 'BrokerKeyForTheRefreshTokenJournal',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: keyArn,
      Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'genesys-token-broker/pending-refresh-token' } },
    },
    {
      Sid: 'RegistryReadWrite',
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
      Resource: { 'Fn::GetAtt': [logicalId(stack, broker.registryTable as never), 'Arn'] },
    },
    { Sid: 'AuditAppend', Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: { 'Fn::GetAtt': [logicalId(stack, broker.auditTable as never), 'Arn'] } },
    ...(eventBusArn === null
      ? []
      : [{ Sid: 'OrgEventsPut', Effect: 'Allow', Action: 'events:PutEvents', Resource: eventBusArn, Condition: { StringEquals: { 'events:source': 'genesys-token-broker' } } }]),
  ];
}

/** A getter's statements: read those token secrets (and the key for them only), one registry item, invoke the refresher. */
function expectedGetterStatements(stack: Stack, broker: TokenBroker, logGroupLogicalId: string, tokenSecrets: unknown[], orgIds?: string[]) {
  const keyArn = { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] };
  return [
    { Sid: 'OwnLogGroup', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupLogicalId, 'Arn'] } },
    { Sid: 'TokenSecretsRead', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: tokenSecrets.length === 1 ? tokenSecrets[0] : tokenSecrets },
    {
      Sid: 'BrokerKeyForTokenSecrets',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: keyArn,
      Condition: { StringEquals: { 'kms:ViaService': viaService('secretsmanager') }, StringLike: { 'kms:EncryptionContext:SecretARN': tokenSecrets } },
    },
    { Sid: 'BrokerKeyForRegistryReads', Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn, Condition: { StringEquals: { 'kms:ViaService': viaService('dynamodb') } } },
    {
      Sid: 'RegistryRead',
      Effect: 'Allow',
      Action: 'dynamodb:GetItem',
      Resource: { 'Fn::GetAtt': [logicalId(stack, broker.registryTable as never), 'Arn'] },
      ...(orgIds ? { Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': orgIds } } } : {}),
    },
    { Sid: 'RefreshOnDemand', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [logicalId(stack, broker.refresher as never), 'Arn'] } },
  ];
}

function logGroupIdOf(template: Template, stack: Stack, fn: lambda.IFunction): string {
  const fnProps = template.findResources('AWS::Lambda::Function')[logicalId(stack, fn as never)] as { Properties: { LoggingConfig: { LogGroup: { Ref: string } } } };
  return fnProps.Properties.LoggingConfig.LogGroup.Ref;
}

describe('TokenBroker tables', () => {
  it('builds the registry table from REGISTRY_TABLE: on-demand, point-in-time recovery, encrypted with the broker key, deletion-protected', () => {
    const { template, stack, broker } = defaults;
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [{ AttributeName: REGISTRY_TABLE.partitionKey.name, KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'orgId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] } },
        DeletionProtectionEnabled: true,
        GlobalSecondaryIndexes: Match.absent(),
        TimeToLiveSpecification: Match.absent(),
      },
    });
  });

  it('builds the audit table from AUDIT_TABLE with its TTL attribute and the failures index', () => {
    const { template } = defaults;
    const index = AUDIT_TABLE.globalSecondaryIndexes[0];
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: AUDIT_TABLE.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: AUDIT_TABLE.sortKey.name, KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: { AttributeName: 'expiresAtEpochSeconds', Enabled: true },
        GlobalSecondaryIndexes: [
          {
            IndexName: 'failures-by-day',
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      },
    });
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  it('drops deletion protection and retention when removalPolicy is DESTROY', () => {
    const { template } = buildStack({ removalPolicy: RemovalPolicy.DESTROY });
    const tables = Object.values(template.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(2);
    for (const table of tables) {
      expect(table).toMatchObject({ DeletionPolicy: 'Delete', Properties: { DeletionProtectionEnabled: false } });
    }
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete' });
  });

  it('creates a customer-managed key with rotation, retained by default', () => {
    defaults.template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: { EnableKeyRotation: true } });
    defaults.template.resourceCountIs('AWS::KMS::Key', 1);
  });

  it('uses a given key for the tables and creates none', () => {
    const stack = bareStack();
    const key = kms.Key.fromKeyArn(stack, 'Given', 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555');
    new TokenBroker(stack, 'Broker', { encryptionKey: key });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.allResourcesProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: key.keyArn } });
    // Its key policy cannot be edited here, so the construct says what to add for alarm delivery.
    Annotations.fromStack(stack).hasWarning('/Bare/Broker', Match.stringLikeRegexp('cloudwatch.amazonaws.com kms:Decrypt'));
  });
});

describe('TokenBroker functions', () => {
  it('runs both handlers on Node.js 24 on ARM64 with the ESM bundle entry point', () => {
    const fns = Object.values(defaults.template.findResources('AWS::Lambda::Function'));
    expect(fns).toHaveLength(2);
    for (const fn of fns) {
      expect(fn).toMatchObject({ Properties: { Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler' } });
    }
  });

  it('gives each function exactly the variables its handler reads, plus source-map support', () => {
    const { template, stack, broker } = defaults;
    const shared = {
      [ENV.secretPrefix]: 'genesys-token-broker',
      [ENV.registryTable]: { Ref: logicalId(stack, broker.registryTable as never) },
      [ENV.deployment]: DEPLOYMENT,
      NODE_OPTIONS: '--enable-source-maps',
    };
    const refresher = {
      ...shared,
      [ENV.auditTable]: { Ref: logicalId(stack, broker.auditTable as never) },
      [ENV.kmsKeyId]: { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] },
      [ENV.refreshAtFraction]: '0.75',
      [ENV.sweepIntervalSeconds]: '300',
      [ENV.sweepConcurrency]: '16',
      [ENV.secretWriteRatePerSecond]: '20',
      [ENV.auditRetentionDays]: '90',
      [ENV.crossAccountReaders]: '[]',
      [ENV.eventBus]: DEFAULT_BUS_ARN,
    };
    const getter = { ...shared, [ENV.getterCacheMaxAgeSeconds]: '300', [ENV.refresherFunction]: { Ref: logicalId(stack, broker.refresher as never) } };
    const variables = (fn: lambda.IFunction) =>
      (template.findResources('AWS::Lambda::Function')[logicalId(stack, fn as never)] as { Properties: { Environment: { Variables: unknown } } }).Properties.Environment.Variables;
    expect(variables(broker.refresher)).toEqual(refresher);
    expect(variables(broker.getter)).toEqual(getter);
    // The lists the handlers read by, and every variable is someone's (the scoped getters' allow list included).
    expect(Object.keys(refresher).filter((k) => k !== 'NODE_OPTIONS').sort()).toEqual([...REFRESHER_ENV].sort());
    expect([...Object.keys(getter).filter((k) => k !== 'NODE_OPTIONS'), ENV.allowedOrgIds].sort()).toEqual([...GETTER_ENV].sort());
    expect([...new Set([...REFRESHER_ENV, ...GETTER_ENV])].sort()).toEqual(Object.values(ENV).sort());
  });

  it('passes the numeric props to the handlers as strings', () => {
    const { template } = buildStack({
      refreshAtFraction: 0.8,
      sweepConcurrency: 8,
      secretWriteRatePerSecond: 50,
      auditRetention: Duration.days(30),
      getterCacheMaxAge: Duration.seconds(0),
      secretPrefix: 'acme/gtb',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.refreshAtFraction]: '0.8',
          [ENV.sweepConcurrency]: '8',
          [ENV.secretWriteRatePerSecond]: '50',
          [ENV.auditRetentionDays]: '30',
          [ENV.secretPrefix]: 'acme/gtb',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.getterCacheMaxAgeSeconds]: '0', [ENV.secretPrefix]: 'acme/gtb' }) },
    });
  });

  it('gives the refresher room for one sweep and four on-demand refreshes, no async retries and its default size', () => {
    const { template, stack, broker } = defaults;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('refreshes'),
      ReservedConcurrentExecutions: 5,
      MemorySize: 512,
      Timeout: 240,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack, broker.refresher as never) },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 300,
    });
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
  });

  it('gives the getter its default size and no reserved concurrency', () => {
    defaults.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('serves'),
      ReservedConcurrentExecutions: Match.absent(),
      MemorySize: 256,
      Timeout: 30,
    });
  });

  it('applies memory, timeout and tracing props', () => {
    const { template } = buildStack({
      refresherMemorySize: 1024,
      refresherTimeout: Duration.minutes(2),
      getterMemorySize: 512,
      getterTimeout: Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
    });
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 5, MemorySize: 1024, Timeout: 120, TracingConfig: { Mode: 'Active' } });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 512, Timeout: 10, TracingConfig: { Mode: 'Active' } });
  });

  it('writes to its own log group with the configured retention, not through the deprecated logRetention', () => {
    const { template, stack, broker } = defaults;
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.resourceCountIs('Custom::LogRetention', 0);
    for (const fn of [broker.refresher, broker.getter]) {
      expect(template.findResources('AWS::Logs::LogGroup')[logGroupIdOf(template, stack, fn)]).toMatchObject({ DeletionPolicy: 'Retain' });
    }
    const short = buildStack({ logRetention: 7 });
    short.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it('finds its handler sources from any working directory', () => {
    const previous = process.cwd();
    process.chdir(tmpdir());
    try {
      // The construct looks for the handler sources (or the package's pre-built bundles) at construction.
      expect(() => buildStack()).not.toThrow();
    } finally {
      process.chdir(previous);
    }
  });

  it('uses dedicated roles with no managed policies', () => {
    const roles = Object.values(defaults.template.findResources('AWS::IAM::Role'));
    expect(roles).toHaveLength(2);
    for (const role of roles) {
      expect(role).toMatchObject({
        Properties: { AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }] } },
      });
      expect((role as { Properties: Record<string, unknown> }).Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('TokenBroker schedule', () => {
  it('invokes the refresher every 5 minutes with retries and an encrypted, TLS-only dead-letter queue', () => {
    const { template, stack, broker } = defaults;
    const dlqId = logicalId(stack, broker.sweepDeadLetterQueue as never);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [logicalId(stack, broker.refresher as never), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
        },
      ],
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlqId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('SweepSchedule'), 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('follows a custom schedule, sizing event ages from its interval', () => {
    const { template } = buildStack({ schedule: events.Schedule.rate(Duration.minutes(15)), refresherTimeout: Duration.minutes(10) });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 900 });
    // The refresh policy's sweep interval comes from the schedule.
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [ENV.sweepIntervalSeconds]: '900' }) } });
  });

  it('leaves the sweep interval unset for a cron schedule (the refresher assumes 5 minutes)', () => {
    const { template } = buildStack({ schedule: events.Schedule.cron({ minute: '*/10' }) });
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect((fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables).not.toHaveProperty(ENV.sweepIntervalSeconds);
    }
  });

  it('refuses a schedule rarer than once a day', () => {
    expect(() => new TokenBroker(bareStack(), 'Broker', { schedule: events.Schedule.rate(Duration.days(2)) })).toThrow(/schedule must run at least once a day \(1440 minutes\).*got "rate\(2 days\)"/);
  });

  it('warns when the refresher timeout is not shorter than the schedule interval', () => {
    const stack = bareStack();
    new TokenBroker(stack, 'Broker', { schedule: events.Schedule.rate(Duration.minutes(2)), refresherTimeout: Duration.minutes(3) });
    Annotations.fromStack(stack).hasWarning('/Bare/Broker', Match.stringLikeRegexp('refresherTimeout .* is not shorter than the schedule interval'));
  });
});

describe('TokenBroker IAM', () => {
  it('grants the refresher exactly its permissions: it alone writes tokens, reads credentials and audits', () => {
    const { template, stack, broker } = defaults;
    expect(roleStatements(template, stack, broker.refresher)).toEqual(expectedRefresherStatements(stack, broker, logGroupIdOf(template, stack, broker.refresher)));
  });

  it('grants the getter reads only: token secrets, one registry item, and invoking the refresher', () => {
    const { template, stack, broker } = defaults;
    const tokens = arnJoin('secretsmanager', ':secret:genesys-token-broker/tokens/*');
    expect(roleStatements(template, stack, broker.getter)).toEqual(expectedGetterStatements(stack, broker, logGroupIdOf(template, stack, broker.getter), [tokens]));
    const actions = roleStatements(template, stack, broker.getter).flatMap((st) => ([] as string[]).concat(st.Action as string | string[]));
    for (const never of ['secretsmanager:PutSecretValue', 'secretsmanager:CreateSecret', 'dynamodb:Scan', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'kms:Encrypt', 'kms:GenerateDataKey']) {
      expect(actions).not.toContain(never);
    }
  });

  it('never grants a service wildcard, and never a secret or key permission on every resource', () => {
    const { template } = buildStack({ tracing: lambda.Tracing.ACTIVE });
    let wildcardResourceStatements = 0;
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of (policy as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement) {
        const actions = ([] as string[]).concat(statement.Action);
        const resources = ([] as unknown[]).concat(statement.Resource);
        expect(actions.filter((a) => a === '*' || a.endsWith(':*'))).toEqual([]);
        if (actions.some((a) => a.startsWith('secretsmanager:') || a.startsWith('kms:') || a.startsWith('dynamodb:'))) {
          expect(resources).not.toContain('*');
        } else {
          // Only X-Ray (no resource-level permissions) may use "*".
          if (resources.includes('*')) {
            wildcardResourceStatements++;
            expect([...actions].sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
          }
        }
      }
    }
    // One X-Ray statement per function role: the check above did look at them.
    expect(wildcardResourceStatements).toBe(2);
  });

  it('scopes secret permissions to a custom prefix', () => {
    const { template, stack, broker } = buildStack({ secretPrefix: 'acme/gtb' });
    expect(roleStatements(template, stack, broker.refresher)).toEqual(expectedRefresherStatements(stack, broker, logGroupIdOf(template, stack, broker.refresher), 'acme/gtb'));
    const tokens = arnJoin('secretsmanager', ':secret:acme/gtb/tokens/*');
    expect(roleStatements(template, stack, broker.getter)).toEqual(expectedGetterStatements(stack, broker, logGroupIdOf(template, stack, broker.getter), [tokens]));
  });

  it('adds extra credential secrets to the credentials statement only', () => {
    const extra = ['arn:aws:secretsmanager:eu-west-1:111122223333:secret:team/genesys/org-a-AbCdEf', 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:team/genesys/org-b-??????'];
    const { template, stack, broker } = buildStack({ extraCredentialSecretArns: extra });
    expect(roleStatements(template, stack, broker.refresher)).toEqual(expectedRefresherStatements(stack, broker, logGroupIdOf(template, stack, broker.refresher), 'genesys-token-broker', extra));
    // The getter never reads credentials, wherever they are.
    expect(JSON.stringify(roleStatements(template, stack, broker.getter))).not.toContain('team/genesys');
  });
  // test/infra/iam-calls.test.ts checks every role's actions against the calls its function makes, both ways.
});

describe('TokenBroker grants', () => {
  function granteeStack(props: TokenBrokerProps = {}) {
    const stack = bareStack();
    const broker = new TokenBroker(stack, 'Broker', props);
    const consumer = new iam.Role(stack, 'Consumer', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    return { stack, broker, consumer };
  }

  const consumerStatements = (stack: Stack, consumer: iam.Role) => {
    const template = Template.fromStack(stack);
    const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(stack, consumer) }] } }));
    expect(policies).toHaveLength(1);
    return (policies[0] as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement;
  };

  it('grantReadToken allows reading only the named orgs, with kms:Decrypt bound to those secrets', () => {
    const { stack, broker, consumer } = granteeStack();
    const grant = broker.grantReadToken(consumer, ORG_A, ORG_B.toUpperCase(), ORG_A);
    expect(grant).toBeInstanceOf(iam.Grant);
    expect(grant.success).toBe(true);
    const arns = [ORG_A, ORG_B].map((org) => arnJoin('secretsmanager', `:secret:genesys-token-broker/tokens/${org}-??????`));
    expect(consumerStatements(stack, consumer)).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: arns },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': viaService('secretsmanager') }, StringLike: { 'kms:EncryptionContext:SecretARN': arns } },
      },
    ]);
  });

  it('grantReadToken rejects an org id that is not a UUID, and a call without orgs', () => {
    const { broker, consumer } = granteeStack();
    expect(() => broker.grantReadToken(consumer, ORG_A, 'acme')).toThrow(/grantReadToken orgId must be a Genesys Cloud organization id \(UUID\), got "acme"/);
    expect(() => broker.grantReadToken(consumer, `${ORG_A}*`)).toThrow(/grantReadToken orgId/);
    expect(() => broker.grantReadToken(consumer)).toThrow(/grantReadToken orgIds must name at least one org/);
  });

  it('grantReadAllTokens allows reading every token secret and nothing else', () => {
    const { stack, broker, consumer } = granteeStack({ secretPrefix: 'acme/gtb' });
    expect(broker.grantReadAllTokens(consumer).success).toBe(true);
    const all = arnJoin('secretsmanager', ':secret:acme/gtb/tokens/*');
    expect(consumerStatements(stack, consumer)).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: all },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': viaService('secretsmanager') }, StringLike: { 'kms:EncryptionContext:SecretARN': [all] } },
      },
    ]);
  });

  it('grantInvokeGetter allows invoking the getter only', () => {
    const { stack, broker, consumer } = granteeStack();
    expect(broker.grantInvokeGetter(consumer).success).toBe(true);
    const getterArn = { 'Fn::GetAtt': [logicalId(stack, broker.getter as never), 'Arn'] };
    expect(consumerStatements(stack, consumer)).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [getterArn, { 'Fn::Join': ['', [getterArn, ':*']] }] },
    ]);
  });
});

describe('TokenBroker scoped getters', () => {
  const TENANT_A = [ORG_A.toUpperCase(), '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f'];
  const TENANT_B = [ORG_B];

  /** A consumer stack with two tenants: each tenant's consumer may invoke its own scoped getter only. */
  function twoTenants() {
    const stack = bareStack();
    const broker = new TokenBroker(stack, 'Broker');
    const scopedA = broker.addScopedGetter('TenantA', { orgIds: TENANT_A });
    const scopedB = broker.addScopedGetter('TenantB', { orgIds: TENANT_B });
    const consumerA = new iam.Role(stack, 'ConsumerA', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    const consumerB = new iam.Role(stack, 'ConsumerB', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    scopedA.grantInvoke(consumerA);
    scopedB.grantInvoke(consumerB);
    return { stack, broker, scopedA, scopedB, consumerA, consumerB, template: Template.fromStack(stack) };
  }
  const tenants = twoTenants();

  it('lets each tenant read its own orgs only, enforced by IAM: the secrets, the key for them and their registry items', () => {
    const { stack, broker, scopedA, scopedB, template } = tenants;
    const secretsOf = (orgIds: string[]) => orgIds.map((org) => arnJoin('secretsmanager', `:secret:genesys-token-broker/tokens/${org.toLowerCase()}-??????`));
    expect(roleStatements(template, stack, scopedA.function)).toEqual(
      expectedGetterStatements(stack, broker, logGroupIdOf(template, stack, scopedA.function), secretsOf(TENANT_A), TENANT_A.map((o) => o.toLowerCase())),
    );
    expect(roleStatements(template, stack, scopedB.function)).toEqual(expectedGetterStatements(stack, broker, logGroupIdOf(template, stack, scopedB.function), secretsOf(TENANT_B), TENANT_B));
    expect(JSON.stringify(roleStatements(template, stack, scopedA.function))).not.toContain(ORG_B);
    expect(JSON.stringify(roleStatements(template, stack, scopedB.function))).not.toContain(ORG_A);
  });

  it('tells the handler which orgs it serves, lower-case, and whom to ask for refreshes', () => {
    const { stack, broker, scopedA, template } = tenants;
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack, scopedA.function as never)] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
    expect(fn.Properties.Environment.Variables).toMatchObject({
      [ENV.allowedOrgIds]: TENANT_A.map((o) => o.toLowerCase()).join(','),
      [ENV.refresherFunction]: { Ref: logicalId(stack, broker.refresher as never) },
    });
    expect(scopedA.orgIds).toEqual(TENANT_A.map((o) => o.toLowerCase()));
  });

  it('grants each consumer its own tenant\'s getter and nothing else', () => {
    const { stack, scopedA, scopedB, broker, consumerA, template } = tenants;
    const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(stack, consumerA) }] } }));
    const text = JSON.stringify(policies);
    expect(text).toContain(logicalId(stack, scopedA.function as never));
    expect(text).not.toContain(logicalId(stack, scopedB.function as never));
    expect(text).not.toContain(logicalId(stack, broker.getter as never));
    expect(text).not.toContain('secretsmanager');
  });

  it('raises no cdk-nag finding of its own (the consumers\' grantInvoke on `fn:*` is theirs)', () => {
    const found = new AwsSolutionsChecks()
      .validateScope(tenants.stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`))
      .filter((line) => line.includes('/Broker/'));
    expect(found).toEqual([]);
  });

  it.each([
    ['no orgs', [], /must name 1 to 25 orgs/],
    ['26 orgs', Array.from({ length: 26 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`), /must name 1 to 25 orgs/],
    ['an org id that is not a UUID', [ORG_A, 'acme'], /addScopedGetter orgId must be a Genesys Cloud organization id \(UUID\), got "acme"/],
  ])('refuses %s', (_name, orgIds, message) => {
    const broker = new TokenBroker(bareStack(), 'Broker');
    expect(() => broker.addScopedGetter('Tenant', { orgIds })).toThrow(message);
  });
});

describe('TokenBroker alarms', () => {
  const { template, stack, broker } = defaults;
  const topicRef = { Ref: logicalId(stack, broker.alarmTopic as never) };
  const brokerMetric = (metricName: string, service: string, statistic: string) => ({
    Namespace: 'GenesysTokenBroker',
    MetricName: metricName,
    Dimensions: [
      { Name: 'deployment', Value: DEPLOYMENT },
      { Name: 'service', Value: service },
    ],
    Statistic: statistic,
    Period: 300,
  });

  it.each([
    ['RefreshFailed', brokerMetric('RefreshFailed', 'refresher', 'Sum')],
    ['OrgsAtRisk', brokerMetric('OrgsAtRisk', 'refresher', 'Maximum')],
    // Published for every refresh, the getter's on-demand ones included: one is enough to wake someone.
    ['CriticalEvents', brokerMetric('CriticalEvents', 'refresher', 'Sum')],
    ['StateWriteFailures', brokerMetric('StateWriteFailures', 'refresher', 'Sum')],
  ])('alarms on %s from the refresher’s Powertools metrics', (_name, metric) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...metric,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
      OKActions: [topicRef],
    });
  });

  it.each([
    ['refresher', 'Errors'],
    ['refresher', 'Throttles'],
    ['getter', 'Errors'],
  ] as const)('alarms on the %s’s %s', (fn, metricName) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack, broker[fn] as never) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
    });
  });

  it('alarms when a refresher run reaches the last second of its timeout', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack, broker.refresher as never) } }],
      Statistic: 'Maximum',
      Threshold: 239_000,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    buildStack({ refresherTimeout: Duration.minutes(2) }).template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Threshold: 119_000 });
  });

  it('alarms when sweeps stop, counting sweeps rather than invocations and treating no data as breaching', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'GenesysTokenBroker',
      MetricName: 'SweepDurationMs',
      Dimensions: [
        { Name: 'deployment', Value: DEPLOYMENT },
        { Name: 'service', Value: 'refresher' },
      ],
      Statistic: 'SampleCount',
      Period: 900,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [topicRef],
    });
  });

  it('alarms on any message in the sweep dead-letter queue', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, broker.sweepDeadLetterQueue as never), 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 12);
  });

  it('alarms when per-org events fail for three periods running, and not at all with events off', () => {
    const eventsFailed = {
      Namespace: 'GenesysTokenBroker',
      MetricName: 'EventsFailed',
      Dimensions: Match.arrayWith([{ Name: 'service', Value: 'refresher' }]),
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', eventsFailed);
    const off = buildStack({ eventsEnabled: false }).template;
    expect(off.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'EventsFailed' } })).toEqual({});
    off.resourceCountIs('AWS::CloudWatch::Alarm', 11);
  });

  it('alarms when token secret policies for cross-account readers fail in two periods running', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'GenesysTokenBroker',
      MetricName: 'TokenSecretPolicyFailures',
      Dimensions: Match.arrayWith([{ Name: 'service', Value: 'refresher' }]),
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('encrypts the alarm topic with the broker key, requires TLS and lets only this account’s alarms publish', () => {
    const keyArn = { 'Fn::GetAtt': [logicalId(stack, broker.encryptionKey as kms.Key), 'Arn'] };
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: { 'aws:SourceArn': arnJoin('cloudwatch', ':alarm:*') },
    };
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topicRef],
      PolicyDocument: {
        Statement: [
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          { Sid: 'CloudWatchAlarmsPublish', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Resource: topicRef, Condition: fromOurAlarms },
        ],
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudWatchAlarmsUseKeyForAlarmTopic',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
            Condition: fromOurAlarms,
          },
        ]),
      },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes alarmEmail to the topic', () => {
    buildStack({ alarmEmail: 'ops@example.com' }).template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('notifies a given topic instead of creating one', () => {
    const s = bareStack();
    const topic = sns.Topic.fromTopicArn(s, 'Ops', 'arn:aws:sns:eu-west-1:111122223333:ops');
    const b = new TokenBroker(s, 'Broker', { alarmTopic: topic });
    const t = Template.fromStack(s);
    expect(b.alarmTopic).toBe(topic);
    t.resourceCountIs('AWS::SNS::Topic', 0);
    t.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic.topicArn] });
  });
});

describe('TokenBroker dashboard', () => {
  it('shows sweep outcomes, orgs at risk, token lifetime, getter latency percentiles and the cache hit ratio', () => {
    const { template } = defaults;
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = (dashboards[0] as { Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } } }).Properties.DashboardBody['Fn::Join'][1]
      .map((part) => (typeof part === 'string' ? part : 'TOKEN'))
      .join('');
    const widgets = (JSON.parse(body) as { widgets: { properties: { title: string; metrics: unknown[][] } }[] }).widgets;
    const byTitle = new Map(widgets.map((w) => [w.properties.title, JSON.stringify(w.properties.metrics)]));
    expect(byTitle.get('Sweep outcomes')).toMatch(/"GenesysTokenBroker","RefreshSucceeded","deployment","TOKEN","service","refresher".*"GenesysTokenBroker","RefreshFailed","deployment","TOKEN","service","refresher"/);
    expect(byTitle.get('Orgs at risk')).toMatch(/"OrgsAtRisk","deployment","TOKEN","service","refresher"/);
    expect(byTitle.get('Least token lifetime left (seconds)')).toMatch(/"MinTokenSecondsRemaining","deployment","TOKEN","service","refresher"/);
    expect(byTitle.get('Getter latency (ms)')).toMatch(/"GetterLatencyMs","deployment","TOKEN","service","getter",\{"stat":"p50"\}.*"GetterLatencyMs","deployment","TOKEN","service","getter",\{"stat":"p99"\}/);
    const ratio = byTitle.get('Getter cache hit ratio') ?? '';
    expect(ratio).toContain('"expression":"hits / (hits + misses)"');
    expect(ratio).toMatch(/"GetterCacheHit","deployment","TOKEN","service","getter",\{[^}]*"id":"hits"/);
    expect(ratio).toMatch(/"GetterCacheMiss","deployment","TOKEN","service","getter",\{[^}]*"id":"misses"/);
  });
});

describe('TokenBroker per-org events', () => {
  const refresherEnv = (template: Template, stack: Stack, broker: TokenBroker) =>
    (template.findResources('AWS::Lambda::Function')[logicalId(stack, broker.refresher as never)] as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables;
  const getterEnv = (template: Template, stack: Stack, broker: TokenBroker) =>
    (template.findResources('AWS::Lambda::Function')[logicalId(stack, broker.getter as never)] as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables;
  const actionsOf = (template: Template, stack: Stack, fn: lambda.IFunction) => roleStatements(template, stack, fn).flatMap((st) => ([] as string[]).concat(st.Action as string | string[]));

  it("puts events on the account's default bus by default: the refresher gets its ARN and PutEvents on it, for the broker's source only", () => {
    const { template, stack, broker } = defaults;
    expect(broker.eventBus?.eventBusName).toBe('default');
    expect(refresherEnv(template, stack, broker)[ENV.eventBus]).toEqual(DEFAULT_BUS_ARN);
    expect(roleStatements(template, stack, broker.refresher)).toContainEqual({
      Sid: 'OrgEventsPut',
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: DEFAULT_BUS_ARN,
      Condition: { StringEquals: { 'events:source': 'genesys-token-broker' } },
    });
    // Importing the default bus creates nothing.
    template.resourceCountIs('AWS::Events::EventBus', 0);
    expect(getterEnv(template, stack, broker)).not.toHaveProperty(ENV.eventBus);
    expect(actionsOf(template, stack, broker.getter).filter((a) => a.startsWith('events:'))).toEqual([]);
  });

  it('puts events on the bus given, and grants PutEvents on that bus only', () => {
    const app = newApp();
    const stack = new Stack(app, 'NamedBus');
    const bus = new events.EventBus(stack, 'Bus', { eventBusName: 'genesys-events' });
    const broker = new TokenBroker(stack, 'Broker', { eventBus: bus });
    const template = Template.fromStack(stack);
    const busArn = { 'Fn::GetAtt': [logicalId(stack, bus), 'Arn'] };
    expect(broker.eventBus).toBe(bus);
    expect(refresherEnv(template, stack, broker)[ENV.eventBus]).toEqual(busArn);
    expect(roleStatements(template, stack, broker.refresher)).toEqual(expectedRefresherStatements(stack, broker, logGroupIdOf(template, stack, broker.refresher), 'genesys-token-broker', [], busArn));
    expect(JSON.stringify(template.toJSON())).not.toContain('event-bus/default');
  });

  it('takes a bus in another account by its ARN', () => {
    const stack = bareStack();
    const arn = 'arn:aws:events:eu-west-1:444455556666:event-bus/central-genesys';
    const broker = new TokenBroker(stack, 'Broker', { eventBus: events.EventBus.fromEventBusArn(stack, 'Central', arn) });
    const template = Template.fromStack(stack);
    expect(refresherEnv(template, stack, broker)[ENV.eventBus]).toBe(arn);
    expect(roleStatements(template, stack, broker.refresher).filter((st) => st.Sid === 'OrgEventsPut').map((st) => st.Resource)).toEqual([arn]);
  });

  it("synthesizes the README's example rules: Needs Reauthorization to an SNS topic, one org's Refreshed to a queue", () => {
    const stack = new Stack(newApp(), 'ReadmeRules');
    const broker = new TokenBroker(stack, 'Broker');
    const reauthorize = new sns.Topic(stack, 'GenesysReauthorization');
    new events.Rule(stack, 'GenesysNeedsReauthorization', {
      eventBus: broker.eventBus,
      eventPattern: { source: ['genesys-token-broker'], detailType: ['Genesys Org Needs Reauthorization'] },
      targets: [
        new targets.SnsTopic(reauthorize, {
          message: events.RuleTargetInput.fromText(
            `Genesys org ${events.EventField.fromPath('$.detail.label')} (${events.EventField.fromPath('$.detail.orgId')}) ` +
              `needs re-authorization: ${events.EventField.fromPath('$.detail.errorCode')}, attempt ${events.EventField.fromPath('$.detail.attemptId')}`,
          ),
        }),
      ],
    });
    const consumerQueue = new sqs.Queue(stack, 'ConsumerQueue');
    new events.Rule(stack, 'GenesysTokenRefreshed', {
      eventBus: broker.eventBus,
      eventPattern: { source: ['genesys-token-broker'], detailType: ['Genesys Token Refreshed'], detail: { orgId: [ORG_A] } },
      targets: [new targets.SqsQueue(consumerQueue)],
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'default',
      EventPattern: { source: ['genesys-token-broker'], 'detail-type': ['Genesys Org Needs Reauthorization'] },
      Targets: [Match.objectLike({ Arn: { Ref: logicalId(stack, reauthorize) }, InputTransformer: Match.objectLike({ InputPathsMap: Match.objectLike({ 'detail-orgId': '$.detail.orgId' }) }) })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'default',
      EventPattern: { source: ['genesys-token-broker'], 'detail-type': ['Genesys Token Refreshed'], detail: { orgId: [ORG_A] } },
    });
  });

  it('with eventsEnabled false, gives the refresher neither the bus nor the permission', () => {
    const { template, stack, broker } = buildStack({ eventsEnabled: false });
    expect(broker.eventBus).toBeUndefined();
    expect(refresherEnv(template, stack, broker)).not.toHaveProperty(ENV.eventBus);
    expect(roleStatements(template, stack, broker.refresher)).toEqual(expectedRefresherStatements(stack, broker, logGroupIdOf(template, stack, broker.refresher), 'genesys-token-broker', [], null));
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) expect(JSON.stringify(policy)).not.toContain('events:PutEvents');
  });

  it.each([
    ['eventBus with eventsEnabled false', () => ({ eventsEnabled: false, eventBus: events.EventBus.fromEventBusName(bareStack(), 'B', 'team-bus') }), /^eventBus cannot be combined with eventsEnabled: false, got "team-bus"$/],
    ['an eventBus that is no bus', () => ({ eventBus: { eventBusName: 'x' } as unknown as events.IEventBus }), /^eventBus must be an events.IEventBus, got \[object Object\]$/],
    ['eventsEnabled that is no boolean', () => ({ eventsEnabled: 'yes' as unknown as boolean }), /^eventsEnabled must be true or false, got "yes"$/],
  ])('rejects %s', (_name, props, message) => {
    const stack = bareStack();
    expect(() => new TokenBroker(stack, 'Broker', props())).toThrow(message);
    expect(Object.keys(Template.fromStack(stack).toJSON().Resources ?? {})).toEqual([]);
  });
});

describe('TokenBroker props validation', () => {
  const cases: [string, TokenBrokerProps, RegExp][] = [
    ['refreshAtFraction above 0.9', { refreshAtFraction: 0.95 }, /^refreshAtFraction must be between 0.5 and 0.9, got 0.95$/],
    ['refreshAtFraction below 0.5', { refreshAtFraction: 0.4 }, /^refreshAtFraction must be between 0.5 and 0.9, got 0.4$/],
    ['sweepConcurrency 0', { sweepConcurrency: 0 }, /^sweepConcurrency must be an integer from 1 to 256, got 0$/],
    ['fractional sweepConcurrency', { sweepConcurrency: 1.5 }, /^sweepConcurrency must be an integer from 1 to 256, got 1.5$/],
    ['secretWriteRatePerSecond above 50', { secretWriteRatePerSecond: 51 }, /^secretWriteRatePerSecond must be an integer from 1 to 50, got 51$/],
    ['auditRetention in part days', { auditRetention: Duration.hours(36) }, /^auditRetention must be a whole number of days from 1 to 3650, got 1 day 12 hours$/],
    ['auditRetention over ten years', { auditRetention: Duration.days(4000) }, /^auditRetention must be a whole number of days from 1 to 3650, got 4000 days$/],
    ['getterCacheMaxAge over an hour', { getterCacheMaxAge: Duration.hours(2) }, /^getterCacheMaxAge must be a whole number of seconds from 0 to 3600, got 2 hours$/],
    ['refresherMemorySize 64', { refresherMemorySize: 64 }, /^refresherMemorySize must be an integer from 128 to 10240, got 64$/],
    ['getterMemorySize 20000', { getterMemorySize: 20000 }, /^getterMemorySize must be an integer from 128 to 10240, got 20000$/],
    ['refresherTimeout over 15 minutes', { refresherTimeout: Duration.minutes(16) }, /^refresherTimeout must be a whole number of seconds from 30 to 900, got 16 minutes$/],
    ['getterTimeout of 1 second', { getterTimeout: Duration.seconds(1) }, /^getterTimeout must be a whole number of seconds from 5 to 900, got 1 second$/],
    ['secretPrefix ending in a slash', { secretPrefix: 'acme/' }, /^secretPrefix must not end with a slash, got "acme\/"$/],
    ['secretPrefix with a space', { secretPrefix: 'acme broker' }, /^secretPrefix may only contain ASCII letters, digits and \/ _ \+ = \. @ -, got "acme broker"$/],
    ['alarmTopic with alarmEmail', { alarmEmail: 'ops@example.com', alarmTopic: {} as sns.ITopic }, /^alarmEmail cannot be combined with alarmTopic .*, got "ops@example.com"$/],
    ['alarmEmail that is no address', { alarmEmail: 'ops' }, /^alarmEmail must be an e-mail address, got "ops"$/],
    ['an extra credential ARN covering every secret', { extraCredentialSecretArns: ['arn:aws:secretsmanager:eu-west-1:111122223333:secret:*'] }, /^extraCredentialSecretArns entries must be Secrets Manager secret ARNs .*, got "arn:aws:secretsmanager:eu-west-1:111122223333:secret:\*"$/],
    ['an extra credential ARN of another service', { extraCredentialSecretArns: ['arn:aws:s3:::bucket'] }, /^extraCredentialSecretArns entries must be Secrets Manager secret ARNs/],
    ['a removal policy that does not exist', { removalPolicy: 'keep' as RemovalPolicy }, /^removalPolicy must be one of retain, retain-on-update-or-delete, destroy, got "keep"$/],
    ['the SNAPSHOT removal policy', { removalPolicy: RemovalPolicy.SNAPSHOT }, /^removalPolicy must be one of retain, retain-on-update-or-delete, destroy, got "snapshot"$/],
  ];

  it.each(cases)('rejects %s, naming the prop, the value and what is allowed', (_name, props, message) => {
    const stack = bareStack();
    expect(() => new TokenBroker(stack, 'Broker', props)).toThrow(message);
    // Nothing was created before the check failed.
    expect(Object.keys(Template.fromStack(stack).toJSON().Resources ?? {})).toEqual([]);
  });

  it('accepts the boundary values', () => {
    const stack = bareStack();
    expect(
      () =>
        new TokenBroker(stack, 'Broker', {
          refreshAtFraction: 0.9,
          sweepConcurrency: 256,
          secretWriteRatePerSecond: 50,
          auditRetention: Duration.days(3650),
          getterCacheMaxAge: Duration.seconds(0),
          refresherTimeout: Duration.seconds(30),
          getterTimeout: Duration.seconds(5),
          refresherMemorySize: 10240,
          getterMemorySize: 128,
        }),
    ).not.toThrow();
  });

  it('skips value checks for token-valued props and passes the tokens through', () => {
    const stack = bareStack();
    const fraction = new CfnParameter(stack, 'Fraction', { type: 'Number' }).valueAsNumber;
    const prefix = new CfnParameter(stack, 'Prefix', { type: 'String' }).valueAsString;
    expect(Token.isUnresolved(fraction)).toBe(true);
    new TokenBroker(stack, 'Broker', { refreshAtFraction: fraction, secretPrefix: prefix });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.refreshAtFraction]: { Ref: 'Fraction' }, [ENV.secretPrefix]: { Ref: 'Prefix' } }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.refresherFunction]: Match.anyValue(), [ENV.secretPrefix]: { Ref: 'Prefix' } }) },
    });
  });
});

describe('TokenBrokerStack', () => {
  it('emits every output the operator CLI reads, under the exported keys, without exports', () => {
    const outputs = defaults.template.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(Object.values(STACK_OUTPUT_KEYS).sort());
    for (const output of Object.values(outputs)) expect((output as { Export?: unknown }).Export).toBeUndefined();
    const { stack, broker } = defaults;
    expect(outputs[STACK_OUTPUT_KEYS.getterFunctionName]?.Value).toEqual({ Ref: logicalId(stack, broker.getter as never) });
    expect(outputs[STACK_OUTPUT_KEYS.getterFunctionArn]?.Value).toEqual({ 'Fn::GetAtt': [logicalId(stack, broker.getter as never), 'Arn'] });
    expect(outputs[STACK_OUTPUT_KEYS.registryTableName]?.Value).toEqual({ Ref: logicalId(stack, broker.registryTable as never) });
    expect(outputs[STACK_OUTPUT_KEYS.auditTableName]?.Value).toEqual({ Ref: logicalId(stack, broker.auditTable as never) });
    expect(outputs[STACK_OUTPUT_KEYS.secretPrefix]?.Value).toBe('genesys-token-broker');
    expect(outputs[STACK_OUTPUT_KEYS.alarmTopicArn]?.Value).toEqual({ Ref: logicalId(stack, broker.alarmTopic as never) });
  });

  it('is environment-agnostic: no account or Region in the template', () => {
    const { stack, template } = defaults;
    expect(Token.isUnresolved(stack.account)).toBe(true);
    expect(Token.isUnresolved(stack.region)).toBe(true);
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/\b\d{12}\b/);
    expect(json).not.toMatch(/\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b/);
  });

  it('reads settings from context, including strings given with -c', () => {
    const { template } = buildStack(undefined, {
      [`${CONTEXT_PREFIX}refreshAtFraction`]: '0.6',
      [`${CONTEXT_PREFIX}scheduleMinutes`]: '10',
      [`${CONTEXT_PREFIX}sweepConcurrency`]: '4',
      [`${CONTEXT_PREFIX}secretPrefix`]: 'ctx-prefix',
      [`${CONTEXT_PREFIX}alarmEmail`]: 'ops@example.com',
      [`${CONTEXT_PREFIX}removalPolicy`]: 'destroy',
      [`${CONTEXT_PREFIX}activeTracing`]: 'true',
      [`${CONTEXT_PREFIX}logRetentionDays`]: 30,
      [`${CONTEXT_PREFIX}refresherTimeoutSeconds`]: '300',
      [`${CONTEXT_PREFIX}extraCredentialSecretArns`]: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf, arn:aws:secretsmanager:eu-west-1:111122223333:secret:y-AbCdEf',
      [`${CONTEXT_PREFIX}eventBusName`]: 'ops-bus',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.eventBus]: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':event-bus/ops-bus$')])] } }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.refreshAtFraction]: '0.6', [ENV.sweepConcurrency]: '4', [ENV.secretPrefix]: 'ctx-prefix' }) },
      TracingConfig: { Mode: 'Active' },
    });
    template.allResourcesProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [ENV.secretPrefix]: 'ctx-prefix' }) }, TracingConfig: { Mode: 'Active' } });
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 5, Timeout: 300 });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
    template.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'ops@example.com' });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'CredentialSecretsReadRotate',
            Resource: Match.arrayWith(['arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf', 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:y-AbCdEf']),
          }),
        ]),
      },
    });
  });

  it('documents every context key it accepts in cdk.json', () => {
    const inCdkJson = Object.keys(CDK_JSON_CONTEXT).filter((k) => k.startsWith(CONTEXT_PREFIX)).map((k) => k.slice(CONTEXT_PREFIX.length));
    expect(inCdkJson.sort()).toEqual([...CONTEXT_KEYS].sort());
  });

  it('turns per-org events off from context', () => {
    const { template, broker } = buildStack(undefined, { [`${CONTEXT_PREFIX}eventsEnabled`]: 'false' });
    expect(broker.eventBus).toBeUndefined();
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('events:PutEvents');
  });

  it('rejects an unknown context key so a typo never falls back to a default', () => {
    expect(() => buildStack(undefined, { [`${CONTEXT_PREFIX}refreshAtFracton`]: 0.6 })).toThrow(/unknown context key genesys-token-broker:refreshAtFracton; known keys: .*genesys-token-broker:refreshAtFraction/);
  });

  it.each([
    ['sweepConcurrency', 'many', /context genesys-token-broker:sweepConcurrency must be an integer, got "many"/],
    ['refreshAtFraction', 'high', /context genesys-token-broker:refreshAtFraction must be a number, got "high"/],
    ['scheduleMinutes', 0, /context genesys-token-broker:scheduleMinutes must be at least 1, got 0/],
    ['removalPolicy', 'keep', /context genesys-token-broker:removalPolicy must be "retain" or "destroy", got "keep"/],
    ['logRetentionDays', 45, /context genesys-token-broker:logRetentionDays must be one of 1, 3, 5, 7, 14, 30, 60, 90/],
    ['activeTracing', 'yes', /context genesys-token-broker:activeTracing must be true or false, got "yes"/],
    ['eventsEnabled', 'no', /context genesys-token-broker:eventsEnabled must be true or false, got "no"/],
    ['eventBusName', 'ops bus!', /context genesys-token-broker:eventBusName must be an event bus name/],
    ['refreshAtFraction', 0.95, /^refreshAtFraction must be between 0.5 and 0.9, got 0.95$/],
  ])('rejects context %s = %j with a message naming the key', (key, value, message) => {
    expect(() => buildStack(undefined, { [`${CONTEXT_PREFIX}${key}`]: value })).toThrow(message);
  });
});

describe('cdk-nag AwsSolutions', () => {
  const violations = (stack: Stack) => new AwsSolutionsChecks().validateScope(stack).violations.map((v) => `${v.severity} ${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`);

  it('reports no unacknowledged error or warning for the default stack', () => {
    expect(violations(defaults.stack)).toEqual([]);
  });

  it('reports none with a custom prefix, active tracing and an alarm e-mail either', () => {
    const { stack } = buildStack({ secretPrefix: 'acme/gtb', tracing: lambda.Tracing.ACTIVE, alarmEmail: 'ops@example.com' });
    expect(violations(stack)).toEqual([]);
  });

  it.each([lambda.Tracing.PASS_THROUGH, lambda.Tracing.DISABLED])('reports none with tracing %s', (tracing) => {
    expect(violations(buildStack({ tracing }).stack)).toEqual([]);
  });

  const acknowledgedIds = (fn: lambda.IFunction) =>
    (fn.role as iam.Role).node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.keys(m.data as Record<string, string>))
      .map((id) => id.replace(/^annotation::/i, ''));

  it('acknowledges exactly the IAM5 findings cdk-nag raises, each with a reason', () => {
    const { stack, broker } = defaults;
    for (const fn of [broker.refresher, broker.getter]) {
      const role = fn.role as iam.Role;
      const policy = role.node.findChild('DefaultPolicy').node.defaultChild as iam.CfnPolicy;
      const findings = (rules.iam.IAMNoWildcardPermissions as unknown as (node: iam.CfnPolicy) => string[])(policy).map((f) => `AwsSolutions-IAM5[${f}]`);
      const acknowledged = role.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) => Object.entries(m.data as Record<string, string>))
        .map(([id, reason]) => {
          expect(reason.length).toBeGreaterThan(40);
          return id.replace(/^annotation::/i, '');
        });
      expect(acknowledged.sort()).toEqual(findings.sort());
      expect(findings).toContain('AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:genesys-token-broker/tokens/*]');
    }
    // Only the refresher writes through DynamoDB with the GenerateDataKey family.
    expect(acknowledgedIds(broker.refresher)).toContain('AwsSolutions-IAM5[Action::kms:GenerateDataKey*]');
    expect(acknowledgedIds(broker.getter)).not.toContain('AwsSolutions-IAM5[Action::kms:GenerateDataKey*]');
    expect(stack).toBeDefined();
  });

  it('still reports a wildcard someone adds through extraCredentialSecretArns', () => {
    const { stack } = buildStack({ extraCredentialSecretArns: ['arn:aws:secretsmanager:eu-west-1:111122223333:secret:team/*'] });
    expect(violations(stack)).toEqual([
      'error AwsSolutions-IAM5[Resource::arn:aws:secretsmanager:eu-west-1:111122223333:secret:team/*] TestBroker/Broker/RefresherRole/DefaultPolicy/Resource',
    ]);
  });

  it('fails synthesis through the validation plugin when a finding is not acknowledged', () => {
    const app = newApp();
    const stack = new TokenBrokerStack(app, 'TestBroker');
    new sns.Topic(stack, 'Unencrypted');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-SNS3/);
  });
});
