import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../lib/local/broker.js';
import { describeEvent } from '../../lib/local/output.js';
import { MAX_ORG_IDS_PER_REASON, RejectionLog } from '../../lib/local/rejection-log.js';

const org = (n: number) => `e0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('RejectionLog', () => {
  it('logs the first refusal of each reason at once and counts the rest into one line per window', () => {
    const events: BrokerEvent[] = [];
    const log = new RejectionLog({ emit: (e) => events.push(e) });
    for (let i = 0; i < 1000; i += 1) log.record('token_unavailable', org(i % 3));
    for (let i = 0; i < 5; i += 1) log.record('unauthorized', undefined);
    expect(events).toEqual([
      { event: 'token_not_served', level: 'warn', errorCode: 'token_unavailable', orgId: org(0) },
      { event: 'token_not_served', level: 'warn', errorCode: 'unauthorized' },
    ]);
    log.flush();
    expect(events).toHaveLength(3);
    expect(events[2]).toEqual({
      event: 'requests_rejected',
      level: 'warn',
      message: '1003 more token requests refused in the last 60 s',
      windowSeconds: 60,
      counts: { token_unavailable: 999, unauthorized: 4 },
      orgIds: { token_unavailable: [org(0), org(1), org(2)] },
    });
    expect(describeEvent(events[2]!, 0)).toContain('counts=token_unavailable:999,unauthorized:4');
  });

  it('says nothing for a quiet window, and logs the next first refusal at once again', () => {
    const events: BrokerEvent[] = [];
    const log = new RejectionLog({ emit: (e) => events.push(e) });
    log.record('org_not_found', org(1));
    log.flush();
    log.flush();
    expect(events.map((e) => e.event)).toEqual(['token_not_served']);
    log.record('org_not_found', org(1));
    expect(events.map((e) => e.event)).toEqual(['token_not_served', 'token_not_served']);
  });

  it('keeps at most a bounded number of org ids per reason', () => {
    const events: BrokerEvent[] = [];
    const log = new RejectionLog({ emit: (e) => events.push(e) });
    for (let i = 0; i < 100; i += 1) log.record('org_not_found', org(i));
    log.stop();
    const summary = events.at(-1)!;
    expect(summary.counts).toEqual({ org_not_found: 99 });
    expect((summary.orgIds as Record<string, string[]>).org_not_found).toHaveLength(MAX_ORG_IDS_PER_REASON);
  });
});
