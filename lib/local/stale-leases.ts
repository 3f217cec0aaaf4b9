/**
 * Crash recovery for leases. A broker killed mid-refresh leaves its org leases behind, and they would
 * block those orgs until they expire. Local brokers name themselves `local:<host>:<pid>:<role>:<id>`,
 * so at start-up a lease whose owner is a local broker on this host whose process no longer exists can
 * be released at once: nobody can be using it.
 *
 * Reads the lock files in the layout file-store.ts documents (`<dataDir>/leases/<orgId>.lock`) and
 * releases through the Lease port, which re-checks owner and fencing token under the org's mutex.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FileStore } from '../../lambdas/adapters/file/file-store.js';
import type { LeaseHandle } from '../../lambdas/core/ports.js';
import { isOrgId } from '../../lambdas/core/token-record.js';

const OWNER = /^local:([^:]+):(\d+):[a-z]+:[0-9a-f-]+$/;

/** A lease owner id for this process: `local:<host>:<pid>:<role>:<random>`. */
export function localLeaseOwner(role: 'sweep' | 'getter'): string {
  return `local:${hostname().replace(/:/g, '_')}:${process.pid}:${role}:${randomUUID()}`;
}

/** True when a process with this id exists (EPERM means it exists but belongs to someone else). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * Releases leases held by local brokers on this host that are no longer running; returns their org ids.
 * A lease with this process's pid but an owner id not in `ownOwners` belonged to an earlier process that
 * had the same pid (containers restart as the same pid), so it is released too.
 */
export async function releaseLeasesOfDeadBrokers(
  store: FileStore,
  options: { ownOwners: readonly string[]; exists?: (pid: number) => boolean },
): Promise<string[]> {
  const exists = options.exists ?? processExists;
  const dir = join(store.dataDir, 'leases');
  const host = hostname().replace(/:/g, '_');
  const released: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return released;
  }
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const orgId = name.slice(0, -'.lock'.length);
    if (!isOrgId(orgId)) continue;
    let handle: LeaseHandle;
    try {
      handle = JSON.parse(await readFile(join(dir, name), 'utf8')) as LeaseHandle;
    } catch {
      continue; // torn or vanished: the lease's own expiry deals with it
    }
    const match = typeof handle?.owner === 'string' ? OWNER.exec(handle.owner) : null;
    if (!match || match[1] !== host || options.ownOwners.includes(handle.owner)) continue;
    const pid = Number(match[2]);
    if (pid !== process.pid && exists(pid)) continue;
    try {
      await store.lease.release({ orgId, owner: handle.owner, fencingToken: handle.fencingToken, expiresAtMs: handle.expiresAtMs });
      released.push(orgId);
    } catch {
      // Left to expire by itself.
    }
  }
  return released;
}
