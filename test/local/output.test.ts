import { describe, expect, it } from 'vitest';
import { describeEvent, formatDuration, formatJsonLine, overdraw, renderStatusView } from '../../lib/local/output.js';
import { corruptOrgStatus, type OrgStatus } from '../../lib/local/org-status.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const ORG: OrgStatus = {
  orgId: 'f0000000-0000-4000-8000-000000000001', label: 'Acme', region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true,
  health: 'healthy', expiresAt: new Date(NOW + 245_000).toISOString(), expiresInSeconds: 245, nextRefreshAt: new Date(NOW + 170_000).toISOString(),
  lastErrorCode: null, lastOutcome: 'success', lastAttemptAt: new Date(NOW - 55_000).toISOString(), consecutiveFailures: 0,
};

describe('formatJsonLine', () => {
  it('writes one JSON object per line with time, level and event first', () => {
    const line = formatJsonLine({ event: 'refreshed', level: 'info', orgId: 'x', expiresInSeconds: 300 }, NOW);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(Object.keys(JSON.parse(line) as object)).toEqual(['time', 'level', 'event', 'orgId', 'expiresInSeconds']);
    expect(JSON.parse(line)).toMatchObject({ time: '2026-06-01T12:00:00.000Z', level: 'info', event: 'refreshed' });
  });
});

describe('describeEvent', () => {
  it('counts unreadable orgs in a sweep line', () => {
    const line = describeEvent({ event: 'sweep', level: 'warn', refreshed: 2, failed: {}, skipped: { unreadable: 1 } }, NOW);
    expect(line).toBe('12:00:00 ! sweep refreshed=2 unreadable=1');
  });
});

