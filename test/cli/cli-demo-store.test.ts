/**
 * The CLI and demo mode's store: demo credentials are valid only against the simulator inside
 * `npm start`, so the CLI only reads that store, finds it from the default `--local`, and a reader
 * creates nothing on disk.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DATA_DIR, DEMO_MARKER_FILE, DEMO_ORGS, isDemoStoreDir } from '../../lib/demo/demo.js';
import { main as localMain } from '../../lib/local/main.js';
import { cleanEnv, runCli, runInProcess } from './run-cli.js';

/** Every path under `dir` with its size and mtime: what "nothing changed" means here. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      out.push(`${path} ${statSync(path).mtimeMs}`);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out.sort();
}

describe('genesys-token-broker --local and demo mode\'s store', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'broker-cli-demo-'));
  const demoDir = join(cwd, DEMO_DATA_DIR);
  const env = cleanEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  // Stands in for Genesys: any request it sees means credentials left the process.
  let genesys: Server;
  let genesysUrl: string;
  const seen: string[] = [];
  let demoSecrets: string[];

  beforeAll(async () => {
    genesys = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => genesys.listen(0, '127.0.0.1', resolve));
    genesysUrl = `http://127.0.0.1:${(genesys.address() as AddressInfo).port}`;
    // A real demo run (one sweep against the in-process simulator) leaves the store a newcomer has.
    const quiet = { write: () => true };
    expect(await localMain(['--once'], { cwd, env: {}, stdout: quiet, stderr: quiet, handleSignals: false })).toBe(0);
    demoSecrets = readdirSync(join(demoDir, 'credentials')).map((f) => (JSON.parse(readFileSync(join(demoDir, 'credentials', f), 'utf8')) as { clientSecret: string }).clientSecret);
    expect(demoSecrets).toHaveLength(DEMO_ORGS.length);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => genesys.close(() => resolve()));
    rmSync(cwd, { recursive: true, force: true });
  });

  it('marks the demo store as demo', () => {
    expect(JSON.parse(readFileSync(join(demoDir, DEMO_MARKER_FILE), 'utf8'))).toMatchObject({ demo: true });
    expect(isDemoStoreDir(demoDir)).toBe(true);
    expect(isDemoStoreDir(cwd)).toBe(false);
  });

  it('refuses to refresh the demo store with exit 2, naming why, and sends nothing anywhere', async () => {
    const before = listing(cwd);
    const refresh = await runCli(['refresh', '--local', '--data-dir', join(DEMO_DATA_DIR), '--force', '--genesys-base-url', genesysUrl], { env, cwd });
    expect(refresh.code).toBe(2);
    expect(refresh.stderr).toContain(`error: refused: ${demoDir} is demo mode's store. Its credentials are valid only against the simulator inside 'npm start'`);
    expect(refresh.stderr).toContain("hint: 'npm start' (with no broker.config.json) refreshes the demo orgs");
    const add = await runInProcess(['orgs', 'add', '--org-id', 'a1b2c3d4-0000-4000-8000-0000000000d1', '--region', 'eu-west-1', '--client-id', 'c', '--client-secret-stdin', '--local', '--data-dir', demoDir], { stdin: 'real-secret-Zq9\n' });
    expect(add.code).toBe(2);
    expect(add.stderr).toContain("is demo mode's store");
    const authorize = ['orgs', 'authorize', '--org-id', DEMO_ORGS[0]!.orgId, '--region', 'eu-west-1', '--client-id', 'c', '--client-secret-stdin', '--no-browser'];
    for (const command of [['orgs', 'remove', DEMO_ORGS[0]!.orgId, '--yes'], ['orgs', 'disable', DEMO_ORGS[0]!.orgId], ['refresh'], authorize]) {
      expect((await runInProcess([...command, '--local', '--data-dir', demoDir])).code).toBe(2);
    }
    expect(seen).toEqual([]);
    expect(listing(cwd)).toEqual(before);
    for (const secret of demoSecrets) expect(`${refresh.stdout}${refresh.stderr}${add.stdout}${add.stderr}`).not.toContain(secret);
  });

  it('finds the demo store from the default --local for a reader, saying so, and creates nothing', async () => {
    const before = listing(cwd);
    const status = await runCli(['status', '--local'], { env, cwd });
    expect(status.code).toBe(0);
    expect(status.stderr).toBe(`note: no orgs in ${join(cwd, '.broker-data')}; reading demo mode's store ${demoDir} (simulated orgs; --data-dir chooses another)\n`);
    for (const org of DEMO_ORGS) expect(status.stdout).toContain(org.orgId);
    expect(listing(cwd)).toEqual(before);
    expect(existsSync(join(cwd, '.broker-data', 'registry'))).toBe(false);

    const refresh = await runCli(['refresh', '--local', '--genesys-base-url', genesysUrl], { env, cwd });
    expect(refresh.stderr).toContain(`note: demo mode's store is ${demoDir}; the CLI only reads it`);
    expect(seen).toEqual([]);
  });

  it('reads a data directory that does not exist as empty, without creating it', async () => {
    const missing = join(cwd, 'nothing-here');
    for (const command of [['status'], ['orgs', 'list'], ['audit', '--org', DEMO_ORGS[0]!.orgId], ['token', '--org', DEMO_ORGS[0]!.orgId]]) {
      const run = await runInProcess([...command, '--local', '--data-dir', missing]);
      expect(run.code === 0 || run.code === 4, `${command.join(' ')}: ${run.stderr}`).toBe(true);
    }
    expect((await runInProcess(['status', '--local', '--data-dir', missing])).stdout).toContain('No orgs registered');
    expect(existsSync(missing)).toBe(false);
  });
});
