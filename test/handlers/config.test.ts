/**
 * The handlers' configuration, read once at cold start from the environment the construct sets
 * (names from env-names.ts): the getter's (loadGetterConfig) and the refresher's (loadConfig). Every
 * bad variable is an `invalid_config` error that names it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/core/env-names.js';
import { BROKER_SETTINGS, DEFAULT_SECRET_PREFIX } from '../../lambdas/core/settings.js';
import { loadConfig, loadGetterConfig } from '../../lambdas/handlers/config.js';

const ORG_A = '5a000000-0000-4000-8000-00000000000a';
const ORG_B = '5a000000-0000-4000-8000-00000000000b';

const GETTER_ENV = { [ENV.registryTable]: 'gtb-registry', [ENV.refresherFunction]: 'gtb-refresher' };

/** The `invalid_config` error loadGetterConfig throws for `env`. */
function getterProblem(env: Record<string, string | undefined>): { code: string; message: string } {
  try {
    loadGetterConfig(env);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected invalid_config');
}

describe('loadGetterConfig', () => {
  it('needs only the registry table and the refresher function, and defaults the rest', () => {
    expect(loadGetterConfig(GETTER_ENV)).toEqual({
      secretPrefix: DEFAULT_SECRET_PREFIX,
      registryTable: 'gtb-registry',
      getterCacheMaxAgeSeconds: BROKER_SETTINGS.getterCacheMaxAgeSeconds.default,
      refresherFunction: 'gtb-refresher',
    });
  });

  it('reads every variable it knows', () => {
    expect(
      loadGetterConfig({
        ...GETTER_ENV,
        [ENV.secretPrefix]: 'acme/gtb',
        [ENV.getterCacheMaxAgeSeconds]: '60',
        [ENV.allowedOrgIds]: ORG_A,
        // The refresher's variables mean nothing to a getter.
        [ENV.auditTable]: 'gtb-audit',
        [ENV.kmsKeyId]: 'alias/gtb',
      }),
    ).toEqual({ secretPrefix: 'acme/gtb', registryTable: 'gtb-registry', getterCacheMaxAgeSeconds: 60, refresherFunction: 'gtb-refresher', allowedOrgIds: [ORG_A] });
  });

  it.each([
    ['unset', undefined],
    ['empty', ''],
  ])('requires BROKER_REFRESHER_FUNCTION (%s)', (_name, value) => {
    const error = getterProblem({ ...GETTER_ENV, [ENV.refresherFunction]: value });
    expect(error.code).toBe('invalid_config');
    expect(error.message).toMatch(new RegExp(`^invalid environment: ${ENV.refresherFunction}: `));
  });

  it.each([
    ['a name', 'gtb-refresher'],
    ['a qualified name', 'gtb-refresher:live'],
    ['a partial ARN', '123456789012:function:gtb-refresher'],
    ['an ARN', 'arn:aws:lambda:eu-west-1:123456789012:function:gtb-refresher'],
    ['a qualified ARN', 'arn:aws:lambda:eu-west-1:123456789012:function:gtb-refresher:7'],
  ])('accepts %s as BROKER_REFRESHER_FUNCTION', (_name, refresherFunction) => {
    expect(loadGetterConfig({ ...GETTER_ENV, [ENV.refresherFunction]: refresherFunction }).refresherFunction).toBe(refresherFunction);
  });

  it.each([
    ['a space', 'gtb refresher'],
    ['a query string', 'gtb-refresher?Qualifier=x'],
    ['171 characters', 'f'.repeat(171)],
  ])('rejects a BROKER_REFRESHER_FUNCTION with %s', (_name, refresherFunction) => {
    expect(getterProblem({ ...GETTER_ENV, [ENV.refresherFunction]: refresherFunction }).message).toContain(`${ENV.refresherFunction}: `);
  });

  it('requires BROKER_REGISTRY_TABLE, naming every bad variable at once', () => {
    const { message } = getterProblem({});
    expect(message).toContain(`${ENV.registryTable}: `);
    expect(message).toContain(`${ENV.refresherFunction}: `);
  });

  describe('BROKER_ALLOWED_ORG_IDS', () => {
    it.each([
      ['unset', undefined],
      ['empty', ''],
    ])('serves every org when %s', (_name, value) => {
      expect(loadGetterConfig({ ...GETTER_ENV, [ENV.allowedOrgIds]: value })).not.toHaveProperty('allowedOrgIds');
    });

    it('reads a comma-separated list, trimmed and lower-cased', () => {
      expect(loadGetterConfig({ ...GETTER_ENV, [ENV.allowedOrgIds]: ` ${ORG_A.toUpperCase()} ,${ORG_B}` }).allowedOrgIds).toEqual([ORG_A, ORG_B]);
    });

    it.each([
      ['a name', 'acme'],
      ['one bad entry among good ones', `${ORG_A},not-an-org`],
      ['an empty entry', `${ORG_A},,${ORG_B}`],
      ['a trailing comma', `${ORG_A},`],
      ['only a comma', ','],
      ['semicolons', `${ORG_A};${ORG_B}`],
    ])('rejects %s, naming the variable and not the value', (_name, value) => {
      const error = getterProblem({ ...GETTER_ENV, [ENV.allowedOrgIds]: value });
      expect(error.code).toBe('invalid_config');
      expect(error.message).toBe(`invalid environment: ${ENV.allowedOrgIds}: must be a comma-separated list of Genesys Cloud organization ids (UUIDs)`);
    });

    it('accepts any list of UUIDs, in any case and with spaces around them', () => {
      fc.assert(
        fc.property(fc.array(fc.uuid(), { minLength: 1, maxLength: 20 }), fc.array(fc.boolean(), { maxLength: 20 }), (ids, upper) => {
          const raw = ids.map((id, i) => ` ${upper[i] ? id.toUpperCase() : id} `).join(',');
          expect(loadGetterConfig({ ...GETTER_ENV, [ENV.allowedOrgIds]: raw }).allowedOrgIds).toEqual(ids.map((id) => id.toLowerCase()));
        }),
      );
    });
  });

  it.each([
    ['0', 0],
    ['3600', 3600],
  ])('accepts BROKER_GETTER_CACHE_MAX_AGE_SECONDS=%s', (value, seconds) => {
    expect(loadGetterConfig({ ...GETTER_ENV, [ENV.getterCacheMaxAgeSeconds]: value }).getterCacheMaxAgeSeconds).toBe(seconds);
  });

  it.each(['-1', '3601', '1.5', 'five'])('rejects BROKER_GETTER_CACHE_MAX_AGE_SECONDS=%s', (value) => {
    expect(getterProblem({ ...GETTER_ENV, [ENV.getterCacheMaxAgeSeconds]: value }).message).toContain(`${ENV.getterCacheMaxAgeSeconds}: `);
  });

  it('rejects a secret prefix Secrets Manager cannot start a name with', () => {
    expect(getterProblem({ ...GETTER_ENV, [ENV.secretPrefix]: 'gtb/' }).message).toBe(`invalid environment: ${ENV.secretPrefix}: must not end with a slash`);
  });
});

describe('loadConfig', () => {
  const REFRESHER_ENV = { [ENV.registryTable]: 'gtb-registry', [ENV.auditTable]: 'gtb-audit' };

  it('needs the registry and audit tables, and defaults the rest', () => {
    expect(loadConfig(REFRESHER_ENV)).toEqual({
      secretPrefix: DEFAULT_SECRET_PREFIX,
      registryTable: 'gtb-registry',
      auditTable: 'gtb-audit',
      refreshAtFraction: BROKER_SETTINGS.refreshAtFraction.default,
      sweepConcurrency: BROKER_SETTINGS.sweepConcurrency.default,
      sweepIntervalSeconds: BROKER_SETTINGS.sweepIntervalSeconds.default,
      secretWriteRatePerSecond: BROKER_SETTINGS.secretWriteRatePerSecond.default,
      auditRetentionDays: BROKER_SETTINGS.auditRetentionDays.default,
      crossAccountReaders: [],
    });
  });

  it('reads the cross-account readers the construct recorded, and refuses a malformed list naming the variable', () => {
    const readers = [{ principal: 'arn:aws:iam::210987654321:role/team-a', orgIds: ['0B1C2D3E-4F50-4A6B-8C7D-9E0F1A2B3C4D'] }, { principal: 'arn:aws:iam::210987654322:root', orgIds: '*' }];
    expect(loadConfig({ ...REFRESHER_ENV, [ENV.crossAccountReaders]: JSON.stringify(readers) }).crossAccountReaders).toEqual([
      { principal: 'arn:aws:iam::210987654321:role/team-a', orgIds: ['0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d'] },
      { principal: 'arn:aws:iam::210987654322:root', orgIds: '*' },
    ]);
    expect(() => loadConfig({ ...REFRESHER_ENV, [ENV.crossAccountReaders]: JSON.stringify([{ principal: '*', orgIds: '*' }]) })).toThrow(
      expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining(`invalid environment: ${ENV.crossAccountReaders} at 0.principal`) }),
    );
  });

  it('does not need the getter-only variables', () => {
    expect(loadConfig({ ...REFRESHER_ENV, [ENV.refresherFunction]: undefined, [ENV.allowedOrgIds]: 'not read' })).not.toHaveProperty('refresherFunction');
  });

  describe('BROKER_EVENT_BUS', () => {
    it.each([
      ['unset', undefined],
      ['empty', ''],
    ])('publishes no events when %s', (_name, value) => {
      expect(loadConfig({ ...REFRESHER_ENV, [ENV.eventBus]: value })).not.toHaveProperty('eventBus');
    });

    it.each([
      ['the default bus', 'default'],
      ['a custom bus name', 'acme.broker-events_1'],
      ['a bus ARN', 'arn:aws:events:eu-west-1:123456789012:event-bus/default'],
      ['a bus ARN in another partition', 'arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/acme'],
    ])('accepts %s', (_name, value) => {
      expect(loadConfig({ ...REFRESHER_ENV, [ENV.eventBus]: value }).eventBus).toBe(value);
    });

    it.each([
      ['a space', 'my bus'],
      ['another service ARN', 'arn:aws:sqs:eu-west-1:123456789012:queue'],
      ['a short account id', 'arn:aws:events:eu-west-1:1234:event-bus/default'],
      ['257 characters', 'b'.repeat(257)],
    ])('rejects %s, naming the variable', (_name, value) => {
      expect(() => loadConfig({ ...REFRESHER_ENV, [ENV.eventBus]: value })).toThrow(`invalid environment: ${ENV.eventBus}: must be an event bus name or ARN`);
    });
  });

  it('names each bad variable', () => {
    expect(() => loadConfig({ [ENV.registryTable]: 'gtb-registry', [ENV.refreshAtFraction]: '0.95' })).toThrow(
      expect.objectContaining({ code: 'invalid_config', message: expect.stringMatching(new RegExp(`${ENV.auditTable}: .*; ${ENV.refreshAtFraction}: `)) }),
    );
  });
});
