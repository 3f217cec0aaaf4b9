/**
 * Child process for test/adapters/file-store-crash.test.ts. Run with `node --import tsx`.
 *
 *   writer <dataDir> <orgId> <firstSeq>   writes tokens, rotated refresh tokens, registry state, audit
 *                                         records and leases in a tight loop until killed
 *   lease  <dataDir> <orgId> <owner>      tries to acquire the org's lease once (60 s TTL)
 *
 * It reports progress on stdout as `<kind> <number>` lines, each written synchronously (fs.writeSync)
 * only AFTER the store call resolved, so a line the parent received describes durable state. Only
 * sequence numbers and fencing tokens are printed, never a token value.
 */
import { writeSync } from 'node:fs';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';

const [mode, dataDir, orgId, arg] = process.argv.slice(2);
if (!dataDir || !orgId || !arg) throw new Error('usage: writer|lease <dataDir> <orgId> <firstSeq|owner>');

const report = (kind: string, value: number) => writeSync(1, `${kind} ${value}\n`);
const store = new FileStore({ dataDir });

/** A value that carries its sequence number, padded so writes are not trivially small. */
const secretLike = (kind: string, seq: number) => `${kind}-${seq}-${'x'.repeat(512)}`;

async function writer(firstSeq: number): Promise<never> {
  const org = await store.registry.get(orgId as string);
  if (!org) throw new Error('org is not registered');
  for (let seq = firstSeq; ; seq++) {
    const now = Date.now();
    await store.vault.write(
      {
        schemaVersion: 1,
        orgId: org.orgId,
        accessToken: secretLike('at', seq),
        tokenType: 'bearer',
        issuedAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 86_400_000).toISOString(),
        refreshAt: new Date(now + 64_800_000).toISOString(),
        region: org.region,
        apiBaseUrl: 'https://api.mypurecloud.ie',
        oauthClientId: 'client-1',
        scopes: [],
      },
      { attemptId: `attempt-${seq}` },
    );
    report('token', seq);

    await store.credentials.rotateRefreshToken(org, await store.credentials.readCurrent(org), secretLike('rt', seq), `rotate-${Date.now()}`);
    report('rt', seq);

    const current = await store.registry.get(org.orgId);
    await store.registry.recordState(org.orgId, current?.version ?? 0, { consecutiveFailures: 0, lastAttemptAtMs: seq });
    report('state', seq);

    await store.audit.append({
      orgId: org.orgId,
      attemptId: `attempt-${seq}`,
      at: new Date(now).toISOString(),
      outcome: seq % 3 === 0 ? 'failure' : 'success',
      trigger: 'local',
      reason: 'crash test',
      durationMs: 1,
      attempts: 1,
      brokerVersion: 'test',
    });
    report('audit', seq);

    const lease = await store.lease.acquire(org.orgId, 'crash-child', 60_000, now);
    if (lease) {
      report('lease', lease.fencingToken);
      // Released on odd turns only, so a kill also lands while the lease is held.
      if (seq % 2 === 1) await store.lease.release(lease);
    }
  }
}

async function tryLease(owner: string): Promise<void> {
  const lease = await store.lease.acquire(orgId as string, owner, 60_000, Date.now());
  report(lease ? 'acquired' : 'held', lease?.fencingToken ?? 0);
}

if (mode === 'writer') await writer(Number(arg));
else if (mode === 'lease') await tryLease(arg);
else throw new Error(`unknown mode ${mode}`);
