import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.js';
import {
  assertSecretPrefix,
  credentialsSecretName,
  MAX_SECRET_NAME_LENGTH,
  MAX_SECRET_PREFIX_LENGTH,
  parseSecretName,
  secretArnPattern,
  secretPrefixProblem,
  tokenSecretName,
} from '../../lambdas/adapters/aws/secret-names.js';

const ORG = '6e8b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b';

describe('secret names', () => {
  it('builds <prefix>/tokens/<orgId> and <prefix>/credentials/<orgId>', () => {
    expect(tokenSecretName('genesys-token-broker', ORG)).toBe(`genesys-token-broker/tokens/${ORG}`);
    expect(credentialsSecretName('prod/gtb', ORG)).toBe(`prod/gtb/credentials/${ORG}`);
  });

  it.each([
    ['is empty', '', 'non-empty'],
    ['ends with a slash', 'broker/', 'slash'],
    ['has an empty segment', 'a//b', 'empty path segment'],
    ['has a space', 'my broker', 'letters, digits'],
    ['has a non-ASCII letter', 'bröker', 'letters, digits'],
    ['is too long', 'x'.repeat(MAX_SECRET_PREFIX_LENGTH + 1), `at most ${MAX_SECRET_PREFIX_LENGTH}`],
  ])('rejects a prefix that %s with invalid_config', (_label, prefix, problem) => {
    expect(secretPrefixProblem(prefix)).toContain(problem);
    expect(() => assertSecretPrefix(prefix)).toThrow(ValidationError);
    try {
      tokenSecretName(prefix, ORG);
    } catch (err) {
      expect((err as ValidationError).code).toBe('invalid_config');
      expect((err as ValidationError).field).toBe('secretPrefix');
    }
    expect.assertions(4);
  });

  it('rejects an org id that is not a UUID, so no name can escape its path', () => {
    for (const orgId of ['', '../x', `${ORG}/extra`, 'ORG']) {
      expect(() => tokenSecretName('gtb', orgId)).toThrow(/orgId/);
      expect(() => credentialsSecretName('gtb', orgId)).toThrow(ValidationError);
    }
  });

  it('yields names Secrets Manager accepts that parse back to their kind and org, for any valid prefix', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_+=.@-]{1,40}$/);
    const prefix = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));
    fc.assert(
      fc.property(prefix, fc.uuid(), (p, orgId) => {
        for (const [name, kind] of [
          [tokenSecretName(p, orgId), 'token'],
          [credentialsSecretName(p, orgId), 'credentials'],
        ] as const) {
          expect(name).toMatch(/^[A-Za-z0-9/_+=.@-]+$/);
          expect(name.length).toBeLessThanOrEqual(MAX_SECRET_NAME_LENGTH);
          expect(parseSecretName(p, name)).toEqual({ kind, orgId });
        }
      }),
    );
  });

  it('parses no name that this module did not build', () => {
    expect(parseSecretName('gtb', `other/tokens/${ORG}`)).toBeUndefined();
    expect(parseSecretName('gtb', `gtb/keys/${ORG}`)).toBeUndefined();
    expect(parseSecretName('gtb', `gtb/tokens/${ORG}/x`)).toBeUndefined();
    expect(parseSecretName('gtb', 'gtb/tokens')).toBeUndefined();
  });

  it('builds IAM resource patterns that match the six-character ARN suffix', () => {
    expect(secretArnPattern(tokenSecretName('gtb', ORG), { region: 'eu-west-1', account: '111122223333' })).toBe(
      `arn:aws:secretsmanager:eu-west-1:111122223333:secret:gtb/tokens/${ORG}-??????`,
    );
    expect(secretArnPattern('gtb/tokens/*', { partition: 'aws-us-gov', region: 'us-gov-west-1', account: '111122223333' })).toBe(
      'arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:gtb/tokens/*-??????',
    );
  });
});
