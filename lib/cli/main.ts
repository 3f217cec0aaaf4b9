/**
 * The operator CLI: `genesys-token-broker <command> [subcommand] [options]`. `main` parses, runs one
 * command and maps every error to an exit code in one place (see exit-codes.ts). It never throws and
 * never calls process.exit, so tests can run it in-process.
 */
import { BrokerError, NotFoundError, ValidationError } from '../../lambdas/core/errors.js';
import { BIN, type CommandSpec, parseCommand, renderHelp, suggest, wantsHelp } from './args.js';
import { describeAwsError } from './aws.js';
import { showNodeVersionWarningOnce } from '../node-warnings.js';
import { AUDIT_COMMAND } from './commands/audit.js';
import { ORGS_COMMANDS } from './commands/orgs.js';
import { ORGS_AUTHORIZE_COMMAND } from './commands/orgs-authorize.js';
import { REFRESH_COMMAND } from './commands/refresh.js';
import { STATUS_COMMAND } from './commands/status.js';
import { TOKEN_COMMAND } from './commands/token.js';
import { type Command, createContext } from './context.js';
import { CliFailure, EXIT, EXIT_CODE_HELP, UsageError } from './exit-codes.js';
import { type CliIo, processIo } from './io.js';
import { BROKER_VERSION } from '../../lambdas/core/version.js';

const TOP_COMMANDS: Record<string, Command> = {
  refresh: REFRESH_COMMAND,
  status: STATUS_COMMAND,
  audit: AUDIT_COMMAND,
  token: TOKEN_COMMAND,
};

// authorize lives in its own module, which builds on orgs.ts's argument parsers.
const ORGS: Record<string, Command> = { ...ORGS_COMMANDS, authorize: ORGS_AUTHORIZE_COMMAND };
const GROUPS: Record<string, Record<string, Command>> = { orgs: ORGS };

function commandList(): string[] {
  const entries: [string, string][] = [
    ...Object.entries(ORGS).map(([name, c]) => [`orgs ${name}`, c.spec.summary] as [string, string]),
    ...Object.entries(TOP_COMMANDS).map(([name, c]) => [name, c.spec.summary] as [string, string]),
  ];
  const width = Math.max(...entries.map(([n]) => n.length));
  return entries.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
}

/** The top-level `--help`. */
export function topLevelHelp(): string {
  return `${BIN}: operate a Genesys Cloud token broker (deployed stack or local mode)

Usage: ${BIN} <command> [subcommand] [options]
       ${BIN} <command> --help

Commands:
${commandList().join('\n')}

Target (every command needs one; or put the keys in a JSON file and pass --config <file>):
  --stack <name>                                  a deployed stack: reads its CloudFormation outputs
                                                  (standard AWS credential chain and region)
  --registry-table <t> --audit-table <t> [--prefix <p>] [--refresher-function <f>] [--kms-key <k>]
                                                  explicit AWS resources
  --local [--data-dir <dir>]                      local mode's file store (default .broker-data)

Testing:
  --genesys-base-url <url>   send Genesys requests for host H to <url>/H instead of https://H, to run
                             against the Genesys simulator. Not for production use.
  AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_LAMBDA and
  AWS_ENDPOINT_URL_CLOUDFORMATION point the AWS SDK at emulators, as everywhere in the SDK.

Secrets are never accepted as arguments: 'orgs add' reads them from stdin or a hidden prompt.

${EXIT_CODE_HELP}
`;
}

function groupHelp(group: string, commands: Record<string, Command>): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `Usage: ${BIN} ${group} <subcommand> [options]

Subcommands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.spec.summary}`).join('\n')}

