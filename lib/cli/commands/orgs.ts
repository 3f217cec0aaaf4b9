/**
 * `orgs add | list | enable | disable | remove`: the org registry, operator side.
 */
import { ConflictError } from '../../../lambdas/core/errors.js';
import { createGenesysOAuthClient } from '../../../lambdas/core/broker-engine.js';
import type { OrgResult } from '../../../lambdas/core/engine.js';
import type { GenesysOAuthClient } from '../../../lambdas/core/oauth.js';
import { orgHealth } from '../../../lambdas/core/policy.js';
import { type GrantType, type OrgRecord, type OrgRegistry, systemClock, type UnreadableOrg } from '../../../lambdas/core/ports.js';
import { findRegion, type GenesysRegion, REGIONS } from '../../../lambdas/core/regions.js';
import { listOrgsAndUnreadable } from '../../../lambdas/core/registry-pages.js';
import { isOrgId } from '../../../lambdas/core/token-record.js';
import { BIN, type CommandSpec, flag, type ParsedValues, stringValue } from '../args.js';
import type { Command, CommandContext } from '../context.js';
import { CliFailure, EXIT, UsageError } from '../exit-codes.js';
import { formatRelative, renderTable, unreadableNotes } from '../format.js';
import { readSecrets } from '../secret-input.js';
import { saveAndRegister, withOrgLease } from '../onboard.js';
import { verifyCredentials } from '../verify.js';

const GRANTS: readonly GrantType[] = ['client_credentials', 'refresh_token'];
const MAX_LABEL_LENGTH = 200;

/** Validates an org id argument; Genesys ids are lower-case UUIDs, so the value is lower-cased. */
export function parseOrgId(value: string | undefined, name: string): string {
  if (value === undefined) throw new UsageError(`missing ${name}`);
  if (!isOrgId(value)) throw new UsageError(`${name} must be a Genesys Cloud organization id (a UUID like 3f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33)`);
  return value.toLowerCase();
}

/** Validates `--region`: a key (`eu-west-1`) or a domain (`mypurecloud.ie`). */
export function parseRegion(value: string | undefined): GenesysRegion {
  if (value === undefined) throw new UsageError('missing --region');
  const region = findRegion(value);
  if (!region) {
    throw new UsageError('--region is not a Genesys Cloud region', [`valid regions: ${REGIONS.map((r) => `${r.key} (${r.domain})`).join(', ')}`]);
  }
  return region;
}

function parseGrant(values: ParsedValues): GrantType {
  const grant = stringValue(values, 'grant') ?? 'client_credentials';
  if (!GRANTS.includes(grant as GrantType)) throw new UsageError(`--grant must be one of ${GRANTS.join(', ')}`);
  return grant as GrantType;
}

export function parseClientId(values: ParsedValues): string {
  const clientId = stringValue(values, 'client-id');
  if (clientId === undefined) throw new UsageError('missing --client-id');
  if (clientId.length > 1024 || /[\s:]/.test(clientId)) throw new UsageError('--client-id must be an OAuth client id (no spaces or colons, at most 1024 characters)');
  return clientId;
}

export function parseLabel(values: ParsedValues): string | undefined {
  const label = stringValue(values, 'label');
  if (label === undefined) return undefined;
  if (label.length > MAX_LABEL_LENGTH || [...label].some((c) => c < ' ' || c === '\u007f')) {
    throw new UsageError(`--label must be at most ${MAX_LABEL_LENGTH} printable characters`);
  }
  return label;
}

/**
 * Every registered org, by label and then org id (the order `list` and `status` print), and the orgs
 * whose registry record cannot be read, by org id (printed after them).
 */
export async function sortedOrgsAndUnreadable(registry: OrgRegistry): Promise<{ orgs: OrgRecord[]; unreadable: UnreadableOrg[] }> {
  const { orgs, unreadable } = await listOrgsAndUnreadable(registry);
  return {
    orgs: orgs.sort((a, b) => (a.label ?? '').localeCompare(b.label ?? '') || a.orgId.localeCompare(b.orgId)),
    unreadable: unreadable.sort((a, b) => a.orgId.localeCompare(b.orgId)),
  };
}

