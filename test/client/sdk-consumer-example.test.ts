/**
 * The README's Genesys Cloud SDK consumer, run for real: hosted in the Lambda emulator, reading its
 * token from the Secrets Manager emulator, and calling the Genesys simulator through the real
 * `purecloud-platform-client-v2` (its requests mapped to the simulator by test/support/genesys-sdk.ts,
 * everything else the SDK's own). It recovers from a 401 after the org moved to a new OAuth client, and
 * neither the example's logs nor the SDK's own (switched on at trace level, bodies included) ever hold a token.
 */
import { readFileSync } from 'node:fs';
import { CreateSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import platformClient from 'purecloud-platform-client-v2';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { configureGenesysClient, genesysToken, withTokenRetry, type GenesysTokenContext } from '../../lambdas/client/index.js';
import type { TokenRecord } from '../../lambdas/core/ports.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { routeSdkToSimulator } from '../support/genesys-sdk.js';
import { createLambdaEmulatorClient, type EmulatedHandler, LambdaEmulator } from '../support/lambda-emulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { ORG_A, ORG_B, tokenRecord } from './fixtures.js';
import { captureOutput } from '../support/captured-output.js';

const PREFIX = 'genesys-token-broker';

/**
 * The README example, as a factory so the test can pass what Lambda would put in process.env and the
 * emulator's client. In the README: `process.env.GENESYS_ORG_ID!`, `process.env.BROKER_SECRET_PREFIX!`
 * and no client (the default one).
 */
function buildConsumer(env: { GENESYS_ORG_ID: string; BROKER_SECRET_PREFIX: string }, source: { client?: SecretsManagerClient }) {
  // ---- README example begins ----
  const logger = new Logger({ serviceName: 'org-report' });
  const genesys = genesysToken({ orgId: env.GENESYS_ORG_ID }, { source: { secretPrefix: env.BROKER_SECRET_PREFIX, ...source } });
  const apiClient = platformClient.ApiClient.instance;

  const handler = middy<unknown, { orgName: string }, Error, Context & GenesysTokenContext>()
    .use(genesys)
    .handler(async (_event, context) => {
      const { orgId, region } = context.genesysToken;
      try {
        // Configure and call in one step. The SDK rejects a 401 with `status: 401`: withTokenRetry
        // then tells the client which token was refused and calls again once with the newest token.
        const org = await withTokenRetry(genesys.client, orgId, (token) =>
          new platformClient.OrganizationApi(configureGenesysClient(apiClient, token)).getOrganizationsMe(),
        );
        logger.info('organization read', { orgId, region, orgName: org.name });
        return { orgName: org.name ?? '' };
      } catch (err) {
        // Log the fields, never the whole rejection: with extended responses on, it holds the request headers.
        const { status, code } = err as { status?: number; code?: string };
        logger.error('Genesys call failed', { orgId, region, status, code });
        throw new Error(`Genesys answered ${status ?? 'nothing'} (${code ?? 'no code'}) for org ${orgId}`);
      }
    });
  // ---- README example ends ----
  return handler;
}

describe('the README Genesys Cloud SDK consumer example', () => {
  it('is the code the README shows, with process.env and the default client', () => {
    const source = readFileSync(new URL(import.meta.url), 'utf8');
    const begins = '// ---- README example begins ----\n';
    const example = source.slice(source.indexOf(begins) + begins.length, source.indexOf('  // ---- README example ends ----'));
    const asInReadme = example
      .split('\n')
      .map((line) => line.replace(/^ {2}/, ''))
      .join('\n')
      .replace('const handler =', 'export const handler =')
      .replaceAll(/\benv\.([A-Z_]+)/g, 'process.env.$1!')
      .replace(', ...source }', ' }');
    expect(asInReadme).toContain('export const handler = middy');
    expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toContain(asInReadme);
  });

  let sm: SecretsManagerEmulator;
  let smClient: SecretsManagerClient;
  let sim: GenesysSimulator;
  let lambda: LambdaEmulator;
  let lambdaClient: LambdaClient;
  let requested: string[];
  let output: string[] = [];

  const issue = async (clientId: string, domain: string): Promise<string> => {
    const res = await fetch(`${sim.resolver(`login.${domain}`)}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientId}-secret-0123456789`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    return ((await res.json()) as { access_token: string }).access_token;
  };

  const record = (orgId: string, accessToken: string, domain: string, oauthClientId: string): TokenRecord =>
    tokenRecord(orgId, { issuedAtMs: Date.now(), accessToken, region: domain, oauthClientId });


  /** The broker writes the token of `clientId` as the org's AWSCURRENT. */
  const writeToken = async (orgId: string, domain: string, clientId: string, create: boolean): Promise<void> => {
    const secret = JSON.stringify(record(orgId, await issue(clientId, domain), domain, clientId));
    const name = tokenSecretName(PREFIX, orgId);
    if (create) await smClient.send(new CreateSecretCommand({ Name: name, SecretString: secret }));
    else await smClient.send(new PutSecretValueCommand({ SecretId: name, SecretString: secret }));
  };

  const invoke = async (name: string) => {
    const out = await lambdaClient.send(new InvokeCommand({ FunctionName: name, Payload: new TextEncoder().encode('{}') }));
    return { functionError: out.FunctionError, payload: JSON.parse(new TextDecoder().decode(out.Payload)) as unknown };
  };

  const logLines = (): Record<string, unknown>[] =>
    output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{"level"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    [sm, sim, lambda] = await Promise.all([SecretsManagerEmulator.start(), GenesysSimulator.start(), LambdaEmulator.start()]);
    smClient = createEmulatorClient(sm, { maxAttempts: 1 });
    lambdaClient = createLambdaEmulatorClient(lambda, { maxAttempts: 1 });
    const apiClient = platformClient.ApiClient.instance;
    requested = routeSdkToSimulator(apiClient, sim);
    // The SDK's own logging, as loud as it goes: every request and response, bodies included.
    Object.assign(apiClient.config.logger, { log_level: 'trace', log_format: 'json', log_to_console: true, log_request_body: true, log_response_body: true });
    apiClient.config.logger.setLogger();
    sim.addOrg({ orgId: ORG_A, name: 'Acme Frankfurt', region: 'eu-central-1' });
    sim.addOrg({ orgId: ORG_B, name: 'Beta Dublin', region: 'eu-west-1' });
    for (const [clientId, orgId] of [['acme-old', ORG_A], ['acme-new', ORG_A], ['beta', ORG_B]] as const) {
      sim.addClient({ clientId, clientSecret: `${clientId}-secret-0123456789`, orgId });
    }
  });

  afterAll(async () => {
    smClient?.destroy();
    lambdaClient?.destroy();
    await Promise.all([sm?.close(), sim?.close(), lambda?.close()]);
  });

  beforeEach(() => {
    output = [];
    // Powertools writes to stdout and stderr, the SDK's winston logger to console._stdout (which vitest
    // replaces): keep every line, quietly, to search them.
    const streams = console as unknown as { _stdout?: NodeJS.WritableStream; _stderr?: NodeJS.WritableStream };
    captureOutput(output, [streams._stdout ?? process.stdout, streams._stderr ?? process.stderr]);
    return () => vi.restoreAllMocks();
  });

  it('calls Genesys through the SDK in the org region, and recovers from a 401 after the org moved to a new OAuth client', async () => {
    await writeToken(ORG_A, 'mypurecloud.de', 'acme-old', true);
    lambda.register('sdk-consumer', buildConsumer({ GENESYS_ORG_ID: ORG_A, BROKER_SECRET_PREFIX: PREFIX }, { client: smClient }) as unknown as EmulatedHandler);

    expect(await invoke('sdk-consumer')).toEqual({ functionError: undefined, payload: { orgName: 'Acme Frankfurt' } });
    expect(await invoke('sdk-consumer')).toEqual({ functionError: undefined, payload: { orgName: 'Acme Frankfurt' } });
    expect(requested).toEqual(Array(2).fill('https://api.mypurecloud.de/api/v2/organizations/me'));
    expect(sm.callCount('GetSecretValue')).toBe(1);
    expect(sim.counts('acme-old').organizationsMe).toBe(2);

    // The operator moves the org to a new client; the broker writes its token as the new AWSCURRENT.
    sim.revokeClient('acme-old');
    await writeToken(ORG_A, 'mypurecloud.de', 'acme-new', false);

    // The warm container still holds the old token: one 401 from the SDK, then the newest token, and success.
    expect(await invoke('sdk-consumer')).toEqual({ functionError: undefined, payload: { orgName: 'Acme Frankfurt' } });
    expect(sim.counts('acme-old').organizationsMe).toBe(3);
    expect(sim.counts('acme-new').organizationsMe).toBe(1);
    expect(sm.callCount('GetSecretValue')).toBe(2);

    // From then on the new token is cached.
    await invoke('sdk-consumer');
    expect(sm.callCount('GetSecretValue')).toBe(2);
    expect(sim.counts('acme-new').organizationsMe).toBe(2);

    const reads = logLines().filter((l) => l.message === 'organization read');
    expect(reads).toHaveLength(4);
    expect(reads[0]).toMatchObject({ level: 'INFO', service: 'org-report', orgId: ORG_A, region: 'mypurecloud.de', orgName: 'Acme Frankfurt' });
    // The SDK logged each request, its Authorization header redacted; no token of any client is in any line.
    const logs = output.join('');
    expect(logs).toContain('"Authorization":"[REDACTED]"');
    expect(logs).toContain('"statusCode":401');
    for (const token of sim.issuedAccessTokens()) expect(logs).not.toContain(token);
  });

  it('fails with the Genesys status and code when the newest token is refused too, and logs no token', async () => {
    await writeToken(ORG_B, 'mypurecloud.ie', 'beta', true);
    lambda.register('sdk-consumer-b', buildConsumer({ GENESYS_ORG_ID: ORG_B, BROKER_SECRET_PREFIX: PREFIX }, { client: smClient }) as unknown as EmulatedHandler);
    expect(await invoke('sdk-consumer-b')).toEqual({ functionError: undefined, payload: { orgName: 'Beta Dublin' } });

    // Genesys refuses the cached token and the one the broker wrote after it.
    await writeToken(ORG_B, 'mypurecloud.ie', 'beta', false);
    sim.injectFault('beta', { kind: 'status', status: 401 }, { endpoint: 'organizations/me', times: 2 });
    const out = await invoke('sdk-consumer-b');
    expect(out.functionError).toBe('Unhandled');
    expect(out.payload).toMatchObject({ errorType: 'Error', errorMessage: `Genesys answered 401 (authentication.required) for org ${ORG_B}` });
    expect(sim.counts('beta').organizationsMe).toBe(3);

    expect(logLines().filter((l) => l.message === 'Genesys call failed')).toEqual([
      expect.objectContaining({ level: 'ERROR', orgId: ORG_B, region: 'mypurecloud.ie', status: 401, code: 'authentication.required' }),
    ]);
    const everything = output.join('') + JSON.stringify(out.payload);
    expect(everything).toContain('"responseBody":{"code":"authentication.required"');
    expect(everything).toContain('"Authorization":"[REDACTED]"');
    for (const token of sim.issuedAccessTokens('beta')) expect(everything).not.toContain(token);
  });
});
