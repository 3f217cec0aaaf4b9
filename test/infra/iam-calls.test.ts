/**
 * Least privilege, checked both ways: every IAM action a function's role holds is one that function's
 * code calls (or one IAM authorizes such a call by), and every call it makes is granted.
 *
 * The calls are recorded, not read from the source: the real handlers run a scenario against dynalite,
 * the Secrets Manager, KMS and EventBridge emulators, the Lambda emulator and the Genesys simulator, each function
 * with its own SDK clients carrying a middleware that notes `<service>:<operation>`. The scenario walks
 * every path that reaches AWS: first tokens (CreateSecret) and their resource policies for a reader in
 * another account (PutResourcePolicy, DeleteResourcePolicy), rotation of a refresh token (the journal's
 * GenerateDataKey and, after a failed credentials write, its Decrypt), steady refreshes, a getter
 * missing a token (the on-demand invoke) and a getter told a token was rejected; every attempt puts its
 * per-org events on the bus (PutEvents).
 *
 * Calls that services make with the broker key on a function's behalf (kms:ViaService) cannot be
 * recorded against emulators; {@link impliedByServices} models them from the documented behaviour of
 * Secrets Manager (Decrypt to read, GenerateDataKey to write a version) and the CDK grant precedent for
 * DynamoDB tables with a customer-managed key (Decrypt to read; Decrypt, Encrypt, GenerateDataKey* to write).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import { ENV } from '../../lambdas/core/env-names.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { createGetterHandler } from '../../lambdas/handlers/getter.js';
import { createRefresherHandler } from '../../lambdas/handlers/refresher.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { TokenBroker } from '../../lib/token-broker/index.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { createEventBridgeEmulatorClient, EventBridgeEmulator } from '../support/eventbridge-emulator.js';
import { lambdaContext } from '../support/lambda-context.js';
import { createKmsEmulatorClient, KmsEmulator } from '../support/kms-emulator.js';
import { createLambdaEmulatorClient, type EmulatedHandler, LambdaEmulator } from '../support/lambda-emulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';

const ORG_CC = '0e000000-0000-4000-8000-0000000000c1';
const ORG_RT = '0e000000-0000-4000-8000-0000000000c2';
const ORG_LATE = '0e000000-0000-4000-8000-0000000000c3';
const PREFIX = 'gtb-iam';
const REFRESHER = 'gtb-iam-refresher';

/** The IAM service prefix of each SDK client, and operations whose IAM action is named differently. */
const SERVICE_OF: Record<string, string> = { DynamoDBClient: 'dynamodb', SecretsManagerClient: 'secretsmanager', KMSClient: 'kms', LambdaClient: 'lambda', EventBridgeClient: 'events' };
const ACTION_OF: Record<string, string> = { 'lambda:Invoke': 'lambda:InvokeFunction' };

type Recorded = Set<string>;

/** Notes every call `client` sends as its IAM action. */
function record<C extends { middlewareStack: { add: (...args: never[]) => void } }>(client: C, calls: Recorded): C {
  const add = client.middlewareStack.add as unknown as (
    mw: (next: (args: unknown) => Promise<unknown>, context: { clientName?: string; commandName?: string }) => (args: unknown) => Promise<unknown>,
    options: { step: string; name: string },
  ) => void;
  add.call(
    client.middlewareStack,
    (next, context) => async (args) => {
      const action = `${SERVICE_OF[context.clientName ?? ''] ?? context.clientName}:${(context.commandName ?? '').replace(/Command$/, '')}`;
      calls.add(ACTION_OF[action] ?? action);
      return next(args);
    },
    { step: 'initialize', name: 'recordIamAction' },
  );
  return client;
}

/** What services do with the broker key, and what IAM checks besides the call itself, for each recorded call. */
function impliedByServices(call: string): string[] {
  switch (call) {
    case 'secretsmanager:GetSecretValue':
      return ['kms:Decrypt@secretsmanager'];
    case 'secretsmanager:PutSecretValue':
      return ['kms:GenerateDataKey@secretsmanager'];
    case 'secretsmanager:CreateSecret':
      // Created with tags (org-id, managed-by): IAM authorizes the tags as TagResource.
      return ['kms:GenerateDataKey@secretsmanager', 'secretsmanager:TagResource'];
    case 'dynamodb:GetItem':
    case 'dynamodb:Scan':
    case 'dynamodb:Query':
      return ['kms:Decrypt@dynamodb'];
    case 'dynamodb:UpdateItem':
    case 'dynamodb:PutItem':
    case 'dynamodb:DeleteItem':
      return ['kms:Decrypt@dynamodb', 'kms:Encrypt@dynamodb', 'kms:GenerateDataKey*@dynamodb'];
    default:
      return [];
  }
}

