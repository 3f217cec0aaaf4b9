/**
 * Handler configuration, read once at cold start from the environment and validated. Errors name the
 * variable and what is allowed; values are echoed only for non-secret settings (all of these are).
 * Ranges and defaults come from core/settings.ts, the module the construct validates its props with.
 */
import { z } from 'zod';
import { secretPrefixProblem } from '../adapters/aws/secret-names.js';
import { BrokerError } from '../core/errors.js';
import { ENV } from '../core/env-names.js';
import { BROKER_SETTINGS, type BrokerSettingName, DEFAULT_SECRET_PREFIX } from '../core/settings.js';

/** A number from an environment variable, within the setting's range, or the setting's default. */
function setting(name: BrokerSettingName) {
  const range = BROKER_SETTINGS[name];
  const number = z.coerce.number().min(range.min).max(range.max);
  return (range.integer ? number.int() : number).default(range.default);
}

const schema = z.object({
  [ENV.secretPrefix]: z.string().superRefine((s, ctx) => {
    const problem = secretPrefixProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).default(DEFAULT_SECRET_PREFIX),
  [ENV.registryTable]: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/),
  [ENV.auditTable]: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/),
  [ENV.kmsKeyId]: z.string().min(1).max(2048).optional(),
  [ENV.refreshAtFraction]: setting('refreshAtFraction'),
  [ENV.sweepConcurrency]: setting('sweepConcurrency'),
  [ENV.secretWriteRatePerSecond]: setting('secretWriteRatePerSecond'),
  [ENV.auditRetentionDays]: setting('auditRetentionDays'),
  [ENV.getterCacheMaxAgeSeconds]: setting('getterCacheMaxAgeSeconds'),
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
