import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import { main } from '../../lib/cli/main.js';
import { GenesysSimulator, type SimClientSpec } from '../../lib/demo/genesys-simulator.js';
import { runInProcess } from './run-cli.js';

const ORG = 'a7000000-0000-4000-8000-000000000001';
const OTHER_ORG = 'a7000000-0000-4000-8000-000000000002';

let sim: GenesysSimulator;
let n = 0;

beforeAll(async () => {
  sim = await GenesysSimulator.start();
  sim.addOrg({ orgId: ORG, region: 'eu-west-1', name: 'Authorized Org' });
  sim.addOrg({ orgId: OTHER_ORG, region: 'eu-west-1', name: 'Someone Else' });
});
afterAll(async () => sim?.close());

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Session {
  code: number;
  stdout: string;
  stderr: string;
  dataDir: string;
  client: SimClientSpec;
  /** What the browser saw: the landing page, and the code it carried to the CLI. */
  page?: { status: number; text: string };
  authorizationCode?: string;
}

/**
 * Runs `orgs authorize --local --no-browser` in-process. When the CLI prints the authorization URL,
 * `browser` plays the browser: by default it follows the URL to the simulator's auto-consent and
 * the redirect back to the CLI, and keeps the landing page.
 */
async function authorize(options: {
  extraArgs?: string[];
  before?: (redirectUri: string, state: string) => Promise<void>;
  browse?: boolean;
  clientSpec?: Partial<SimClientSpec>;
  setup?: (client: SimClientSpec) => void;
} = {}): Promise<Session> {
  n++;
  const port = await freePort();
  const redirectUri = `http://localhost:${port}/callback`;
  const client: SimClientSpec = {
    clientId: `auth-client-${n}`,
    clientSecret: `auth-secret-${n}-Qx7${'s'.repeat(24)}`,
    orgId: ORG,
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [redirectUri],
    ...options.clientSpec,
  };
  sim.addClient(client);
  options.setup?.(client);
  const dataDir = mkdtempSync(join(tmpdir(), 'broker-cli-authorize-'));
  const session: Session = { code: -1, stdout: '', stderr: '', dataDir, client };
  let browsing: Promise<void> | undefined;
  const browser = async (url: string) => {
    const state = new URL(url).searchParams.get('state')!;
    await options.before?.(redirectUri, state);
    if (options.browse === false) return;
    const consent = await fetch(url, { redirect: 'manual' });
    const location = consent.headers.get('location')!;
    session.authorizationCode = new URL(location).searchParams.get('code') ?? undefined;
    const landing = await fetch(location);
    session.page = { status: landing.status, text: await landing.text() };
  };
  session.code = await main(
    ['orgs', 'authorize', '--org-id', ORG, '--region', 'eu-west-1', '--client-id', client.clientId, '--client-secret-stdin', '--redirect-port', String(port),
      '--no-browser', '--local', '--data-dir', dataDir, '--genesys-base-url', sim.baseUrl, ...(options.extraArgs ?? [])],
    {
      stdout: { write: (t) => void (session.stdout += t), isTTY: false },
      stderr: {
        write: (t) => {
          session.stderr += t;
          const url = /^\s+(http:\/\/\S+\/oauth\/authorize\?\S+)$/m.exec(t)?.[1];
          if (url) browsing = browser(url);
        },
        isTTY: false,
      },
      stdinIsTTY: false,
      readStdin: async () => `${client.clientSecret}\n`,
    },
  );
  await browsing;
  return session;
}

/** Every secret of a session: none may appear in its output or its landing page. */
function secretsOf(session: Session): string[] {
  return [session.client.clientSecret, ...sim.issuedAccessTokens(session.client.clientId), sim.currentRefreshToken(session.client.clientId), session.authorizationCode]
    .filter((s): s is string => typeof s === 'string');
}

function expectNoSecrets(session: Session): void {
  for (const secret of secretsOf(session)) {
    expect(session.stdout).not.toContain(secret);
    expect(session.stderr).not.toContain(secret);
    expect(session.page?.text ?? '').not.toContain(secret);
  }
}

async function nothingStored(session: Session): Promise<void> {
  const store = new FileStore({ dataDir: session.dataDir });
  expect(await store.registry.get(ORG)).toBeUndefined();
  expect(await store.vault.read(ORG)).toBeUndefined();
  expect(existsSync(join(session.dataDir, 'credentials', `${ORG}.json`))).toBe(false);
}

