/**
 * Local-mode configuration: `broker.config.json` (or `--config <path>`), validated with zod. Every
 * problem is reported with its JSON path (`orgs[1].region: unknown Genesys Cloud region ...`).
 *
 * The file never holds a secret: each org names the environment variable that holds its client
 * secret (`clientSecretEnv`) and, for the refresh_token grant, its initial refresh token
 * (`refreshTokenEnv`). Messages name variables and paths, never values of secrets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { ValidationError } from '../../lambdas/core/errors.js';
import { MAX_REFRESH_AT_FRACTION, MIN_REFRESH_AT_FRACTION } from '../../lambdas/core/policy.js';
import type { ClientCredentials, GrantType } from '../../lambdas/core/ports.js';
import { findRegion, resolveRegion } from '../../lambdas/core/regions.js';
import { isOrgId } from '../../lambdas/core/token-record.js';

/** Name of the config file looked up in the working directory. */
export const CONFIG_FILE_NAME = 'broker.config.json';
/** Default port of the HTTP getter. */
export const DEFAULT_PORT = 4180;
/** Default bind address: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
/** Default sweep interval, as the Lambda schedule's default rate. */
export const DEFAULT_SCHEDULE_SECONDS = 300;
export const MIN_SCHEDULE_SECONDS = 5;
export const MAX_SCHEDULE_SECONDS = 86_400;
/** Environment variable consulted for the bearer key when the config names none. */
export const DEFAULT_API_KEY_ENV = 'BROKER_API_KEY';
/** Shortest accepted bearer key: a guessable key is no protection. */
export const MIN_API_KEY_LENGTH = 16;
/** Largest config file read: a bigger one is a mistake, not a config. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** An invalid config file or environment. `problems` lists every `path: problem` found. */
export class ConfigError extends ValidationError {
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(`${source}: ${problems.join('; ')}`, { code: 'invalid_config', field: problems[0]?.split(':')[0] ?? '(root)' });
    this.problems = problems;
  }
}

/** One org as the config file describes it, after validation and defaults. */
export interface LocalOrgConfig {
  orgId: string;
  /** Region domain, normalised from a key or domain (`eu-west-1` becomes `mypurecloud.ie`). */
  region: string;
  grantType: GrantType;
  label?: string;
  enabled: boolean;
  clientId: string;
  /** Name of the environment variable holding the client secret. */
  clientSecretEnv: string;
  /** Name of the environment variable holding the initial refresh token (refresh_token grant only). */
  refreshTokenEnv?: string;
}

/** The validated config file. */
export interface LocalConfig {
  /** Absolute path of the file this came from. */
  source: string;
  /** Absolute data directory when the file sets one (relative paths resolve against the file's directory). */
  dataDir?: string;
  port: number;
  host: string;
  /** Name of the environment variable holding the bearer key, if the file names one. */
  apiKeyEnv?: string;
  refreshAtFraction?: number;
  scheduleSeconds: number;
  orgs: LocalOrgConfig[];
}

/** Keys people put secrets under by mistake: refused with a message saying where secrets go. */
const SECRET_KEYS: Record<string, string> = {
  clientSecret: 'clientSecretEnv',
  secret: 'clientSecretEnv',
  refreshToken: 'refreshTokenEnv',
  apiKey: 'apiKeyEnv',
};

/**
 * Whether `value` reads as an environment variable name: upper case, words of letters (each at most
 * 24, optionally ending in up to 4 digits) or short numbers, joined by `_`. Only such a value is ever
 * echoed in a message. Genesys secrets are mixed case and fail the first test; a secret pasted in all
 * upper case fails the second (a random run interleaves digits and letters, and is longer than a word).
 * Honest limit: a short run of capital letters alone cannot be told from a name.
 */
export function isEnvVarName(value: string): boolean {
  if (!/^[A-Z_][A-Z0-9_]{0,127}$/.test(value)) return false;
  return value.split('_').every((word) => word === '' || /^[A-Z]{1,24}[0-9]{0,4}$/.test(word) || /^[0-9]{1,8}$/.test(word));
}

/** An env var name, by {@link isEnvVarName}; the message never quotes the value. */
const envName = z
  .string()
  .refine(isEnvVarName, 'must be the NAME of an environment variable (words of A-Z, 0-9 joined by _), such as GENESYS_ACME_CLIENT_SECRET; never the secret itself');

/** A variable name for a message: shown only when it reads as a name, so a pasted secret is never echoed. */
const shownName = (name: string) => (isEnvVarName(name) ? name : '(the name is not shown: it does not read as a variable name and may be a secret)');

