/**
 * Upserts the orgs of the config file (or the demo) into the embedded store's registry and
 * credentials at start-up.
 *
 * `credentialsVersion` is bumped only when something the token depends on changed: the client id or
 * secret, a new seed refresh token, the region or the grant type. Changes are detected by comparing
 * keyed hashes kept in `<dataDir>/local-config-state.json` (HMAC-SHA256 with a random per-directory
 * salt): the state file never holds a secret, and nothing here logs one.
 *
 * A refresh token is single-use and rotates, so the seed from the environment is written to the store
 * only when it is new (its hash changed). Otherwise the rotated token in the store wins: overwriting it
 * with a spent seed would lose the org's authorization.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as z from 'zod';
import type { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { readTextIfExists, writeFileAtomic } from '../../lambdas/adapters/file/atomic-file.js';
import { ConflictError, StoreError, UnreadableRecordError } from '../../lambdas/core/errors.js';
import type { ClientCredentials, GrantType, OrgRecord } from '../../lambdas/core/ports.js';
import { ConfigError } from './config.js';

/** File in the data directory holding the hashes of the last synced credentials. */
export const SYNC_STATE_FILE = 'local-config-state.json';

/** An org as local mode wants it in the store. */
export interface DesiredOrg {
  orgId: string;
  /** Region domain. */
  region: string;
  grantType: GrantType;
  label?: string;
  enabled: boolean;
  /** `refreshToken` is the seed: used only when the store has none or the seed changed. */
  credentials: ClientCredentials;
  /** Where the org came from, for messages (`orgs[2]`). */
  path?: string;
}

/** `unreadable`: the org's registry file cannot be read; it was left exactly as it is. */
export type SyncAction = 'created' | 'credentials_changed' | 'updated' | 'unchanged' | 'disabled_unmanaged' | 'unreadable';

export interface SyncResult {
  orgId: string;
  action: SyncAction;
  /** Absent when unreadable. */
  credentialsVersion?: number;
}

const orgStateSchema = z.object({
  clientHash: z.string(),
  refreshSeedHash: z.string().optional(),
  region: z.string(),
  grantType: z.enum(['client_credentials', 'refresh_token']),
  /** False once the org left the config (it was disabled, its hashes are kept for a return). */
  inConfig: z.boolean(),
});
const stateSchema = z.object({
  schemaVersion: z.literal(1),
  salt: z.string().min(16),
  orgs: z.record(z.string(), orgStateSchema),
});
type SyncState = z.infer<typeof stateSchema>;
type OrgSyncState = z.infer<typeof orgStateSchema>;

async function readState(path: string): Promise<SyncState> {
  const text = await readTextIfExists(path);
  if (text !== undefined) {
    try {
      const parsed = stateSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through: an unreadable state file only means every org is compared afresh
    }
  }
  return { schemaVersion: 1, salt: randomBytes(32).toString('base64'), orgs: {} };
}

function keyedHash(salt: string, parts: string[]): string {
  return createHmac('sha256', salt).update(JSON.stringify(parts)).digest('base64url');
}

const CONFLICT_RETRIES = 5;

/** Re-reads and re-applies `change` when another writer (a sweep in another process) bumped the record. */
async function putWithRetry(store: FileStore, orgId: string, change: (current: OrgRecord) => Omit<OrgRecord, 'version'>): Promise<OrgRecord> {
  for (let i = 0; ; i++) {
    const current = await store.registry.get(orgId);
    if (!current) throw new StoreError('registry_write_failed', `org ${orgId} disappeared while syncing the config`, { orgId });
    try {
      return await store.registry.put(change(current), { expectedVersion: current.version });
    } catch (err) {
      if (!(err instanceof ConflictError) || i >= CONFLICT_RETRIES) throw err;
    }
  }
}

function withoutVersion(org: OrgRecord): Omit<OrgRecord, 'version'> {
  const { version: _version, ...rest } = org;
  return rest;
}

/**
 * Brings the store in line with `desired`. Orgs this sync created earlier that are no longer desired
 * are disabled (not deleted: their rotated refresh tokens and audit trail stay). Orgs the store holds
 * that no sync ever managed (added with the CLI) are left alone.
 *
 * Writes go credentials, then registry, then the state file, so a crash part-way leaves at worst an
 * extra credentialsVersion bump (one extra refresh) at the next start.
 */
