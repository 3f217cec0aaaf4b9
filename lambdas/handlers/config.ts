/**
 * Handler configuration (the refresher's and the getter's), read once at cold start from the
 * environment and validated. Errors name the variable and what is allowed; values are echoed only for
 * non-secret settings (all of these are). Ranges and defaults come from core/settings.ts, the module
 * the construct validates its props with. zod/mini, since the getter's bundle carries this module.
 */
import * as z from 'zod/mini';
import { secretPrefixProblem } from '../adapters/aws/secret-names.js';
import { type CrossAccountReader, parseCrossAccountReaders } from '../core/cross-account-readers.js';
import { BrokerError } from '../core/errors.js';
import { ENV } from '../core/env-names.js';
import { BROKER_SETTINGS, type BrokerSettingName, DEFAULT_SECRET_PREFIX } from '../core/settings.js';
import { isOrgId } from '../core/token-record.js';

/** A number from an environment variable, within the setting's range, or the setting's default. */
function setting(name: BrokerSettingName) {
  const range = BROKER_SETTINGS[name];
  const bounds = [z.minimum(range.min), z.maximum(range.max)] as const;
  const number = range.integer ? z.coerce.number().check(...bounds, z.int()) : z.coerce.number().check(...bounds);
  return z._default(number, range.default);
}

const tableName = z.string().check(z.regex(/^[A-Za-z0-9_.-]{3,255}$/));
const secretPrefix = z._default(
  z.string().check(
    z.superRefine((s, ctx) => {
      const problem = secretPrefixProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, input: s });
    }),
  ),
  DEFAULT_SECRET_PREFIX,
);

const deployment = z.optional(z.string().check(z.minLength(1), z.maxLength(255)));

/** An event bus name, or its ARN (PutEvents takes either; an ARN also reaches a bus in another account). */
const eventBus = z.optional(
  z.string().check(z.regex(/^(?:[A-Za-z0-9._\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]{1,256})$/, 'must be an event bus name or ARN')),
);

const refresherSchema = z.object({
  [ENV.deployment]: deployment,
  [ENV.secretPrefix]: secretPrefix,
  [ENV.registryTable]: tableName,
  [ENV.auditTable]: tableName,
  [ENV.kmsKeyId]: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  [ENV.refreshAtFraction]: setting('refreshAtFraction'),
  [ENV.sweepIntervalSeconds]: setting('sweepIntervalSeconds'),
  [ENV.sweepConcurrency]: setting('sweepConcurrency'),
  [ENV.secretWriteRatePerSecond]: setting('secretWriteRatePerSecond'),
  [ENV.auditRetentionDays]: setting('auditRetentionDays'),
  [ENV.eventBus]: eventBus,
});

/** Comma-separated org ids, each a UUID, at least one; stored lower-case. */
const orgIdList = z.pipe(
  z.string(),
  z.transform((s) => s.split(',').map((id) => id.trim().toLowerCase())),
).check(z.refine((ids) => ids.length > 0 && ids.every(isOrgId), 'must be a comma-separated list of Genesys Cloud organization ids (UUIDs)'));

const getterSchema = z.object({
  [ENV.deployment]: deployment,
  [ENV.secretPrefix]: secretPrefix,
  [ENV.registryTable]: tableName,
  [ENV.getterCacheMaxAgeSeconds]: setting('getterCacheMaxAgeSeconds'),
  // A function name, partial or full ARN, optionally qualified.
  [ENV.refresherFunction]: z.string().check(z.regex(/^[A-Za-z0-9_:.\-/]{1,170}$/)),
  [ENV.allowedOrgIds]: z.optional(orgIdList),
});

/** The refresher's settings. */
export interface BrokerConfig {
  /** The `deployment` metric dimension; absent outside the construct (tests, hand-made functions). */
  deployment?: string;
  secretPrefix: string;
  registryTable: string;
  auditTable: string;
  kmsKeyId?: string;
  refreshAtFraction: number;
  /** Seconds between scheduled sweeps: the refresh policy's sweep interval. */
  sweepIntervalSeconds: number;
  sweepConcurrency: number;
  secretWriteRatePerSecond: number;
  auditRetentionDays: number;
  /** Readers of token secrets in other accounts; empty when there are none. */
  crossAccountReaders: CrossAccountReader[];
  /** The bus per-org events go to; absent: none are published (the construct's `eventsEnabled: false`). */
  eventBus?: string;
}

/** A getter's settings: where tokens and the registry are, whom to ask for a refresh, whom it serves. */
export interface GetterConfig {
  deployment?: string;
  secretPrefix: string;
  registryTable: string;
  getterCacheMaxAgeSeconds: number;
  refresherFunction: string;
  /** Absent: every org. */
  allowedOrgIds?: string[];
}

/** Validates `env` against `schema`; empty strings mean "not set". Throws `invalid_config` naming every bad variable. */
function parseEnv<T extends z.ZodMiniType>(schema: T, env: Record<string, string | undefined>): z.output<T> {
  // Empty strings mean "not set" (CloudFormation cannot omit a variable conditionally with ease).
  const present = Object.fromEntries(Object.values(ENV).map((name) => [name, env[name] === '' ? undefined : env[name]]));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ');
    throw new BrokerError('invalid_config', `invalid environment: ${problems}`);
  }
  return parsed.data;
}

/** The refresher's environment. Throws `invalid_config` naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): BrokerConfig {
  const v = parseEnv(refresherSchema, env);
  return {
    ...(v[ENV.deployment] ? { deployment: v[ENV.deployment] } : {}),
    secretPrefix: v[ENV.secretPrefix],
    registryTable: v[ENV.registryTable],
    auditTable: v[ENV.auditTable],
    ...(v[ENV.kmsKeyId] ? { kmsKeyId: v[ENV.kmsKeyId] } : {}),
    refreshAtFraction: v[ENV.refreshAtFraction],
    sweepIntervalSeconds: v[ENV.sweepIntervalSeconds],
    sweepConcurrency: v[ENV.sweepConcurrency],
    secretWriteRatePerSecond: v[ENV.secretWriteRatePerSecond],
    auditRetentionDays: v[ENV.auditRetentionDays],
    crossAccountReaders: readersFrom(env[ENV.crossAccountReaders]),
    ...(v[ENV.eventBus] ? { eventBus: v[ENV.eventBus] } : {}),
  };
}

function readersFrom(text: string | undefined): CrossAccountReader[] {
  try {
    return parseCrossAccountReaders(text, ENV.crossAccountReaders);
  } catch (err) {
    throw new BrokerError('invalid_config', `invalid environment: ${(err as Error).message}`);
  }
}

/** A getter's environment. Throws `invalid_config` naming every bad variable. */
export function loadGetterConfig(env: Record<string, string | undefined>): GetterConfig {
  const v = parseEnv(getterSchema, env);
  return {
    ...(v[ENV.deployment] ? { deployment: v[ENV.deployment] } : {}),
    secretPrefix: v[ENV.secretPrefix],
    registryTable: v[ENV.registryTable],
    getterCacheMaxAgeSeconds: v[ENV.getterCacheMaxAgeSeconds],
    refresherFunction: v[ENV.refresherFunction],
    ...(v[ENV.allowedOrgIds] ? { allowedOrgIds: v[ENV.allowedOrgIds] } : {}),
  };
}
