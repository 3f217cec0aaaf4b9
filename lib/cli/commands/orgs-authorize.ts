/**
 * `orgs authorize`: onboards a refresh_token org through the browser. The authorization-code flow
 * with PKCE runs against the org's login host; the code is exchanged once, the token checked with
 * tokens/me, and then, as `orgs add` does (onboard.ts), the credentials with the live refresh token
 * are stored first, the org registered, and the exchange's access token stored as its first token.
 * Nothing refreshes: that would spend the refresh token the exchange just issued.
 */
import { UpstreamError } from '../../../lambdas/core/errors.js';
import { systemClock } from '../../../lambdas/core/ports.js';
import { type GenesysRegion, hostFor, httpsBaseUrl } from '../../../lambdas/core/regions.js';
import { BIN, type CommandSpec, flag, type ParsedValues, stringValue } from '../args.js';
import { authorizeUrl, listenForCallback, newPkce, newState, openBrowser, redirectUriFor } from '../browser-authorization.js';
import type { Command, CommandContext } from '../context.js';
import { CliFailure, EXIT, UsageError } from '../exit-codes.js';
import { formatRelative } from '../format.js';
import { saveAndRegister, storeFirstToken } from '../onboard.js';
import { readSecrets } from '../secret-input.js';
import { VERIFY_TIMEOUT_MS, verifyGrant } from '../verify.js';
import { oauthClients, parseClientId, parseLabel, parseOrgId, parseRegion } from './orgs.js';

export const DEFAULT_REDIRECT_PORT = 8765;
export const DEFAULT_AUTHORIZE_TIMEOUT_SECONDS = 300;
const MAX_AUTHORIZE_TIMEOUT_SECONDS = 3600;

function integerFlag(values: ParsedValues, name: string, fallback: number, min: number, max: number): number {
  const raw = stringValue(values, name);
  if (raw === undefined) return fallback;
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return Number(raw);
}

const authorizeSpec: CommandSpec = {
  name: 'orgs authorize',
  summary: 'authorize a refresh_token org in the browser (authorization code with PKCE), then store, register and keep its first token',
  usage: '--org-id <uuid> --region <key|domain> --client-id <id> [--client-secret-stdin] [--redirect-port 8765] [--no-browser] [--timeout <seconds>] [--label <text>] <target>',
  target: true,
  options: {
    'org-id': { type: 'string', valueName: '<uuid>', description: 'Genesys Cloud organization id' },
    region: { type: 'string', valueName: '<key|domain>', description: 'the org\'s region: eu-west-1 or mypurecloud.ie' },
    'client-id': { type: 'string', valueName: '<id>', description: 'id of a Code Authorization OAuth client' },
    'client-secret-stdin': { type: 'boolean', description: 'read the client secret from the first line of stdin' },
    'redirect-port': { type: 'string', valueName: '<port>', description: `port of the loopback redirect http://localhost:<port>/callback (default ${DEFAULT_REDIRECT_PORT})` },
    'no-browser': { type: 'boolean', description: 'do not open a browser; print the URL to open' },
    timeout: { type: 'string', valueName: '<seconds>', description: `how long to wait for the redirect (default ${DEFAULT_AUTHORIZE_TIMEOUT_SECONDS})` },
    label: { type: 'string', valueName: '<text>', description: 'a name for people, shown by list and status' },
  },
  details: `Register http://localhost:<port>/callback (default port ${DEFAULT_REDIRECT_PORT}) as an Authorized redirect URI
of the OAuth client (Admin > Integrations > OAuth, grant type Code Authorization). The CLI listens on
127.0.0.1:<port> for that one path, opens the authorization page (or prints its URL with --no-browser
or without a display), and waits for the redirect. Sign in as a user of the org and approve.

A redirect whose state differs from this run's is refused and waiting goes on. Then the code is
exchanged (with the PKCE verifier), and GET /api/v2/tokens/me must name --org-id: otherwise exit 3
and nothing is stored. On success the credentials with the new refresh token are stored first, the
org is registered with the refresh_token grant, and the access token from the exchange becomes its
first token. No redirect within --timeout: exit 1, nothing stored.`,
  examples: [
    `printf '%s\\n' "$CLIENT_SECRET" | ${BIN} orgs authorize --stack my-broker --org-id 3f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33 --region eu-west-1 --client-id 0a1b2c3d-... --client-secret-stdin`,
    `${BIN} orgs authorize --local --org-id 3f1c... --region mypurecloud.ie --client-id 0a1b... --no-browser   # prompts for the secret, prints the URL`,
  ],
};

