/**
 * Onboarding writes, shared by `orgs add` and `orgs authorize`: once Genesys has vouched for an org's
 * credentials (verify.ts), they are stored, the org is registered and, for `orgs authorize`, the
 * verified grant's access token becomes the org's first token. One place decides the order and the
 * lease: credentials first (for the refresh_token grant they hold the only live refresh token), then
 * the registry item, then the token.
 */
import { buildTokenRecord, settleAttempt } from '../../lambdas/core/attempt.js';
import { BrokerError, ConflictError, toBrokerError } from '../../lambdas/core/errors.js';
import { LEASE_TAKEOVER_GRACE_MS } from '../../lambdas/core/engine.js';
import type { TokenGrant, TokenInfo } from '../../lambdas/core/oauth.js';
import type { ClientCredentials, GrantType, OrgRecord, TokenRecord } from '../../lambdas/core/ports.js';
import type { GenesysRegion } from '../../lambdas/core/regions.js';
import { BROKER_VERSION } from '../../lambdas/core/version.js';
import type { Backend } from './backend.js';
import { CliFailure, EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

/** How long an operator write waits for a refresh of the same org to finish. */
export const ORG_LEASE_WAIT_MS = 60_000;
/** Lease of an operator write: longer than the writes it covers. */
const ORG_LEASE_TTL_MS = 60_000;

/**
 * Runs an operator write of an existing org under the org's lease, the one every refresh takes: a
 * refresh that rotates the org's refresh token then never interleaves with the write (its
 * credentials check would otherwise race a new `orgs add`). Waits for a running refresh to finish;
 * an org that is not registered yet has no lease and no refresh to wait for.
 */
export async function withOrgLease<T>(backend: Pick<Backend, 'lease' | 'clock'>, orgId: string, onWait: () => void, write: () => Promise<T>): Promise<T> {
  const owner = `cli-${globalThis.crypto.randomUUID()}`;
  const giveUpAt = backend.clock.now() + ORG_LEASE_WAIT_MS;
  let handle;
  for (let waited = false; ; waited = true) {
    try {
      handle = await backend.lease.acquire(orgId, owner, ORG_LEASE_TTL_MS, backend.clock.now(), LEASE_TAKEOVER_GRACE_MS);
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'org_not_found') return write();
      throw err;
    }
    if (handle) break;
    if (backend.clock.now() >= giveUpAt) {
      throw new CliFailure(EXIT.failed, `org ${orgId} is being refreshed and its lease was not released within ${ORG_LEASE_WAIT_MS / 1000} s; nothing was changed`, ['try again in a minute']);
    }
    if (!waited) onWait();
    await backend.clock.sleep(500);
  }
  try {
    return await write();
  } finally {
    await backend.lease.release(handle).catch(() => undefined);
  }
}

