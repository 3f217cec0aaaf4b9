/**
 * Local mode as a newcomer runs it: `lib/local/main.ts` as a real child process (node + tsx's loader,
 * so signals reach the broker itself), in demo mode, in a temp working directory.
 *
 * - serves demo tokens over HTTP, reports the broken demo org, exits 0 on SIGTERM;
 * - survives kill -9 in the middle of a sweep: the store still reads, stored tokens are still served,
 *   and the refresh-token chain continues (the demo simulator keeps a ledger of the refresh token it
 *   expects, as Genesys would, so a lost token would show);
 * - exits non-zero with a clear message on a bad config;
 * - never writes a token or a secret to stdout or stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { DEMO_BANNER, DEMO_LEDGER_FILE, DEMO_ORGS } from '../../lib/demo/demo.js';

const MAIN = fileURLToPath(new URL('../../lib/local/main.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const [ACME, GLOBEX, INITECH_RT, UMBRELLA, BROKEN] = DEMO_ORGS.map((o) => o.orgId) as [string, string, string, string, string];
const CLIENT_CREDENTIAL_ORGS = [ACME, GLOBEX, UMBRELLA];
const RT_CLIENT = `demo-client-${INITECH_RT.slice(-2)}`;

interface Child {
  proc: ChildProcess;
  spawnedAt: number;
  stdout: string;
  stderr: string;
  events: Record<string, unknown>[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];
/** Everything any child printed: checked for secrets at the end. */
const allOutput: string[] = [];
/** Every token and refresh token the tests saw: none may appear in any output. */
const secretsSeen = new Set<string>();

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function launch(cwd: string, args: string[], env: Record<string, string> = {}): Child {
  const { BROKER_API_KEY: _ignored, ...inherited } = process.env;
  const proc = spawn(process.execPath, ['--import', TSX_LOADER, MAIN, ...args], { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const child: Child = { proc, spawnedAt: Date.now(), stdout: '', stderr: '', events: [], exit: Promise.resolve({ code: null, signal: null }) };
  let partial = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    child.stdout += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) child.events.push(JSON.parse(line) as Record<string, unknown>);
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    child.stderr += chunk;
  });
  child.exit = new Promise((resolve) => proc.once('exit', (code, signal) => {
    children.delete(proc);
    allOutput.push(child.stdout, child.stderr);
    resolve({ code, signal });
  }));
  return child;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, child?: Child, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (child && child.proc.exitCode !== null) throw new Error(`broker exited (${child.proc.exitCode}) while waiting for ${what}; stderr: ${child.stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${child?.stderr ?? ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const eventOf = (child: Child, name: string) => child.events.find((e) => e.event === name);

async function get(url: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function token(baseUrl: string, orgId: string): Promise<string> {
  const res = await get(`${baseUrl}/v1/orgs/${orgId}/token`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const accessToken = res.body.accessToken as string;
  secretsSeen.add(accessToken);
  return accessToken;
}

async function listening(child: Child): Promise<string> {
  await until('the listening line', () => child.events.length > 0, child);
  // The first line is parseable and carries the bound port.
  expect(child.events[0]).toMatchObject({ event: 'listening', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
  return child.events[0]!.url as string;
}

afterEach(() => {
  for (const proc of children) proc.kill('SIGKILL');
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('local mode (npm start) in demo mode', () => {
  it('serves demo tokens over HTTP, reports the broken org, and exits 0 on SIGTERM', async () => {
    const cwd = tempDir('local-e2e-demo-');
    const child = launch(cwd, ['--port', '0']);
    const url = await listening(child);

    const first = await until('a first token', async () => {
      const res = await fetch(`${url}/v1/orgs/${ACME}/token`);
      return res.status === 200 ? ((await res.json()) as { accessToken: string }) : undefined;
    }, child);
    secretsSeen.add(first.accessToken);
    const elapsedMs = Date.now() - child.spawnedAt;
    const reported = await until('first_token_served', () => eventOf(child, 'first_token_served'), child);
    console.log(`[local-mode e2e] first token served ${elapsedMs} ms after spawn (broker's own measure: ${String(reported.sinceProcessStartMs)} ms after process start)`);
    expect(typeof reported.sinceProcessStartMs).toBe('number');

    expect(eventOf(child, 'demo_mode')).toMatchObject({ message: DEMO_BANNER, brokenOrgIds: [BROKEN], try: `curl -s ${url}/v1/orgs/${ACME}/token` });
    for (const orgId of [ACME, GLOBEX, INITECH_RT, UMBRELLA]) {
      const res = await get(`${url}/v1/orgs/${orgId}/token`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['accessToken', 'apiBaseUrl', 'expiresAt', 'orgId', 'refreshAt', 'region', 'tokenType']);
      expect(res.body.orgId).toBe(orgId);
      secretsSeen.add(res.body.accessToken as string);
    }

    const broken = await get(`${url}/v1/orgs/${BROKEN}/token`);
    expect(broken.status).toBe(503);
    expect(broken.body).toMatchObject({ error: { code: 'token_unavailable' } });
    expect(Number(broken.headers.get('retry-after'))).toBeGreaterThan(0);

    await until('a healthy /healthz after the first sweep', async () => (await fetch(`${url}/healthz`)).status === 200, child);
    const { body } = await get(`${url}/v1/orgs`);
    const orgs = body.orgs as { orgId: string; health: string; lastErrorCode: string | null }[];
    expect(orgs).toHaveLength(5);
    expect(orgs.find((o) => o.orgId === BROKEN)).toMatchObject({ lastErrorCode: 'invalid_client' });
    expect(orgs.filter((o) => o.health === 'healthy').map((o) => o.orgId).sort()).toEqual([ACME, GLOBEX, INITECH_RT, UMBRELLA].sort());
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^broker_refresh_total\{outcome="success",error_code="none"\} 4$/m);

    // Demo data lives apart from real data, private to the user.
    const dataDir = join(cwd, '.broker-data', 'demo');
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'tokens', `${ACME}.json`)).mode & 0o777).toBe(0o600);

    child.proc.kill('SIGTERM');
    expect(await child.exit).toEqual({ code: 0, signal: null });
    expect(child.events.at(-1)).toMatchObject({ event: 'stopped', drained: true });
    expect(child.stderr).toBe('');
  });

  it('recovers from kill -9 in the middle of a sweep: tokens kept, and a refresh token in flight is never presented again', async () => {
    const cwd = tempDir('local-e2e-crash-');
    const dataDir = join(cwd, 'data');
    const tokenFile = (orgId: string) => join(dataDir, 'tokens', `${orgId}.json`);
    const first = launch(cwd, ['--port', '0', '--data-dir', 'data']);
    await listening(first);
    // Every other org is done (outcome recorded, lease released); the refresh-token org's request is
    // still in flight, its link being slow.
    const settled = (orgId: string) => {
      try {
        const org = JSON.parse(readFileSync(join(dataDir, 'registry', `${orgId}.json`), 'utf8')) as { state: { lastOutcome?: string } };
        return org.state.lastOutcome !== undefined && !existsSync(join(dataDir, 'leases', `${orgId}.lock`));
      } catch {
        return false;
      }
    };
    await until('the fast orgs to finish', () => [...CLIENT_CREDENTIAL_ORGS, BROKEN].every(settled), first);
    first.proc.kill('SIGKILL');
    expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(first.events.some((e) => e.event === 'sweep')).toBe(false);
    expect(existsSync(tokenFile(INITECH_RT))).toBe(false);
    expect(existsSync(join(dataDir, 'leases', `${INITECH_RT}.lock`))).toBe(true);

    // The store reads cleanly after the crash.
    const store = new FileStore({ dataDir });
    const before = new Map<string, string>();
    for (const orgId of DEMO_ORGS.map((o) => o.orgId)) {
      const org = await store.registry.get(orgId);
      expect(org?.orgId).toBe(orgId);
      const stored = await store.vault.read(orgId);
      if (stored) before.set(orgId, stored.accessToken);
    }
    expect([...before.keys()].sort()).toEqual([...CLIENT_CREDENTIAL_ORGS].sort());
    const rtOrg = (await store.registry.get(INITECH_RT))!;
    const ledger = () => (JSON.parse(readFileSync(join(dataDir, DEMO_LEDGER_FILE), 'utf8')) as { refreshTokens: Record<string, string> }).refreshTokens[RT_CLIENT];
    const seed = (await store.credentials.read(rtOrg)).refreshToken;
    expect(seed).toBe(ledger());

    const second = launch(cwd, ['--port', '0', '--data-dir', 'data']);
    const url = await listening(second);
    expect(await until('the stale lease release', () => eventOf(second, 'leases_released'), second)).toMatchObject({ orgIds: [INITECH_RT] });
    // Tokens stored before the crash are served as they are, not fetched again.
    for (const [orgId, accessToken] of before) {
      secretsSeen.add(accessToken);
      expect(await token(url, orgId)).toBe(accessToken);
    }
    // The crashed process had presented the refresh token and never saw the answer: Genesys may have
    // spent it. The journal's spend entry says so, and the broker stops instead of presenting it again.
    await until('the sweep to finish', () => eventOf(second, 'sweep'), second);
    // Only the interrupted org was due; the broken org's backoff survived the crash.
    expect(eventOf(second, 'sweep')).toMatchObject({ refreshed: 0, failed: { refresh_outcome_unknown: 1 }, critical: 1, skipped: { notDue: 3, backingOff: 1 } });
    const [lastAttempt] = await store.audit.query(INITECH_RT, { limit: 1 });
    expect(lastAttempt).toMatchObject({ outcome: 'failure', errorCode: 'refresh_outcome_unknown', severity: 'critical' });
    expect((await store.registry.get(INITECH_RT))!.state).toMatchObject({ lastErrorCode: 'refresh_outcome_unknown', nextAttemptAtMs: Number.MAX_SAFE_INTEGER });
    // Nothing was presented twice: the token the simulator holds is still the one the store holds.
    expect((await store.credentials.read(rtOrg)).refreshToken).toBe(ledger());
    secretsSeen.add(seed!);

    second.proc.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });
  });

  it('runs one sweep with --once and exits 0 when every demo org but the broken one has a token', async () => {
    const cwd = tempDir('local-e2e-once-');
    const child = launch(cwd, ['--once']);
    expect(await child.exit).toEqual({ code: 0, signal: null });
    expect(child.events.some((e) => e.event === 'listening')).toBe(false);
    expect(child.events.at(-1)).toMatchObject({ event: 'once_done', ok: true, orgsWithoutValidToken: [], expectedFailures: [BROKEN] });
  });
});

