/**
 * Onboarding verification: before `orgs add` stores anything, it gets a token with the engine's OAuth
 * client in the org's region and checks with GET /api/v2/tokens/me that the token belongs to that
 * org. A refusal is explained precisely: wrong region (and which region knows the client), wrong
 * secret, credentials of another org (and which), grant not allowed, spent refresh token.
 *
 * Genesys outages (network errors, 5xx, rate limits) are not refusals: they are thrown as they come,
 * and the caller reports an operation failure rather than bad credentials.
 */
import type { ErrorCode } from '../../lambdas/core/errors.js';
import { BrokerError, UpstreamError } from '../../lambdas/core/errors.js';
import type { GenesysOAuthClient, TokenGrant, TokenInfo } from '../../lambdas/core/oauth.js';
import { checkTokenLifetime, describeShortLifetime, type PolicyOptions } from '../../lambdas/core/policy.js';
import type { ClientCredentials, Clock, GrantType } from '../../lambdas/core/ports.js';
import { type GenesysRegion, hostFor, REGIONS } from '../../lambdas/core/regions.js';
import { BIN } from './args.js';
import { CliFailure, EXIT } from './exit-codes.js';

/** Time allowed for the verification (token request and tokens/me, retries included). */
export const VERIFY_TIMEOUT_MS = 30_000;
/** Time allowed for probing the other regions, all at once. */
export const PROBE_TIMEOUT_MS = 10_000;

export type VerifyFailureReason = 'wrong_region' | 'wrong_secret' | 'org_mismatch' | 'grant_not_allowed' | 'invalid_refresh_token' | 'rejected' | 'lifetime_too_short';

export interface VerifyInput {
  orgId: string;
  region: GenesysRegion;
  grantType: GrantType;
  credentials: ClientCredentials;
  /** The engine's OAuth client, as the refresher builds it. */
  oauth: GenesysOAuthClient;
  /** A client for the region probe: no retries, short timeout. @default oauth */
  probe?: GenesysOAuthClient;
  clock: Clock;
  /** The target's refresh policy: a token lifetime it does not support is refused. @default - no lifetime check */
  policy?: PolicyOptions;
  onProgress?: (message: string) => void;
}

export interface VerifySuccess {
  ok: true;
  info: TokenInfo;
  /** What must be stored: for the refresh_token grant, carries the rotated refresh token. */
  credentials: ClientCredentials;
  /** The verified grant: its access token is the org's first token when the caller stores it. */
  grant: TokenGrant;
  expiresInSeconds: number;
  /** The refresh token given was spent and replaced (or, for a code exchange, is the first one). */
  refreshTokenRotated: boolean;
}

export interface VerifyFailure {
  ok: false;
  reason: VerifyFailureReason;
  /** The Genesys or broker error code behind the refusal. */
  code: ErrorCode;
  message: string;
  hints: string[];
  /** org_mismatch: the organization the credentials belong to, when Genesys named it. */
  actualOrgId?: string;
  /** wrong_region: regions whose login host knows the client id. */
  foundIn?: GenesysRegion[];
}

export type VerifyResult = VerifySuccess | VerifyFailure;

/** How an `invalid_client` answer reads: the client is unknown in that region, or its secret is wrong. */
export function invalidClientKind(err: UpstreamError): 'not_found' | 'bad_secret' {
  if (/client not found/i.test(err.message)) return 'not_found';
  if (/authentication failed/i.test(err.message)) return 'bad_secret';
  // Genesys answers an unknown client with 400 and a bad secret with 401.
  return err.httpStatus === 401 ? 'bad_secret' : 'not_found';
}

function regionLabel(region: GenesysRegion): string {
  return `${region.key} (${region.domain})`;
}