/** A role's actions, KMS ones qualified by the service they are limited to (`kms:Decrypt@secretsmanager`). */
function grantedActions(template: Template, stack: Stack, fn: lambda.IFunction): Set<string> {
  const roleId = stack.getLogicalId((fn.role as iam.Role).node.defaultChild as CfnElement);
  const [policy] = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })) as Array<{
    Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Condition?: { StringEquals?: Record<string, unknown> } }> } };
  }>;
  const granted = new Set<string>();
  for (const statement of policy!.Properties.PolicyDocument.Statement) {
    for (const action of ([] as string[]).concat(statement.Action)) {
      // The log group and X-Ray are the platform's, not the code's.
      if (action.startsWith('logs:') || action.startsWith('xray:')) continue;
      const via = statement.Condition?.StringEquals?.['kms:ViaService'];
      if (action.startsWith('kms:') && via !== undefined) {
        for (const service of ([] as unknown[]).concat(via)) {
          const name = JSON.stringify(service).match(/(secretsmanager|dynamodb)\./)?.[1];
          granted.add(`${action}@${name}`);
        }
      } else {
        granted.add(action);
      }
    }
  }
  return granted;
}


let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let kms: KmsEmulator;
let sim: GenesysSimulator;
let lambdaEmulator: LambdaEmulator;
let eventBridge: EventBridgeEmulator;
const calls = { refresher: new Set<string>(), getter: new Set<string>() };

beforeAll(async () => {
  [ddb, sm, kms, sim, lambdaEmulator, eventBridge] = await Promise.all([startDynalite(), SecretsManagerEmulator.start(), KmsEmulator.start(), GenesysSimulator.start(), LambdaEmulator.start(), EventBridgeEmulator.start()]);
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), kms?.close(), sim?.close(), lambdaEmulator?.close(), eventBridge?.close()]);
});

beforeEach(() => {
  // Powertools writes log lines and EMF to stdout and stderr; keep the output quiet.
  for (const stream of [process.stdout, process.stderr]) vi.spyOn(stream, 'write').mockImplementation(() => true);
  return () => vi.restoreAllMocks();
});

