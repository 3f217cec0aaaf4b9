/**
 * A getter for one tenant's orgs (`broker.addScopedGetter(id, { orgIds })`). In a multi-tenant
 * deployment (a BPO or AppFoundry partner serving many customers) the default getter serves every
 * org to everyone allowed to invoke it; a scoped getter serves only its orgs, and IAM enforces that,
 * not just its code: its role may read those orgs' token secrets and registry items and nothing else.
 */
import { Stack, Token } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { secretArnPattern, tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { isOrgId } from '../../lambdas/core/token-record.js';
import { createGetterFunction, getterSettingsOf } from './private/getter.js';
import { invalidArgument } from './props.js';

/**
 * Most orgs one scoped getter may serve. Each org adds its secret ARN twice (the secret grant and the
 * key's encryption-context condition) and its id once to the role's inline policy, which IAM caps at
 * 10,240 characters per role; 25 orgs stay well inside it. More orgs: more scoped getters.
 */
export const MAX_SCOPED_GETTER_ORGS = 25;

export interface ScopedGetterProps {
  /** The orgs this getter serves (Genesys Cloud organization ids); 1 to {@link MAX_SCOPED_GETTER_ORGS}. */
  readonly orgIds: string[];
}

export class ScopedGetter extends Construct {
  /** The getter function: invoke with `{ "orgId": "<uuid>" }` for one of {@link ScopedGetter.orgIds}. */
  readonly function: lambda.IFunction;
  /** The orgs it serves, lower-case. */
  readonly orgIds: readonly string[];

  /** Use `TokenBroker.addScopedGetter`; `broker` is the TokenBroker it belongs to. */
  constructor(broker: Construct, id: string, props: ScopedGetterProps) {
    super(broker, id);
    const settings = getterSettingsOf(broker);
    const orgIds = props.orgIds;
    if (!Array.isArray(orgIds) || orgIds.length === 0 || orgIds.length > MAX_SCOPED_GETTER_ORGS) {
      invalidArgument(this, 'addScopedGetter orgIds', String(orgIds?.length ?? 0), `must name 1 to ${MAX_SCOPED_GETTER_ORGS} orgs`);
    }
    for (const orgId of orgIds) {
      if (Token.isUnresolved(orgId)) invalidArgument(this, 'addScopedGetter orgId', '(token)', 'must be a literal org id: the scope is fixed at synthesis');
      if (!isOrgId(orgId)) invalidArgument(this, 'addScopedGetter orgId', orgId, 'must be a Genesys Cloud organization id (UUID)');
    }
    if (Token.isUnresolved(settings.secretPrefix)) invalidArgument(this, 'secretPrefix', '(token)', 'must be a literal for scoped getters');
    this.orgIds = Object.freeze([...new Set(orgIds.map((orgId) => orgId.toLowerCase()))]);
    const stack = Stack.of(this);
    const env = { partition: stack.partition, region: stack.region, account: stack.account };
    this.function = createGetterFunction(this, 'Function', settings, {
      description: `Genesys token broker: serves the tokens of ${this.orgIds.length} org(s) only`,
      tokenSecretArns: this.orgIds.map((orgId) => secretArnPattern(tokenSecretName(settings.secretPrefix, orgId), env)),
      orgIds: [...this.orgIds],
    });
  }

  /** Lets `grantee` invoke this getter (lambda:InvokeFunction on the function). */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvoke(grantee);
  }
}
