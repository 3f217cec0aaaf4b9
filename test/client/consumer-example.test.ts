/**
 * The README's consumer Lambda, run for real: hosted in the Lambda emulator, reading its token from
 * the Secrets Manager emulator and calling the Genesys simulator's Platform API with it. It also tells
 * the 401 story end to end: an operator moves the org to a new OAuth client, the old client's tokens
 * stop working, the broker has written the new token, and the warm consumer recovers on its own.
 */
import { CreateSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { genesysToken, withTokenRetry, type GenesysToken, type GenesysTokenContext } from '../../lambdas/client/index.js';
import type { TokenRecord } from '../../lambdas/core/ports.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { createLambdaEmulatorClient, type EmulatedHandler, LambdaEmulator } from '../support/lambda-emulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { ORG_A } from './fixtures.js';

const PREFIX = 'genesys-token-broker';

/**
 * The README example, as a factory so the test can pass what Lambda would put in process.env and the
 * emulator's client. In the README: `process.env.GENESYS_ORG_ID!`, `process.env.BROKER_SECRET_PREFIX!`
 * and no client (the default one).
 */
function buildConsumer(env: { GENESYS_ORG_ID: string; BROKER_SECRET_PREFIX: string }, source: { client?: SecretsManagerClient }) {
  // ---- README example begins ----
  const genesys = genesysToken({ orgId: env.GENESYS_ORG_ID }, { source: { secretPrefix: env.BROKER_SECRET_PREFIX, ...source } });

  async function getOrganization(token: GenesysToken): Promise<{ id: string; name: string }> {
    const res = await fetch(`${token.apiBaseUrl}/api/v2/organizations/me`, { headers: { Authorization: `Bearer ${token.accessToken}` } });
    // withTokenRetry recognises `status: 401` and retries once with the broker's newest token.
    if (!res.ok) throw Object.assign(new Error(`Genesys answered ${res.status}`), { status: res.status });
    return (await res.json()) as { id: string; name: string };
  }

  const handler = middy<unknown, { orgName: string }, Error, Context & GenesysTokenContext>()
    .use(genesys)
    .handler(async (_event, context) => {
      const org = await withTokenRetry(genesys.client, context.genesysToken.orgId, getOrganization);
      return { orgName: org.name };
    });
  // ---- README example ends ----
  return handler;
}

describe('the README consumer example', () => {
  let sm: SecretsManagerEmulator;
  let smClient: SecretsManagerClient;
  let sim: GenesysSimulator;
  let lambda: LambdaEmulator;
  let lambdaClient: LambdaClient;

  const issue = async (clientId: string, clientSecret: string): Promise<string> => {
    const res = await fetch(`${sim.resolver('login.mypurecloud.ie')}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    return ((await res.json()) as { access_token: string }).access_token;
  };

  const record = (accessToken: string, oauthClientId: string): TokenRecord => {
    const issuedAtMs = Date.now();
    return {
      schemaVersion: 1,
      orgId: ORG_A,
      accessToken,
      tokenType: 'bearer',
      issuedAt: new Date(issuedAtMs).toISOString(),
      expiresAt: new Date(issuedAtMs + 86_400_000).toISOString(),
      refreshAt: new Date(issuedAtMs + 64_800_000).toISOString(),
      region: 'mypurecloud.ie',
      // What the broker writes is https://api.mypurecloud.ie; here the simulator stands in for it.
      apiBaseUrl: sim.resolver('api.mypurecloud.ie'),
      oauthClientId,
      scopes: [],
    };
  };

  beforeAll(async () => {
    [sm, sim, lambda] = await Promise.all([SecretsManagerEmulator.start(), GenesysSimulator.start(), LambdaEmulator.start()]);
    smClient = createEmulatorClient(sm, { maxAttempts: 1 });
    lambdaClient = createLambdaEmulatorClient(lambda, { maxAttempts: 1 });
    sim.addOrg({ orgId: ORG_A, name: 'Acme Support', region: 'eu-west-1' });
    sim.addClient({ clientId: 'old-client', clientSecret: 'old-secret-0123456789', orgId: ORG_A });
    sim.addClient({ clientId: 'new-client', clientSecret: 'new-secret-0123456789', orgId: ORG_A });
  });

  afterAll(async () => {
    smClient?.destroy();
    lambdaClient?.destroy();
    await Promise.all([sm?.close(), sim?.close(), lambda?.close()]);
  });

  it('calls Genesys with the broker token and recovers from a 401 after the org moved to a new OAuth client', async () => {
    const oldToken = await issue('old-client', 'old-secret-0123456789');
    await smClient.send(new CreateSecretCommand({ Name: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(record(oldToken, 'old-client')) }));
    lambda.register('consumer', buildConsumer({ GENESYS_ORG_ID: ORG_A, BROKER_SECRET_PREFIX: PREFIX }, { client: smClient }) as unknown as EmulatedHandler);
    const invoke = async () => {
      const out = await lambdaClient.send(new InvokeCommand({ FunctionName: 'consumer', Payload: new TextEncoder().encode('{}') }));
      return { functionError: out.FunctionError, payload: JSON.parse(new TextDecoder().decode(out.Payload)) as unknown };
    };

    expect(await invoke()).toEqual({ functionError: undefined, payload: { orgName: 'Acme Support' } });
    expect(await invoke()).toEqual({ functionError: undefined, payload: { orgName: 'Acme Support' } });
    expect(sm.callCount('GetSecretValue')).toBe(1);
    expect(sim.counts('old-client').organizationsMe).toBe(2);

    // The operator moves the org to a new client; the broker writes its token as the new AWSCURRENT.
    sim.revokeClient('old-client');
    const newToken = await issue('new-client', 'new-secret-0123456789');
    await smClient.send(new PutSecretValueCommand({ SecretId: tokenSecretName(PREFIX, ORG_A), SecretString: JSON.stringify(record(newToken, 'new-client')) }));

    // The warm container still holds the old token: one 401, then the newest token, and success.
    expect(await invoke()).toEqual({ functionError: undefined, payload: { orgName: 'Acme Support' } });
    expect(sim.counts('old-client').organizationsMe).toBe(3);
    expect(sim.counts('new-client').organizationsMe).toBe(1);
    expect(sm.callCount('GetSecretValue')).toBe(2);

    // From then on the new token is cached.
    await invoke();
    expect(sm.callCount('GetSecretValue')).toBe(2);
    expect(sim.counts('new-client').organizationsMe).toBe(2);
    expect(lambda.invocationCount('consumer')).toBe(4);
  });
});