/** Writes the org's registry item after its credentials: a new one, or the next credentials version. */
async function registerOrg(
  backend: Backend,
  io: CliIo,
  input: { orgId: string; region: GenesysRegion; grantType: GrantType; label: string | undefined; existing: OrgRecord | undefined; ref: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'> },
): Promise<OrgRecord> {
  const { orgId, region, grantType, label, existing, ref } = input;
  let record: OrgRecord | undefined;
  for (let attempt = 0; !record; attempt++) {
    const current = attempt === 0 ? existing : await backend.registry.get(orgId);
    const keptLabel = label ?? current?.label;
    try {
      record = await backend.registry.put(
        {
          orgId,
          region: region.domain,
          grantType,
          enabled: current?.enabled ?? true,
          credentialsVersion: current ? current.credentialsVersion + 1 : 1,
          state: current?.state ?? { consecutiveFailures: 0 },
          ...(keptLabel ? { label: keptLabel } : {}),
          ...(current?.credentialsSecretId ? { credentialsSecretId: current.credentialsSecretId } : {}),
        },
        { expectedVersion: current ? current.version : null },
      );
    } catch (err) {
      if (err instanceof ConflictError && attempt < 4) continue;
      io.stderr.write(
        grantType === 'refresh_token'
          ? `note: the credentials (with the rotated refresh token) are saved in ${backend.credentialsLocation(ref)}, but the registry write failed; re-running needs a new refresh token ('orgs authorize')\n`
          : `note: the verified credentials are saved, but the registry write failed; re-running the same 'orgs add' completes it\n`,
      );
      throw err;
    }
  }
  return record;
}


/** What to store for an org Genesys has vouched for. */
export interface VerifiedOrg {
  orgId: string;
  region: GenesysRegion;
  grantType: GrantType;
  label: string | undefined;
  /** The registry item before the command, if the org was registered. */
  existing: OrgRecord | undefined;
  /** The verified credentials; for the refresh_token grant, with the live refresh token. */
  credentials: ClientCredentials;
}

/**
 * Stores verified credentials and registers (or updates) the org, under the org's lease: the
 * credentials first, so the live refresh token is durable before anything refers to it.
 */
export async function saveAndRegister(backend: Backend, io: CliIo, progress: (message: string) => void, org: VerifiedOrg): Promise<OrgRecord> {
  const { orgId, existing } = org;
  if (!existing) await backend.prepareNewOrg(orgId);
  const ref = { orgId, ...(existing?.credentialsSecretId ? { credentialsSecretId: existing.credentialsSecretId } : {}) };
  return withOrgLease(backend, orgId, () => progress(`  waiting for a refresh of org ${orgId} to finish...`), async () => {
    await backend.credentials.save(ref, org.credentials);
    io.stdout.write(`Saved credentials to ${backend.credentialsLocation(ref)}.\n`);
    return registerOrg(backend, io, { orgId, region: org.region, grantType: org.grantType, label: org.label, existing, ref });
  });
}

/** What {@link storeFirstToken} did. */
export type FirstToken =
  | { stored: true; record: TokenRecord; org: OrgRecord }
  /** The refresher wrote a token (or an operator new credentials) in between: theirs is newer and stays. */
  | { stored: false };

/**
 * Makes a verified grant's access token the org's current token, as a refresh would: the token
 * record, the org's state and an audit record (trigger `cli`). Used by `orgs authorize`, whose
 * exchange already produced a token: refreshing instead would spend the new refresh token at once.
 */
export async function storeFirstToken(
  backend: Backend,
  progress: (message: string) => void,
  input: { org: OrgRecord; region: GenesysRegion; grant: TokenGrant; info: TokenInfo; clientId: string; issuedAtMs: number; httpAttempts: number },
): Promise<FirstToken> {
  const { org, region, grant, info } = input;
  return withOrgLease(backend, org.orgId, () => progress(`  waiting for a refresh of org ${org.orgId} to finish...`), async () => {
    const attemptId = globalThis.crypto.randomUUID();
    for (let attempt = 0; ; attempt++) {
      const fresh = await backend.registry.get(org.orgId);
      if (!fresh || fresh.credentialsVersion !== org.credentialsVersion || fresh.state.issuedAtMs !== org.state.issuedAtMs) return { stored: false };
      const record = buildTokenRecord({
        orgId: org.orgId,
        region,
        accessToken: grant.accessToken,
        expiresInSeconds: grant.expiresInSeconds,
        issuedAtMs: input.issuedAtMs,
        info,
        clientId: input.clientId,
        policy: backend.policy,
      });
      try {
        await backend.vault.write(record, { attemptId, firstWrite: fresh.state.issuedAtMs === undefined });
      } catch (err) {
        throw toBrokerError(err, 'vault_write_failed', org.orgId);
      }
      const settled = settleAttempt(
        {
          org: fresh,
          reason: fresh.state.issuedAtMs === undefined ? 'never_issued' : 'credentials_changed',
          attemptId,
          startedMs: input.issuedAtMs,
          finishedMs: backend.clock.now(),
          trigger: 'cli',
          brokerVersion: BROKER_VERSION,
          httpAttempts: input.httpAttempts,
          written: { record, info, expiresInSeconds: grant.expiresInSeconds },
        },
        backend.policy,
      );
      let after: OrgRecord;
      try {
        after = await backend.registry.recordState(org.orgId, fresh.version, settled.state);
      } catch (err) {
        // Only an edit of the org's configuration races us under its lease: read it again.
        if (err instanceof ConflictError && attempt < 4) continue;
        throw err;
      }
      // The token and state stand without their audit record.
      await backend.audit.append(settled.audit).catch(() => progress(`  warning: the audit record of org ${org.orgId}'s first token could not be written`));
      return { stored: true, record, org: after };
    }
  });
}