/** Why an exchange was refused, in words for the operator; undefined for a failure that is not a refusal. */
function exchangeRefusal(err: unknown, clientId: string, region: GenesysRegion): string | undefined {
  if (!(err instanceof UpstreamError) || err.failureClass !== 'permanent') return undefined;
  if (err.code === 'invalid_client') return `Genesys in ${region.key} (${region.domain}) rejected client ${clientId} at the code exchange (invalid_client): check the client secret`;
  if (err.code === 'invalid_grant') return `Genesys refused the authorization code for client ${clientId} (invalid_grant): it expired, was already used, or the redirect URI or PKCE verifier did not match`;
  return `Genesys refused the code exchange for client ${clientId}: ${err.message}`;
}

async function runAuthorize(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  const orgId = parseOrgId(stringValue(values, 'org-id'), '--org-id');
  const region = parseRegion(stringValue(values, 'region'));
  const clientId = parseClientId(values);
  const label = parseLabel(values);
  const port = integerFlag(values, 'redirect-port', DEFAULT_REDIRECT_PORT, 1, 65_535);
  const timeoutSeconds = integerFlag(values, 'timeout', DEFAULT_AUTHORIZE_TIMEOUT_SECONDS, 1, MAX_AUTHORIZE_TIMEOUT_SECONDS);
  // Open the target before asking for a secret: a wrong target should fail before anyone types one.
  const backend = await ctx.backend();
  const existing = await backend.registry.get(orgId);
  const { clientSecret } = await readSecrets(io, { fromStdin: flag(values, 'client-secret-stdin'), grantType: 'client_credentials' });

  const pkce = newPkce();
  const state = newState();
  const redirectUri = redirectUriFor(port);
  const listener = await listenForCallback({
    port,
    state,
    timeoutMs: timeoutSeconds * 1000,
    onIgnored: (why) => ctx.progress(`  ignored a redirect to ${redirectUri}: ${why}; still waiting`),
  });
  let pageLine = 'Authorization failed. See the terminal for details.';
  let ok = false;
  try {
    const loginHost = hostFor(region, 'login');
    const url = authorizeUrl({ loginBaseUrl: (ctx.genesysBaseUrl ?? httpsBaseUrl)(loginHost), clientId, redirectUri, state, challenge: pkce.challenge });
    ctx.progress(`Authorizing client ${clientId} for org ${orgId} in ${region.key} (${region.domain}).`);
    const opened = !flag(values, 'no-browser') && openBrowser(url);
    ctx.progress(opened ? 'Opened the authorization page in your browser; if it did not open, visit:' : `Open this URL in a browser and sign in as a user of org ${orgId}:`);
    ctx.progress(`  ${url}`);
    ctx.progress(`Waiting up to ${timeoutSeconds} s for the redirect to ${redirectUri} ...`);

    const callback = await listener.result;
    if (callback.kind === 'timeout') {
      throw new CliFailure(EXIT.failed, `no redirect arrived within ${timeoutSeconds} s; nothing was stored`, ['run the command again and approve within --timeout']);
    }
    if (callback.kind === 'denied') {
      pageLine = `Authorization failed (${callback.error}). See the terminal for details.`;
      throw new CliFailure(EXIT.failed, `Genesys did not authorize client ${clientId} (${callback.error}); nothing was stored`, [
        `check that ${redirectUri} is an Authorized redirect URI of the client and that its grant type is Code Authorization`,
      ]);
    }

    ctx.progress(`  received the authorization code; exchanging it at ${loginHost}`);
    const { oauth } = oauthClients(ctx);
    const issuedAtMs = systemClock.now();
    const deadlineMs = issuedAtMs + VERIFY_TIMEOUT_MS;
    let exchanged;
    try {
      exchanged = await oauth.exchangeCode({ orgId, region, credentials: { clientId, clientSecret }, code: callback.code, redirectUri, codeVerifier: pkce.verifier, deadlineMs });
    } catch (err) {
      const refusal = exchangeRefusal(err, clientId, region);
      if (refusal === undefined) throw err;
      pageLine = `Authorization failed (${(err as UpstreamError).code}). See the terminal for details.`;
      throw new CliFailure(EXIT.verificationFailed, `refused: ${refusal}. Nothing was stored.`, [`run '${BIN} orgs authorize' again`]);
    }
    const grant = exchanged.value;
    if (grant.refreshToken === undefined) {
      pageLine = 'Authorization failed (no refresh token). See the terminal for details.';
      throw new CliFailure(EXIT.verificationFailed, `refused: Genesys granted client ${clientId} no refresh token, so the broker could not keep org ${orgId} authorized. Nothing was stored.`, [
        'use an OAuth client with the Code Authorization grant type',
      ]);
    }
    const verified = await verifyGrant({
      orgId,
      region,
      grant,
      credentials: { clientId, clientSecret, refreshToken: grant.refreshToken },
      oauth,
      deadlineMs,
      policy: backend.policy,
      liveRefreshToken: true,
      spentNote: [`the authorization is used up: run '${BIN} orgs authorize' again`],
      onProgress: (m) => ctx.progress(`  ${m}`),
    });
    if (!verified.ok) {
      pageLine = `Authorization failed (${verified.code}). See the terminal for details.`;
      io.stderr.write(`error: refused: ${verified.message}\n`);
      for (const hint of verified.hints) io.stderr.write(`hint: ${hint}\n`);
      io.stderr.write('Nothing was stored.\n');
      return EXIT.verificationFailed;
    }
    const orgName = verified.info.organizationName ? ` (${verified.info.organizationName})` : '';
    io.stdout.write(`Verified client ${clientId} for org ${orgId}${orgName} in ${region.key} (${region.domain}).\n`);

    const record = await saveAndRegister(backend, io, ctx.progress, { orgId, region, grantType: 'refresh_token', label, existing, credentials: verified.credentials });
    io.stdout.write(`${existing ? 'Updated' : 'Registered'} org ${orgId} with the refresh_token grant (credentials version ${record.credentialsVersion}).\n`);
    pageLine = `Authorized org ${orgId} for genesys-token-broker; you can close this window.`;
    ok = true;
    // tokens/me was one request at least: exchange plus one, for the audit record.
    const first = await storeFirstToken(backend, ctx.progress, { org: record, region, grant, info: verified.info, clientId, issuedAtMs, httpAttempts: exchanged.attempts + 1 }).catch((err: unknown) => {
      io.stderr.write(`note: org ${orgId} is authorized and registered, but its first token could not be stored; the next refresh gets one\n`);
      throw err;
    });
    if (first.stored) {
      io.stdout.write(`Stored the first access token; it expires ${formatRelative(Date.parse(first.record.expiresAt), io.now())}.\n`);
    } else {
      io.stdout.write('A refresh stored a newer token meanwhile; kept it.\n');
    }
    if (!record.enabled) io.stdout.write(`The org is disabled: no refresh until '${BIN} orgs enable ${orgId}'.\n`);
    return EXIT.ok;
  } finally {
    await listener.finish(ok, pageLine);
  }
}

/** The `orgs authorize` command. */
export const ORGS_AUTHORIZE_COMMAND: Command = { spec: authorizeSpec, run: runAuthorize };
