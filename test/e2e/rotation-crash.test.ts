/**
 * Crash points of a refresh_token rotation in local mode, with real processes. A child broker
 * (test/support/rotation-crash-child.ts: `createFilePorts` + `createBrokerEngine`, one forced sweep)
 * kills itself with SIGKILL at one exact step of an attempt through the engine's test-only
 * `checkpoint` hook; a second child, started like a restarted `npm start`, must carry on without
 * losing the rotated refresh token and without ever presenting a spent one. The parent's simulator
 * plays Genesys and keeps the ledger: which refresh token it expects next, which it has spent, and
 * how often a spent one was presented (`refreshTokenReuse`).
 *
 * The steps, in order: `spend_noted` (the journal notes the spend), then the request; `write_ahead`
 * (the rotated token is in the journal); `credentials_written`; `token_written`; `state_written`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import type { RotationStep } from '../../lambdas/core/engine.js';
import type { JournalEntry } from '../../lambdas/core/ports.js';
import { fingerprint } from '../../lambdas/core/rotation.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import {
  heldTokens,
  holds,
  killRunningChildren,
  outcomesOf,
  runBroker,
  seedRefreshTokenOrg,
  startBroker,
  waitUntil,
} from '../support/rotation-crash-harness.js';

let sim: GenesysSimulator;
const dirs: string[] = [];

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rotation-crash-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  sim = await GenesysSimulator.start();
});

afterEach(() => {
  killRunningChildren();
});

afterAll(async () => {
  await sim.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The org has stopped for good: refresh_outcome_unknown, no retry on any timer, a critical audit record. */
async function expectStoppedInDoubt(dir: string, orgId: string): Promise<void> {
  const { registry, audit } = createFilePorts(dir);
  expect((await registry.get(orgId))?.state).toMatchObject({ lastOutcome: 'failure', lastErrorCode: 'refresh_outcome_unknown', nextAttemptAtMs: Number.MAX_SAFE_INTEGER });
  const [last] = await audit.query(orgId, { limit: 1 });
  expect(last).toMatchObject({ outcome: 'failure', errorCode: 'refresh_outcome_unknown', severity: 'critical' });
}