describe('formatDuration', () => {
  it.each([[0, '0s'], [59.4, '59s'], [60, '1m 00s'], [245, '4m 05s'], [3_720, '1h 02m'], [-12, '-12s']])('formats %s seconds as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('renderStatusView', () => {
  const frame = (extra: Partial<Parameters<typeof renderStatusView>[0]> = {}) => renderStatusView({
    orgs: [ORG, { ...ORG, orgId: 'f0000000-0000-4000-8000-000000000002', label: null, health: 'failing', expiresAt: null, expiresInSeconds: null, nextRefreshAt: new Date(NOW - 1).toISOString(), lastErrorCode: 'invalid_client' }],
    nowMs: NOW, sweepRunning: false, events: ['12:00:00   refreshed orgId=x'], color: false, url: 'http://127.0.0.1:4180', columns: 200, ...extra,
  });

  it('shows each org with label, region, health, time to expiry and next refresh', () => {
    const text = frame();
    const rows = text.split('\n');
    expect(rows.find((r) => r.startsWith('ORG ID'))).toMatch(/LABEL\s+REGION\s+HEALTH\s+EXPIRES IN\s+NEXT REFRESH\s+LAST ERROR/);
    expect(rows.find((r) => r.startsWith(ORG.orgId))).toMatch(/Acme\s+eu-west-1\s+healthy\s+4m 05s\s+in 2m 50s$/);
    expect(rows.find((r) => r.includes('000000000002'))).toMatch(/failing\s+-\s+now\s+invalid_client$/);
    expect(text).toContain('getter: http://127.0.0.1:4180');
    expect(text).toContain('12:00:00   refreshed orgId=x');
  });

  it('leads with the banner when one is given, and colours only on request', () => {
    expect(frame({ banner: 'DEMO MODE: x', color: false }).split('\n')[0]).toBe('DEMO MODE: x');
    expect(frame()).not.toContain('\x1b[');
    expect(frame({ color: true })).toContain('\x1b[32m');
  });

  it('keeps escape sequences in labels away from the terminal', () => {
    const text = renderStatusView({ orgs: [{ ...ORG, label: 'Evil\x1b[2J\x07Corp' }], nowMs: NOW, sweepRunning: false, events: [], color: false });
    expect(text).toContain('Evil?[2J?Corp');
    expect(text).not.toContain('\x1b');
  });

  it('shows a corrupt org in the table, and its file and remedy under it', () => {
    const corrupt = corruptOrgStatus({ orgId: 'f0000000-0000-4000-8000-000000000003', problem: 'not valid JSON', location: '/data/registry/f0000000-0000-4000-8000-000000000003.json\x1b[2J', remedy: 'Restore the file from a backup.' });
    const rows = renderStatusView({ orgs: [ORG, corrupt], nowMs: NOW, sweepRunning: false, events: [], color: false, columns: 200 }).split('\n');
    expect(rows.find((r) => r.startsWith(corrupt.orgId))).toMatch(/^\S+\s+-\s+corrupt\s+-\s+-\s+registry_unavailable \(see below\)$/);
    const note = rows.findIndex((r) => r.startsWith(`corrupt ${corrupt.orgId}`));
    expect(rows.slice(note, note + 2)).toEqual([`corrupt ${corrupt.orgId} (/data/registry/${corrupt.orgId}.json?[2J): not valid JSON`, '  Restore the file from a backup.']);
  });

  it('lists orgs in the order and with the region names of the status command', async () => {
    const { sortedOrgsAndUnreadable } = await import('../../lib/cli/commands/orgs.js');
    const { InMemoryOrgRegistry } = await import('../../lambdas/adapters/memory/in-memory-stores.js');
    const registry = new InMemoryOrgRegistry();
    const specs = [['f0000000-0000-4000-8000-00000000000c', 'Zeta', 'mypurecloud.jp'], ['f0000000-0000-4000-8000-00000000000a', undefined, 'mypurecloud.com'], ['f0000000-0000-4000-8000-00000000000b', 'Alpha', 'mypurecloud.de'], ['f0000000-0000-4000-8000-00000000000d', 'Alpha', 'mypurecloud.ie']] as const;
    for (const [orgId, label, region] of specs) await registry.put({ orgId, region, grantType: 'client_credentials', enabled: true, credentialsVersion: 1, ...(label ? { label } : {}), state: { consecutiveFailures: 0 } });
    const { orgs } = await sortedOrgsAndUnreadable(registry);
    const statuses = specs.map(([orgId, label, region]) => ({ ...ORG, orgId, label: label ?? null, region }));
    const corrupt = corruptOrgStatus({ orgId: 'f0000000-0000-4000-8000-000000000001', problem: 'x', location: 'y', remedy: 'z' });
    const rows = renderStatusView({ orgs: [corrupt, ...statuses], nowMs: NOW, sweepRunning: false, events: [], color: false, columns: 200 }).split('\n').filter((r) => r.startsWith('f0000000'));
    expect(rows.map((r) => r.slice(0, 36))).toEqual([...orgs.map((o) => o.orgId), corrupt.orgId]);
    ['us-east-1', 'eu-central-1', 'eu-west-1', 'ap-northeast-1', '-'].forEach((region, i) => expect(rows[i]).toMatch(new RegExp(`\\s${region}\\s`)));
    expect(rows.join('\n')).not.toContain('mypurecloud');
  });

  it('fits an 80-column terminal: label, region and last error go under the org line, nothing is wider', () => {
    const corrupt = corruptOrgStatus({ orgId: 'f0000000-0000-4000-8000-000000000003', problem: 'not valid JSON', location: `/home/someone/projects/broker/.broker-data/registry/f0000000-0000-4000-8000-000000000003.json`, remedy: 'Restore the file from a backup, or delete it and register the org again (genesys-token-broker orgs add --local --data-dir x).' });
    const orgs = [
      { ...ORG, label: 'Initech (Sydney, refresh token, slow link)', region: 'mypurecloud.com.au' },
      { ...ORG, orgId: 'f0000000-0000-4000-8000-000000000002', label: 'Broken Co (Tokyo, bad secret)', region: 'mypurecloud.jp', health: 'failing' as const, expiresAt: null, expiresInSeconds: null, lastErrorCode: 'invalid_client' as const, nextRefreshAt: new Date(NOW + 64_740_000).toISOString() },
      corrupt,
    ];
    const events = [`12:00:00 ! refresh_failed orgId=${ORG.orgId} reason=never_issued errorCode=invalid_client expiresInSeconds=300`];
    const hint = `curl -s http://127.0.0.1:4180/v1/orgs/${ORG.orgId}/token`;
    for (const color of [false, true]) {
      const text = renderStatusView({ banner: 'DEMO MODE: simulated Genesys Cloud, no real orgs are contacted', url: 'http://127.0.0.1:4180', hint, orgs, nowMs: NOW, sweepRunning: true, events, color, columns: 80 });
      // eslint-disable-next-line no-control-regex -- colour codes take no columns
      const visible = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
      for (const line of visible) expect(line.length, line).toBeLessThanOrEqual(80);
      expect(visible).toContain(hint);
      const at = visible.findIndex((l) => l.startsWith('f0000000-0000-4000-8000-000000000002'));
      expect(visible[at]).toMatch(/^\S+\s+failing\s+-\s+in 17h 59m$/);
      expect(visible[at + 1]).toBe('  Broken Co (Tokyo, bad secret) · ap-northeast-1 · invalid_client');
      expect(visible[visible.findIndex((l) => l.startsWith(ORG.orgId)) + 1]).toBe('  Initech (Sydney, refresh token, slow link) · ap-southeast-2');
      expect(visible.join(' ')).toMatch(/Restore the file from a backup, or delete it and register the org again/);
    }
  });

  it('agrees with its header during a sweep: due orgs are refreshed now, and no "next in 0s"', () => {
    const due = { ...ORG, health: 'refresh_due' as const, expiresAt: null, expiresInSeconds: null, nextRefreshAt: new Date(NOW + 30_000).toISOString() };
    const running = renderStatusView({ orgs: [due], nowMs: NOW, sweepRunning: true, nextSweepAtMs: NOW, events: [], color: false, columns: 200 });
    expect(running).toContain('sweep running\n');
    expect(running.split('\n').find((r) => r.startsWith(ORG.orgId))).toMatch(/refresh_due\s+-\s+now$/);
    const idle = renderStatusView({ orgs: [due], nowMs: NOW, sweepRunning: false, nextSweepAtMs: NOW + 30_000, events: [], color: false, columns: 200 });
    expect(idle).toContain('no sweep yet, next in 30s');
    expect(idle.split('\n').find((r) => r.startsWith(ORG.orgId))).toMatch(/refresh_due\s+-\s+in 30s$/);
  });

  it('draws a frame over the previous one: cursor home, each line erased to its end, the rest erased after', () => {
    expect(overdraw('a\nbb\n')).toBe('\x1b[Ha\x1b[K\nbb\x1b[K\n\x1b[J');
  });

  it('reports sweep timing', () => {
    expect(frame({ lastSweep: { startedAt: new Date(NOW - 5_000).toISOString(), durationMs: 42, ok: true }, nextSweepAtMs: NOW + 25_000 })).toContain('last sweep 5s ago (42 ms), next in 25s');
    expect(frame({ sweepRunning: true })).toContain('sweep running');
  });
});

describe('describeEvent', () => {
  it('summarises an event on one line with its identifying fields', () => {
    expect(describeEvent({ event: 'refresh_failed', level: 'error', orgId: 'o-1', errorCode: 'invalid_client', attempt: 1 }, NOW)).toBe('12:00:00 ! refresh_failed orgId=o-1 errorCode=invalid_client');
    expect(describeEvent({ event: 'sweep', level: 'warn', refreshed: 2, durationMs: 10, failed: { timeout: 1 } }, NOW)).toBe('12:00:00 ! sweep refreshed=2 durationMs=10 failed=timeout:1');
  });
});
