/**
 * Readers in other AWS accounts, on the synthesized template: grantReadToken and grantReadAllTokens
 * record the reader for the refresher (which writes the token secrets' resource policies at runtime)
 * and add the key policy; a getter's grantInvoke adds a Lambda resource policy. Same-account grants
 * stay identity-only.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { parseCrossAccountReaders } from '../../lambdas/core/cross-account-readers.js';
import { ENV } from '../../lambdas/core/env-names.js';
import { TokenBroker } from '../../lib/token-broker/index.js';

const ORG_A = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const ORG_B = '1b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const FOREIGN_ROLE = 'arn:aws:iam::210987654321:role/team-a-reader';
const BROKER_ENV = { account: '111122223333', region: 'eu-west-1' };

function setup(env: { account: string; region: string } | undefined = BROKER_ENV) {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Brokers', env ? { env } : {});
  const broker = new TokenBroker(stack, 'Broker');
  return { stack, broker };
}

/** The refresher's BROKER_CROSS_ACCOUNT_READERS with CloudFormation's pseudo parameters filled in, parsed as the refresher parses it. */
function recordedReaders(stack: Stack, broker: TokenBroker) {
  const template = Template.fromStack(stack);
  const fn = template.findResources('AWS::Lambda::Function')[stack.getLogicalId(broker.refresher.node.defaultChild as never)] as {
    Properties: { Environment: { Variables: Record<string, unknown> } };
  };
  const value = fn.Properties.Environment.Variables[ENV.crossAccountReaders];
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const join = (v as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join) return join[1].map(resolve).join(join[0]);
    const ref = (v as { Ref?: string }).Ref;
    if (ref === 'AWS::Partition') return 'aws';
    throw new Error(`unexpected value ${JSON.stringify(v)}`);
  };
  return parseCrossAccountReaders(resolve(value));
}

function keyStatements(stack: Stack, broker: TokenBroker) {
  const key = Template.fromStack(stack).findResources('AWS::KMS::Key')[stack.getLogicalId(broker.encryptionKey.node.defaultChild as never)] as {
    Properties: { KeyPolicy: { Statement: Array<Record<string, unknown>> } };
  };
  return key.Properties.KeyPolicy.Statement;
}

