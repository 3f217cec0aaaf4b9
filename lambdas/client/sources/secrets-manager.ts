/**
 * The Secrets Manager source: reads the token secret `<prefix>/tokens/<orgId>` (AWSCURRENT) with the
 * token vault's own read, so the consumer parses and checks a token exactly as the broker wrote it.
 * Cheapest and fastest; needs `broker.grantReadToken(fn, orgId)` (or `grantReadAllTokens(fn)`). It
 * sees only what the refresher wrote, so it cannot tell an unregistered org from one whose first
 * refresh has not landed yet (both are "no such secret", reported as `token_unavailable`), nor a
 * disabled org. Told a token was rejected, it reads AWSCURRENT again and says so when the secret still
 * holds that token: it cannot ask the broker to check it (the getter source can).
 */
import { sdkErrorName } from '../../adapters/aws/aws-errors.js';
import { createTokenSecretReader, type SecretOwner, type SecretsManagerClient } from '../../adapters/aws/secrets-manager-token-vault.js';
import { BrokerError } from '../../core/errors.js';
import { TokenClientError } from '../errors.js';
import { checkNotExpired, type FetchToken, freezeToken } from './source.js';

/** Read the token secret directly from Secrets Manager. */
export interface SecretsManagerTokenSource {
  /** The broker's secret prefix (the construct's `secretPrefix`); token secrets are `<prefix>/tokens/<orgId>`. */
  secretPrefix: string;
  /**
   * The client to read with. Build it once at module scope and pass it in to share it.
   * @default - a new SecretsManagerClient with the Lambda's region and role
   */
  client?: SecretsManagerClient;
  /**
   * The broker's account and Region, when this function runs in another account (the broker granted
   * it with `grantReadToken`): secrets are then read by ARN, as Secrets Manager requires across accounts.
   * @default - this function's own account and Region
   */
  brokerAccount?: SecretOwner;
}

/** Builds the source's fetch; throws the vault's ValidationError for a bad prefix. */
export function secretsManagerSource(source: SecretsManagerTokenSource): FetchToken {
  const reader = createTokenSecretReader({
    secretPrefix: source.secretPrefix,
    ...(source.client ? { client: source.client } : {}),
    ...(source.brokerAccount ? { owner: source.brokerAccount } : {}),
  });
  return async (orgId, nowMs, options = {}) => {
    const secretId = reader.secretName(orgId);
    let found;
    try {
      found = await reader.lookup(orgId);
    } catch (err) {
      throw readError(err, orgId, secretId, source.brokerAccount !== undefined);
    }
    if (found.status === 'absent') {
      if (found.why === 'deleted') {
        // The broker schedules a token secret for deletion when an org is removed.
        throw new TokenClientError('org_not_found', `token secret ${secretId} is scheduled for deletion: org ${orgId} was removed from the broker`, { orgId, cause: found.cause });
      }
      // Not `org_not_found`: a registered org whose first refresh has not completed has no secret
      // either, and this source cannot ask the registry which case it is.
      throw new TokenClientError(
        'token_unavailable',
        `token secret ${secretId} does not exist yet: org ${orgId} is not registered with the broker, or its first refresh has not completed`,
        { orgId, cause: found.cause },
      );
    }
    const record = found.record;
    if (options.rejectedToken !== undefined && record.accessToken === options.rejectedToken) {
      // The secret cannot be asked to check a token; the getter can (it has the refresher look into it).
      throw new TokenClientError(
        'token_unavailable',
        `token secret ${secretId} still holds the token Genesys rejected for org ${orgId}: the broker has not replaced it yet. ` +
          'The getter source (getterFunctionName) can have the broker check and replace a rejected token at once; this source waits for its next refresh',
        { orgId, retryAfterSeconds: 60 },
      );
    }
    const token = freezeToken({
      orgId,
      accessToken: record.accessToken,
      expiresAt: record.expiresAt,
      apiBaseUrl: record.apiBaseUrl,
      region: record.region,
      ...(record.idlesAt !== undefined ? { idlesAt: record.idlesAt } : {}),
    });
    checkNotExpired(token, nowMs, `stored token ${secretId}`);
    return { token, lifetimeMs: Date.parse(record.expiresAt) - Date.parse(record.issuedAt), refreshAtMs: Date.parse(record.refreshAt) };
  };
}

/** A failed read onto the client's codes; the grant to add is named where the role is the problem. */
function readError(err: unknown, orgId: string, secretId: string, crossAccount: boolean): TokenClientError {
  const cause = err instanceof BrokerError && err.cause !== undefined ? err.cause : err;
  switch (sdkErrorName(cause)) {
    case 'AccessDeniedException':
      return new TokenClientError(
        'access_denied',
        `this function's role may not read token secret ${secretId} (AccessDeniedException); add broker.grantReadToken(thisFunction, '${orgId}') to the stack. ` +
          (crossAccount
            ? "From another account, both sides must allow it: the broker's stack grants this role (grantReadToken; the refresher then writes the secret's resource policy), and this account's policy lets the role call secretsmanager:GetSecretValue on the secret and kms:Decrypt on the broker's key. "
            : '') +
          'If it is granted already, the secret may not exist yet: Secrets Manager can answer AccessDenied rather than not found for a secret the policy names by ARN pattern',
        { orgId, cause },
      );
    case 'DecryptionFailure':
      return new TokenClientError(
        'access_denied',
        `Secrets Manager could not decrypt token secret ${secretId} (DecryptionFailure): the role needs kms:Decrypt on the broker's key, which broker.grantReadToken(thisFunction, '${orgId}') grants`,
        { orgId, cause },
      );
    default: {
      // The vault's messages name the org, the secret and the failure (fields, never values).
      const error = err instanceof BrokerError ? err : undefined;
      return new TokenClientError('token_unavailable', error?.message ?? `stored token for org ${orgId} could not be read`, {
        orgId,
        cause,
        transient: error ? error.failureClass === 'transient' : true,
      });
    }
  }
}
