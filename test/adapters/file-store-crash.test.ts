/**
 * Crash consistency and cross-process behaviour of the file store, with real processes: a child
 * (test/support/file-store-crash-child.ts) writes in a tight loop and is killed with SIGKILL at a random
 * moment, several times over; the parent then reopens the store and checks that everything parses and
 * that nothing the child reported as durable was lost.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';

const CHILD = fileURLToPath(new URL('../support/file-store-crash-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KILLS = 5;
const DATA_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(json|jsonl|lock|fence\.json|mutex)$/;
const TEMP_NAME = /^\..*\.tmp$/;

interface Child {
  process: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<void>;
}

const running = new Set<ChildProcess>();

function startChild(args: string[]): Child {
  // node --import tsx runs the script in this very process, so SIGKILL hits the writer itself.
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  const child: Child = { process: proc, lines: [], stderr: [], exited: Promise.resolve() };
  let partial = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    child.lines.push(...parts);
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => child.stderr.push(chunk));
  child.exited = new Promise((resolve) => proc.once('exit', () => {
    running.delete(proc);
    resolve();
  }));
  return child;
}

async function waitFor(child: Child, done: (lines: string[]) => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done(child.lines)) {
    if (Date.now() > deadline) throw new Error(`child made no progress; stderr: ${child.stderr.join('')}`);
    if (child.process.exitCode !== null) throw new Error(`child exited early (${child.process.exitCode}); stderr: ${child.stderr.join('')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Highest number the child reported for `kind`, or undefined. */
function lastReported(lines: string[], kind: string): number | undefined {
  const values = lines.filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.slice(kind.length + 1)));
  return values.length ? Math.max(...values) : undefined;
}

const seqOf = (value: string | undefined) => Number(/^\w+-(\d+)-/.exec(value ?? '')?.[1]);

function newOrg(): Omit<OrgRecord, 'version'> {
  return { orgId: randomUUID(), region: 'mypurecloud.ie', grantType: 'refresh_token', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
}

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'file-store-crash-'));
});

afterEach(async () => {
  for (const proc of running) proc.kill('SIGKILL');
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('FileStore crash consistency', () => {
  it('keeps every file readable and every reported write after repeated kill -9 mid-write', async () => {
    const setup = new FileStore({ dataDir });
    const org = await setup.registry.put(newOrg());
    await setup.credentials.save(org, { clientId: 'client-1', clientSecret: 'secret', refreshToken: 'rt-0-initial' });
    // A temp file holding a "newer" refresh token: it must never be read as the credentials.
    writeFileSync(join(dataDir, 'credentials', `.${org.orgId}.json.1.${randomUUID()}.tmp`), JSON.stringify({ clientId: 'c', clientSecret: 's', refreshToken: 'rt-999999999-planted' }), { mode: 0o600 });

    for (let run = 0; run < KILLS; run++) {
      const firstSeq = run * 1_000_000 + 1;
      const child = startChild(['writer', dataDir, org.orgId, String(firstSeq)]);
      // At least one full turn, then a random moment inside the following turns.
      await waitFor(child, (lines) => lines.some((l) => l.startsWith('audit ')));
      await new Promise((r) => setTimeout(r, Math.random() * 120));
      child.process.kill('SIGKILL');
      await child.exited;
      expect(child.process.signalCode).toBe('SIGKILL');

      const reported = (kind: string) => lastReported(child.lines, kind) ?? -1;
      const store = new FileStore({ dataDir });

      // Every data file parses; anything else is a temp file.
      for (const sub of ['registry', 'tokens', 'credentials', 'leases', 'audit', 'locks']) {
        for (const name of readdirSync(join(dataDir, sub))) {
          if (TEMP_NAME.test(name)) continue;
          expect(name).toMatch(DATA_NAME);
          if (name.endsWith('.json')) expect(() => JSON.parse(readFileSync(join(dataDir, sub, name), 'utf8'))).not.toThrow();
        }
      }

      // The write in flight at the kill may or may not have landed; nothing reported may be lost.
      const token = await store.vault.read(org.orgId);
      expect(seqOf(token?.accessToken)).toBeGreaterThanOrEqual(reported('token'));
      expect(seqOf(token?.accessToken)).toBeLessThanOrEqual(reported('token') + 1);

      const credentials = await store.credentials.read(org);
      expect(seqOf(credentials.refreshToken)).toBeGreaterThanOrEqual(reported('rt'));
      expect(seqOf(credentials.refreshToken)).toBeLessThanOrEqual(reported('rt') + 1);

      const stored = await store.registry.get(org.orgId);
      expect(stored?.state.lastAttemptAtMs).toBeGreaterThanOrEqual(reported('state'));
      expect(stored?.state.lastAttemptAtMs).toBeLessThanOrEqual(reported('state') + 1);
      expect((await store.registry.listPage()).items.map((o) => o.orgId)).toEqual([org.orgId]);

      const audited = new Set((await store.audit.query(org.orgId, { limit: 1000 })).map((r) => r.attemptId));
      const printed = child.lines.filter((l) => l.startsWith('audit ')).map((l) => `attempt-${l.slice(6)}`);
      expect(printed.length).toBeLessThan(900);
      for (const attemptId of printed) expect(audited.has(attemptId)).toBe(true);
      // At most one torn line per kill, and never a damaged record before it.
      const auditLines = readFileSync(join(dataDir, 'audit', `${org.orgId}.jsonl`), 'utf8').split('\n').filter(Boolean);
      const unreadable = auditLines.filter((line) => {
        try {
          JSON.parse(line);
          return false;
        } catch {
          return true;
        }
      });
      expect(unreadable.length).toBeLessThanOrEqual(run + 1);

      // The killed child's lock files (mutex, maybe a live lease) must not wedge the next process.
      const lease = await store.lease.acquire(org.orgId, 'parent', 1000, Date.now() + 120_000);
      expect(lease?.fencingToken).toBeGreaterThan(Math.max(0, reported('lease')));
      await store.lease.release(lease!);
    }
  }, 30_000);
});

describe('FileLease across processes', () => {
  it('refuses the lease to another process while held and grants it after release', async () => {
    const store = new FileStore({ dataDir });
    const org = await store.registry.put(newOrg());
    const held = await store.lease.acquire(org.orgId, 'parent', 60_000, Date.now());

    const blocked = startChild(['lease', dataDir, org.orgId, 'child-1']);
    await blocked.exited;
    expect(blocked.lines).toEqual(['held 0']);

    await store.lease.release(held!);
    const granted = startChild(['lease', dataDir, org.orgId, 'child-2']);
    await granted.exited;
    expect(granted.lines).toEqual([`acquired ${held!.fencingToken + 1}`]);
  });

  it('grants the lease to exactly one of two processes racing for it', async () => {
    const org = await new FileStore({ dataDir }).registry.put(newOrg());
    const children = [startChild(['lease', dataDir, org.orgId, 'racer-1']), startChild(['lease', dataDir, org.orgId, 'racer-2'])];
    await Promise.all(children.map((c) => c.exited));
    const outcomes = children.flatMap((c) => c.lines).sort();
    expect(outcomes).toEqual(['acquired 1', 'held 0']);
  });
});
