/**
 * Command-line parsing on `node:util` parseArgs (strict): every command declares its flags in a
 * {@link CommandSpec}; anything else is a {@link UsageError} that names the flag. Error messages never
 * echo a value: a secret typed into the wrong place must not be printed back.
 */
import { parseArgs } from 'node:util';
import { EXIT_CODE_HELP, UsageError } from './exit-codes.js';

/** Name the binary is invoked by, in help and hints. */
export const BIN = 'genesys-token-broker';

/** One flag. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** A string flag that may repeat (`--org a --org b`). */
  multiple?: boolean;
  short?: string;
  /** Placeholder in help, for example `<uuid>`. */
  valueName?: string;
  description: string;
  /** Accepted but left out of the per-command option list (documented elsewhere). */
  hidden?: boolean;
}

/** A command: its flags, positionals and help text. */
export interface CommandSpec {
  /** As typed: `orgs add`. */
  name: string;
  summary: string;
  /** Usage line after the binary and command name, e.g. `--org-id <uuid> --region <key|domain> ...`. */
  usage: string;
  options: Record<string, OptionSpec>;
  /** Names of positionals, in order; a trailing `?` marks one optional. */
  positionals?: string[];
  /** Whether the target flags (--stack, --local, ...) apply. */
  target: boolean;
  /**
   * The command only reads the target: a local store is opened without creating anything, and demo
   * mode's store may be read (every other command is refused it). @default false
   */
  readOnly?: boolean;
  /** Paragraphs after the option list. */
  details?: string;
  examples?: string[];
}

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedCommand {
  values: ParsedValues;
  positionals: string[];
}

/** Flags that choose where the broker's state lives. Shared by every command that reads or writes it. */
export const TARGET_OPTIONS: Record<string, OptionSpec> = {
  stack: { type: 'string', valueName: '<name>', description: 'deployed CloudFormation stack: reads its outputs (standard AWS credential chain and region)' },
  'registry-table': { type: 'string', valueName: '<name>', description: 'DynamoDB registry table (explicit target, with --audit-table)' },
  'audit-table': { type: 'string', valueName: '<name>', description: 'DynamoDB audit table (explicit target)' },
  prefix: { type: 'string', valueName: '<prefix>', description: 'Secrets Manager name prefix (explicit target; default genesys-token-broker)' },
  'refresher-function': { type: 'string', valueName: '<name|arn>', description: 'refresher Lambda to invoke for refreshes (explicit target; without it the engine runs in-process)' },
  'kms-key': { type: 'string', valueName: '<id|arn>', description: "the broker's KMS key (explicit target): encrypts secrets the CLI creates and seals rotated refresh tokens in-process refreshes hold write-ahead" },
  local: { type: 'boolean', description: "local mode: the embedded file store" },
  'data-dir': { type: 'string', valueName: '<dir>', description: 'local mode data directory (default .broker-data)' },
  config: { type: 'string', valueName: '<file>', description: 'JSON file with any of the target keys above, e.g. {"stack":"my-broker"}; flags win' },
  'genesys-base-url': {
    type: 'string',
    valueName: '<url>',
    description: 'testing only: send Genesys requests for host H to <url>/H (a simulator) instead of https://H',
    hidden: true,
  },
};

const HELP_OPTION: Record<string, OptionSpec> = { help: { type: 'boolean', short: 'h', description: 'show this help' } };

/** Flags people reach for that would put a secret on the command line. */
const SECRET_FLAGS = new Set(['client-secret', 'secret', 'refresh-token', 'token', 'password', 'access-token']);

function allOptions(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, ...(spec.target ? TARGET_OPTIONS : {}), ...HELP_OPTION };
}