describe('a refresh_token rotation killed at each durable step (local mode)', () => {
  // From the moment the journal holds the rotated token on, a crash loses nothing: the restart
  // presents the token Genesys expects, exactly once.
  it.each<RotationStep>(['write_ahead', 'credentials_written', 'token_written', 'state_written'])('loses no refresh token when killed at %s', async (step) => {
    const dir = dataDir();
    const { orgId, clientId, seed } = await seedRefreshTokenOrg(sim, dir);

    const crashed = await runBroker(dir, sim, step);
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    expect(crashed.events.filter((e) => e.event === 'crashing')).toEqual([{ event: 'crashing', step, orgId }]);
    // Genesys answered: the seed is spent, and the broker already holds its successor.
    expect(sim.usedRefreshTokens(clientId)).toEqual([seed]);
    const rotated = sim.currentRefreshToken(clientId);
    const atCrash = await heldTokens(dir, orgId);
    expect(holds(atCrash, rotated)).toBe(true);
    expect(atCrash.spendInDoubt).toBe(false);
    if (step === 'write_ahead') {
      expect(atCrash).toMatchObject({ credentials: seed, journal: { kind: 'received' } });
    } else {
      expect(atCrash).toMatchObject({ credentials: rotated, journal: undefined });
    }
    const ports = createFilePorts(dir);
    expect(await ports.vault.read(orgId) !== undefined).toBe(step === 'token_written' || step === 'state_written');
    expect(atCrash.org.state.lastOutcome).toBe(step === 'state_written' ? 'success' : undefined);
    // The audit record comes after the state: the killed attempt never wrote one.
    expect(await ports.audit.query(orgId)).toEqual([]);

    const restart = await runBroker(dir, sim);
    expect(restart.code, restart.stderr).toBe(0);
    expect(outcomesOf(restart, orgId)).toMatchObject([{ kind: 'refreshed' }]);
    expect(sim.usedRefreshTokens(clientId)).toEqual([seed, rotated]);
    const afterRestart = await heldTokens(dir, orgId);
    expect(afterRestart).toMatchObject({ credentials: sim.currentRefreshToken(clientId), journal: undefined, spendInDoubt: false });

    const further = await runBroker(dir, sim);
    expect(further.code, further.stderr).toBe(0);
    expect(outcomesOf(further, orgId)).toMatchObject([{ kind: 'refreshed' }]);
    expect(sim.usedRefreshTokens(clientId)).toHaveLength(3);
    expect((await heldTokens(dir, orgId)).credentials).toBe(sim.currentRefreshToken(clientId));

    // One request per run, none of them with a spent token.
    expect(sim.counts(clientId)).toMatchObject({ token: 3, refreshTokenReuse: 0 });
  });

  // Why stopping is right: after a crash at this point the journal says only that a spend began. Here
  // the request never left, but the store looks exactly the same when it reached Genesys and the token
  // was spent (next test), or when Genesys answered and the process died before the journal write: the
  // broker cannot tell those apart. Presenting the token again would, in the spent case, be refresh
  // token reuse (invalid_grant at best; Genesys may revoke the whole token family). Stopping costs one
  // re-authorization, which the spent case needs anyway, and never risks that.
  it('stops the org without presenting the token when killed after noting the spend, before the request left (spend_noted)', async () => {
    const dir = dataDir();
    const { orgId, clientId, seed } = await seedRefreshTokenOrg(sim, dir);

    const crashed = await runBroker(dir, sim, 'spend_noted');
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    expect(sim.counts(clientId).token).toBe(0);
    const atCrash = await heldTokens(dir, orgId);
    expect(atCrash).toMatchObject({ credentials: seed, journal: { kind: 'spending' }, spendInDoubt: true });

    const restart = await runBroker(dir, sim);
    expect(restart.code, restart.stderr).toBe(0);
    expect(outcomesOf(restart, orgId)).toMatchObject([{ kind: 'failed', errorCode: 'refresh_outcome_unknown' }]);
    await expectStoppedInDoubt(dir, orgId);
    // Not presented: the simulator never saw a request, and still expects the token the store holds.
    expect(sim.counts(clientId)).toMatchObject({ token: 0, refreshTokenReuse: 0 });
    expect(sim.currentRefreshToken(clientId)).toBe(seed);
    expect((await heldTokens(dir, orgId)).credentials).toBe(seed);

    // Even a forced refresh does not present it: only new credentials (re-authorization) do.
    const forced = await runBroker(dir, sim);
    expect(outcomesOf(forced, orgId)).toMatchObject([{ kind: 'failed', errorCode: 'refresh_outcome_unknown' }]);
    expect(sim.counts(clientId)).toMatchObject({ token: 0, refreshTokenReuse: 0 });
  });

  it('stops the org without presenting the token when killed after Genesys spent it but before its answer arrived', async () => {
    const dir = dataDir();
    const { orgId, clientId, seed } = await seedRefreshTokenOrg(sim, dir);
    // The grant runs (the seed is spent, a successor issued), but the answer never leaves Genesys.
    sim.injectFault(clientId, { kind: 'after_grant', then: { kind: 'hang' } });

    const child = startBroker('once', dir, sim);
    await waitUntil('the simulator to spend the seed', () => sim.currentRefreshToken(clientId) !== seed, child);
    child.proc.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const atCrash = await heldTokens(dir, orgId);
    expect(atCrash).toMatchObject({ credentials: seed, journal: { kind: 'spending' }, spendInDoubt: true });
    // The one window no software closes: Genesys spent the seed, and its successor died with the process.
    expect(holds(atCrash, sim.currentRefreshToken(clientId))).toBe(false);

    const restart = await runBroker(dir, sim);
    expect(restart.code, restart.stderr).toBe(0);
    expect(outcomesOf(restart, orgId)).toMatchObject([{ kind: 'failed', errorCode: 'refresh_outcome_unknown' }]);
    await expectStoppedInDoubt(dir, orgId);
    // Presenting the seed now would have been reuse; the broker sent nothing.
    expect(sim.counts(clientId)).toMatchObject({ token: 1, refreshTokenReuse: 0 });
  });

  it('recovers a rotated token stranded in a journal temp file by a kill between its fsync and its rename', async () => {
    const dir = dataDir();
    const { orgId, clientId, seed } = await seedRefreshTokenOrg(sim, dir);
    // Genesys really rotates the seed; the crash inside the journal write is then laid out by hand
    // (there is no hook between the temp file's fsync and the rename), exactly as such a crash leaves it.
    const crashed = await runBroker(dir, sim, 'write_ahead');
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    const pendingDir = join(dir, 'pending');
    const pendingFile = join(pendingDir, `${orgId}.json`);
    const received = JSON.parse(readFileSync(pendingFile, 'utf8')) as JournalEntry;
    expect(received).toMatchObject({ kind: 'received', refreshToken: sim.currentRefreshToken(clientId) });
    // The complete, fsynced `received` entry is still in the writer's temp file ...
    const temp = join(pendingDir, `.${orgId}.json.${crashed.proc.pid!}.${randomUUID()}.tmp`);
    writeFileSync(temp, JSON.stringify(received), { mode: 0o600 });
    // ... and the rename never happened: the org's file still holds the attempt's `spending` entry.
    const spending: JournalEntry = { kind: 'spending', attemptId: received.attemptId, atMs: received.atMs - 5, clientId, credentialsVersion: received.credentialsVersion, presented: await fingerprint(seed) };
    writeFileSync(pendingFile, JSON.stringify(spending), { mode: 0o600 });
    // The journal writes under the org's mutex: the dead writer still holds it.
    writeFileSync(join(dir, 'locks', `${orgId}.mutex`), JSON.stringify({ pid: crashed.proc.pid, host: hostname(), nonce: randomUUID(), acquiredAtMs: Date.now() }), { mode: 0o600 });
    // Older than the 10 minutes after which temp files elsewhere in the store count as debris.
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(temp, hourAgo, hourAgo);

    // Opening the store, as every restart does first, keeps it; a read finds the newest entry in it.
    const atCrash = await heldTokens(dir, orgId);
    expect(existsSync(temp)).toBe(true);
    expect(atCrash).toMatchObject({ credentials: seed, journal: { kind: 'received', attemptId: received.attemptId }, spendInDoubt: false });
    expect(holds(atCrash, sim.currentRefreshToken(clientId))).toBe(true);

    // Had the temp file been lost, the restart would see only the spend and stop the org in doubt.
    const restart = await runBroker(dir, sim);
    expect(restart.code, restart.stderr).toBe(0);
    expect(outcomesOf(restart, orgId)).toMatchObject([{ kind: 'refreshed' }]);
    expect(sim.usedRefreshTokens(clientId)).toEqual([seed, (received as { refreshToken: string }).refreshToken]);
    expect(sim.counts(clientId)).toMatchObject({ token: 2, refreshTokenReuse: 0 });
    expect(await heldTokens(dir, orgId)).toMatchObject({ credentials: sim.currentRefreshToken(clientId), journal: undefined });
    // Used, it is cleared with its entry: nothing of the org is left in pending/.
    expect(readdirSync(pendingDir).filter((name) => name.includes(orgId))).toEqual([]);
  });
});
