/**
 * Child process for test/e2e/rotation-crash.test.ts and test/e2e/rotation-kill-loop.test.ts: a broker
 * over local mode's file store, run with `node --import tsx` so that SIGKILL hits the engine itself.
 *
 *   once <dataDir> <simulatorBaseUrl>   one forced sweep of every org, then exit 0
 *   loop <dataDir> <simulatorBaseUrl>   forced sweeps back to back until killed
 *
 * It starts as local mode does: it opens `createFilePorts(dataDir)` and releases the leases of local
 * brokers that no longer run (a killed child leaves its leases behind), with a lease owner named after
 * its pid. Genesys is the parent's simulator, reached through the same host-to-path mapping as
 * `GenesysSimulator.resolver`.
 *
 * Crash points (test-only: nothing in lambdas/ or lib/ reads this variable): with
 * `ROTATION_CRASH_STEP=<RotationStep>`, the engine's `checkpoint` hook kills this process with SIGKILL
 * the first time any org reaches that step.
 *
 * Output is JSON lines on stdout, each written synchronously: `{"event":"ready"}` once the store is open
 * and dead leases are released, one `{"event":"outcome",...}` per org per sweep (kind, reason, error
 * code) and `{"event":"sweep","n":...}` after each sweep. Never a token: outcomes carry no values.
 */
import { writeSync } from 'node:fs';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { createBrokerEngine } from '../../lambdas/core/broker-engine.js';
import type { RotationStep } from '../../lambdas/core/engine.js';
import { listAllOrgs } from '../../lambdas/core/registry-pages.js';
import { localLeaseOwner, releaseLeasesOfDeadBrokers } from '../../lib/local/stale-leases.js';

const [mode, dataDir, simulatorBaseUrl] = process.argv.slice(2);
if ((mode !== 'once' && mode !== 'loop') || !dataDir || !simulatorBaseUrl) throw new Error('usage: once|loop <dataDir> <simulatorBaseUrl>');

const print = (line: Record<string, unknown>) => writeSync(1, `${JSON.stringify(line)}\n`);
const crashAt = process.env.ROTATION_CRASH_STEP as RotationStep | undefined;

const ports = createFilePorts(dataDir);
const owner = localLeaseOwner('sweep');
const released = await releaseLeasesOfDeadBrokers(ports.store, { ownOwners: [owner] });

const engine = createBrokerEngine(
  {
    ...ports,
    genesysBaseUrl: (host) => `${simulatorBaseUrl}/${host}`,
    checkpoint: (step, orgId) => {
      if (step !== crashAt) return;
      print({ event: 'crashing', step, orgId });
      process.kill(process.pid, 'SIGKILL');
      // The process dies with the signal; this only makes sure the attempt cannot take another step first.
      return new Promise<never>(() => undefined);
    },
  },
  { runtime: 'local', owner },
);

print({ event: 'ready', pid: process.pid, releasedLeases: released.length });
for (let n = 1; ; n++) {
  // Named orgs, so the summary has a line for every org (a full sweep lists problems only).
  const orgIds = (await listAllOrgs(ports.registry)).map((org) => org.orgId);
  const summary = await engine.sweep({ deadlineMs: Date.now() + 60_000, force: true, trigger: 'local', orgIds });
  for (const result of summary.results) print({ event: 'outcome', sweep: n, orgId: result.orgId, kind: result.outcome, reason: result.reason, errorCode: result.errorCode ?? null });
  print({ event: 'sweep', n, refreshed: summary.refreshed, failed: summary.failed, critical: summary.critical });
  if (mode === 'once') break;
}
