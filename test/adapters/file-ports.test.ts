import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFilePorts } from '../../lambdas/adapters/file/file-ports.js';
import { FileStore, FileTokenVault } from '../../lambdas/adapters/file/file-store.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { type Clock, systemClock, type TokenRecord } from '../../lambdas/core/ports.js';

function tokenFor(orgId: string): TokenRecord {
  return {
    schemaVersion: 1,
    orgId,
    accessToken: 'AT-file-ports-test',
    tokenType: 'bearer',
    issuedAt: '2026-03-01T12:00:00.000Z',
    expiresAt: '2026-03-02T12:00:00.000Z',
    refreshAt: '2026-03-02T06:00:00.000Z',
    region: 'mypurecloud.ie',
    apiBaseUrl: 'https://api.mypurecloud.ie',
    oauthClientId: 'client-1',
    scopes: ['analytics'],
  };
}

let root: string;
let dataDir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'file-ports-'));
  dataDir = join(root, 'data');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('createFilePorts', () => {
  it('hands out working ports of one store on the data directory', async () => {
    const ports = createFilePorts(dataDir);
    const orgId = randomUUID();
    await ports.registry.put({
      orgId,
      region: 'mypurecloud.ie',
      grantType: 'client_credentials',
      enabled: true,
      credentialsVersion: 1,
      state: { consecutiveFailures: 0 },
    });
    await ports.vault.write(tokenFor(orgId), { attemptId: 'a1' });

    expect((await ports.registry.listPage()).items.map((org) => org.orgId)).toEqual([orgId]);
    expect(await ports.vault.read(orgId)).toEqual(tokenFor(orgId));
    expect(ports.vault).toBeInstanceOf(FileTokenVault);
    expect(ports.store).toBeInstanceOf(FileStore);
    expect(ports.registry).toBe(ports.store.registry);
    expect(ports.lease).toBe(ports.store.lease);
    // Another store on the same directory sees the same data.
    expect(await new FileStore({ dataDir }).vault.read(orgId)).toEqual(tokenFor(orgId));
  });

  it('reports the data directory as the store does, absolute', () => {
    const ports = createFilePorts(relative(process.cwd(), dataDir));
    expect(ports.dataDir).toBe(dataDir);
    expect(ports.store.dataDir).toBe(dataDir);
    expect(existsSync(join(dataDir, 'registry'))).toBe(true);
  });

  it('uses the clock option as the ports clock, and the system clock without one', () => {
    const clock: Clock = { now: () => 0, sleep: async () => undefined };
    expect(createFilePorts(dataDir, { clock }).clock).toBe(clock);
    expect(createFilePorts(dataDir).clock).toBe(systemClock);
  });

  it('rejects a missing data directory and unknown options before touching the disk', () => {
    expect(() => createFilePorts('')).toThrow(ValidationError);
    expect(() => createFilePorts(undefined as never)).toThrow(/dataDir/);
    expect(() => createFilePorts(dataDir, { lockWait: 5 } as never)).toThrow(/unknown FileStore option "lockWait"/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
