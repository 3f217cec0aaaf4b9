/**
 * The cross-account reader list (core/cross-account-readers.ts): what the refresher accepts from the
 * construct, which principals may read an org's token, the policy document, the canonical form.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalReaders,
  type CrossAccountReader,
  MAX_CROSS_ACCOUNT_READERS,
  parseCrossAccountReaders,
  readerPrincipalsFor,
  tokenSecretPolicy,
} from '../../lambdas/core/cross-account-readers.js';
import { ValidationError } from '../../lambdas/core/errors.js';

const ORG_A = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const ORG_B = '1b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const ROLE = 'arn:aws:iam::210987654321:role/team-a/token-reader';
const ROOT = 'arn:aws:iam::210987654322:root';
const USER = 'arn:aws-us-gov:iam::210987654323:user/ci';

describe('parseCrossAccountReaders', () => {
  it('reads nothing from an unset or empty variable', () => {
    expect(parseCrossAccountReaders(undefined)).toEqual([]);
    expect(parseCrossAccountReaders('')).toEqual([]);
    expect(parseCrossAccountReaders('  ')).toEqual([]);
    expect(parseCrossAccountReaders('[]')).toEqual([]);
  });

  it('reads roles, users and account roots with org lists (lower-cased) or every org', () => {
    const text = JSON.stringify([
      { principal: ROLE, orgIds: [ORG_A.toUpperCase(), ORG_B] },
      { principal: ROOT, orgIds: '*' },
      { principal: USER, orgIds: [ORG_B] },
    ]);
    expect(parseCrossAccountReaders(text)).toEqual([
      { principal: ROLE, orgIds: [ORG_A, ORG_B] },
      { principal: ROOT, orgIds: '*' },
      { principal: USER, orgIds: [ORG_B] },
    ]);
  });

  it.each([
    ['not JSON', '[{', 'must be a JSON list of { principal, orgIds }'],
    ['not a list', JSON.stringify({ principal: ROLE, orgIds: '*' }), 'cross-account readers: '],
    ['anyone', JSON.stringify([{ principal: '*', orgIds: '*' }]), 'at 0.principal'],
    ['a service', JSON.stringify([{ principal: 'arn:aws:iam::210987654321:service/lambda', orgIds: '*' }]), 'at 0.principal'],
    ['an account id alone', JSON.stringify([{ principal: '210987654321', orgIds: '*' }]), 'at 0.principal'],
    ['a wildcard role', JSON.stringify([{ principal: 'arn:aws:iam::210987654321:role/*', orgIds: '*' }]), 'at 0.principal'],
    ['a short account', JSON.stringify([{ principal: 'arn:aws:iam::2109876543:root', orgIds: '*' }]), 'at 0.principal'],
    ['text before the ARN', JSON.stringify([{ principal: 'x arn:aws:iam::210987654321:root', orgIds: '*' }]), 'at 0.principal'],
    ['text after the root', JSON.stringify([{ principal: 'arn:aws:iam::210987654321:root-and-more', orgIds: '*' }]), 'at 0.principal'],
    ['another partition prefix', JSON.stringify([{ principal: 'arn:awsx:iam::210987654321:root', orgIds: '*' }]), 'at 0.principal'],
    ['a non-UUID org', JSON.stringify([{ principal: ROLE, orgIds: ['acme'] }]), 'at 0.orgIds.0: must be a Genesys Cloud organization id (UUID)'],
    ['no orgs', JSON.stringify([{ principal: ROLE, orgIds: [] }]), 'at 0.orgIds'],
    ['another wildcard', JSON.stringify([{ principal: ROLE, orgIds: 'all' }]), 'at 0.orgIds'],
    ['an unknown field', JSON.stringify([{ principal: ROLE, orgIds: '*', actions: ['secretsmanager:*'] }]), 'at 0'],
    ['a missing principal', JSON.stringify([{ orgIds: '*' }]), 'at 0.principal'],
  ])('refuses %s with a typed error naming where', (_what, text, message) => {
    let caught: unknown;
    try {
      parseCrossAccountReaders(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect(caught).toMatchObject({ code: 'invalid_config', field: 'cross-account readers' });
    expect((caught as Error).message).toContain(message);
  });

  it(`refuses more than ${MAX_CROSS_ACCOUNT_READERS} readers, and names the variable it was given`, () => {
    const many = Array.from({ length: MAX_CROSS_ACCOUNT_READERS + 1 }, (_, i) => ({ principal: `arn:aws:iam::${String(210987654300 + i)}:root`, orgIds: '*' }));
    expect(parseCrossAccountReaders(JSON.stringify(many.slice(0, MAX_CROSS_ACCOUNT_READERS)))).toHaveLength(MAX_CROSS_ACCOUNT_READERS);
    expect(() => parseCrossAccountReaders(JSON.stringify(many), 'BROKER_CROSS_ACCOUNT_READERS')).toThrow(/^BROKER_CROSS_ACCOUNT_READERS: .*at most 20 readers/);
  });
});

describe('readerPrincipalsFor', () => {
  const readers: CrossAccountReader[] = [
    { principal: ROLE, orgIds: [ORG_A] },
    { principal: ROOT, orgIds: '*' },
    { principal: ROLE, orgIds: [ORG_B] },
    { principal: USER, orgIds: [ORG_B] },
  ];

  it('names each principal that may read the org once, sorted, whatever the case of the org id', () => {
    expect(readerPrincipalsFor(ORG_A, readers)).toEqual([ROLE, ROOT]);
    expect(readerPrincipalsFor(ORG_B.toUpperCase(), readers)).toEqual([ROLE, ROOT, USER].sort());
    expect(readerPrincipalsFor('2b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d', readers)).toEqual([ROOT]);
    expect(readerPrincipalsFor(ORG_A, [])).toEqual([]);
  });
});

describe('tokenSecretPolicy', () => {
  it('allows GetSecretValue to exactly the named principals, and is absent without them', () => {
    expect(tokenSecretPolicy([])).toBeUndefined();
    expect(JSON.parse(tokenSecretPolicy([ROLE])!)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'GenesysTokenBrokerCrossAccountReaders', Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
    });
    expect(JSON.parse(tokenSecretPolicy([ROOT, ROLE])!).Statement[0].Principal).toEqual({ AWS: [ROOT, ROLE] });
  });
});

describe('canonicalReaders', () => {
  const reader = fc.record({
    principal: fc.constantFrom(ROLE, ROOT, USER),
    orgIds: fc.oneof(fc.constant('*' as const), fc.uniqueArray(fc.constantFrom(ORG_A, ORG_B), { minLength: 1 })),
  });

  it('is the same for lists granting the same principals the same orgs, in any order', () => {
    fc.assert(
      fc.property(fc.array(reader, { maxLength: 6 }), fc.infiniteStream(fc.nat()), (readers, seeds) => {
        const shuffled = [...readers].sort(() => (seeds.next().value % 3) - 1).map((r) => ({ ...r, orgIds: r.orgIds === '*' ? r.orgIds : [...r.orgIds].reverse() }));
        expect(canonicalReaders(shuffled)).toBe(canonicalReaders(readers));
      }),
    );
  });

  it('differs when a principal gains or loses an org, or a principal changes', () => {
    const base: CrossAccountReader[] = [{ principal: ROLE, orgIds: [ORG_A] }];
    expect(canonicalReaders([{ principal: ROLE, orgIds: [ORG_A, ORG_B] }])).not.toBe(canonicalReaders(base));
    expect(canonicalReaders([{ principal: ROOT, orgIds: [ORG_A] }])).not.toBe(canonicalReaders(base));
    expect(canonicalReaders([{ principal: ROLE, orgIds: '*' }])).not.toBe(canonicalReaders(base));
    expect(canonicalReaders([])).not.toBe(canonicalReaders(base));
    // Org ids compare without case.
    expect(canonicalReaders([{ principal: ROLE, orgIds: [ORG_A.toUpperCase()] }])).toBe(canonicalReaders(base));
    // `*` absorbs any list for that principal.
    expect(canonicalReaders([{ principal: ROLE, orgIds: '*' }, { principal: ROLE, orgIds: [ORG_A] }])).toBe(canonicalReaders([{ principal: ROLE, orgIds: '*' }]));
  });
});
