/**
 * What the README promises about `npm start`, run the way a newcomer runs it: demo mode's first JSON
 * lines, and Ctrl-C (SIGINT to the whole foreground process group, npm included) exiting 0 after a
 * clean shutdown.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_BANNER } from '../../lib/demo/demo.js';
import { main } from '../../lib/local/main.js';
import { REPO_ROOT } from '../cli/run-cli.js';

const root = mkdtempSync(join(tmpdir(), 'npm-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

describe('npm start', () => {
  it('exits 0 after a clean shutdown when Ctrl-C reaches the whole process group', async () => {
    const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--data-dir', join(root, 'ctrl-c')], {
      cwd: REPO_ROOT,
      detached: true, // its own process group, as a terminal's foreground job
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no sweep within 20 s:\n${out}\n${err}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('"event":"sweep"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited, `${err}\n${out.slice(-400)}`).toBe(0);
    const events = out.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events.slice(-2)).toEqual(['stopping', 'stopped']);
    expect(events).not.toContain('forced_exit');
    expect(README).toContain('Ctrl-C (SIGINT) or SIGTERM lets in-flight refreshes finish (bounded), persists and exits 0');
  });

  it('treats the same signal twice within a second as one request (npm forwards the terminal\'s)', async () => {
    const out: string[] = [];
    const quiet = { write: () => true };
    let running: Promise<number> | undefined;
    const started = new Promise<void>((resolve) => {
      running = main(['--port', '0', '--data-dir', join(root, 'twice')], {
        cwd: root, env: {}, stdout: { write: (t: string) => out.push(t), isTTY: false }, stderr: quiet, handleSignals: true, onStarted: () => resolve(),
      });
    });
    await started;
    const ours = { SIGINT: process.listeners('SIGINT').slice(-1), SIGTERM: process.listeners('SIGTERM').slice(-1) };
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGINT', 'SIGINT');
    expect(await running).toBe(0);
    // Still installed after the stop, ignoring a late signal (npm's forwarded copy under load) rather
    // than leaving Node's default action to kill a broker that stopped cleanly.
    expect(process.listeners('SIGINT')).toContain(ours.SIGINT[0]);
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGTERM', 'SIGTERM');
    for (const [signal, [listener]] of Object.entries(ours)) process.off(signal, listener as () => void);
    const events = out.join('').trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events).not.toContain('forced_exit');
    expect(events.filter((e) => e === 'stopping')).toHaveLength(1);
  });

  it('prints the JSON lines the README shows first in demo mode', async () => {
    const out: string[] = [];
    const quiet = { write: () => true };
    let release!: () => void;
    const stopSignal = new Promise<void>((resolve) => (release = resolve));
    const running = main(['--port', '0', '--data-dir', join(root, 'first-lines')], {
      cwd: root, env: {}, stdout: { write: (t: string) => out.push(t), isTTY: false }, stderr: quiet, handleSignals: false, stopSignal, onStarted: () => release(),
    });
    expect(await running).toBe(0);
    const [first, second] = out.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ level: 'info', event: 'listening' });
    expect(second).toMatchObject({ level: 'info', event: 'demo_mode', message: DEMO_BANNER });
    // The README quotes both lines' beginnings, and the banner a terminal shows first.
    expect(README).toContain('{"time":"…","level":"info","event":"listening","url":"http://127.0.0.1:4180",');
    expect(README).toContain(`{"time":"…","level":"info","event":"demo_mode","message":"${DEMO_BANNER}",`);
    expect(README).toContain(`\n${DEMO_BANNER}\n`);
  });
});

describe('README real-org example', () => {
  it('sets every variable its config names on its run line, and the config is valid', async () => {
    const { parseLocalConfig, resolveApiKey, resolveOrgSecrets } = await import('../../lib/local/config.js');
    const section = README.slice(README.indexOf('**Real orgs**'));
    const json = /```json\n([\s\S]*?)```/.exec(section)![1]!;
    const sh = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const config = parseLocalConfig(JSON.parse(json), { source: 'README.md', baseDir: REPO_ROOT });
    const named = [config.apiKeyEnv, ...config.orgs.flatMap((o) => [o.clientSecretEnv, o.refreshTokenEnv])].filter((n): n is string => n !== undefined);
    expect(named).toContain('BROKER_API_KEY');
    const env: Record<string, string> = {};
    for (const name of named) {
      expect(sh, `${name} is not set by the run line`).toMatch(new RegExp(`(^|\\s)(export )?${name}=`));
      env[name] = 'a-value-long-enough-for-any-check-0123';
    }
    // With exactly those variables set, nothing the README's config needs is missing.
    expect(() => resolveOrgSecrets(config, env)).not.toThrow();
    expect(resolveApiKey({ source: 'README.md', host: config.host, ...(config.apiKeyEnv ? { apiKeyEnv: config.apiKeyEnv } : {}) }, env)).toBe(env.BROKER_API_KEY);
    // The key the run line generates passes the key checks.
    const program = /BROKER_API_KEY="\$\(node -e "(.*)"\)"/.exec(sh)?.[1];
    const generated = spawnSync(process.execPath, ['-e', program!], { encoding: 'utf8' }).stdout.trim();
    expect(resolveApiKey({ source: 'README.md', host: '127.0.0.1' }, { BROKER_API_KEY: generated })).toBe(generated);
  });
});

describe('README test-suite figures', () => {
  it('states lower bounds the suite meets', () => {
    const [, files] = /The suite \(over (\d+) files, over [\d,]+ tests\)/.exec(README) ?? [];
    expect(files).toBeDefined();
    const count = readdirSync(join(REPO_ROOT, 'test'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.test.ts')).length;
    expect(count).toBeGreaterThan(Number(files));
  });
});