describe('genesys-token-broker orgs authorize', () => {
  it('authorizes in the browser, stores the live refresh token, registers the org and keeps the exchange\'s token, with one token request', async () => {
    const session = await authorize();
    expect(session.stderr).not.toMatch(/error/);
    expect(session.code).toBe(0);
    const { clientId } = session.client;
    expect(session.stdout).toContain(`Verified client ${clientId} for org ${ORG} (Authorized Org) in eu-west-1 (mypurecloud.ie).`);
    expect(session.stdout).toContain(`Registered org ${ORG} with the refresh_token grant (credentials version 1).`);
    expect(session.stdout).toMatch(/Stored the first access token; it expires in 23h 59m\./);

    const store = new FileStore({ dataDir: session.dataDir });
    const org = await store.registry.get(ORG);
    expect(org).toMatchObject({ grantType: 'refresh_token', region: 'mypurecloud.ie', enabled: true, credentialsVersion: 1, state: { lastOutcome: 'success', credentialsVersionUsed: 1 } });
    const liveRefreshToken = sim.currentRefreshToken(clientId);
    expect(liveRefreshToken).toBeDefined();
    expect(await store.credentials.read(org!)).toEqual({ clientId, clientSecret: session.client.clientSecret, refreshToken: liveRefreshToken });
    expect((await store.vault.read(ORG))?.accessToken).toBe(sim.issuedAccessTokens(clientId)[0]);
    // Exactly one token request, the code exchange: the new refresh token was not spent on a refresh.
    expect(sim.counts(clientId)).toMatchObject({ authorize: 1, token: 1, refreshTokenReuse: 0, codeReuse: 0 });
    expect(sim.usedRefreshTokens(clientId)).toEqual([]);
    const audit = await store.audit.query(ORG);
    expect(audit).toEqual([expect.objectContaining({ outcome: 'success', trigger: 'cli', reason: 'never_issued' })]);

    expect(session.page).toEqual({ status: 200, text: expect.stringContaining(`<p>Authorized org ${ORG} for genesys-token-broker; you can close this window.</p>`) });
    expectNoSecrets(session);

    // The stored refresh token is the live one: the broker's next refresh spends it and rotates.
    const refresh = await runInProcess(['refresh', '--force', '--local', '--data-dir', session.dataDir, '--genesys-base-url', sim.baseUrl]);
    expect(refresh.code).toBe(0);
    expect(sim.usedRefreshTokens(clientId)).toEqual([liveRefreshToken]);
    expect(sim.counts(clientId)).toMatchObject({ token: 2, refreshTokenReuse: 0 });
    rmSync(session.dataDir, { recursive: true, force: true });
  });

  it('refuses a redirect with another state, says why and keeps waiting for the right one', async () => {
    let stale: { status: number; text: string } | undefined;
    const session = await authorize({
      before: async (redirectUri) => {
        const res = await fetch(`${redirectUri}?code=stale-code&state=not-this-run`);
        stale = { status: res.status, text: await res.text() };
      },
    });
    expect(stale?.status).toBe(400);
    expect(stale?.text).toContain('<p>Authorization failed: this response does not belong to the authorization in progress.</p>');
    expect(session.stderr).toContain('ignored a redirect to http://localhost:');
    expect(session.stderr).toContain("its state differs from this run's (a stale or forged redirect); still waiting");
    expect(session.code).toBe(0);
    expect(session.page?.status).toBe(200);
    expect(sim.counts(session.client.clientId).token).toBe(1);
    expectNoSecrets(session);
    rmSync(session.dataDir, { recursive: true, force: true });
  });

  it('exits 3 and stores nothing when tokens/me names another org', async () => {
    const session = await authorize({ setup: (client) => sim.injectFault(client.clientId, { kind: 'foreign_org', orgId: OTHER_ORG }) });
    expect(session.code).toBe(3);
    expect(session.stderr).toContain(`error: refused: credentials of another org: client ${session.client.clientId} belongs to organization ${OTHER_ORG}, not ${ORG}`);
    expect(session.stderr).toContain('Nothing was stored.');
    expect(session.page?.status).toBe(400);
    expect(session.page?.text).toContain('<p>Authorization failed (org_mismatch). See the terminal for details.</p>');
    await nothingStored(session);
    expectNoSecrets(session);
    rmSync(session.dataDir, { recursive: true, force: true });
  });

  it('exits 1 and stores nothing when no redirect arrives in time', async () => {
    const started = Date.now();
    const session = await authorize({ extraArgs: ['--timeout', '1'], browse: false });
    expect(session.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(session.stderr).toContain('error: no redirect arrived within 1 s; nothing was stored');
    expect(sim.counts(session.client.clientId)).toMatchObject({ authorize: 0, token: 0 });
    await nothingStored(session);
    expectNoSecrets(session);
    rmSync(session.dataDir, { recursive: true, force: true });
  });

  it('exits 3 and stores nothing when Genesys refuses the code exchange; the simulator then refuses the code, and a second use of it', async () => {
    const session = await authorize({
      setup: (client) => sim.injectFault(client.clientId, { kind: 'status', status: 400, body: JSON.stringify({ error: 'invalid_grant', description: 'authorization code has already been used', error_description: 'authorization code has already been used' }) }),
    });
    expect(session.code).toBe(3);
    expect(session.stderr).toContain(`error: refused: Genesys refused the authorization code for client ${session.client.clientId} (invalid_grant)`);
    expect(session.page?.text).toContain('<p>Authorization failed (invalid_grant). See the terminal for details.</p>');
    await nothingStored(session);
    // The injected refusal never reached the grant, so the code is unspent; the first real use succeeds
    // and the second is invalid_grant.
    const redeem = async () => {
      const res = await fetch(`${sim.resolver('login.mypurecloud.ie')}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${session.client.clientId}:${session.client.clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: session.authorizationCode!, redirect_uri: session.client.redirectUris![0]! }).toString(),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    // Without the verifier (only the CLI ever had it) even the first real use is refused by PKCE, which spends the code.
    expect(await redeem()).toMatchObject({ error: 'invalid_grant', error_description: 'PKCE verification failed' });
    expect(await redeem()).toMatchObject({ error: 'invalid_grant', error_description: 'authorization code has already been used' });
    expectNoSecrets(session);
    rmSync(session.dataDir, { recursive: true, force: true });
  });

  it('answers only GET /callback on the loopback port', async () => {
    let other: number | undefined;
    const session = await authorize({
      before: async (redirectUri) => {
        other = (await fetch(redirectUri.replace('/callback', '/favicon.ico'))).status;
      },
    });
    expect(other).toBe(404);
    expect(session.code).toBe(0);
    rmSync(session.dataDir, { recursive: true, force: true });
  });

  it('says in --help which redirect URI to register', async () => {
    const help = await runInProcess(['orgs', 'authorize', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('http://localhost:<port>/callback (default port 8765)');
  });
});
