/**
 * `token`: an org's current access token, for a quick API call by hand. The token is printed only
 * where it is not shown on screen by accident: when stdout is a pipe or file, or with `--show`.
 */
import { BIN, type CommandSpec, flag, stringValue } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { CliFailure, EXIT, UsageError } from '../exit-codes.js';
import { formatRelative } from '../format.js';
import { parseOrgId } from './orgs.js';

/**
 * Whether `token` prints the token itself or only its metadata: the token when stdout is not a
 * terminal (`| pbcopy`, `$(...)`) or the operator asked with `--show`; metadata otherwise.
 */
export function tokenOutputMode(options: { stdoutIsTTY: boolean; show: boolean }): 'token' | 'metadata' {
  return options.show || !options.stdoutIsTTY ? 'token' : 'metadata';
}

/**
 * The clipboard command to suggest on this platform, or undefined when there is none to name:
 * `pbcopy` on macOS, `clip` on Windows, `wl-copy` under Wayland and `xclip` under X11 on Linux and the
 * BSDs. A console without a display gets no suggestion rather than a command that does not exist.
 */
export function clipboardCommand(platform: NodeJS.Platform, env: Record<string, string | undefined>): string | undefined {
  if (platform === 'darwin') return 'pbcopy';
  if (platform === 'win32') return 'clip';
  if (env.WAYLAND_DISPLAY) return 'wl-copy';
  if (env.DISPLAY) return 'xclip -selection clipboard';
  return undefined;
}

const spec: CommandSpec = {
  name: 'token',
  summary: "an org's current access token (printed only to a pipe, or with --show)",
  usage: '--org <uuid> [--show] <target>',
  target: true,
  readOnly: true,
  options: {
    org: { type: 'string', valueName: '<uuid>', description: 'the org' },
    show: { type: 'boolean', description: 'print the token even though stdout is a terminal' },
  },
  details: `When stdout is a terminal the token is not printed (it would stay in scrollback and screen
shares): you get its metadata and a hint instead. Piped or captured, only the token is printed,
followed by a newline. An expired token is never printed (exit 1).`,
  examples: [
    `curl -H "Authorization: Bearer $(${BIN} token --stack my-broker --org 3f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33)" https://api.mypurecloud.ie/api/v2/users/me`,
  ],
};

async function run(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  const raw = stringValue(values, 'org');
  if (raw === undefined) throw new UsageError('missing --org');
  const orgId = parseOrgId(raw, '--org');
  const backend = await ctx.backend();
  const record = await backend.vault.read(orgId);
  if (!record) {
    throw new CliFailure(EXIT.notFound, `no token stored for org ${orgId} in ${backend.description}`, [
      `is it registered ('${BIN} orgs list')? has it been refreshed ('${BIN} refresh --org ${orgId}')?`,
    ]);
  }
  const now = io.now();
  const expiresAtMs = Date.parse(record.expiresAt);
  if (expiresAtMs <= now) {
    throw new CliFailure(EXIT.failed, `the stored token for org ${orgId} expired ${formatRelative(expiresAtMs, now)}`, [
      `'${BIN} status' shows why; '${BIN} refresh --org ${orgId} --force' tries again`,
    ]);
  }
  if (tokenOutputMode({ stdoutIsTTY: io.stdout.isTTY, show: flag(values, 'show') }) === 'token') {
    io.stdout.write(`${record.accessToken}\n`);
    return EXIT.ok;
  }
  const clipboard = clipboardCommand(process.platform, process.env);
  io.stdout.write(
    [
      `org        ${record.orgId}`,
      `api        ${record.apiBaseUrl} (region ${record.region})`,
      `issued     ${record.issuedAt} (${formatRelative(Date.parse(record.issuedAt), now)})`,
      `expires    ${record.expiresAt} (${formatRelative(expiresAtMs, now)})`,
      `refresh at ${record.refreshAt}`,
      `client     ${record.oauthClientId}`,
      `scopes     ${record.scopes.length ? record.scopes.join(' ') : '(none reported)'}`,
      '',
      clipboard ? 'The token is not printed to a terminal. Pass --show to print it, or pipe it:' : 'The token is not printed to a terminal. Pass --show to print it, or capture it:',
      clipboard ? `  ${BIN} token --org ${orgId} ... | ${clipboard}` : `  TOKEN=$(${BIN} token --org ${orgId} ...)`,
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

export const TOKEN_COMMAND: Command = { spec, run };
