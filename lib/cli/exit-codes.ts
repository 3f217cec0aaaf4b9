/**
 * Exit codes of the operator CLI and the two error classes that carry one. Scripts branch on these
 * numbers; they are documented in `--help` and must not change meaning.
 */

/** Process exit codes. */
export const EXIT = Object.freeze({
  /** The command did what was asked. */
  ok: 0,
  /** The operation failed: a refresh failed, a store or Genesys could not be reached, an org is unhealthy under `--fail-on-unhealthy`. */
  failed: 1,
  /** Bad command line: unknown command or flag, missing or malformed value. Nothing was changed. */
  usage: 2,
  /**
   * `orgs add` refused the credentials: Genesys rejected them, they belong to another org, or their
   * tokens are too short-lived for the broker (`token_lifetime_too_short`). Nothing was stored.
   */
  verificationFailed: 3,
  /** The org, its token, or the stack does not exist. */
  notFound: 4,
} as const);

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit-code table as it appears in `--help`. */
export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  operation failed (refresh failed, store or Genesys unreachable, org unhealthy with --fail-on-unhealthy)
  2  usage error (unknown command or flag, missing or malformed value); nothing was changed
  3  verification failed (orgs add or orgs authorize refused the credentials); nothing was stored
  4  not found (org, token or stack)`;

/** A bad command line. The message names the flag or argument, never a secret value. */
export class UsageError extends Error {
  /** Extra lines printed after the message (suggestions, where to find help). */
  readonly hints: string[];

  constructor(message: string, hints: string[] = []) {
    super(message);
    this.name = 'UsageError';
    this.hints = hints;
  }
}

/** A failure the CLI has already explained: the message is shown as is and `exitCode` returned. */
export class CliFailure extends Error {
  readonly exitCode: ExitCode;
  readonly hints: string[];

  constructor(exitCode: ExitCode, message: string, hints: string[] = []) {
    super(message);
    this.name = 'CliFailure';
    this.exitCode = exitCode;
    this.hints = hints;
  }
}