/** True when argv asks for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Edit distance counting an adjacent transposition as one edit (`stauts` is one away from `status`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest known name, if one is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  if (!best) return undefined;
  return best.distance <= Math.max(1, Math.floor(name.length / 3)) ? best.name : undefined;
}

function unknownOption(spec: CommandSpec, flag: string): UsageError {
  const name = flag.replace(/^-+/, '');
  const helpHint = `run '${BIN} ${spec.name} --help' for the flags it accepts`;
  if (SECRET_FLAGS.has(name)) {
    const how = spec.options['client-secret-stdin']
      ? 'pipe it on stdin with --client-secret-stdin (first line the client secret, second line the refresh token), or leave the flag out to be prompted'
      : 'secrets are never accepted as arguments';
    return new UsageError(`--${name} is not accepted: a secret given as an argument ends up in shell history and process listings`, [how, helpHint]);
  }
  const options = allOptions(spec);
  const close = suggest(name, Object.keys(options).filter((k) => !options[k]!.hidden));
  return new UsageError(`unknown option --${name} for '${spec.name}'`, [...(close ? [`did you mean --${close}?`] : []), helpHint]);
}

/**
 * Parses argv (after the command words) against a spec. Throws UsageError naming the offending flag
 * or argument position. Does not handle `--help`: check {@link wantsHelp} first.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedCommand {
  const options = allOptions(spec);
  // Our own pass first: it names the flag without ever quoting a value (`--client-secret=...`).
  const shorts = new Map(Object.entries(options).filter(([, o]) => o.short).map(([k, o]) => [o.short!, k]));
  for (const arg of argv) {
    if (arg === '--') break;
    if (arg.startsWith('--')) {
      const name = arg.slice(2).split('=')[0]!;
      if (!(name in options)) throw unknownOption(spec, `--${name}`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      const letter = arg.slice(1, 2);
      if (!shorts.has(letter)) throw new UsageError(`unknown option -${letter} for '${spec.name}'`, [`run '${BIN} ${spec.name} --help' for the flags it accepts`]);
    }
  }
  const config = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]),
  );
  let parsed: { values: ParsedValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: true }) as { values: ParsedValues; positionals: string[] };
  } catch (err) {
    throw translateParseError(spec, err);
  }
  const declared = spec.positionals ?? [];
  const required = declared.filter((p) => !p.endsWith('?'));
  if (parsed.positionals.length > declared.length) {
    const position = declared.length + 1;
    throw new UsageError(
      declared.length === 0
        ? `'${spec.name}' takes no positional arguments, but argument ${position} is one (a flag missing its leading --, or a value without its flag?)`
        : `'${spec.name}' takes ${declared.length} positional argument${declared.length === 1 ? '' : 's'} (${declared.join(' ')}), got ${parsed.positionals.length}`,
      [`usage: ${BIN} ${spec.name} ${spec.usage}`],
    );
  }
  if (parsed.positionals.length < required.length) {
    const missing = required[parsed.positionals.length]!;
    throw new UsageError(`'${spec.name}' needs ${missing}`, [`usage: ${BIN} ${spec.name} ${spec.usage}`]);
  }
  for (const [name, option] of Object.entries(options)) {
    const value = parsed.values[name];
    if (option.type === 'string' && (value === '' || (Array.isArray(value) && value.includes('')))) {
      throw new UsageError(`--${name} needs a non-empty value`);
    }
  }
  return parsed;
}

function translateParseError(spec: CommandSpec, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  // Node quotes the option name (never a value) first in these messages.
  const flag = /'(--?[A-Za-z0-9-]+)/.exec(message)?.[1];
  const helpHint = `run '${BIN} ${spec.name} --help' for the flags it accepts`;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return unknownOption(spec, flag ?? '--?');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return new UsageError(`${flag ?? 'a flag'} is a switch and takes no value`, [helpHint]);
      if (/ambiguous/.test(message)) return new UsageError(`${flag ?? 'a flag'} needs a value, but the next argument starts with a dash`, [`write ${flag ?? '--flag'}=<value> if the value really starts with a dash`]);
      return new UsageError(`${flag ?? 'a flag'} needs a value`, [helpHint]);
    default:
      return new UsageError(`cannot parse the command line (${typeof code === 'string' ? code : 'unknown error'})`, [helpHint]);
  }
}

export function stringValue(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  if (Array.isArray(value)) return value.at(-1);
  return typeof value === 'string' ? value : undefined;
}

export function listValue(values: ParsedValues, name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value;
  return typeof value === 'string' ? [value] : [];
}

export function flag(values: ParsedValues, name: string): boolean {
  return values[name] === true;
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options)
    .filter(([, o]) => !o.hidden)
    .map(([name, o]) => [`${o.short ? `-${o.short}, ` : ''}--${name}${o.valueName ? ` ${o.valueName}` : ''}${o.multiple ? ' ...' : ''}`, o.description] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

/** The `--help` text of a command. */
export function renderHelp(spec: CommandSpec): string {
  const lines = [`${BIN} ${spec.name}: ${spec.summary}`, '', `Usage: ${BIN} ${spec.name} ${spec.usage}`.trimEnd()];
  if (Object.keys(spec.options).length > 0) lines.push('', 'Options:', ...optionLines({ ...spec.options, ...HELP_OPTION }));
  else lines.push('', 'Options:', ...optionLines(HELP_OPTION));
  if (spec.target) lines.push('', 'Target (where the broker state lives; pick one):', ...optionLines(TARGET_OPTIONS));
  if (spec.details) lines.push('', spec.details.trim());
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  lines.push('', EXIT_CODE_HELP, '');
  return lines.join('\n');
}