describe('IAM actions against the calls each function makes', () => {
  it('runs the scenario: sweeps, a rotation with a failed credentials write, an on-demand refresh and a rejected token', async () => {
    const keyArn = kms.addKey().arn;
    const names = { registry: 'iam-registry', audit: 'iam-audit' };
    await ddb.createTables(names);
    // The scenario's own set-up goes through clients nobody records.
    const setupDb = ddb.client();
    const setupSm = createEmulatorClient(sm, { retryBackoffMs: 1 });
    const registry = new DynamoDbOrgRegistry({ client: setupDb, tableName: names.registry });
    const credentials = new SecretsManagerCredentialStore({ client: setupSm, secretPrefix: PREFIX });
    const register = async (orgId: string, grantType: 'client_credentials' | 'refresh_token') => {
      const clientId = `iam-client-${orgId.slice(-2)}`;
      const clientSecret = `iam-secret-${orgId.slice(-2)}-0123456789`;
      const refreshToken = grantType === 'refresh_token' ? `iam-refresh-${orgId.slice(-2)}-0123456789` : undefined;
      sim.addOrg({ orgId, region: 'mypurecloud.ie' });
      sim.addClient({ clientId, clientSecret, orgId, ...(refreshToken ? { grantTypes: ['refresh_token'], refreshToken } : {}) });
      const org: Omit<OrgRecord, 'version'> = { orgId, region: 'mypurecloud.ie', grantType, enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
      await registry.put(org);
      await credentials.save(org, { clientId, clientSecret, ...(refreshToken ? { refreshToken } : {}) });
    };
    await register(ORG_CC, 'client_credentials');
    await register(ORG_RT, 'refresh_token');

    // A reader in another account for one org: the refresher keeps the token secrets' resource
    // policies (PutResourcePolicy for that org's, DeleteResourcePolicy for the others').
    const env = {
      [ENV.secretPrefix]: PREFIX,
      [ENV.registryTable]: names.registry,
      [ENV.auditTable]: names.audit,
      [ENV.kmsKeyId]: keyArn,
      [ENV.crossAccountReaders]: JSON.stringify([{ principal: 'arn:aws:iam::210987654321:role/reader', orgIds: [ORG_CC] }]),
      [ENV.eventBus]: eventBridge.busArn('default'),
    };
    const refresher = createRefresherHandler({
      env,
      overrides: {
        genesysBaseUrl: sim.resolver,
        dynamoDb: record(ddb.client(), calls.refresher) as DynamoDBClient,
        secretsManager: record(createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 2 }), calls.refresher),
        kms: record(createKmsEmulatorClient(kms, { retryBackoffMs: 1 }), calls.refresher),
        eventBridge: record(createEventBridgeEmulatorClient(eventBridge, { retryBackoffMs: 1 }), calls.refresher),
      },
    });
    lambdaEmulator.register(REFRESHER, refresher as unknown as EmulatedHandler, { timeoutMs: 30_000 });
    const getter = createGetterHandler({
      env: { [ENV.secretPrefix]: PREFIX, [ENV.registryTable]: names.registry, [ENV.refresherFunction]: REFRESHER },
      overrides: {
        dynamoDb: record(ddb.client(), calls.getter) as DynamoDBClient,
        secretsManager: record(createEmulatorClient(sm, { retryBackoffMs: 1 }), calls.getter),
        lambda: record(createLambdaEmulatorClient(lambdaEmulator, { maxAttempts: 1 }), calls.getter),
      },
    });
    const sweep = (event: unknown) => refresher(event, lambdaContext()) as Promise<{ refreshed: number; failed: Record<string, number> }>;

    // First tokens: both orgs, the refresh_token one through the journal (GenerateDataKey).
    expect(await sweep({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toMatchObject({ refreshed: 2 });
    // A rotation whose credentials write fails: the journal keeps the token, the next attempt opens it (Decrypt).
    const credentialsSecret = `${PREFIX}/credentials/${ORG_RT}`;
    sm.injectFault('PutSecretValue', { type: 'InternalServiceError', times: 1_000_000, when: { SecretId: credentialsSecret } });
    await sweep({ orgIds: [ORG_RT], force: true });
    sm.clearFaults();
    expect(await sweep({ orgIds: [ORG_RT, ORG_CC], force: true })).toMatchObject({ refreshed: 2, failed: {} });

    // A getter asked for an org without a token: it asks the refresher.
    await register(ORG_LATE, 'client_credentials');
    expect(await getter({ orgId: ORG_LATE }, lambdaContext())).toHaveProperty('accessToken');
    // A getter told Genesys rejected the current token.
    const served = (await getter({ orgId: ORG_CC }, lambdaContext())) as { accessToken: string };
    sim.revokeClient(`iam-client-${ORG_CC.slice(-2)}`);
    await getter({ orgId: ORG_CC, rejectedToken: served.accessToken }, lambdaContext());

    expect([...calls.refresher].sort()).toEqual(
      expect.arrayContaining([
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'secretsmanager:CreateSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:PutResourcePolicy',
        'secretsmanager:DeleteResourcePolicy',
        'dynamodb:Scan',
        'dynamodb:PutItem',
        'events:PutEvents',
      ]),
    );
    expect(eventBridge.events.length).toBeGreaterThan(0);
    expect([...calls.getter].sort()).toEqual(['dynamodb:GetItem', 'lambda:InvokeFunction', 'secretsmanager:GetSecretValue']);
  });

  it.each(['refresher', 'getter'] as const)('grants the %s exactly the actions its calls need', (role) => {
    expect(calls[role].size, 'the scenario above ran').toBeGreaterThan(0);
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'IamCalls');
    const broker = new TokenBroker(stack, 'Broker');
    const template = Template.fromStack(stack);
    const needed = new Set([...calls[role]].flatMap((call) => [call, ...impliedByServices(call)]));
    const granted = grantedActions(template, stack, broker[role]);
    expect({ role, notGranted: [...needed].filter((a) => !granted.has(a)).sort() }).toEqual({ role, notGranted: [] });
    expect({ role, neverNeeded: [...granted].filter((a) => !needed.has(a)).sort() }).toEqual({ role, neverNeeded: [] });
  });

  it('grants a scoped getter the same actions as the default getter', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'IamCallsScoped');
    const broker = new TokenBroker(stack, 'Broker');
    const scoped = broker.addScopedGetter('Tenant', { orgIds: [ORG_CC] });
    const template = Template.fromStack(stack);
    expect([...grantedActions(template, stack, scoped.function)].sort()).toEqual([...grantedActions(template, stack, broker.getter)].sort());
  });
});