Run '${BIN} ${group} <subcommand> --help' for its options.
`;
}

/** Finds the command named by the leading words of argv. */
function findCommand(argv: readonly string[]): { command?: Command; rest: string[]; groupHelp?: string } {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError('missing command', [`run '${BIN} --help' for the list`]);
  if (first.startsWith('-')) {
    throw new UsageError(`options come after the command (got ${first.split('=')[0]!.slice(0, 40)} first)`, [`usage: ${BIN} <command> [subcommand] [options]; run '${BIN} --help'`]);
  }
  const group = GROUPS[first];
  if (group) {
    if (second === undefined || second === '--help' || second === '-h') {
      if (second === undefined) throw new UsageError(`'${first}' needs a subcommand: ${Object.keys(group).join(', ')}`);
      return { rest: [], groupHelp: groupHelp(first, group) };
    }
    const command = group[second];
    if (!command) {
      const close = suggest(second, Object.keys(group));
      throw new UsageError(`unknown subcommand '${first} ${second.slice(0, 40)}'`, [...(close ? [`did you mean '${first} ${close}'?`] : []), `subcommands: ${Object.keys(group).join(', ')}`]);
    }
    return { command, rest: argv.slice(2) };
  }
  const command = TOP_COMMANDS[first];
  if (!command) {
    const names = [...Object.keys(TOP_COMMANDS), ...Object.keys(GROUPS)];
    const close = suggest(first, names);
    throw new UsageError(`unknown command '${first.slice(0, 40)}'`, [...(close ? [`did you mean '${close}'?`] : []), `commands: ${names.join(', ')}`]);
  }
  return { command, rest: argv.slice(1) };
}

function report(io: CliIo, message: string, hints: readonly string[]): void {
  io.stderr.write(`error: ${message}\n`);
  for (const hint of hints) io.stderr.write(`hint: ${hint}\n`);
}

/** Maps anything a command threw to a message and an exit code. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof CliFailure) return err.exitCode;
  if (err instanceof ValidationError) return EXIT.usage;
  if (err instanceof NotFoundError || (err instanceof BrokerError && err.code === 'org_not_found')) return EXIT.notFound;
  return EXIT.failed;
}

function reportError(io: CliIo, err: unknown, spec?: CommandSpec): void {
  if (err instanceof UsageError) {
    report(io, err.message, err.hints.length ? err.hints : spec ? [`run '${BIN} ${spec.name} --help'`] : []);
  } else if (err instanceof CliFailure) {
    report(io, err.message, err.hints);
  } else if (err instanceof BrokerError) {
    // BrokerError messages are secret-free by contract (core/errors.ts); an AWS cause says what to fix.
    const cause = describeAwsError(err.cause);
    report(io, `${err.message} [${err.code}]`, cause ? [`cause: ${cause.message}`, ...cause.hints] : []);
  } else {
    const aws = describeAwsError(err);
    if (aws) report(io, aws.message, aws.hints);
    else report(io, `unexpected ${err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : typeof err}`, []);
  }
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and returns the exit code. `io` overrides
 * parts of the process window for in-process tests.
 */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  showNodeVersionWarningOnce();
  const cli: CliIo = { ...processIo(), ...io };
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    cli.stdout.write(topLevelHelp());
    return EXIT.ok;
  }
  if (argv[0] === '--version') {
    cli.stdout.write(`${BROKER_VERSION}\n`);
    return EXIT.ok;
  }
  let spec: CommandSpec | undefined;
  try {
    const found = findCommand(argv);
    if (found.groupHelp) {
      cli.stdout.write(found.groupHelp);
      return EXIT.ok;
    }
    const command = found.command!;
    spec = command.spec;
    if (wantsHelp(found.rest)) {
      cli.stdout.write(renderHelp(command.spec));
      return EXIT.ok;
    }
    const parsed = parseCommand(command.spec, found.rest);
    const ctx = createContext(cli, parsed.values, parsed.positionals, command.spec);
    try {
      return await command.run(ctx);
    } finally {
      await ctx.close();
    }
  } catch (err) {
    reportError(cli, err, spec);
    return exitCodeFor(err);
  }
}
