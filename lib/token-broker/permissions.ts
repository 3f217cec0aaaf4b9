/**
 * The IAM actions the broker grants, one list per role and kind of resource. Exported so tests and
 * reviewers can assert the policies exactly. Every action is one the role's code calls (or one IAM
 * authorizes a call by, such as TagResource for CreateSecret with tags): test/infra/iam-calls.test.ts
 * records the calls each function makes and checks both directions.
 */

/** The refresher on token secrets (`<prefix>/tokens/*`): create, read back, write new versions, keep their resource policies. */
export const TOKEN_SECRET_WRITER_ACTIONS = Object.freeze([
  'secretsmanager:CreateSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  // CreateSecret with Tags (org-id, managed-by) is authorized as TagResource too.
  'secretsmanager:TagResource',
  // Resource policies naming readers in other accounts (grantReadToken), written and removed at runtime.
  'secretsmanager:PutResourcePolicy',
  'secretsmanager:DeleteResourcePolicy',
] as const);

/** The refresher on credential secrets; nothing else reads them. */
export const CREDENTIAL_SECRET_ACTIONS = Object.freeze([
  'secretsmanager:GetSecretValue',
  // Authorization-code orgs get a new single-use refresh token on every refresh, written back here.
  'secretsmanager:PutSecretValue',
] as const);

/** A getter, and a consumer given `grantReadToken` / `grantReadAllTokens`, on token secrets. */
export const TOKEN_READER_ACTIONS = Object.freeze(['secretsmanager:GetSecretValue'] as const);

/**
 * The refresher's key use through Secrets Manager: Decrypt to read a secret, GenerateDataKey to write
 * a version (Secrets Manager encrypts each version under a new data key; it never calls Encrypt).
 */
export const SECRETS_KEY_WRITER_ACTIONS = Object.freeze(['kms:Decrypt', 'kms:GenerateDataKey'] as const);

/**
 * The refresher's key use through DynamoDB, on the tables it writes: what CDK's grantReadWriteData
 * grants for a customer-managed table key, less ReEncrypt and DescribeKey, which DynamoDB does not
 * need for item reads and writes.
 */
export const TABLE_KEY_WRITER_ACTIONS = Object.freeze(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'] as const);

/** A getter's key use (through Secrets Manager for token secrets, through DynamoDB for registry reads). */
export const KEY_READER_ACTIONS = Object.freeze(['kms:Decrypt'] as const);

/**
 * KMS actions the refresher calls itself (not through a service) to seal and open a rotated refresh
 * token held in the refresh token journal; the grant is bound to that encryption context.
 */
export const JOURNAL_KEY_ACTIONS = Object.freeze(['kms:Decrypt', 'kms:GenerateDataKey'] as const);

/** The refresher on the registry table: reads, sweeps (Scan), state and lease updates. */
export const REGISTRY_ACTIONS = Object.freeze(['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'] as const);

/** A getter on the registry table: one org's item. */
export const REGISTRY_READER_ACTIONS = Object.freeze(['dynamodb:GetItem'] as const);

/** The refresher on the audit table: append only. Reading the audit trail is the operator's job. */
export const AUDIT_ACTIONS = Object.freeze(['dynamodb:PutItem'] as const);

/** A getter on the refresher: the synchronous on-demand refresh. */
export const REFRESHER_INVOKE_ACTIONS = Object.freeze(['lambda:InvokeFunction'] as const);

/**
 * The refresher on its event bus: per-org events (README "Events"), with the condition that their
 * source is the broker's, so the role cannot pose as another application on a shared bus.
 */
export const ORG_EVENT_ACTIONS = Object.freeze(['events:PutEvents'] as const);