describe('local mode with a config file', () => {
  const org = { orgId: 'c0000000-0000-4000-8000-000000000001', region: 'mypurecloud.xx', clientId: 'acme-client', clientSecretEnv: 'ACME_CLIENT_SECRET' };

  it('exits 2 with the JSON path of a bad region and the valid regions', async () => {
    const cwd = tempDir('local-e2e-config-');
    writeFileSync(join(cwd, 'broker.config.json'), JSON.stringify({ orgs: [org] }));
    const child = launch(cwd, ['--port', '0'], { ACME_CLIENT_SECRET: 'acme-secret-value-not-logged' });
    expect(await child.exit).toEqual({ code: 2, signal: null });
    expect(child.stdout).toBe('');
    expect(child.stderr).toContain('broker.config.json: orgs[0].region: unknown Genesys Cloud region "mypurecloud.xx"; valid regions: us-east-1 (mypurecloud.com)');
    expect(existsSync(join(cwd, '.broker-data'))).toBe(false);
  });

  it('exits 2 naming the variable when a secret is missing, and for unknown flags', async () => {
    const cwd = tempDir('local-e2e-config-');
    writeFileSync(join(cwd, 'custom.json'), JSON.stringify({ orgs: [{ ...org, region: 'eu-west-1' }] }));
    const missing = launch(cwd, ['--config', 'custom.json', '--port', '0']);
    const flag = launch(cwd, ['--prot', '1']);
    expect(await missing.exit).toEqual({ code: 2, signal: null });
    expect(missing.stderr).toContain('orgs[0].clientSecretEnv: environment variable ACME_CLIENT_SECRET is not set');
    expect(await flag.exit).toEqual({ code: 2, signal: null });
    expect(flag.stderr).toMatch(/Unknown option '--prot'/);
  });
});

describe('local mode output', () => {
  it('never contains a token, a refresh token or a demo secret', () => {
    expect(secretsSeen.size).toBeGreaterThanOrEqual(7);
    const output = allOutput.join('\n');
    expect(output.length).toBeGreaterThan(0);
    for (const secret of secretsSeen) expect(output).not.toContain(secret);
    expect(output).not.toMatch(/demo-secret-|demo-refresh-seed-|acme-secret-value/);
    expect(output).not.toMatch(/Bearer [A-Za-z0-9_-]{20,}/);
  });
});
