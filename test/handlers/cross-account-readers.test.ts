/**
 * The refresher handler keeps token secrets' resource policies in line with the cross-account reader
 * list its environment carries, over the wire (dynalite, the Secrets Manager emulator, the Genesys
 * simulator): at creation on the first sweep, and across deploys that change the list.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { SecretsManagerCredentialStore } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import { ENV } from '../../lambdas/core/env-names.js';
import type { OrgRecord } from '../../lambdas/core/ports.js';
import { createRefresherHandler } from '../../lambdas/handlers/refresher.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { lambdaContext } from '../support/lambda-context.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { captureOutput } from '../support/captured-output.js';

const PREFIX = 'gtb-xacct';
const ORG_A = '0f000000-0000-4000-8000-00000000000a';
const ORG_B = '0f000000-0000-4000-8000-00000000000b';
const TEAM_A = 'arn:aws:iam::210987654321:role/team-a';
const ACCOUNT_C = 'arn:aws:iam::210987654323:root';
const SECRETS: Record<string, string> = { [ORG_A]: 'xacct-secret-A-0123456789abcdef', [ORG_B]: 'xacct-secret-B-0123456789abcdef' };
const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let sim: GenesysSimulator;
let output: string[] = [];

beforeAll(async () => {
  [ddb, sm, sim] = await Promise.all([startDynalite(), SecretsManagerEmulator.start(), GenesysSimulator.start()]);
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), sim?.close()]);
});

beforeEach(() => {
  output = [];
  captureOutput(output);
  return () => vi.restoreAllMocks();
});

describe('refresher and cross-account readers', () => {
  it('puts the policy on a new token secret, and rewrites or removes policies when a deploy changes the list', async () => {
    const names = { registry: 'xacct-registry', audit: 'xacct-audit' };
    await ddb.createTables(names);
    const dynamoDb = ddb.client();
    const secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 3 });
    const registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: names.registry });
    const credentials = new SecretsManagerCredentialStore({ client: secretsManager, secretPrefix: PREFIX });
    for (const orgId of [ORG_A, ORG_B]) {
      sim.addOrg({ orgId, region: 'mypurecloud.de' });
      sim.addClient({ clientId: `xacct-${orgId.slice(-1)}`, clientSecret: SECRETS[orgId]!, orgId });
      const org: Omit<OrgRecord, 'version'> = { orgId, region: 'mypurecloud.de', grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
      await registry.put(org);
      await credentials.save(org, { clientId: `xacct-${orgId.slice(-1)}`, clientSecret: SECRETS[orgId]! });
    }
    /** The refresher as a deploy with this reader list configures it (a new container). */
    const deploy = (readers: unknown[]) =>
      createRefresherHandler({
        env: {
          [ENV.secretPrefix]: PREFIX,
          [ENV.registryTable]: names.registry,
          [ENV.auditTable]: names.audit,
          [ENV.kmsKeyId]: 'alias/gtb-xacct',
          [ENV.crossAccountReaders]: JSON.stringify(readers),
        },
        overrides: { genesysBaseUrl: sim.resolver, secretsManager, dynamoDb },
      });
    const principals = (orgId: string) => {
      const text = sm.secret(`${PREFIX}/tokens/${orgId}`)?.resourcePolicy;
      return text === undefined ? undefined : ([] as string[]).concat((JSON.parse(text) as { Statement: Array<{ Principal: { AWS: string | string[] } }> }).Statement[0]!.Principal.AWS);
    };

    await deploy([{ principal: TEAM_A, orgIds: [ORG_A] }])(SCHEDULED, lambdaContext());
    expect([principals(ORG_A), principals(ORG_B)]).toEqual([[TEAM_A], undefined]);

    sm.resetCalls();
    const second = deploy([{ principal: TEAM_A, orgIds: [ORG_A] }, { principal: ACCOUNT_C, orgIds: '*' }]);
    await second(SCHEDULED, lambdaContext());
    expect([principals(ORG_A), principals(ORG_B)]).toEqual([[TEAM_A, ACCOUNT_C].sort(), [ACCOUNT_C]]);
    expect(sm.callCount('PutResourcePolicy')).toBe(2);
    // The next sweep of the same deploy finds everything in line: no policy call.
    sm.resetCalls();
    await second(SCHEDULED, lambdaContext());
    expect(sm.callCount('PutResourcePolicy') + sm.callCount('DeleteResourcePolicy')).toBe(0);

    await deploy([])(SCHEDULED, lambdaContext());
    expect([principals(ORG_A), principals(ORG_B)]).toEqual([undefined, undefined]);
    const logged = output.join('');
    expect(logged).toContain('token secret policies');
    for (const secret of Object.values(SECRETS)) expect(logged).not.toContain(secret);
  });

  it('still sweeps when the policies cannot be brought in line, and counts it', async () => {
    const names = { registry: 'xacct-registry-2', audit: 'xacct-audit-2' };
    await ddb.createTables(names);
    const dynamoDb = ddb.client();
    const secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 1 });
    const refresher = createRefresherHandler({
      env: {
        [ENV.secretPrefix]: `${PREFIX}-2`,
        [ENV.registryTable]: 'xacct-registry-missing',
        [ENV.auditTable]: names.audit,
        [ENV.crossAccountReaders]: JSON.stringify([{ principal: TEAM_A, orgIds: '*' }]),
      },
      overrides: { genesysBaseUrl: sim.resolver, secretsManager, dynamoDb },
    });
    // The registry table does not exist: the bookkeeping read fails, then the sweep reports the registry.
    await expect(refresher(SCHEDULED, lambdaContext())).rejects.toThrow(/registry could not be listed/);
    const logged = output.join('');
    expect(logged).toContain('token secret policies could not be reconciled; the next sweep retries');
    expect(logged).toContain('"TokenSecretPolicyFailures"');
  });
});
