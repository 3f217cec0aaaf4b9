/**
 * Handler configuration, read once at cold start from the environment and validated. Errors name the
 * variable and what is allowed; values are echoed only for non-secret settings (all of these are).
 */
import { z } from 'zod';
import { secretPrefixProblem } from '../adapters/aws/secret-names.js';
import { BrokerError } from '../core/errors.js';
import { ENV } from '../core/env-names.js';
import { MAX_REFRESH_AT_FRACTION, MIN_REFRESH_AT_FRACTION } from '../core/policy.js';

const intIn = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const schema = z.object({
  [ENV.secretPrefix]: z.string().superRefine((s, ctx) => {
    const problem = secretPrefixProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).default('genesys-token-broker'),
  [ENV.registryTable]: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/),
  [ENV.auditTable]: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/),
  [ENV.kmsKeyId]: z.string().min(1).max(2048).optional(),
  [ENV.refreshAtFraction]: z.coerce.number().min(MIN_REFRESH_AT_FRACTION).max(MAX_REFRESH_AT_FRACTION).default(0.75),
  [ENV.sweepConcurrency]: intIn(1, 256, 16),
  [ENV.secretWriteRatePerSecond]: intIn(1, 50, 20),
  [ENV.auditRetentionDays]: intIn(1, 3650, 90),
  [ENV.getterCacheMaxAgeSeconds]: intIn(0, 3600, 300),
});

export interface BrokerConfig {
  secretPrefix: string;
  registryTable: string;
  auditTable: string;
  kmsKeyId?: string;
  refreshAtFraction: number;
  sweepConcurrency: number;
  secretWriteRatePerSecond: number;
  auditRetentionDays: number;
  getterCacheMaxAgeSeconds: number;
}

/** Validates the environment. Throws `invalid_config` naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): BrokerConfig {
  // Empty strings mean "not set" (CloudFormation cannot omit a variable conditionally with ease).
  const present = Object.fromEntries(Object.values(ENV).map((name) => [name, env[name] === '' ? undefined : env[name]]));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ');
    throw new BrokerError('invalid_config', `invalid environment: ${problems}`);
  }
  const v = parsed.data;
  return {
    secretPrefix: v[ENV.secretPrefix],
    registryTable: v[ENV.registryTable],
    auditTable: v[ENV.auditTable],
    ...(v[ENV.kmsKeyId] ? { kmsKeyId: v[ENV.kmsKeyId] } : {}),
    refreshAtFraction: v[ENV.refreshAtFraction],
    sweepConcurrency: v[ENV.sweepConcurrency],
    secretWriteRatePerSecond: v[ENV.secretWriteRatePerSecond],
    auditRetentionDays: v[ENV.auditRetentionDays],
    getterCacheMaxAgeSeconds: v[ENV.getterCacheMaxAgeSeconds],
  };
}