/** Re-reads and retries an operator edit when the refresher recorded state in between. */
async function updateOrg(registry: OrgRegistry, orgId: string, change: (org: OrgRecord) => Omit<OrgRecord, 'version'> | undefined): Promise<{ before: OrgRecord; after?: OrgRecord }> {
  for (let attempt = 0; ; attempt++) {
    const current = await registry.get(orgId);
    if (!current) throw new CliFailure(EXIT.notFound, `org ${orgId} is not registered`, [`'${BIN} orgs list' shows the registered orgs`]);
    const next = change(current);
    if (!next) return { before: current };
    try {
      return { before: current, after: await registry.put(next, { expectedVersion: current.version }) };
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 4) throw err;
    }
  }
}

function describeRefresh(result: OrgResult | undefined, nowMs: number): { line: string; ok: boolean } {
  if (!result) return { line: 'not attempted', ok: false };
  switch (result.outcome) {
    case 'refreshed':
      return { line: `refreshed; token expires ${result.expiresAt ? formatRelative(Date.parse(result.expiresAt), nowMs) : '(unknown)'}`, ok: true };
    case 'failed':
      return { line: `FAILED (${result.errorCode ?? 'error'})`, ok: false };
    case 'skipped':
      return { line: `skipped (${result.reason})`, ok: result.reason !== 'not_found' };
    case 'deferred':
      return { line: `deferred (${result.reason}); the next scheduled sweep picks it up`, ok: true };
  }
}

/** The engine's OAuth client for the check, and a fast one (no retries, short timeout) for the region probe. */
export function oauthClients(ctx: CommandContext): { oauth: GenesysOAuthClient; probe: GenesysOAuthClient } {
  const network = { clock: systemClock, runtime: 'cli' as const, ...(ctx.genesysBaseUrl ? { genesysBaseUrl: ctx.genesysBaseUrl } : {}) };
  return { oauth: createGenesysOAuthClient(network), probe: createGenesysOAuthClient(network, { maxRetries: 0, requestTimeoutMs: 5_000 }) };
}

const addSpec: CommandSpec = {
  name: 'orgs add',
  summary: 'verify an org\'s OAuth client with Genesys Cloud, store its credentials, register it and run its first refresh',
  usage: '--org-id <uuid> --region <key|domain> --client-id <id> [--client-secret-stdin] [--grant client_credentials|refresh_token] [--label <text>] <target>',
  target: true,
  options: {
    'org-id': { type: 'string', valueName: '<uuid>', description: 'Genesys Cloud organization id' },
    region: { type: 'string', valueName: '<key|domain>', description: 'the org\'s region: eu-west-1 or mypurecloud.ie' },
    'client-id': { type: 'string', valueName: '<id>', description: 'OAuth client id' },
    'client-secret-stdin': { type: 'boolean', description: 'read the client secret from stdin (line 1) and, for --grant refresh_token, the refresh token (line 2)' },
    grant: { type: 'string', valueName: '<grant>', description: 'client_credentials (default) or refresh_token (authorization-code clients)' },
    label: { type: 'string', valueName: '<text>', description: 'a name for people, shown by list and status' },
    'skip-refresh': { type: 'boolean', description: 'register without running the first refresh (the next sweep does it)' },
  },
  details: `Secrets are never taken from arguments: without --client-secret-stdin the CLI prompts for them
with hidden input (stdin must then be a terminal).

Before anything is stored, the CLI requests a token in the org's region and checks that
GET /api/v2/tokens/me names this org. It refuses (exit 3, nothing stored) when:
  - the client is unknown in that region (it checks the other regions and names the right one),
  - the client secret is wrong,
  - the credentials belong to another organization (it names that org),
  - the client may not use the grant, or the refresh token is invalid,
  - the client's token lifetime is shorter than the broker can keep fresh (token_lifetime_too_short:
    about 22 minutes at the default 5-minute schedule; see README "Token lifetimes").
For the refresh_token grant the check spends the refresh token; the rotated one is what is stored.

Re-adding a registered org replaces its credentials and bumps its credentials version, which makes
the refresher fetch a new token with them.`,
  examples: [
    `printf '%s\\n' "$CLIENT_SECRET" | ${BIN} orgs add --stack my-broker --org-id 3f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33 --region eu-west-1 --client-id 0a1b2c3d-... --client-secret-stdin --label "ACME EU"`,
    `${BIN} orgs add --local --org-id 3f1c... --region mypurecloud.ie --client-id 0a1b...   # prompts for the secret`,
  ],
};

