/**
 * Where the broker's state lives, from the target flags and an optional `--config` JSON file:
 * a deployed stack (`--stack`), explicit tables and prefix, or local mode's data directory. Flags win
 * over the file. Also the one Genesys override, `--genesys-base-url`, for testing against a simulator.
 */
import { readFileSync } from 'node:fs';
import { secretPrefixProblem } from '../../lambdas/adapters/aws/secret-names.js';
import { DEFAULT_DATA_DIR } from '../../lambdas/adapters/file/file-store.js';
import type { BaseUrlResolver } from '../../lambdas/core/regions.js';
import { DEFAULT_SECRET_PREFIX } from '../../lambdas/core/settings.js';
import { type ParsedValues, flag, stringValue } from './args.js';
import { UsageError } from './exit-codes.js';


export type TargetSpec =
  | { kind: 'stack'; stackName: string }
  | { kind: 'tables'; registryTable: string; auditTable: string; secretPrefix: string; refresherFunction?: string; kmsKeyId?: string }
  | { kind: 'local'; dataDir: string };

/** Keys a `--config` file may hold: the target flags, in kebab-case or camelCase. */
const CONFIG_KEYS = ['stack', 'registry-table', 'audit-table', 'prefix', 'refresher-function', 'kms-key', 'local', 'data-dir'] as const;
type ConfigKey = (typeof CONFIG_KEYS)[number];

const camel = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const KEY_BY_SPELLING = new Map<string, ConfigKey>(CONFIG_KEYS.flatMap((k) => [[k, k], [camel(k), k]] as const));

const MAX_CONFIG_BYTES = 64 * 1024;

/** Reads and validates a `--config` file. Errors name the file and the key. */
export function readTargetConfig(path: string, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): Partial<Record<ConfigKey, string | boolean>> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new UsageError(`--config ${path} cannot be read (${typeof code === 'string' ? code : 'error'})`);
  }
  if (text.length > MAX_CONFIG_BYTES) throw new UsageError(`--config ${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`--config ${path} is not valid JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`--config ${path} must hold a JSON object`);
  const out: Partial<Record<ConfigKey, string | boolean>> = {};
  for (const [spelling, value] of Object.entries(json)) {
    const key = KEY_BY_SPELLING.get(spelling);
    if (!key) throw new UsageError(`--config ${path}: unknown key ${JSON.stringify(spelling.slice(0, 64))}; allowed: ${CONFIG_KEYS.join(', ')}`);
    if (key === 'local') {
      if (typeof value !== 'boolean') throw new UsageError(`--config ${path}: "local" must be true or false`);
    } else if (typeof value !== 'string' || value === '') {
      throw new UsageError(`--config ${path}: "${spelling}" must be a non-empty string`);
    }
    out[key] = value as string | boolean;
  }
  return out;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const FUNCTION_REF = /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$/;
const KMS_KEY = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+)|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias\/[A-Za-z0-9/_-]{1,250})$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$|^arn:aws[a-z-]*:cloudformation:/;

/**
 * The target the flags (and `--config`) describe. Exactly one kind must be chosen; mixing kinds or
 * choosing none is a UsageError that says what to pass.
 */
export function resolveTarget(values: ParsedValues, read?: (path: string) => string): TargetSpec {
  const configPath = stringValue(values, 'config');
  const file = configPath ? readTargetConfig(configPath, read) : {};
  const pick = (key: ConfigKey): string | undefined => stringValue(values, key) ?? (typeof file[key] === 'string' ? (file[key] as string) : undefined);
  const local = flag(values, 'local') || file.local === true || stringValue(values, 'data-dir') !== undefined;
  const stack = pick('stack');
  const explicit = (['registry-table', 'audit-table', 'prefix', 'refresher-function', 'kms-key'] as const).filter((k) => pick(k) !== undefined);
  const chosen = [stack ? '--stack' : undefined, explicit.length ? `--${explicit[0]}` : undefined, local ? '--local' : undefined].filter(Boolean);
  if (chosen.length > 1) {
    throw new UsageError(`choose one target, not ${chosen.join(' and ')}`, ['--stack <name>, or --registry-table/--audit-table/--prefix, or --local']);
  }
  if (stack) {
    if (!STACK_NAME.test(stack)) throw new UsageError('--stack must be a CloudFormation stack name (letters, digits, hyphens; starting with a letter) or stack ARN');
    return { kind: 'stack', stackName: stack };
  }
  if (explicit.length) {
    const registryTable = pick('registry-table');
    const auditTable = pick('audit-table');
    if (!registryTable || !auditTable) {
      throw new UsageError(`an explicit target needs both --registry-table and --audit-table (missing --${registryTable ? 'audit-table' : 'registry-table'})`);
    }
    for (const [name, value] of [['registry-table', registryTable], ['audit-table', auditTable]] as const) {
      if (!TABLE_NAME.test(value)) throw new UsageError(`--${name} must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)`);
    }
    const secretPrefix = pick('prefix') ?? DEFAULT_SECRET_PREFIX;
    const problem = secretPrefixProblem(secretPrefix);
    if (problem) throw new UsageError(`--prefix ${problem}`);
    const refresherFunction = pick('refresher-function');
    if (refresherFunction !== undefined && !FUNCTION_REF.test(refresherFunction)) {
      throw new UsageError('--refresher-function must be a Lambda function name or ARN');
    }
    const kmsKeyId = pick('kms-key');
    if (kmsKeyId !== undefined && !KMS_KEY.test(kmsKeyId)) throw new UsageError('--kms-key must be a KMS key id, key ARN, alias name (alias/...) or alias ARN');
    return { kind: 'tables', registryTable, auditTable, secretPrefix, ...(refresherFunction ? { refresherFunction } : {}), ...(kmsKeyId ? { kmsKeyId } : {}) };
  }
  if (local) return { kind: 'local', dataDir: pick('data-dir') ?? DEFAULT_DATA_DIR };
  throw new UsageError('no target: say where the broker state lives', [
    '--stack <name>               a deployed stack (reads its CloudFormation outputs)',
    '--registry-table <t> --audit-table <t> [--prefix <p>]   explicit AWS resources',
    '--local [--data-dir <dir>]   local mode',
    '--config <file>              a JSON file with any of these keys',
  ]);
}

/**
 * The `--genesys-base-url` override: maps Genesys host H to `<url>/H` (the simulator's layout).
 * Testing only; an org record can never choose a host.
 */
export function genesysBaseUrl(values: ParsedValues): BaseUrlResolver | undefined {
  const raw = stringValue(values, 'genesys-base-url');
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError('--genesys-base-url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--genesys-base-url must be an absolute http(s) URL');
  if (url.username || url.password || url.search || url.hash) throw new UsageError('--genesys-base-url must not carry credentials, a query or a fragment');
  const base = raw.replace(/\/+$/, '');
  return (host) => `${base}/${host}`;
}
