/**
 * The IAM actions the broker grants, one list per kind of resource. Exported so tests and reviewers
 * can assert the policies exactly; every action carries its reason when it is not obvious.
 */

/** Actions the refresher and getter may take on token secrets (`<prefix>/tokens/*`). */
export const TOKEN_SECRET_WRITER_ACTIONS = Object.freeze([
  'secretsmanager:CreateSecret',
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  // CreateSecret with Tags (org-id, managed-by) is authorized as TagResource too.
  'secretsmanager:TagResource',
] as const);

/** Actions the refresher and getter may take on credential secrets. */
export const CREDENTIAL_SECRET_ACTIONS = Object.freeze([
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  // Authorization-code orgs get a new single-use refresh token on every refresh, written back here.
  'secretsmanager:PutSecretValue',
] as const);

/** Actions a token consumer gets from `grantReadToken` / `grantReadAllTokens`. */
export const TOKEN_READER_ACTIONS = Object.freeze(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'] as const);

/** KMS actions the functions need on the broker key (Secrets Manager and DynamoDB call KMS for them). */
export const KEY_USER_ACTIONS = Object.freeze(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'] as const);

/**
 * KMS actions the functions call themselves (not through a service) to seal and open a rotated
 * refresh token held in the refresh token journal; the grant is bound to that encryption context.
 */
export const JOURNAL_KEY_ACTIONS = Object.freeze(['kms:Decrypt', 'kms:GenerateDataKey'] as const);

/** DynamoDB actions on the registry table: the engine's Get/Scan/Update and the lease's conditional updates. */
export const REGISTRY_ACTIONS = Object.freeze(['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'] as const);

/** DynamoDB actions on the audit table: append only. Reading the audit trail is the operator's job. */
export const AUDIT_ACTIONS = Object.freeze(['dynamodb:PutItem'] as const);