const regionSchema = z.string().superRefine((value, ctx) => {
  if (findRegion(value)) return;
  try {
    resolveRegion(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const orgSchema = z.strictObject({
  orgId: z.string().refine(isOrgId, 'must be a Genesys Cloud organization id (a UUID)'),
  region: regionSchema,
  grantType: z.enum(['client_credentials', 'refresh_token']).optional(),
  label: z.string().min(1).max(100).optional(),
  enabled: z.boolean().optional(),
  clientId: z.string().min(1).max(200),
  clientSecretEnv: envName,
  refreshTokenEnv: envName.optional(),
});

const fileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    dataDir: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65_535).optional(),
    host: z.string().min(1).max(253).refine(isHostAddress, 'must be an IP address or "localhost"').optional(),
    apiKeyEnv: envName.optional(),
    refreshAtFraction: z.number().min(MIN_REFRESH_AT_FRACTION).max(MAX_REFRESH_AT_FRACTION).optional(),
    scheduleSeconds: z.number().int().min(MIN_SCHEDULE_SECONDS).max(MAX_SCHEDULE_SECONDS).optional(),
    orgs: z.array(orgSchema).max(1000),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.orgs.forEach((org, i) => {
      const key = org.orgId.toLowerCase();
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['orgs', i, 'orgId'], message: `duplicate of orgs[${first}].orgId` });
      else seen.set(key, i);
      const grant = org.grantType ?? (org.refreshTokenEnv ? 'refresh_token' : 'client_credentials');
      if (grant === 'refresh_token' && !org.refreshTokenEnv) {
        ctx.addIssue({ code: 'custom', path: ['orgs', i, 'refreshTokenEnv'], message: 'is required when grantType is "refresh_token"' });
      }
      if (grant === 'client_credentials' && org.refreshTokenEnv) {
        ctx.addIssue({ code: 'custom', path: ['orgs', i, 'refreshTokenEnv'], message: 'is only used with grantType "refresh_token"' });
      }
    });
  });

function isHostAddress(host: string): boolean {
  return host === 'localhost' || isIP(host) !== 0;
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** `['orgs', 1, 'region']` becomes `orgs[1].region`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Turns zod issues into `path: problem` lines. Messages never quote input values. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const problems: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const where = formatPath([...issue.path, key]);
        const home = SECRET_KEYS[key];
        problems.push(home
          ? `${where}: secrets do not belong in the config file; put the value in an environment variable and name that variable in ${home}`
          : `${where}: unknown key`);
      }
      continue;
    }
    problems.push(`${formatPath(issue.path)}: ${issue.message}`);
  }
  return problems;
}

/**
 * Validates parsed config JSON. `source` names the file in messages; `baseDir` resolves a relative
 * `dataDir`. Throws {@link ConfigError} listing every problem.
 */
export function parseLocalConfig(json: unknown, options: { source: string; baseDir: string }): LocalConfig {
  const parsed = fileSchema.safeParse(json, { error: (issue) => (issue.input === undefined ? 'is required' : undefined) });
  if (!parsed.success) throw new ConfigError(options.source, describeIssues(parsed.error.issues));
  const file = parsed.data;
  return {
    source: options.source,
    ...(file.dataDir !== undefined ? { dataDir: resolve(options.baseDir, file.dataDir) } : {}),
    port: file.port ?? DEFAULT_PORT,
    host: file.host ?? DEFAULT_HOST,
    ...(file.apiKeyEnv !== undefined ? { apiKeyEnv: file.apiKeyEnv } : {}),
    ...(file.refreshAtFraction !== undefined ? { refreshAtFraction: file.refreshAtFraction } : {}),
    scheduleSeconds: file.scheduleSeconds ?? DEFAULT_SCHEDULE_SECONDS,
    orgs: file.orgs.map((org) => ({
      orgId: org.orgId.toLowerCase(),
      region: (findRegion(org.region) as NonNullable<ReturnType<typeof findRegion>>).domain,
      grantType: org.grantType ?? (org.refreshTokenEnv ? 'refresh_token' : 'client_credentials'),
      ...(org.label !== undefined ? { label: org.label } : {}),
      enabled: org.enabled ?? true,
      clientId: org.clientId,
      clientSecretEnv: org.clientSecretEnv,
      ...(org.refreshTokenEnv !== undefined ? { refreshTokenEnv: org.refreshTokenEnv } : {}),
    })),
  };
}

