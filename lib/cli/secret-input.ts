/**
 * Reading a client secret (and, for the refresh_token grant, a refresh token) the only two ways the
 * CLI accepts: piped on stdin with `--client-secret-stdin`, or typed at a hidden prompt. Never from
 * an argument. Errors describe the shape of the input, never its content.
 */
import type { GrantType } from '../../lambdas/core/ports.js';
import { UsageError } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface SecretInput {
  clientSecret: string;
  refreshToken?: string;
}

const MAX_SECRET_LENGTH = 4096;
const MAX_REFRESH_TOKEN_LENGTH = 8192;

/**
 * Parses stdin: line 1 the client secret, line 2 the refresh token (refresh_token grant only).
 * Surrounding whitespace and a trailing newline are ignored.
 */
export function parseSecretLines(text: string, grantType: GrantType): SecretInput {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  const [clientSecret, refreshToken, ...rest] = lines;
  if (!clientSecret) throw new UsageError('--client-secret-stdin: the first line of stdin must hold the client secret, but it is empty');
  if (clientSecret.length > MAX_SECRET_LENGTH) throw new UsageError(`--client-secret-stdin: the client secret is longer than ${MAX_SECRET_LENGTH} characters`);
  if (rest.length > 0) throw new UsageError(`--client-secret-stdin: expected at most 2 lines on stdin (client secret, refresh token), got ${lines.length}`);
  if (grantType === 'client_credentials') {
    if (refreshToken) throw new UsageError('--client-secret-stdin: stdin has a second line (a refresh token), but --grant is client_credentials', ['pass --grant refresh_token for an authorization-code client']);
    return { clientSecret };
  }
  if (!refreshToken) throw new UsageError('--client-secret-stdin: the refresh_token grant needs the refresh token on the second line of stdin');
  if (refreshToken.length > MAX_REFRESH_TOKEN_LENGTH) throw new UsageError(`--client-secret-stdin: the refresh token is longer than ${MAX_REFRESH_TOKEN_LENGTH} characters`);
  return { clientSecret, refreshToken };
}

/** Gets the secrets from stdin or a hidden prompt. */
export async function readSecrets(io: CliIo, options: { fromStdin: boolean; grantType: GrantType }): Promise<SecretInput> {
  if (io.stdinIsTTY) {
    // Even with --client-secret-stdin: reading a terminal "until EOF" would echo the secret.
    const clientSecret = (await io.promptHidden('Client secret (input hidden): ')).trim();
    if (!clientSecret) throw new UsageError('no client secret entered');
    if (options.grantType === 'client_credentials') return { clientSecret };
    const refreshToken = (await io.promptHidden('Refresh token (input hidden): ')).trim();
    if (!refreshToken) throw new UsageError('no refresh token entered');
    return { clientSecret, refreshToken };
  }
  if (!options.fromStdin) {
    throw new UsageError('stdin is not a terminal, so there is nowhere to prompt for the client secret', [
      'pipe it with --client-secret-stdin, e.g.  printf \'%s\\n\' "$SECRET" | genesys-token-broker orgs add ... --client-secret-stdin',
    ]);
  }
  return parseSecretLines(await io.readStdin(), options.grantType);
}
