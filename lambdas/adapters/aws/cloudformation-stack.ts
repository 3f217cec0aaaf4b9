/**
 * Reads a deployed stack's status and outputs (CloudFormation DescribeStacks), for the operator CLI's
 * `--stack` target. A stack that does not exist is `undefined`; other SDK exceptions propagate for the
 * caller to describe.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

export interface StackDescription {
  status: string | undefined;
  /** Output key to value. */
  outputs: Map<string, string>;
}

/** Describes `stackName` (a name or stack ARN) with the SDK's default credentials and region. */
export async function describeStack(stackName: string, options: { maxAttempts?: number } = {}): Promise<StackDescription | undefined> {
  const client = new CloudFormationClient({ maxAttempts: options.maxAttempts ?? 3 });
  try {
    let stack;
    try {
      stack = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    } catch (err) {
      // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist".
      if (err instanceof Error && err.name === 'ValidationError' && /does not exist/i.test(err.message)) return undefined;
      throw err;
    }
    if (!stack) return undefined;
    const outputs = new Map((stack.Outputs ?? []).flatMap((o) => (o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue] as const] : [])));
    return { status: stack.StackStatus, outputs };
  } finally {
    client.destroy();
  }
}
