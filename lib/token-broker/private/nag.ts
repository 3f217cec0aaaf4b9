/**
 * cdk-nag acknowledgments for the findings that are inherent to the broker's design, each naming one
 * exact finding and giving its reason.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * A resolved CloudFormation value flattened the way cdk-nag names IAM5 findings (`Ref` as `<Name>`,
 * `Fn::GetAtt` as `<Resource.Attr>`, `Fn::Join` joined), so acknowledgments match its finding ids.
 */
export function flattenForNag(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof value === 'object' && value !== null) {
    const node = value as Record<string, unknown>;
    if (Array.isArray(node['Fn::Join'])) {
      const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if (node.Ref !== undefined) return `<${flattenForNag(node.Ref)}>`;
    if (Array.isArray(node['Fn::GetAtt'])) {
      const [resource, attr] = node['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenForNag(resource)}.${flattenForNag(attr)}>`;
    }
  }
  return JSON.stringify(value);
}

/** The inherent findings of one function's role. */
export interface RoleNagFindings {
  /** `<prefix>/tokens/*` as a secret ARN pattern, when the role holds it (the refresher, the default getter). */
  readonly tokenSecretsPattern?: string;
  /** `<prefix>/credentials/*` as a secret ARN pattern, when the role holds it (the refresher). */
  readonly credentialSecretsPattern?: string;
  /** Whether the role holds kms:GenerateDataKey* (the refresher, for its tables). */
  readonly generateDataKeyFamily: boolean;
  /** Whether the role carries the X-Ray statement on `*`. */
  readonly xrayStatement: boolean;
}

/**
 * Acknowledges (CDK `Validations`, which cdk-nag v3 reads) the cdk-nag AwsSolutions findings of a
 * function's role that are inherent to the design. Each acknowledgment names one exact finding and
 * gives the reason; anything else cdk-nag reports still fails synthesis. Wildcards in
 * `extraCredentialSecretArns` are deliberately not acknowledged here: whoever adds them owns that decision.
 */
export function acknowledgeRoleFindings(fn: lambda.IFunction, findings: RoleNagFindings): void {
  const role = fn.role;
  if (!role) return;
  const stack = Stack.of(fn);
  const resourceFinding = (arn: string) => `AwsSolutions-IAM5[Resource::${flattenForNag(stack.resolve(arn))}]`;
  if (findings.tokenSecretsPattern) {
    Validations.of(role).acknowledge({
      id: resourceFinding(findings.tokenSecretsPattern),
      reason:
        'One token secret per org, created as orgs are registered: the refresher writes and the default getter reads <prefix>/tokens/<orgId> for any registered org, ' +
        'so the grant is scoped to the broker\'s own tokens/ path rather than to a list that would need a redeploy per org (scoped getters list their orgs).',
    });
  }
  if (findings.credentialSecretsPattern) {
    Validations.of(role).acknowledge({
      id: resourceFinding(findings.credentialSecretsPattern),
      reason:
        'One credentials secret per org, created by the operator as orgs are registered: the refresher reads it and writes rotated ' +
        'refresh tokens back, scoped to the broker\'s own credentials/ path.',
    });
  }
  if (findings.generateDataKeyFamily) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'kms:GenerateDataKey* is the GenerateDataKey family (with and without plaintext) on the broker key only, and only via DynamoDB (kms:ViaService), for the tables it encrypts.',
    });
  }
  if (findings.xrayStatement) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });
  }
}

/** The sweep schedule's dead-letter queue is one itself. */
export function acknowledgeDeadLetterQueue(queue: sqs.IQueue): void {
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is itself a dead-letter queue: the EventBridge target DLQ of the sweep schedule, which cdk-nag only recognises for SQS redrive.',
  });
}