describe('grantReadToken across accounts', () => {
  it('records the role for the refresher, lets it decrypt only those secrets through Secrets Manager, and adds nothing to its account', () => {
    const { stack, broker } = setup();
    const role = iam.Role.fromRoleArn(stack, 'TeamA', FOREIGN_ROLE);
    broker.grantReadToken(role, ORG_A.toUpperCase(), ORG_B);
    expect(recordedReaders(stack, broker)).toEqual([{ principal: FOREIGN_ROLE, orgIds: [ORG_A, ORG_B] }]);
    expect(keyStatements(stack, broker)).toContainEqual({
      Sid: 'CrossAccountTokenReader1',
      Effect: 'Allow',
      Principal: { AWS: FOREIGN_ROLE },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
        StringLike: {
          'kms:EncryptionContext:SecretARN': [ORG_A, ORG_B].map((org) => ({
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:eu-west-1:111122223333:secret:genesys-token-broker/tokens/${org}-??????`]],
          })),
        },
      },
    });
    // The role is another account's: this stack cannot and does not attach a policy to it.
    const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')) as Array<{ Properties: { Roles?: unknown[] } }>;
    expect(policies.filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('team-a-reader'))).toEqual([]);
  });

  it('records a whole account for every org with grantReadAllTokens, its ARN resolved at deploy time', () => {
    const { stack, broker } = setup(undefined);
    broker.grantReadAllTokens(new iam.AccountPrincipal('210987654322'));
    broker.grantReadToken(iam.Role.fromRoleArn(stack, 'TeamA', FOREIGN_ROLE), ORG_A);
    expect(recordedReaders(stack, broker)).toEqual([
      { principal: 'arn:aws:iam::210987654322:root', orgIds: '*' },
      { principal: FOREIGN_ROLE, orgIds: [ORG_A] },
    ]);
    const statements = keyStatements(stack, broker).filter((s) => String(s.Sid).startsWith('CrossAccountTokenReader'));
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatchObject({ Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::210987654322:root']] } } });
  });

  it('keeps a same-account grant identity-only: nothing recorded, no key policy statement', () => {
    const { stack, broker } = setup();
    const local = new iam.Role(stack, 'Local', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    broker.grantReadToken(local, ORG_A);
    broker.grantReadToken(iam.Role.fromRoleArn(stack, 'SameAccount', 'arn:aws:iam::111122223333:role/same'), ORG_A);
    broker.grantReadToken(new iam.ArnPrincipal('arn:aws:iam::111122223333:role/same-by-arn'), ORG_A);
    expect(recordedReaders(stack, broker)).toEqual([]);
    expect(keyStatements(stack, broker).filter((s) => String(s.Sid).startsWith('CrossAccount'))).toEqual([]);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: stack.getLogicalId(local.node.defaultChild as never) }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'secretsmanager:GetSecretValue' })]) },
    });
  });

  it('refuses a principal broader than an account, role or user, and a list too long for the environment', () => {
    const { broker } = setup();
    expect(() => broker.grantReadToken(new iam.ArnPrincipal('arn:aws:sts::210987654321:assumed-role/x/session'), ORG_A)).toThrow(
      /grantReadToken grantee must be an account root or an IAM role or user ARN when it is in another account, got "arn:aws:sts::210987654321:assumed-role\/x\/session"/,
    );
    // Conditions on the principal (for example an organization) would be lost in a secret policy.
    expect(() => broker.grantReadToken(new iam.AccountPrincipal('210987654321').withConditions({ StringEquals: { 'aws:PrincipalOrgID': 'o-abc123' } }), ORG_A)).toThrow(
      /grantReadToken grantee must be an account, or an IAM role or user, when it is in another account/,
    );
    // An ArnPrincipal of another account's role is recognised as cross-account by its ARN.
    broker.grantReadToken(new iam.ArnPrincipal('arn:aws:iam::210987654329:role/by-arn'), ORG_A);
    for (let i = 0; i < 19; i++) broker.grantReadToken(new iam.AccountPrincipal(String(210987654400 + i)), ORG_A);
    expect(() => broker.grantReadToken(new iam.AccountPrincipal('210987654499'), ORG_A)).toThrow(/would be reader 21; at most 20 cross-account readers/);
  });

  it('treats a principal without an account (a service) and a role of a sibling environment-agnostic stack as this account\'s', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Agnostic');
    const broker = new TokenBroker(stack, 'Broker');
    const sibling = new Stack(app, 'Sibling');
    const siblingRole = new iam.Role(sibling, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), roleName: 'sibling-reader' });
    broker.grantReadToken(siblingRole, ORG_A);
    broker.grantReadToken(new iam.ServicePrincipal('events.amazonaws.com'), ORG_A);
    expect(recordedReaders(stack, broker)).toEqual([]);
  });

  it('fails the synth when the recorded list would not fit in the refresher\'s environment', () => {
    const { stack, broker } = setup();
    const orgs = Array.from({ length: 25 }, (_, i) => `${i.toString(16).padStart(8, '0')}-4f50-4a6b-8c7d-9e0f1a2b3c4d`);
    for (let i = 0; i < 3; i++) broker.grantReadToken(iam.Role.fromRoleArn(stack, `Team${i}`, `arn:aws:iam::21098765432${i}:role/reader`), ...orgs);
    expect(() => (stack.node.root as App).synth()).toThrow(/cross-account readers take \d+ characters in the refresher's environment \(at most 2500\)/);
  });

  it('warns that an imported key\'s policy must be changed by hand', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Imported', { env: BROKER_ENV });
    const broker = new TokenBroker(stack, 'Broker', { encryptionKey: kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000') });
    broker.grantReadToken(iam.Role.fromRoleArn(stack, 'TeamA', FOREIGN_ROLE), ORG_A);
    Annotations.fromStack(stack).hasWarning('/Imported/Broker', Match.stringLikeRegexp('the broker key is imported.*kms:Decrypt'));
  });
});

describe('invoking a getter across accounts', () => {
  it.each([
    ['a scoped getter', (broker: TokenBroker, grantee: iam.IGrantable) => broker.addScopedGetter('TeamA', { orgIds: [ORG_A] }).grantInvoke(grantee)],
    ['the default getter', (broker: TokenBroker, grantee: iam.IGrantable) => broker.grantInvokeGetter(grantee)],
  ])('adds a Lambda resource policy for %s', (_what, grant) => {
    const { stack, broker } = setup();
    grant(broker, iam.Role.fromRoleArn(stack, 'Consumer', FOREIGN_ROLE));
    const permissions = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Permission')) as Array<{ Properties: Record<string, unknown> }>;
    const forRole = permissions.filter((p) => p.Properties.Principal === FOREIGN_ROLE);
    expect(forRole).toHaveLength(1);
    expect(forRole[0]!.Properties).toMatchObject({ Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } });
    const target = (forRole[0]!.Properties.FunctionName as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    expect(String((functions[target] as { Properties: { Description: string } }).Properties.Description)).toMatch(/serves/);
    // Nothing recorded for the refresher: invoking a getter needs no secret policy.
    expect(recordedReaders(stack, broker)).toEqual([]);
  });
});

