/**
 * Readers of token secrets in other AWS accounts. The identity side of such a grant is the reader's
 * own account's business; the broker adds the resource side:
 * - the token secrets' resource policies, which the refresher writes at runtime (the secrets are not
 *   CloudFormation resources): the construct records the readers in the refresher's environment
 *   (core/cross-account-readers.ts, `BROKER_CROSS_ACCOUNT_READERS`), small and validated;
 * - the key policy: kms:Decrypt through Secrets Manager, only with the encryption context of those
 *   orgs' token secrets.
 */
import { Annotations, Lazy, Stack, Token, TokenComparison } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { isReaderPrincipal, MAX_CROSS_ACCOUNT_READERS } from '../../../lambdas/core/cross-account-readers.js';
import { invalidArgument } from '../props.js';

/** The recorded list's longest serialization (with tokens unresolved), so the refresher's environment stays under Lambda's 4 KB. */
export const MAX_READERS_JSON_LENGTH = 2_500;

/**
 * True when `grantee`'s principal is in another account than `scope`'s stack, as CDK's own
 * `Grant.addToPrincipalOrResource` decides it (two unresolved accounts are taken to be the same). A
 * principal that does not say its account (an `ArnPrincipal`) is placed by its IAM ARN; one without
 * an account at all (a service) is not a reader in another account.
 */
export function isCrossAccount(scope: Construct, grantee: iam.IGrantable): boolean {
  const principal = grantee.grantPrincipal;
  const arns = (principal.policyFragment.principalJson.AWS as string[] | undefined) ?? [];
  const account = principal.principalAccount ?? arns.map((arn) => /^arn:[^:]+:iam::(\d{12}):/.exec(arn)?.[1] ?? /^arn:[^:]+:sts::(\d{12}):/.exec(arn)?.[1]).find((a) => a !== undefined);
  if (account === undefined) return false;
  const comparison = Token.compareStrings(Stack.of(scope).account, account);
  return comparison !== TokenComparison.SAME && comparison !== TokenComparison.BOTH_UNRESOLVED;
}

interface RecordedReader {
  principal: string;
  orgIds: string[] | '*';
}

/** The cross-account readers of one broker. */
export class CrossAccountReaders {
  readonly #scope: Construct;
  readonly #key: kms.IKey;
  readonly #readers: RecordedReader[] = [];

  constructor(scope: Construct, key: kms.IKey) {
    this.#scope = scope;
    this.#key = key;
    scope.node.addValidation({
      validate: () => {
        // Unresolved parts (a partition) count as their token's text, a little longer than their value.
        const length = JSON.stringify(this.#readers).length;
        return length > MAX_READERS_JSON_LENGTH
          ? [`the cross-account readers take ${length} characters in the refresher's environment (at most ${MAX_READERS_JSON_LENGTH}): grant whole accounts, or every org ("grantReadAllTokens"), instead of many roles and orgs`]
          : [];
      },
    });
  }

  /** The recorded list as the refresher's environment value (`[]` when there is none). */
  environmentValue(): string {
    return Lazy.string({ produce: () => Stack.of(this.#scope).toJsonString(this.#readers) });
  }

  /**
   * Records `grantee` (in another account) as a reader of `orgIds`' token secrets (`*`: every org's),
   * whose ARN patterns are `secretArns`, and adds the key policy statement. The grantee's principal
   * must be an account or an IAM role or user: nothing broader may read a token.
   */
  add(grantee: iam.IGrantable, orgIds: string[] | '*', secretArns: string[]): void {
    const principal = grantee.grantPrincipal;
    const aws = principal.policyFragment.principalJson.AWS as string[] | undefined;
    const fragment = principal.policyFragment;
    if (!aws || aws.length === 0 || Object.keys(fragment.principalJson).length !== 1 || Object.keys(fragment.conditions ?? {}).length > 0) {
      invalidArgument(this.#scope, 'grantReadToken grantee', principal.toString(), 'must be an account, or an IAM role or user, when it is in another account');
    }
    for (const arn of aws) {
      if (!Token.isUnresolved(arn) && !isReaderPrincipal(arn)) {
        invalidArgument(this.#scope, 'grantReadToken grantee', arn, 'must be an account root or an IAM role or user ARN when it is in another account');
      }
    }
    if (this.#readers.length + aws.length > MAX_CROSS_ACCOUNT_READERS) {
      invalidArgument(this.#scope, 'grantReadToken grantee', principal.toString(), `would be reader ${this.#readers.length + aws.length}; at most ${MAX_CROSS_ACCOUNT_READERS} cross-account readers (grant whole accounts instead)`);
    }
    for (const arn of aws) this.#readers.push({ principal: arn, orgIds: orgIds === '*' ? '*' : [...orgIds] });

    const stack = Stack.of(this.#scope);
    const added = this.#key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `CrossAccountTokenReader${this.#readers.length}`,
        principals: [principal],
        actions: ['kms:Decrypt'],
        resources: ['*'],
        // Only as Secrets Manager decrypting one of those token secrets for the reader.
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:SecretARN': secretArns },
        },
      }),
    );
    if (!added.statementAdded) {
      Annotations.of(this.#scope).addWarningV2(
        'genesys-token-broker:crossAccountKey',
        `the broker key is imported, so its key policy cannot be changed here: allow ${principal} kms:Decrypt on it via secretsmanager yourself, or the reader cannot decrypt the tokens`,
      );
    }
  }
}
