/**
 * The CLI in-process: flags, exit codes, and the live status view on a (fake) terminal.
 * The child-process behaviour (signals, kill -9, JSON lines) is in test/e2e/local-mode.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import type { LocalBroker } from '../../lib/local/broker.js';
import { DEMO_BANNER } from '../../lib/demo/demo.js';
import { EXIT_FAILURE, EXIT_LIFETIME_REFUSED, EXIT_OK, EXIT_USAGE, main, USAGE } from '../../lib/local/main.js';

const root = mkdtempSync(join(tmpdir(), 'local-main-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function capture(isTTY = false) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out, err,
    io: { stdout: { write: (t: string) => out.push(t), isTTY }, stderr: { write: (t: string) => err.push(t) }, env: {}, cwd: root, handleSignals: false },
  };
}

describe('main', () => {
  it('prints usage for --help and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(EXIT_OK);
    expect(c.out.join('')).toBe(USAGE);
    expect(USAGE).toMatch(/--config <path>[\s\S]*--port <n>[\s\S]*--data-dir <path>[\s\S]*--once[\s\S]*--help/);
  });

  it.each([
    [['--port', 'eighty'], /--port must be an integer from 0 to 65535/],
    [['--port', '70000'], /--port must be an integer/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['positional'], /Unexpected argument 'positional'/],
  ])('exits 2 for %j', async (argv, message) => {
    const c = capture();
    expect(await main(argv, c.io)).toBe(EXIT_USAGE);
    expect(c.err.join('')).toMatch(message);
  });

  it('exits 2 with the path of the problem for an invalid config, before touching any data directory', async () => {
    const cwd = mkdtempSync(join(root, 'cfg-'));
    writeFileSync(join(cwd, 'broker.config.json'), JSON.stringify({ orgs: [{ orgId: 'nope', region: 'eu-west-1', clientId: 'c', clientSecretEnv: 'S' }] }));
    const c = capture();
    expect(await main([], { ...c.io, cwd })).toBe(EXIT_USAGE);
    expect(c.err.join('')).toContain('orgs[0].orgId: must be a Genesys Cloud organization id (a UUID)');
    expect(readdirSync(cwd)).toEqual(['broker.config.json']);
  });

  it('exits 2 before sweeping when an org\'s last token is shorter than the schedule supports', async () => {
    const cwd = mkdtempSync(join(root, 'cfg-'));
    const dataDir = join(cwd, 'data');
    const orgId = 'c2000000-0000-4000-8000-000000000001';
    const issuedAtMs = Date.now() - 60_000;
    await new FileStore({ dataDir }).registry.put({
      orgId, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1,
      state: { consecutiveFailures: 0, issuedAtMs, expiresAtMs: issuedAtMs + 300_000, refreshAtMs: issuedAtMs + 600_000, credentialsVersionUsed: 1 },
    });
    writeFileSync(join(cwd, 'broker.config.json'), JSON.stringify({ dataDir: 'data', scheduleSeconds: 300, orgs: [{ orgId, region: 'eu-west-1', clientId: 'c', clientSecretEnv: 'S' }] }));
    const c = capture();
    expect(await main(['--once'], { ...c.io, cwd, env: { S: 'secret-value-1234' } })).toBe(EXIT_LIFETIME_REFUSED);
    expect(c.err.join('')).toBe(
      `error: token_lifetime_too_short: org ${orgId}: token lifetime 300 s is below the minimum of 734 s (12 min 14 s) for a 300 s sweep interval and a 60 s minimum write interval; ` +
        'set "scheduleSeconds" to at most 105, or raise the OAuth client\'s token lifetime in Genesys Cloud\n',
    );
    expect(c.out.join('')).toBe('');
  });

  it('keeps demo and real data apart in either direction', async () => {
    const realDir = join(root, 'real-data');
    await new FileStore({ dataDir: realDir }).registry.put({ orgId: 'c1000000-0000-4000-8000-000000000001', region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } });
    const demo = capture();
    expect(await main(['--once', '--data-dir', realDir], demo.io)).toBe(EXIT_USAGE);
    expect(demo.err.join('')).toContain(`data directory ${realDir} holds real orgs; demo mode never mixes with real data`);
    expect((await new FileStore({ dataDir: realDir }).registry.get('c1000000-0000-4000-8000-000000000001'))?.enabled).toBe(true);

    const demoDir = join(root, 'demo-data');
    expect(await main(['--once', '--data-dir', demoDir], capture().io)).toBe(EXIT_OK);
    const cwd = mkdtempSync(join(root, 'cfg-'));
    writeFileSync(join(cwd, 'broker.config.json'), JSON.stringify({ orgs: [] }));
    const real = capture();
    expect(await main(['--once', '--data-dir', demoDir], { ...real.io, cwd })).toBe(EXIT_USAGE);
    expect(real.err.join('')).toContain(`data directory ${demoDir} belongs to demo mode`);
  });

  it('starts and sweeps beside a corrupt registry file, leaves it alone, and fails --once because of it', async () => {
    const dataDir = join(root, 'corrupt-demo');
    expect(await main(['--once', '--data-dir', dataDir], capture().io)).toBe(EXIT_OK);
    // The refresh_token demo org: start-up reads its record to resume its refresh token.
    const orgId = 'de000000-0000-4000-8000-000000000003';
    const path = join(dataDir, 'registry', `${orgId}.json`);
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 20));
    const damaged = readFileSync(path, 'utf8');

    const c = capture();
    expect(await main(['--once', '--data-dir', dataDir], c.io)).toBe(EXIT_FAILURE);
    const events = c.out.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.event === 'orgs_synced')).toMatchObject({ level: 'warn', unreadable: [orgId] });
    expect(events.find((e) => e.event === 'sweep')).toMatchObject({ level: 'warn', unreadableOrgIds: [orgId], skipped: { unreadable: 1 } });
    expect(events.find((e) => e.event === 'once_done')).toMatchObject({ ok: false, orgsWithoutValidToken: [orgId] });
    expect(readFileSync(path, 'utf8')).toBe(damaged);
  });

  it('draws the live status view on a terminal: banner, getter URL, curl hint and org rows, never a token', async () => {
    const dataDir = join(root, 'tty-demo');
    const c = capture(true);
    let release!: () => void;
    const stopSignal = new Promise<void>((resolve) => (release = resolve));
    let broker: LocalBroker | undefined;
    const running = main(['--port', '0', '--data-dir', dataDir], { ...c.io, stopSignal, onStarted: (b) => (broker = b) });

    const deadline = Date.now() + 10_000;
    // A frame drawn after the first sweep shows healthy orgs and the broken one.
    while (!/healthy[\s\S]*invalid_client|invalid_client[\s\S]*healthy/.test(c.out.at(-1) ?? '')) {
      if (Date.now() > deadline) throw new Error(`no frame with refreshed orgs; last: ${c.out.at(-1)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    release();
    expect(await running).toBe(EXIT_OK);

    const frames = c.out.filter((t) => t.startsWith('\x1b[H'));
    // Drawn over the previous frame, never cleared first (a full clear each second flickers).
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) expect(f).not.toContain('\x1b[2J');
    const frame = frames.at(-1) ?? '';
    expect(frame).toContain(DEMO_BANNER);
    expect(frame).toContain(`getter: ${broker?.url}`);
    expect(frame).toContain(`curl -s ${broker?.url}/v1/orgs/de000000-0000-4000-8000-000000000001/token`);
    // At the default 80 columns: health on the org's line; label and region key (as `status` shows it) under it.
    expect(frame).toMatch(/de000000-0000-4000-8000-000000000001\s+\S*healthy[\s\S]*?\n {2}Acme \(Dublin\) · eu-west-1/);
    expect(c.out.join('')).toContain('broker stopped');

    const store = new FileStore({ dataDir });
    const everything = c.out.join('') + c.err.join('');
    for (const orgId of ['de000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000002', 'de000000-0000-4000-8000-000000000004']) {
      const token = await store.vault.read(orgId);
      expect(token?.accessToken).toBeTruthy();
      expect(everything).not.toContain(token!.accessToken);
    }
  });
});
