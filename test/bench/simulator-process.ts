/**
 * The Genesys simulator in a process of its own, for benchmarks that measure the broker's memory: the
 * simulator keeps every token it issues, and in the same process that would count against the broker.
 * Usage: `<node with tsx> simulator-process.ts <orgCount>`; prints `{"baseUrl": ...}` on one line once
 * its orgs exist, and exits when its stdin closes.
 */
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { REGIONS } from '../../lambdas/core/regions.js';
import { benchOrgId } from './bench-orgs.js';

const count = Number(process.argv[2] ?? '0');
const sim = await GenesysSimulator.start();
for (let i = 0; i < count; i++) {
  const orgId = benchOrgId(i);
  sim.addOrg({ orgId, region: REGIONS[i % REGIONS.length]!.domain });
  sim.addClient({ clientId: `bench-${i}`, clientSecret: `bench-secret-${i}`, orgId });
}
process.stdout.write(`${JSON.stringify({ baseUrl: sim.baseUrl })}\n`);
process.stdin.resume();
process.stdin.on('end', () => void sim.close().then(() => process.exit(0)));