/** Whether a region's login host knows the client id: answers with anything but "client not found". */
async function probeRegion(input: VerifyInput, region: GenesysRegion): Promise<'known' | 'unknown' | 'inconclusive'> {
  const probe = input.probe ?? input.oauth;
  try {
    // Always client_credentials: a refresh_token request would spend the operator's refresh token. A
    // refresh_token-only client still answers unauthorized_client, which proves it exists there.
    await probe.requestToken({
      orgId: input.orgId,
      region,
      grantType: 'client_credentials',
      credentials: { clientId: input.credentials.clientId, clientSecret: input.credentials.clientSecret },
      deadlineMs: input.clock.now() + PROBE_TIMEOUT_MS,
    });
    return 'known';
  } catch (err) {
    if (!(err instanceof UpstreamError)) return 'inconclusive';
    if (err.code === 'invalid_client') return invalidClientKind(err) === 'not_found' ? 'unknown' : 'known';
    if (err.failureClass !== 'permanent') return 'inconclusive';
    return 'known';
  }
}

async function wrongRegion(input: VerifyInput, err: UpstreamError): Promise<VerifyFailure> {
  const { region, credentials } = input;
  const others = REGIONS.filter((r) => r.domain !== region.domain);
  input.onProgress?.(`client not found in ${regionLabel(region)}; checking the other ${others.length} regions`);
  const outcomes = await Promise.all(others.map(async (r) => ({ region: r, outcome: await probeRegion(input, r) })));
  const foundIn = outcomes.filter((o) => o.outcome === 'known').map((o) => o.region);
  const inconclusive = outcomes.filter((o) => o.outcome === 'inconclusive').length;
  const base = `Genesys Cloud in ${regionLabel(region)} does not know client ${credentials.clientId} (invalid_client: client not found at ${hostFor(region, 'login')})`;
  if (foundIn.length > 0) {
    const where = foundIn.map(regionLabel).join(', ');
    return {
      ok: false,
      reason: 'wrong_region',
      code: err.code,
      message: `wrong region: ${base}; the client exists in ${where}`,
      hints: [`re-run with --region ${foundIn[0]!.key}`],
      foundIn,
    };
  }
  return {
    ok: false,
    reason: 'wrong_region',
    code: err.code,
    message: `${base}, and no other region knows it either${inconclusive ? ` (${inconclusive} region${inconclusive === 1 ? '' : 's'} could not be checked)` : ''}`,
    hints: ['check the client id (Admin > Integrations > OAuth in Genesys Cloud), and that the client was not deleted'],
    foundIn: [],
  };
}

/**
 * Verifies credentials for an org. Returns a success with what to store, or a failure saying why
 * Genesys refused them; throws for transient failures and anything unexpected.
 */
export async function verifyCredentials(input: VerifyInput): Promise<VerifyResult> {
  const { orgId, region, grantType, credentials, oauth, clock } = input;
  const deadlineMs = clock.now() + VERIFY_TIMEOUT_MS;
  const spentNote = grantType === 'refresh_token' ? ['the refresh token given was spent by this check: obtain a new one before retrying'] : [];
  let grant;
  try {
    input.onProgress?.(`requesting a token from ${hostFor(region, 'login')} (${grantType})`);
    grant = (await oauth.requestToken({ orgId, region, grantType, credentials, deadlineMs })).value;
  } catch (err) {
    if (!(err instanceof UpstreamError) || err.failureClass !== 'permanent') throw err;
    switch (err.code) {
      case 'invalid_client':
        if (invalidClientKind(err) === 'not_found') return wrongRegion(input, err);
        return {
          ok: false,
          reason: 'wrong_secret',
          code: err.code,
          message: `wrong client secret: client ${credentials.clientId} exists in ${regionLabel(region)}, but Genesys rejected its secret (invalid_client: authentication failed)`,
          hints: ['copy the secret again from the OAuth client in Genesys Cloud; it changes when someone regenerates it'],
        };
      case 'unauthorized_client':
      case 'unsupported_grant_type':
        return {
          ok: false,
          reason: 'grant_not_allowed',
          code: err.code,
          message: `client ${credentials.clientId} may not use the ${grantType} grant (${err.code})`,
          hints: [grantType === 'client_credentials' ? 'for an authorization-code client pass --grant refresh_token' : 'for a client-credentials client pass --grant client_credentials'],
        };
      case 'invalid_grant':
        return {
          ok: false,
          reason: 'invalid_refresh_token',
          code: err.code,
          message: `Genesys rejected the refresh token for client ${credentials.clientId} (invalid_grant): it is wrong, expired or already used`,
          hints: [`run '${BIN} orgs authorize' to get a fresh refresh token`],
        };
      default:
        return { ok: false, reason: 'rejected', code: err.code, message: `Genesys refused the credentials: ${err.message}`, hints: [] };
    }
  }
  // The refresh token given is spent now; only the rotated one works from here on.
  const toStore: ClientCredentials = {
    clientId: credentials.clientId,
    clientSecret: credentials.clientSecret,
    ...(grantType === 'refresh_token' ? { refreshToken: grant.refreshToken ?? credentials.refreshToken! } : {}),
  };
  return verifyGrant({ ...input, grant, credentials: toStore, deadlineMs, liveRefreshToken: grant.refreshToken !== undefined, spentNote });
}

