import { describe, expect, it } from 'vitest';
import { MAX_MANUAL_ORG_IDS, parseRefresherEvent } from '../../lambdas/core/refresher-event.js';

const ORG = '1a000000-0000-4000-8000-00000000000a';

describe('parseRefresherEvent', () => {
  it('takes an EventBridge scheduled event as a scheduled sweep of every org', () => {
    expect(parseRefresherEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({ trigger: 'schedule', force: false });
  });

  it.each<[string, unknown, ReturnType<typeof parseRefresherEvent>]>([
    ['an empty manual event: every org, not forced', {}, { trigger: 'manual', force: false }],
    ['a forced sweep', { force: true }, { trigger: 'manual', force: true }],
    ['named orgs, lower-cased', { orgIds: [ORG.toUpperCase()], force: false }, { trigger: 'manual', force: false, orgIds: [ORG] }],
  ])('takes %s', (_name, event, expected) => {
    expect(parseRefresherEvent(event)).toEqual(expected);
  });

  it.each<[string, unknown, RegExp]>([
    ['null', null, /EventBridge scheduled event or an object/],
    ['an array', [ORG], /EventBridge scheduled event or an object/],
    ['a string', 'refresh', /EventBridge scheduled event or an object/],
    ['an unknown field', { orgIds: [ORG], forse: true }, /invalid manual refresh event: .*forse/],
    ['an org id that is not a UUID', { orgIds: ['acme'] }, /orgIds\.0: must be a UUID/],
    ['an empty org list', { orgIds: [] }, /orgIds/],
    ['too many orgs', { orgIds: Array.from({ length: MAX_MANUAL_ORG_IDS + 1 }, () => ORG) }, /orgIds/],
    ['force that is not a boolean', { force: 'yes' }, /force/],
  ])('refuses %s as invalid_request', (_name, event, message) => {
    expect(() => parseRefresherEvent(event)).toThrow(expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(message) }));
  });

  it('accepts exactly the largest allowed list', () => {
    expect(parseRefresherEvent({ orgIds: Array.from({ length: MAX_MANUAL_ORG_IDS }, () => ORG) })).toMatchObject({ trigger: 'manual', orgIds: expect.any(Array) });
    expect((parseRefresherEvent({ orgIds: Array.from({ length: MAX_MANUAL_ORG_IDS }, () => ORG) }) as { orgIds: string[] }).orgIds).toHaveLength(MAX_MANUAL_ORG_IDS);
  });
});