async function runAdd(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  const orgId = parseOrgId(stringValue(values, 'org-id'), '--org-id');
  const region = parseRegion(stringValue(values, 'region'));
  const clientId = parseClientId(values);
  const grantType = parseGrant(values);
  const label = parseLabel(values);
  // Open the target before asking for a secret: a wrong target should fail before anyone types one.
  const backend = await ctx.backend();
  const existing = await backend.registry.get(orgId);
  const secrets = await readSecrets(io, { fromStdin: flag(values, 'client-secret-stdin'), grantType });

  ctx.progress(`Verifying client ${clientId} for org ${orgId} in ${region.key} (${region.domain})...`);
  const { oauth, probe } = oauthClients(ctx);
  const verified = await verifyCredentials({
    orgId,
    region,
    grantType,
    credentials: { clientId, clientSecret: secrets.clientSecret, ...(secrets.refreshToken ? { refreshToken: secrets.refreshToken } : {}) },
    oauth,
    probe,
    clock: systemClock,
    policy: backend.policy,
    onProgress: (m) => ctx.progress(`  ${m}`),
  });
  if (!verified.ok) {
    io.stderr.write(`error: refused: ${verified.message}\n`);
    for (const hint of verified.hints) io.stderr.write(`hint: ${hint}\n`);
    io.stderr.write('Nothing was stored.\n');
    return EXIT.verificationFailed;
  }
  const orgName = verified.info.organizationName ? ` (${verified.info.organizationName})` : '';
  io.stdout.write(`Verified client ${clientId} for org ${orgId}${orgName} in ${region.key} (${region.domain}).\n`);

  const record = await saveAndRegister(backend, io, ctx.progress, { orgId, region, grantType, label, existing, credentials: verified.credentials });
  io.stdout.write(`${existing ? 'Updated' : 'Registered'} org ${orgId} (credentials version ${record.credentialsVersion}).\n`);

  if (!record.enabled) {
    io.stdout.write(`The org is disabled: no refresh until '${BIN} orgs enable ${orgId}'.\n`);
    return EXIT.ok;
  }
  if (flag(values, 'skip-refresh')) {
    io.stdout.write('First refresh skipped; the next scheduled sweep runs it.\n');
    return EXIT.ok;
  }
  ctx.progress(`Running the first refresh (${backend.refreshVia})...`);
  const outcome = describeRefresh(await backend.refreshOrg(record, true), io.now());
  io.stdout.write(`First refresh (${backend.refreshVia}): ${outcome.line}.\n`);
  if (!outcome.ok) {
    io.stderr.write(`error: the org is registered, but its first refresh failed; see '${BIN} audit --org ${orgId} --failures'\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}

const listSpec: CommandSpec = {
  name: 'orgs list',
  summary: 'list registered orgs',
  usage: '[--json] <target>',
  target: true,
  readOnly: true,
  options: { json: { type: 'boolean', description: 'print the registry records as JSON (no secrets are in them)' } },
};

async function runList(ctx: CommandContext): Promise<number> {
  const backend = await ctx.backend();
  const { orgs, unreadable } = await sortedOrgsAndUnreadable(backend.registry);
  if (flag(ctx.values, 'json')) {
    // stdout stays a list of records; damaged ones are reported beside it, where a person sees them.
    ctx.io.stdout.write(`${JSON.stringify(orgs, null, 2)}\n`);
    for (const u of unreadable) ctx.io.stderr.write(`warning: org ${u.orgId} is corrupt (${u.location}): ${u.problem}. ${u.remedy}\n`);
    return EXIT.ok;
  }
  if (orgs.length === 0 && unreadable.length === 0) {
    ctx.io.stdout.write(`No orgs registered in ${backend.description}. Add one with '${BIN} orgs add'.\n`);
    return EXIT.ok;
  }
  const now = ctx.io.now();
  const rows = orgs.map((o) => [
    o.orgId,
    o.label ?? '-',
    findRegion(o.region)?.key ?? o.region,
    o.grantType,
    o.enabled ? 'yes' : 'no',
    String(o.credentialsVersion),
    orgHealth(o, now).health,
  ]);
  rows.push(...unreadable.map((u) => [u.orgId, '-', '-', '-', '-', '-', 'corrupt']));
  ctx.io.stdout.write(renderTable(['ORG', 'LABEL', 'REGION', 'GRANT', 'ENABLED', 'CREDS', 'HEALTH'], rows));
  ctx.io.stdout.write(unreadableNotes(unreadable));
  return EXIT.ok;
}

function toggleSpec(enable: boolean): CommandSpec {
  return {
    name: enable ? 'orgs enable' : 'orgs disable',
    summary: enable ? 'resume refreshing an org' : 'stop refreshing an org (its current token stays until it expires)',
    usage: '<orgId> <target>',
    positionals: ['<orgId>'],
    target: true,
    options: {},
  };
}

function runToggle(enable: boolean) {
  return async (ctx: CommandContext): Promise<number> => {
    const orgId = parseOrgId(ctx.positionals[0], '<orgId>');
    const backend = await ctx.backend();
    const { after } = await withOrgLease(backend, orgId, () => ctx.progress(`  waiting for a refresh of org ${orgId} to finish...`), () =>
      updateOrg(backend.registry, orgId, (org) => {
        if (org.enabled === enable) return undefined;
        const { version: _version, ...rest } = org;
        return { ...rest, enabled: enable };
      }),
    );
    ctx.io.stdout.write(after ? `Org ${orgId} ${enable ? 'enabled' : 'disabled'}.\n` : `Org ${orgId} was already ${enable ? 'enabled' : 'disabled'}.\n`);
    return EXIT.ok;
  };
}

const removeSpec: CommandSpec = {
  name: 'orgs remove',
  summary: 'remove an org: its token and credentials secrets (with a recovery window) and its registry item; the audit trail stays',
  usage: '<orgId> [--yes] <target>',
  positionals: ['<orgId>'],
  target: true,
  options: { yes: { type: 'boolean', short: 'y', description: 'do not ask for confirmation (required when stdin is not a terminal)' } },
};

async function runRemove(ctx: CommandContext): Promise<number> {
  const orgId = parseOrgId(ctx.positionals[0], '<orgId>');
  const backend = await ctx.backend();
  const org = await backend.registry.get(orgId);
  if (!org) throw new CliFailure(EXIT.notFound, `org ${orgId} is not registered in ${backend.description}`);
  if (!flag(ctx.values, 'yes')) {
    if (!ctx.io.stdinIsTTY) throw new UsageError('orgs remove needs --yes when stdin is not a terminal');
    const answer = await ctx.io.prompt(`Remove org ${orgId}${org.label ? ` (${org.label})` : ''}? Consumers lose its token. Type the org id to confirm: `);
    if (answer.trim().toLowerCase() !== orgId) {
      ctx.io.stderr.write('Not confirmed; nothing was removed.\n');
      return EXIT.failed;
    }
  }
  // Secrets first: deleting them is idempotent, so a re-run after a failure still finds the registry item.
  await backend.vault.remove?.(orgId);
  // A credentials secret the operator named (credentialsSecretId) is theirs, not the broker's: keep it.
  if (org.credentialsSecretId === undefined) await backend.credentials.remove?.(org);
  await backend.registry.remove(orgId);
  ctx.io.stdout.write(`Removed org ${orgId}: ${backend.removalNote(orgId)}.\n`);
  if (org.credentialsSecretId !== undefined) ctx.io.stdout.write(`Kept its credentials secret ${org.credentialsSecretId}: the broker did not create it.\n`);
  return EXIT.ok;
}

/** The `orgs` subcommands by name. */
export const ORGS_COMMANDS: Record<string, Command> = {
  add: { spec: addSpec, run: runAdd },
  list: { spec: listSpec, run: runList },
  enable: { spec: toggleSpec(true), run: runToggle(true) },
  disable: { spec: toggleSpec(false), run: runToggle(false) },
  remove: { spec: removeSpec, run: runRemove },
};