/** Reads and validates a config file. A missing, unreadable or non-JSON file is a {@link ConfigError}. */
export function readLocalConfig(path: string): LocalConfig {
  const source = resolve(path);
  let text: string;
  try {
    const buffer = readFileSync(source);
    if (buffer.length > MAX_CONFIG_BYTES) throw new ConfigError(source, [`(root): file is ${buffer.length} bytes; the limit is ${MAX_CONFIG_BYTES}`]);
    text = buffer.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as { code?: string }).code ?? 'error';
    throw new ConfigError(source, [`(root): cannot read the file (${code})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error, which could be a pasted secret: keep only the position.
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    const where = position === undefined ? '' : ` at ${lineAndColumn(text, Number(position))}`;
    throw new ConfigError(source, [`(root): not valid JSON${where} (check quotes, commas and brackets)`]);
  }
  return parseLocalConfig(json, { source, baseDir: dirname(source) });
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

/**
 * Where the config comes from: `--config <path>` (which must exist), else `broker.config.json` in
 * `cwd` if present, else undefined (demo mode).
 */
export function locateConfigFile(cwd: string, explicit?: string): string | undefined {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new ConfigError(path, ['(root): config file not found']);
    return path;
  }
  const path = resolve(cwd, CONFIG_FILE_NAME);
  return existsSync(path) ? path : undefined;
}

/** An org with its secrets read from the environment. Held in memory only while syncing the store. */
export interface ResolvedOrg {
  org: LocalOrgConfig;
  /** `orgs[i]`, for messages. */
  path: string;
  /** `refreshToken`, when present, is the initial (seed) refresh token from the environment. */
  credentials: ClientCredentials;
}

/**
 * Reads every org's secrets from `env`. A missing client secret is a {@link ConfigError} naming the
 * path and the variable. A missing refresh token variable is allowed here (the store may already hold
 * a rotated one); the store sync decides.
 */
export function resolveOrgSecrets(config: LocalConfig, env: Record<string, string | undefined>): ResolvedOrg[] {
  const problems: string[] = [];
  const resolved: ResolvedOrg[] = [];
  config.orgs.forEach((org, i) => {
    const path = `orgs[${i}]`;
    const clientSecret = env[org.clientSecretEnv];
    if (!clientSecret) {
      problems.push(`${path}.clientSecretEnv: environment variable ${shownName(org.clientSecretEnv)} is not set`);
      return;
    }
    const refreshToken = org.refreshTokenEnv ? env[org.refreshTokenEnv] : undefined;
    resolved.push({ org, path, credentials: { clientId: org.clientId, clientSecret, ...(refreshToken ? { refreshToken } : {}) } });
  });
  if (problems.length > 0) throw new ConfigError(config.source, problems);
  return resolved;
}

/**
 * The bearer key protecting the HTTP API: from the variable the config names (which must then be set),
 * else from `BROKER_API_KEY`, else none. A key shorter than {@link MIN_API_KEY_LENGTH}, or holding
 * whitespace (a bearer credential is one token), is refused. A
 * non-loopback `host` requires a key, so the getter is never open to the network.
 */
export function resolveApiKey(options: { source: string; apiKeyEnv?: string; host: string }, env: Record<string, string | undefined>): string | undefined {
  const name = options.apiKeyEnv ?? DEFAULT_API_KEY_ENV;
  const where = options.apiKeyEnv ? 'apiKeyEnv' : DEFAULT_API_KEY_ENV;
  const key = env[name] === '' ? undefined : env[name];
  if (key === undefined && options.apiKeyEnv) {
    throw new ConfigError(options.source, [`apiKeyEnv: environment variable ${shownName(name)} is not set`]);
  }
  if (key !== undefined && /\s/.test(key)) {
    // `Authorization: Bearer <key>` carries one token: a key with whitespace could never be presented.
    throw new ConfigError(options.source, [`${where}: the key in ${name} contains whitespace; use ${MIN_API_KEY_LENGTH} or more random characters without spaces`]);
  }
  if (key !== undefined && key.length < MIN_API_KEY_LENGTH) {
    throw new ConfigError(options.source, [`${where}: the key in ${name} is ${key.length} characters; use at least ${MIN_API_KEY_LENGTH} random characters`]);
  }
  if (key === undefined && !isLoopbackHost(options.host)) {
    throw new ConfigError(options.source, [`host: ${options.host} is reachable from other machines; set apiKeyEnv (or ${DEFAULT_API_KEY_ENV}) so the getter is not open to the network`]);
  }
  return key;
}
