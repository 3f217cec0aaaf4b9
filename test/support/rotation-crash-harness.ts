/**
 * What the rotation crash tests share: a refresh_token org seeded in a file store and in the
 * simulator, the child broker (test/support/rotation-crash-child.ts) as a real process, and a look at
 * which refresh tokens the store holds for an org. Reads never print or log a token.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import type { RotationStep } from '../../lambdas/core/engine.js';
import type { JournalEntry, OrgRecord } from '../../lambdas/core/ports.js';
import { fingerprint } from '../../lambdas/core/rotation.js';
import type { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';

const CHILD = fileURLToPath(new URL('./rotation-crash-child.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A line the child printed (see rotation-crash-child.ts). */
export type ChildEvent = { event: string } & Record<string, unknown>;

export interface BrokerChild {
  readonly proc: ChildProcess;
  readonly events: ChildEvent[];
  stderr: string;
  /** Resolves when the process is gone (and reaped) and everything it printed has been read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Kills every child still running (for afterEach). */
export function killRunningChildren(): void {
  for (const proc of running) proc.kill('SIGKILL');
}

/** Starts the child broker; with `crashAt` it kills itself with SIGKILL at that rotation step. */
export function startBroker(mode: 'once' | 'loop', dataDir: string, sim: GenesysSimulator, crashAt?: RotationStep): BrokerChild {
  const { ROTATION_CRASH_STEP: _inherited, ...env } = process.env;
  // node --import tsx runs the script in this very process, so SIGKILL hits the broker itself.
  const proc = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, mode, dataDir, sim.baseUrl], {
    env: { ...env, ...(crashAt ? { ROTATION_CRASH_STEP: crashAt } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let partial = '';
  const child = {
    proc,
    events: [] as ChildEvent[],
    stderr: '',
    exited: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('close', (code, signal) => {
        running.delete(proc);
        resolve({ code, signal });
      }),
    ),
  };
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) child.events.push(JSON.parse(line) as ChildEvent);
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    child.stderr += chunk;
  });
  return child;
}

/** Runs the child to its end and returns how it ended and what it printed. */
export async function runBroker(dataDir: string, sim: GenesysSimulator, crashAt?: RotationStep): Promise<BrokerChild & { code: number | null; signal: NodeJS.Signals | null }> {
  const child = startBroker('once', dataDir, sim, crashAt);
  const { code, signal } = await child.exited;
  return Object.assign(child, { code, signal });
}

/** Waits until `probe` holds, failing early when the child exits. */
export async function waitUntil(what: string, probe: () => boolean, child?: BrokerChild, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (child && child.proc.exitCode !== null) throw new Error(`child exited (${child.proc.exitCode}) while waiting for ${what}; stderr: ${child.stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${child?.stderr ?? ''}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The outcome lines the child printed for an org. */
export function outcomesOf(child: BrokerChild, orgId: string): ChildEvent[] {
  return child.events.filter((e) => e.event === 'outcome' && e.orgId === orgId);
}

export interface SeededOrg {
  orgId: string;
  clientId: string;
  /** The refresh token stored at onboarding. */
  seed: string;
  org: OrgRecord;
}

/**
 * Registers a refresh_token org in the simulator and in the store at `dataDir`, its seed refresh token
 * in the org's credentials. With `credentialsVersion` above 1 it re-authorizes an org that is already
 * registered, as local mode's config sync does for a new seed: a new client and refresh token, the
 * credentials written first, then the registry's credentials version bumped (the org's state is kept).
 */
export async function seedRefreshTokenOrg(sim: GenesysSimulator, dataDir: string, options: { orgId?: string; credentialsVersion?: number } = {}): Promise<SeededOrg> {
  const orgId = options.orgId ?? randomUUID();
  const credentialsVersion = options.credentialsVersion ?? 1;
  if (credentialsVersion === 1) sim.addOrg({ orgId, region: 'mypurecloud.ie' });
  const clientId = `rt-${orgId.slice(0, 8)}-v${credentialsVersion}`;
  const clientSecret = `secret-${randomUUID()}`;
  const seed = `seed-${randomUUID()}`;
  sim.addClient({ clientId, clientSecret, orgId, grantTypes: ['refresh_token'], refreshToken: seed });
  const { registry, credentials } = createFilePorts(dataDir);
  const existing = await registry.get(orgId);
  await credentials.save({ orgId }, { clientId, clientSecret, refreshToken: seed });
  const org = await registry.put(
    { orgId, region: 'mypurecloud.ie', grantType: 'refresh_token', enabled: true, credentialsVersion, state: existing?.state ?? { consecutiveFailures: 0 } },
    { expectedVersion: existing ? existing.version : null },
  );
  return { orgId, clientId, seed, org };
}

/** What the store holds for an org's rotation chain, read as a restarting broker would. */
export interface HeldTokens {
  /** The refresh token in `credentials/<orgId>.json`, and the client it belongs to. */
  credentials: string | undefined;
  clientId: string;
  /** The org's journal entry, stranded temp files included. */
  journal: JournalEntry | undefined;
  /** The journal holds a spend of the token the credentials hold: the next attempt stops the org. */
  spendInDoubt: boolean;
  org: OrgRecord;
}

export async function heldTokens(dataDir: string, orgId: string): Promise<HeldTokens> {
  const { registry, credentials, journal } = createFilePorts(dataDir);
  const org = await registry.get(orgId);
  if (!org) throw new Error(`org ${orgId} is not registered`);
  const current = await credentials.readCurrent(org);
  const entry = await journal.read(orgId);
  const ownEntry = entry !== undefined && entry.clientId === current.credentials.clientId && entry.credentialsVersion === org.credentialsVersion;
  const spendInDoubt = ownEntry && entry.kind === 'spending' && entry.presented === (await fingerprint(current.credentials.refreshToken));
  return { credentials: current.credentials.refreshToken, clientId: current.credentials.clientId, journal: entry, spendInDoubt, org };
}

/** Whether the store holds `token`: in the credentials, or as a received journal entry of the current credentials. */
export function holds(held: HeldTokens, token: string | undefined): boolean {
  if (token === undefined) return false;
  if (held.credentials === token) return true;
  const entry = held.journal;
  return entry?.kind === 'received' && entry.refreshToken === token && entry.clientId === held.clientId && entry.credentialsVersion === held.org.credentialsVersion;
}
