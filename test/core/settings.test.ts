import { describe, expect, it } from 'vitest';
import { allEntries, allOrgs, listAllOrgs, listOrgsAndUnreadable } from '../../lambdas/core/registry-pages.js';
import { BROKER_SETTINGS, describeRange, inRange, settingValue } from '../../lambdas/core/settings.js';
import { InMemoryOrgRegistry } from '../../lambdas/adapters/memory/in-memory-stores.js';
import type { UnreadableOrg } from '../../lambdas/core/ports.js';

describe('settings', () => {
  it('holds the documented defaults', () => {
    expect(Object.fromEntries(Object.entries(BROKER_SETTINGS).map(([k, v]) => [k, v.default]))).toEqual({
      refreshAtFraction: 0.75,
      sweepConcurrency: 16,
      secretWriteRatePerSecond: 20,
      auditRetentionDays: 90,
      sweepIntervalSeconds: 300,
      getterCacheMaxAgeSeconds: 300,
    });
  });

  it('takes the default for an unset value and any value within range, ends included', () => {
    expect(settingValue('sweepConcurrency', undefined)).toBe(16);
    for (const value of [1, 2, 255, 256]) expect(settingValue('sweepConcurrency', value)).toBe(value);
    expect(settingValue('refreshAtFraction', 0.5)).toBe(0.5);
    expect(settingValue('refreshAtFraction', 0.9)).toBe(0.9);
    expect(settingValue('getterCacheMaxAgeSeconds', 0)).toBe(0);
  });

  it.each<[Parameters<typeof settingValue>[0], number, string]>([
    ['sweepConcurrency', 0, 'sweepConcurrency must be an integer from 1 to 256, got 0'],
    ['sweepConcurrency', 257, 'sweepConcurrency must be an integer from 1 to 256, got 257'],
    ['sweepConcurrency', 2.5, 'sweepConcurrency must be an integer from 1 to 256, got 2.5'],
    ['secretWriteRatePerSecond', 51, 'secretWriteRatePerSecond must be an integer from 1 to 50, got 51'],
    ['refreshAtFraction', 0.49, 'refreshAtFraction must be a number from 0.5 to 0.9, got 0.49'],
    ['refreshAtFraction', Number.NaN, 'refreshAtFraction must be a number from 0.5 to 0.9, got NaN'],
    ['auditRetentionDays', Number.POSITIVE_INFINITY, 'auditRetentionDays must be an integer from 1 to 3650, got Infinity'],
  ])('refuses %s = %s naming the setting, the value and the range', (name, value, message) => {
    expect(() => settingValue(name, value)).toThrow(expect.objectContaining({ code: 'invalid_config', message }));
  });

  it('describes and checks ranges', () => {
    expect(describeRange(BROKER_SETTINGS.refreshAtFraction)).toBe('a number from 0.5 to 0.9');
    expect(describeRange(BROKER_SETTINGS.auditRetentionDays)).toBe('an integer from 1 to 3650');
    expect(inRange(BROKER_SETTINGS.refreshAtFraction, 0.66)).toBe(true);
    expect(inRange(BROKER_SETTINGS.auditRetentionDays, '90')).toBe(false);
  });
});

describe('registry paging', () => {
  const orgs = Array.from({ length: 7 }, (_, i) => ({
    orgId: `1b000000-0000-4000-8000-00000000000${i}`,
    region: 'mypurecloud.ie',
    grantType: 'client_credentials' as const,
    enabled: true,
    credentialsVersion: 1,
    state: { consecutiveFailures: 0 },
  }));

  it('reads every page, passing the cursor and the page size on', async () => {
    const registry = new InMemoryOrgRegistry(orgs);
    const calls: Array<{ cursor?: string; limit?: number }> = [];
    const listPage = registry.listPage.bind(registry);
    registry.listPage = async (options = {}) => {
      calls.push(options);
      return listPage(options);
    };
    const seen: string[] = [];
    for await (const org of allOrgs(registry, 3)) seen.push(org.orgId);
    expect(seen).toEqual(orgs.map((o) => o.orgId));
    expect(calls.map((c) => c.limit)).toEqual([3, 3, 3]);
    expect(calls[0]).not.toHaveProperty('cursor');
    expect(calls.slice(1).every((c) => typeof c.cursor === 'string')).toBe(true);
    expect((await listAllOrgs(registry)).map((o) => o.orgId)).toEqual(orgs.map((o) => o.orgId));
  });

  it('reports the unreadable orgs of every page beside its records, and leaves them out of the record lists', async () => {
    const registry = new InMemoryOrgRegistry(orgs);
    const damaged = (orgId: string): UnreadableOrg => ({ orgId, problem: 'not valid JSON', location: `/data/registry/${orgId}.json`, remedy: 'Restore the file' });
    const listPage = registry.listPage.bind(registry);
    // As the file registry does: pages of 3 records, each with one damaged file before its last record.
    registry.listPage = async (options = {}) => {
      const page = await listPage(options);
      return { ...page, unreadable: [damaged(`2b000000-0000-4000-8000-00000000000${page.items.length}`)] };
    };
    const entries: string[] = [];
    for await (const entry of allEntries(registry, 3)) entries.push('unreadable' in entry ? `unreadable ${entry.orgId}` : entry.orgId);
    expect(entries).toEqual([
      ...orgs.slice(0, 3).map((o) => o.orgId), 'unreadable 2b000000-0000-4000-8000-000000000003',
      ...orgs.slice(3, 6).map((o) => o.orgId), 'unreadable 2b000000-0000-4000-8000-000000000003',
      orgs[6]!.orgId, 'unreadable 2b000000-0000-4000-8000-000000000001',
    ]);
    const seen: string[] = [];
    for await (const org of allOrgs(registry, 3)) seen.push(org.orgId);
    expect(seen).toEqual(orgs.map((o) => o.orgId));
    expect((await listAllOrgs(registry)).map((o) => o.orgId)).toEqual(orgs.map((o) => o.orgId));
    const both = await listOrgsAndUnreadable(registry);
    expect(both.orgs.map((o) => o.orgId)).toEqual(orgs.map((o) => o.orgId));
    // One page of 100: one unreadable entry, with everything the operator needs.
    expect(both.unreadable).toEqual([damaged('2b000000-0000-4000-8000-000000000007')]);
  });
});