export interface GrantCheck {
  orgId: string;
  region: GenesysRegion;
  /** A token Genesys granted to `credentials.clientId`. */
  grant: TokenGrant;
  /** What is stored when the check passes. */
  credentials: ClientCredentials;
  oauth: Pick<GenesysOAuthClient, 'verifyToken'>;
  deadlineMs: number;
  policy?: PolicyOptions;
  /** The grant carries a refresh token that exists nowhere else: it dies with this process unless stored. */
  liveRefreshToken: boolean;
  /** Hints added to refusals, for what the check has cost (a spent refresh token, a used code). */
  spentNote: string[];
  onProgress?: (message: string) => void;
}

/**
 * The second half of every verification: GET tokens/me must name the org, and the token's lifetime
 * must be one the target can keep fresh. Shared by `orgs add` (after its token request) and
 * `orgs authorize` (after its code exchange). Refusals come back as a failure; transient errors throw.
 */
export async function verifyGrant(input: GrantCheck): Promise<VerifyResult> {
  const { orgId, region, grant, credentials, oauth, deadlineMs, spentNote } = input;
  try {
    input.onProgress?.(`checking the token with ${hostFor(region, 'api')}/api/v2/tokens/me`);
    const info = (await oauth.verifyToken({ orgId, region, accessToken: grant.accessToken, deadlineMs })).value;
    // The right org, but tokens the broker cannot keep fresh: refused like bad credentials, before anything is stored.
    if (input.policy && !checkTokenLifetime(grant.expiresInSeconds * 1000, input.policy).supported) {
      return {
        ok: false,
        reason: 'lifetime_too_short',
        code: 'token_lifetime_too_short',
        message: `client ${credentials.clientId} issues tokens the broker cannot keep fresh: ${describeShortLifetime(grant.expiresInSeconds * 1000, input.policy)}`,
        hints: [`raise the client's Token Duration in Genesys Cloud (Admin > Integrations > OAuth) to at least the minimum, then re-run`, ...spentNote],
      };
    }
    return { ok: true, info, credentials, grant, expiresInSeconds: grant.expiresInSeconds, refreshTokenRotated: input.liveRefreshToken };
  } catch (err) {
    if (err instanceof UpstreamError && err.code === 'org_mismatch') {
      const actualOrgId = err.actualOrgId;
      return {
        ok: false,
        reason: 'org_mismatch',
        code: err.code,
        message: `credentials of another org: client ${credentials.clientId} belongs to organization ${actualOrgId ?? '(unnamed)'}, not ${orgId}`,
        hints: [...(actualOrgId ? [`if you meant that org, re-run with --org-id ${actualOrgId}`] : []), ...spentNote],
        ...(actualOrgId ? { actualOrgId } : {}),
      };
    }
    if (err instanceof UpstreamError && err.failureClass === 'permanent') {
      return { ok: false, reason: 'rejected', code: err.code, message: `Genesys issued a token but refused it at tokens/me: ${err.message}`, hints: spentNote };
    }
    if (input.liveRefreshToken && err instanceof BrokerError) {
      // Unverified credentials are never stored, so the live refresh token dies with this process.
      throw new CliFailure(EXIT.failed, `could not verify the token for org ${orgId}: ${err.message}`, spentNote);
    }
    throw err;
  }
}