export async function syncOrgs(store: FileStore, desired: readonly DesiredOrg[], options: { source?: string } = {}): Promise<SyncResult[]> {
  const statePath = join(store.dataDir, SYNC_STATE_FILE);
  const state = await readState(statePath);
  const results: SyncResult[] = [];
  const wanted = new Set<string>();

  for (const want of desired) {
    const orgId = want.orgId.toLowerCase();
    wanted.add(orgId);
    const existing = await readUnlessUnreadable(store, orgId);
    if (existing === UNREADABLE) {
      // Not overwritten from the config: the file may be the operator's to inspect or restore. The
      // broker starts without this org, shows it as corrupt, and syncs it at the next start.
      results.push({ orgId, action: 'unreadable' });
      continue;
    }
    const prev: OrgSyncState | undefined = state.orgs[orgId];
    const clientHash = keyedHash(state.salt, [orgId, 'client', want.credentials.clientId, want.credentials.clientSecret]);
    const seed = want.grantType === 'refresh_token' ? want.credentials.refreshToken : undefined;
    const seedHash = seed === undefined ? undefined : keyedHash(state.salt, [orgId, 'refresh_token', seed]);
    let stored: ClientCredentials | undefined;
    if (existing) stored = await store.credentials.read(existing).catch(() => undefined);

    // Without a previous hash the store's rotated refresh token is newer than any seed we could know
    // about: keep it. A seed whose hash changed is a deliberate re-authorization: use it.
    const seedIsNew = seedHash !== undefined && prev !== undefined && prev.refreshSeedHash !== seedHash;
    let refreshToken: string | undefined;
    if (want.grantType === 'refresh_token') {
      refreshToken = seedIsNew ? seed : stored?.refreshToken ?? seed;
      if (refreshToken === undefined) {
        const where = want.path ? `${want.path}.refreshTokenEnv` : `org ${orgId}`;
        throw new ConfigError(options.source ?? 'config', [`${where}: no refresh token is stored for org ${orgId} and its environment variable is not set`]);
      }
    }
    const credentials: ClientCredentials = { clientId: want.credentials.clientId, clientSecret: want.credentials.clientSecret, ...(refreshToken ? { refreshToken } : {}) };
    const clientChanged = prev === undefined ? !sameClient(stored, credentials) : prev.clientHash !== clientHash || stored === undefined;
    const credentialsChanged = clientChanged || (want.grantType === 'refresh_token' && stored?.refreshToken !== refreshToken);
    // A token from another region or grant is not what the operator now asks for: refresh it too.
    const routeChanged = existing !== undefined && (existing.region !== want.region || existing.grantType !== want.grantType);

    if (credentialsChanged || !existing) await store.credentials.save({ orgId }, credentials);

    let record: OrgRecord;
    let action: SyncAction;
    if (!existing) {
      record = await store.registry.put({
        orgId,
        region: want.region,
        grantType: want.grantType,
        enabled: want.enabled,
        ...(want.label !== undefined ? { label: want.label } : {}),
        credentialsVersion: 1,
        state: { consecutiveFailures: 0 },
      }, { expectedVersion: null });
      action = 'created';
    } else {
      const bump = credentialsChanged || routeChanged;
      const fieldsChanged = bump || existing.enabled !== want.enabled || existing.label !== want.label;
      if (fieldsChanged) {
        record = await putWithRetry(store, orgId, (current) => {
          const { label: _label, ...base } = withoutVersion(current);
          return {
            ...base,
            region: want.region,
            grantType: want.grantType,
            enabled: want.enabled,
            ...(want.label !== undefined ? { label: want.label } : {}),
            credentialsVersion: bump ? current.credentialsVersion + 1 : current.credentialsVersion,
          };
        });
        action = bump ? 'credentials_changed' : 'updated';
      } else {
        record = existing;
        action = 'unchanged';
      }
    }
    state.orgs[orgId] = {
      clientHash,
      ...(seedHash !== undefined ? { refreshSeedHash: seedHash } : prev?.refreshSeedHash !== undefined && want.grantType === 'refresh_token' ? { refreshSeedHash: prev.refreshSeedHash } : {}),
      region: want.region,
      grantType: want.grantType,
      inConfig: true,
    };
    results.push({ orgId, action, credentialsVersion: record.credentialsVersion });
  }

  for (const [orgId, entry] of Object.entries(state.orgs)) {
    if (wanted.has(orgId) || !entry.inConfig) continue;
    const existing = await readUnlessUnreadable(store, orgId);
    // Still marked as in the config, so a later start disables it once its file is readable again.
    if (existing === UNREADABLE) {
      results.push({ orgId, action: 'unreadable' });
      continue;
    }
    entry.inConfig = false;
    if (!existing) continue;
    const record = existing.enabled ? await putWithRetry(store, orgId, (current) => ({ ...withoutVersion(current), enabled: false })) : existing;
    results.push({ orgId, action: 'disabled_unmanaged', credentialsVersion: record.credentialsVersion });
  }

  await writeFileAtomic(statePath, `${JSON.stringify(state)}\n`);
  return results;
}

const UNREADABLE = Symbol('unreadable');

/** The org's record, undefined when there is none, or UNREADABLE when its registry file cannot be read. */
async function readUnlessUnreadable(store: FileStore, orgId: string): Promise<OrgRecord | undefined | typeof UNREADABLE> {
  try {
    return await store.registry.get(orgId);
  } catch (err) {
    if (err instanceof UnreadableRecordError) return UNREADABLE;
    throw err;
  }
}

/** Compares client id and secret without short-circuiting on the secret's content. */
function sameClient(stored: ClientCredentials | undefined, wanted: ClientCredentials): boolean {
  if (!stored) return false;
  const a = keyedHash('compare', [stored.clientId, stored.clientSecret]);
  const b = keyedHash('compare', [wanted.clientId, wanted.clientSecret]);
  return a === b;
}
