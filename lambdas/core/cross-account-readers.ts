/**
 * Readers of token secrets in other AWS accounts. Their identity policies live in their accounts; the
 * broker adds the resource side: a resource policy on each token secret naming the principals that
 * may read it. The construct records the readers (`grantReadToken` with a principal of another
 * account) in the refresher's environment ({@link ENV.crossAccountReaders}); the refresher applies
 * the policies (adapters/aws/token-secret-policies.ts). Everything here is pure: what the list says,
 * which principals may read an org's secret, the policy document, and the list's canonical form.
 */
import * as z from 'zod/mini';
import { ValidationError } from './errors.js';
import { isOrgId } from './token-record.js';

/** One reader: an account root or an IAM role/user ARN of another account, and the orgs it may read. */
export interface CrossAccountReader {
  readonly principal: string;
  /** Lower-case org ids, or `*` for every org. */
  readonly orgIds: readonly string[] | '*';
}

/** Most readers one broker records: the list rides in a Lambda environment variable (4 KB in all). */
export const MAX_CROSS_ACCOUNT_READERS = 20;

/**
 * An IAM principal ARN of another account: the account root, a role or a user. Not `*`, not a
 * service, not a wildcard: a token secret is never opened wider than named identities.
 */
const PRINCIPAL_ARN = /^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:(?:root|role\/[\w+=,.@/-]{1,512}|user\/[\w+=,.@/-]{1,512})$/;

/** True when `arn` may be a reader: an account root or an IAM role or user ARN (the construct checks literal ones at synth). */
export function isReaderPrincipal(arn: string): boolean {
  return PRINCIPAL_ARN.test(arn);
}

const readerSchema = z.strictObject({
  principal: z.string().check(z.regex(PRINCIPAL_ARN)),
  orgIds: z.union([
    z.literal('*'),
    z.array(z.string().check(z.refine(isOrgId, 'must be a Genesys Cloud organization id (UUID)'))).check(z.minLength(1)),
  ]),
});
const readersSchema = z.array(readerSchema).check(z.maxLength(MAX_CROSS_ACCOUNT_READERS));

/**
 * Parses the recorded list (JSON). Undefined or empty: no readers. Anything malformed is a
 * ValidationError naming the variable, never a partial list: a wrong policy is worse than none.
 */
export function parseCrossAccountReaders(text: string | undefined, source = 'cross-account readers'): CrossAccountReader[] {
  if (text === undefined || text.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError(`${source} must be a JSON list of { principal, orgIds }`, { code: 'invalid_config', field: source });
  }
  const parsed = z.safeParse(readersSchema, json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new ValidationError(`${source}${where}: ${issue?.message ?? 'invalid'} (principals are account roots or IAM role/user ARNs of other accounts; orgIds a list of org UUIDs or "*"; at most ${MAX_CROSS_ACCOUNT_READERS} readers)`, {
      code: 'invalid_config',
      field: source,
    });
  }
  return parsed.data.map((r) => ({ principal: r.principal, orgIds: r.orgIds === '*' ? '*' : r.orgIds.map((id) => id.toLowerCase()) }));
}

/** The principals that may read `orgId`'s token, sorted and without duplicates. */
export function readerPrincipalsFor(orgId: string, readers: readonly CrossAccountReader[]): string[] {
  const id = orgId.toLowerCase();
  return [...new Set(readers.filter((r) => r.orgIds === '*' || r.orgIds.includes(id)).map((r) => r.principal))].sort();
}

/**
 * The token secret's resource policy for these principals: GetSecretValue only. Undefined when there
 * are none (the secret then has no resource policy at all).
 */
export function tokenSecretPolicy(principals: readonly string[]): string | undefined {
  if (principals.length === 0) return undefined;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'GenesysTokenBrokerCrossAccountReaders',
        Effect: 'Allow',
        Principal: { AWS: principals.length === 1 ? principals[0] : [...principals] },
        Action: 'secretsmanager:GetSecretValue',
        // In a secret's resource policy, `*` is the secret the policy is attached to.
        Resource: '*',
      },
    ],
  });
}

/**
 * The list in a canonical form: equal for lists that grant the same principals the same orgs,
 * whatever their order. The refresher compares its digest with the one it last applied everywhere.
 */
export function canonicalReaders(readers: readonly CrossAccountReader[]): string {
  const byPrincipal = new Map<string, Set<string>>();
  for (const r of readers) {
    const orgs = byPrincipal.get(r.principal) ?? new Set<string>();
    for (const id of r.orgIds === '*' ? ['*'] : r.orgIds) orgs.add(id.toLowerCase());
    byPrincipal.set(r.principal, orgs);
  }
  const canonical = [...byPrincipal].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, orgs]) => [p, orgs.has('*') ? ['*'] : [...orgs].sort()]);
  return JSON.stringify(canonical);
}
