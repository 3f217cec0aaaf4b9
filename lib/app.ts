/**
 * CDK app entry (cdk.json: `npx tsx lib/app.ts`). Creates the token broker stack and registers the
 * cdk-nag AwsSolutions pack as a CDK policy-validation plugin (cdk-nag v3): an unacknowledged error
 * finding fails `cdk synth` and `cdk deploy`. The only acknowledgments are the justified ones in
 * lib/token-broker/private/nag.ts (`Validations.of(...).acknowledge`), each naming one exact finding.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONTEXT_PREFIX, DEFAULT_STACK_NAME, TokenBrokerStack } from './token-broker-stack.js';

const app = new App();
const stackName = app.node.tryGetContext(`${CONTEXT_PREFIX}stackName`) as unknown;
if (stackName !== undefined && (typeof stackName !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName))) {
  throw new Error(`context ${CONTEXT_PREFIX}stackName must be a CloudFormation stack name (letters, digits, hyphens; starting with a letter), got ${JSON.stringify(stackName)}`);
}
new TokenBrokerStack(app, (stackName as string | undefined) || DEFAULT_STACK_NAME);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
