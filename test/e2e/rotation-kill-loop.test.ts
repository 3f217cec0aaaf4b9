/**
 * Random kill -9 of a broker rotating refresh tokens, over and over (the file store's own random kill
 * loop, test/adapters/file-store-crash.test.ts, for the refresh engine). A child broker
 * (test/support/rotation-crash-child.ts) runs forced sweeps back to back over a few refresh_token orgs,
 * so every org is always somewhere in a rotation; the parent kills it with SIGKILL at a random moment,
 * checks the store against the simulator's ledger, and starts it again.
 *
 * After every kill, each org is in one of two states, and never a third:
 * - the store holds the refresh token Genesys expects next (in the credentials, or write-ahead in the
 *   journal), and no spend of it is in doubt;
 * - the journal holds a spend of the token the credentials hold, of an attempt that died before it
 *   recorded Genesys' answer: the next attempt stops the org (`refresh_outcome_unknown`). Genesys may
 *   have spent the token (the kill landed between the spend and the journal write) or not (the request
 *   had not reached it): the broker cannot tell, and in neither case presents it again.
 * What must never happen: a silent loss (the store holding a token Genesys no longer accepts while no
 * spend is in doubt) and a spent token presented (the simulator's `refreshTokenReuse`).
 *
 * An org the broker has stopped is re-authorized between two runs, as an operator would (a new client
 * and refresh token, the credentials version bumped), so that later kills keep landing in rotations.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { NEVER } from '../../lambdas/core/policy.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { heldTokens, holds, killRunningChildren, outcomesOf, runBroker, seedRefreshTokenOrg, startBroker, waitUntil } from '../support/rotation-crash-harness.js';

const ORGS = 4;
const KILLS = 20;
const MAX_KILL_DELAY_MS = 300;

let sim: GenesysSimulator;
let dir: string;

beforeAll(async () => {
  sim = await GenesysSimulator.start();
  dir = mkdtempSync(join(tmpdir(), 'rotation-kill-loop-'));
});

afterEach(() => {
  killRunningChildren();
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What one look at an org after a kill found. */
type Observed = 'holds_current' | 'in_doubt_spent' | 'in_doubt_unspent';

describe('refresh_token orgs under random kill -9 (local mode)', () => {
  it('never loses a rotated refresh token silently and never presents a spent one', async () => {
    const clientOf = new Map<string, string>();
    for (let i = 0; i < ORGS; i++) {
      const { orgId, clientId } = await seedRefreshTokenOrg(sim, dir);
      clientOf.set(orgId, clientId);
    }
    const clients = [...clientOf.values()];
    const tally: Record<Observed, number> = { holds_current: 0, in_doubt_spent: 0, in_doubt_unspent: 0 };
    let stops = 0;

    for (let kill = 0; kill < KILLS; kill++) {
      const child = startBroker('loop', dir, sim);
      await waitUntil('the child to be ready', () => child.events.some((e) => e.event === 'ready'), child);
      await new Promise((r) => setTimeout(r, Math.random() * MAX_KILL_DELAY_MS));
      child.proc.kill('SIGKILL');
      const ended = await child.exited;
      expect(ended.signal, child.stderr).toBe('SIGKILL');

      for (const [orgId, clientId] of clientOf) {
        const held = await heldTokens(dir, orgId);
        const current = sim.currentRefreshToken(clientId);
        let observed: Observed;
        if (held.spendInDoubt) observed = current === held.credentials ? 'in_doubt_unspent' : 'in_doubt_spent';
        else if (holds(held, current)) observed = 'holds_current';
        else throw new Error(`kill ${kill}: org ${orgId} lost its refresh token silently: the store does not hold the one Genesys expects, and no spend is in doubt`);
        tally[observed]++;
        if (observed === 'in_doubt_spent') expect(sim.usedRefreshTokens(clientId)).toContain(held.credentials);

        // A stop the broker recorded (of these credentials, not ones replaced since) is for good: it
        // stays in doubt until an operator acts. Act now.
        const { lastErrorCode, nextAttemptAtMs, credentialsVersionUsed } = held.org.state;
        if (lastErrorCode === 'refresh_outcome_unknown' && nextAttemptAtMs === NEVER && credentialsVersionUsed === held.org.credentialsVersion) {
          expect(held.spendInDoubt).toBe(true);
          stops++;
          const reauthorized = await seedRefreshTokenOrg(sim, dir, { orgId, credentialsVersion: held.org.credentialsVersion + 1 });
          clientOf.set(orgId, reauthorized.clientId);
          clients.push(reauthorized.clientId);
        }
      }
      for (const clientId of clients) expect(sim.counts(clientId).refreshTokenReuse, clientId).toBe(0);
    }

    // A last run, not killed: every org refreshes, or is stopped in doubt; nothing else.
    const final = await runBroker(dir, sim);
    expect(final.code, final.stderr).toBe(0);
    let refreshed = 0;
    let stoppedInDoubt = 0;
    for (const [orgId, clientId] of clientOf) {
      const [outcome] = outcomesOf(final, orgId);
      const held = await heldTokens(dir, orgId);
      if (outcome?.kind === 'refreshed') {
        refreshed++;
        expect(held).toMatchObject({ credentials: sim.currentRefreshToken(clientId), journal: undefined });
      } else {
        stoppedInDoubt++;
        expect(outcome).toMatchObject({ kind: 'failed', errorCode: 'refresh_outcome_unknown' });
        expect(held.spendInDoubt).toBe(true);
        expect(held.org.state).toMatchObject({ lastErrorCode: 'refresh_outcome_unknown', nextAttemptAtMs: NEVER });
      }
    }
    for (const clientId of clients) expect(sim.counts(clientId).refreshTokenReuse, clientId).toBe(0);
    // No attempt ever met a dead refresh token.
    const audit = createFilePorts(dir).audit;
    for (const orgId of clientOf.keys()) {
      expect((await audit.query(orgId, { failuresOnly: true, limit: 1000 })).filter((r) => r.errorCode === 'invalid_grant')).toEqual([]);
    }

    // Every rotation spent one refresh token at the simulator.
    const rotations = clients.reduce((sum, clientId) => sum + sim.usedRefreshTokens(clientId).length, 0);
    console.log(
      `[rotation kill loop] ${KILLS} kills over ${ORGS} orgs, ${rotations} rotations at the simulator; ` +
        `after a kill: ${tally.holds_current} held the current token, ${tally.in_doubt_spent} in doubt and spent, ` +
        `${tally.in_doubt_unspent} in doubt and not spent, 0 lost; ${stops} stops re-authorized; ` +
        `final run: ${refreshed} refreshed, ${stoppedInDoubt} stopped in doubt; reuse 0 over ${clients.length} clients`,
    );
    expect(tally.holds_current + tally.in_doubt_spent + tally.in_doubt_unspent).toBe(KILLS * ORGS);
  }, 60_000);
});
