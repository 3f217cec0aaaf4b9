/**
 * The CLI end to end against AWS stand-ins: each command runs as a child process (`node
 * bin/genesys-token-broker.mjs ...`) with the SDK pointed at dynalite, the Secrets Manager emulator,
 * the Lambda emulator (hosting the real refresher handler) and a CloudFormation stub through the
 * standard AWS_ENDPOINT_URL_<SERVICE> variables, and Genesys at the simulator via --genesys-base-url.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAuditLog } from '../../lambdas/adapters/aws/dynamodb-audit-log.js';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { credentialsSecretName, tokenSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { ENV } from '../../lambdas/core/env-names.js';
import type { AuditRecord } from '../../lambdas/core/ports.js';
import { createRefresherHandler } from '../../lambdas/handlers/refresher.js';
import { STACK_OUTPUT_KEYS } from '../../lib/stack-outputs.js';
import type { StatusRow } from '../../lib/cli/commands/status.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { LambdaEmulator } from '../support/lambda-emulator.js';
import { createEmulatorClient, EMULATOR_CREDENTIALS, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { createKmsEmulatorClient, KmsEmulator } from '../support/kms-emulator.js';
import { CloudFormationStub } from './cloudformation-stub.js';
import { type CliRun, cleanEnv, runCli, runInProcess } from './run-cli.js';

const PREFIX = 'cli-test';
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/0f0e0d0c-0b0a-4909-8807-060504030201';
const TABLES = { registry: 'cli-registry', audit: 'cli-audit' };
const STACK = 'broker-stack';
const REFRESHER = 'broker-refresher';

const org = (n: number) => `c1000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`;
const ORG_GOOD = org(1);
const ORG_US = org(2);
const ORG_OTHER = org(3);
const ORG_CLAIMED = org(4);
const ORG_WS = org(5);
const ORG_FAIL = org(6);
const ORG_RISK = org(7);
const ORG_RT = org(8);

const SECRETS = {
  good: 'good-secret-9f8e7d6c5b4a',
  us: 'us-secret-1a2b3c4d5e6f',
  other: 'other-secret-0011223344',
  ws: 'ws-secret-5566778899aa',
  fail: 'fail-secret-bbccddeeff00',
  risk: 'risk-secret-1029384756ab',
  rt: 'rt-secret-abcdefabcdef12',
};
const WRONG_SECRET = 'not-the-secret-778899';
const SECRET_ARG = 's3cr3t-typed-on-the-command-line';
const RT0 = 'initial-refresh-token-5f5f5f5f5f5f5f5f';

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let sim: GenesysSimulator;
let lambda: LambdaEmulator;
let cfn: CloudFormationStub;
let kms: KmsEmulator;
let registry: DynamoDbOrgRegistry;
let auditLog: DynamoDbAuditLog;
let env: Record<string, string>;
const runs: CliRun[] = [];
const tokenRuns = new Set<CliRun>();

const STACK_ARGS = ['--stack', STACK];
const TABLE_ARGS = ['--registry-table', TABLES.registry, '--audit-table', TABLES.audit, '--prefix', PREFIX, '--kms-key', KEY_ARN];

async function cli(args: string[], stdin?: string): Promise<CliRun> {
  const run = await runCli([...args, '--genesys-base-url', sim.baseUrl], { env, ...(stdin !== undefined ? { stdin } : {}) });
  runs.push(run);
  return run;
}

/** The same command through `main` in this process: for variations not worth a process start each. */
async function inProcess(args: string[]): Promise<CliRun> {
  const run = await runInProcess([...args, '--genesys-base-url', sim.baseUrl]);
  runs.push(run);
  return run;
}

function addArgs(orgId: string, region: string, clientId: string, target: string[], extra: string[] = []): string[] {
  return ['orgs', 'add', '--org-id', orgId, '--region', region, '--client-id', clientId, '--client-secret-stdin', ...target, ...extra];
}

function storedSecret(name: string): unknown {
  const value = sm.versionWithStage(name)?.secretString;
  return value === undefined ? undefined : JSON.parse(value);
}

beforeAll(async () => {
  [ddb, sm, sim, lambda, cfn] = await Promise.all([
    startDynalite(),
    SecretsManagerEmulator.start(),
    GenesysSimulator.start(),
    // The child signs every request with one credential set (the Secrets Manager emulator's), so the
    // Lambda emulator skips its own signature check.
    LambdaEmulator.start({ verifySignatures: false }),
    CloudFormationStub.start(),
  ]);
  // As for the Lambda emulator: the child signs with the Secrets Manager emulator's credentials.
  kms = await KmsEmulator.start({ verifySignatures: false });
  kms.addKey(KEY_ARN.split('/').at(-1));
  await ddb.createTables(TABLES);
  const dynamoDb = ddb.client();
  registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: TABLES.registry });
  auditLog = new DynamoDbAuditLog({ client: dynamoDb, tableName: TABLES.audit });

  for (const [orgId, region] of [[ORG_GOOD, 'eu-west-1'], [ORG_US, 'us-east-1'], [ORG_OTHER, 'eu-west-1'], [ORG_CLAIMED, 'eu-west-1'], [ORG_WS, 'eu-west-1'], [ORG_FAIL, 'eu-west-1'], [ORG_RISK, 'eu-west-1'], [ORG_RT, 'eu-west-1']] as const) {
    sim.addOrg({ orgId, region, name: `Org ${orgId.slice(-2)}` });
  }
  sim.addClient({ clientId: 'good-client', clientSecret: SECRETS.good, orgId: ORG_GOOD, scopes: ['users:readonly'] });
  sim.addClient({ clientId: 'us-client', clientSecret: SECRETS.us, orgId: ORG_US });
  sim.addClient({ clientId: 'other-client', clientSecret: SECRETS.other, orgId: ORG_OTHER });
  sim.addClient({ clientId: 'ws-client', clientSecret: SECRETS.ws, orgId: ORG_WS });
  sim.addClient({ clientId: 'fail-client', clientSecret: SECRETS.fail, orgId: ORG_FAIL });
  sim.addClient({ clientId: 'risk-client', clientSecret: SECRETS.risk, orgId: ORG_RISK });
  sim.addClient({ clientId: 'rt-client', clientSecret: SECRETS.rt, orgId: ORG_RT, grantTypes: ['refresh_token'], refreshToken: RT0 });

  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  lambda.register(
    REFRESHER,
    createRefresherHandler({
      env: { [ENV.registryTable]: TABLES.registry, [ENV.auditTable]: TABLES.audit, [ENV.secretPrefix]: PREFIX, [ENV.kmsKeyId]: KEY_ARN },
      overrides: { genesysBaseUrl: sim.resolver, secretsManager: createEmulatorClient(sm), dynamoDb, kms: createKmsEmulatorClient(kms) },
    }),
    // As deployed: long enough that the sweep's deadline leaves room for an org's 30 s time budget.
    { timeoutMs: 300_000 },
  );
  cfn.addStack(STACK, {
    [STACK_OUTPUT_KEYS.registryTableName]: TABLES.registry,
    [STACK_OUTPUT_KEYS.auditTableName]: TABLES.audit,
    [STACK_OUTPUT_KEYS.secretPrefix]: PREFIX,
    [STACK_OUTPUT_KEYS.refresherFunctionName]: REFRESHER,
    [STACK_OUTPUT_KEYS.getterFunctionName]: 'broker-getter',
    [STACK_OUTPUT_KEYS.encryptionKeyArn]: KEY_ARN,
  });

  const aws = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    AWS_ENDPOINT_URL_CLOUDFORMATION: cfn.endpoint,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  env = cleanEnv(aws);
  // For in-process runs; this file runs in its own worker process.
  Object.assign(process.env, aws);
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), sim?.close(), lambda?.close(), cfn?.close(), kms?.close()]);
});

describe('genesys-token-broker against AWS stand-ins', () => {
  it.concurrent('onboards through a stack, prints the token, refreshes via the refresher Lambda, and removes the org but keeps its audit', async () => {
    const add = await cli(addArgs(ORG_GOOD, 'eu-west-1', 'good-client', STACK_ARGS, ['--label', 'Good EU']), `${SECRETS.good}\n`);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain(`Verified client good-client for org ${ORG_GOOD} (Org 01) in eu-west-1 (mypurecloud.ie).`);
    expect(add.stdout).toContain(`Saved credentials to secret ${PREFIX}/credentials/${ORG_GOOD}.`);
    expect(add.stdout).toContain(`Registered org ${ORG_GOOD} (credentials version 1).`);
    expect(add.stdout).toMatch(/First refresh \(refresher Lambda broker-refresher\): refreshed; token expires in 23h 59m\./);
    expect(add.stderr).toContain('Running the first refresh (refresher Lambda broker-refresher)');
    expect(lambda.invocationCount(REFRESHER)).toBeGreaterThanOrEqual(1);

    const item = await registry.get(ORG_GOOD);
    expect(item).toMatchObject({ region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, label: 'Good EU', credentialsVersion: 1, state: { lastOutcome: 'success', consecutiveFailures: 0 } });
    expect(storedSecret(credentialsSecretName(PREFIX, ORG_GOOD))).toEqual({ clientId: 'good-client', clientSecret: SECRETS.good });
    // Credentials are encrypted with the stack's customer-managed key, like the tokens.
    expect(sm.secret(credentialsSecretName(PREFIX, ORG_GOOD))?.kmsKeyId).toBe(KEY_ARN);
    const token = storedSecret(tokenSecretName(PREFIX, ORG_GOOD)) as { accessToken: string; region: string; scopes: string[] };
    expect(token).toMatchObject({ region: 'mypurecloud.ie', scopes: ['users:readonly'] });
    expect(sim.issuedAccessTokens('good-client')).toContain(token.accessToken);

    const printed = await cli(['token', '--org', ORG_GOOD, ...STACK_ARGS]);
    tokenRuns.add(printed);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(`${token.accessToken}\n`);

    const invocations = lambda.invocationCount(REFRESHER);
    const refresh = await cli(['refresh', '--org', ORG_GOOD, '--force', ...STACK_ARGS]);
    expect(refresh.code, refresh.stderr).toBe(0);
    expect(refresh.stdout).toMatch(/^Sweep via refresher Lambda broker-refresher: examined 1, due 1, refreshed 1, failed 0, /);
    expect(refresh.stdout).toMatch(new RegExp(`${ORG_GOOD}\\s+refreshed\\s+forced\\s+-\\s+in 23h 59m\\s+healthy`));
    expect(lambda.invocationCount(REFRESHER)).toBe(invocations + 1);
    const refreshed = storedSecret(tokenSecretName(PREFIX, ORG_GOOD)) as { accessToken: string };
    expect(refreshed.accessToken).not.toBe(token.accessToken);

    const remove = await cli(['orgs', 'remove', ORG_GOOD, '--yes', ...STACK_ARGS]);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout).toMatch(/scheduled for deletion after a 7-day recovery window/);
    expect(await registry.get(ORG_GOOD)).toBeUndefined();
    expect(sm.secret(tokenSecretName(PREFIX, ORG_GOOD))?.deletionDate).toBeInstanceOf(Date);
    expect(sm.secret(credentialsSecretName(PREFIX, ORG_GOOD))?.deletionDate).toBeInstanceOf(Date);

    const [audit, gone, again] = await Promise.all([
      inProcess(['audit', '--org', ORG_GOOD, '--json', ...STACK_ARGS]),
      inProcess(['token', '--org', ORG_GOOD, ...STACK_ARGS]),
      inProcess(['orgs', 'remove', ORG_GOOD, '--yes', ...STACK_ARGS]),
    ]);
    expect((JSON.parse(audit.stdout) as AuditRecord[]).map((r) => r.outcome)).toEqual(['success', 'success']);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toContain(`no token stored for org ${ORG_GOOD}`);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`org ${ORG_GOOD} is not registered`);

    // Re-adding within the recovery window restores the secrets the removal scheduled for deletion.
    const readd = await runInProcess([...addArgs(ORG_GOOD, 'mypurecloud.ie', 'good-client', STACK_ARGS), '--genesys-base-url', sim.baseUrl], { stdin: `${SECRETS.good}\n` });
    runs.push(readd);
    expect(readd.code, readd.stderr).toBe(0);
    expect(sm.secret(credentialsSecretName(PREFIX, ORG_GOOD))?.deletionDate).toBeUndefined();
    expect(await registry.get(ORG_GOOD)).toMatchObject({ credentialsVersion: 1, state: { lastOutcome: 'success' } });
  });

  it.concurrent('refuses wrong-region, wrong-secret and other-org credentials with the precise reason and stores nothing', async () => {
    const [region, secret, other] = await Promise.all([
      cli(addArgs(ORG_US, 'eu-west-1', 'us-client', TABLE_ARGS), `${SECRETS.us}\n`),
      cli(addArgs(ORG_WS, 'eu-west-1', 'ws-client', TABLE_ARGS), `${WRONG_SECRET}\n`),
      cli(addArgs(ORG_CLAIMED, 'eu-west-1', 'other-client', TABLE_ARGS), `${SECRETS.other}\n`),
    ]);
    expect(region.code).toBe(3);
    expect(region.stderr).toContain('error: refused: wrong region: Genesys Cloud in eu-west-1 (mypurecloud.ie) does not know client us-client');
    expect(region.stderr).toContain('the client exists in us-east-1 (mypurecloud.com)');
    expect(region.stderr).toContain('hint: re-run with --region us-east-1');
    expect(secret.code).toBe(3);
    expect(secret.stderr).toContain('error: refused: wrong client secret: client ws-client exists in eu-west-1 (mypurecloud.ie), but Genesys rejected its secret (invalid_client: authentication failed)');
    expect(other.code).toBe(3);
    expect(other.stderr).toContain(`error: refused: credentials of another org: client other-client belongs to organization ${ORG_OTHER}, not ${ORG_CLAIMED}`);
    expect(other.stderr).toContain(`hint: if you meant that org, re-run with --org-id ${ORG_OTHER}`);
    for (const [run, orgId] of [[region, ORG_US], [secret, ORG_WS], [other, ORG_CLAIMED]] as const) {
      expect(run.stderr).toContain('Nothing was stored.');
      expect(run.stdout).toBe('');
      expect(await registry.get(orgId)).toBeUndefined();
      expect(sm.secret(credentialsSecretName(PREFIX, orgId))).toBeUndefined();
      expect(sm.secret(tokenSecretName(PREFIX, orgId))).toBeUndefined();
    }
  });

  it.concurrent('reports failing and at-risk orgs with their last error, and filters their audit trail', async () => {
    const adds = await Promise.all([
      cli(addArgs(ORG_FAIL, 'eu-west-1', 'fail-client', TABLE_ARGS, ['--label', 'Fail']), `${SECRETS.fail}\n`),
      cli(addArgs(ORG_RISK, 'eu-west-1', 'risk-client', TABLE_ARGS, ['--label', 'Risk']), `${SECRETS.risk}\n`),
    ]);
    for (const add of adds) {
      expect(add.code, add.stderr).toBe(0);
      expect(add.stdout).toContain('First refresh (in-process engine): refreshed');
    }
    const boundary = new Date().toISOString();
    // Fail: someone regenerated the client secret in Genesys. Risk: past its refresh mark, and Genesys rate-limits it.
    sim.setClientSecret('fail-client', 'regenerated-secret-000');
    const risk = (await registry.get(ORG_RISK))!;
    // Issued 11 minutes ago: a refresh is never due sooner than the 10-minute write interval after the last write.
    await registry.recordState(ORG_RISK, risk.version, { ...risk.state, issuedAtMs: Date.now() - 11 * 60_000, refreshAtMs: Date.now() - 60_000 });
    sim.injectFault('risk-client', { kind: 'rate_limit', retryAfter: '120' }, { times: Infinity });
    const [failRefresh, riskRefresh] = await Promise.all([
      cli(['refresh', '--org', ORG_FAIL, '--force', ...TABLE_ARGS]),
      inProcess(['refresh', '--org', ORG_RISK, ...TABLE_ARGS]),
    ]);
    expect(failRefresh.code).toBe(1);
    expect(failRefresh.stderr).toContain(`failed    ${ORG_FAIL}: invalid_client (permanent)`);
    expect(failRefresh.stdout).toMatch(new RegExp(`${ORG_FAIL}\\s+failed\\s+forced\\s+invalid_client\\s+-\\s+failing`));
    expect(riskRefresh.code).toBe(1);
    expect(riskRefresh.stdout).toMatch(new RegExp(`${ORG_RISK}\\s+failed\\s+at_refresh_mark\\s+rate_limited\\s+-\\s+at_risk`));

    const [table, json, gate] = await Promise.all([
      cli(['status', ...TABLE_ARGS]),
      inProcess(['status', '--json', ...TABLE_ARGS]),
      inProcess(['status', '--fail-on-unhealthy', ...TABLE_ARGS]),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ORG\s+LABEL\s+REGION\s+HEALTH\s+TOKEN AGE\s+EXPIRES IN\s+NEXT REFRESH\s+LAST ERROR$/m);
    expect(table.stdout).toMatch(new RegExp(`^${ORG_FAIL}\\s+Fail\\s+eu-west-1\\s+failing\\s+\\d+s\\s+23h 59m\\s+retry in \\d+s?.*invalid_client$`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${ORG_RISK}\\s+Risk\\s+eu-west-1\\s+at_risk\\s+11m \\d+s\\s+23h 59m\\s+retry in (1m 5\\ds|2m 0s)\\s+rate_limited$`, 'm'));
    const rows = JSON.parse(json.stdout) as StatusRow[];
    expect(rows.find((r) => r.orgId === ORG_FAIL)).toMatchObject({ health: 'failing', lastErrorCode: 'invalid_client', consecutiveFailures: 1, nextRefreshKind: 'retry' });
    expect(rows.find((r) => r.orgId === ORG_RISK)).toMatchObject({ health: 'at_risk', lastErrorCode: 'rate_limited' });
    expect(gate.code).toBe(1);
    expect(gate.stderr).toContain(`${ORG_FAIL} (failing)`);
    expect(gate.stderr).toContain(`${ORG_RISK} (at_risk)`);

    // An attempt from three days ago, to filter by time.
    const oldAt = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await auditLog.append({ orgId: ORG_FAIL, attemptId: 'old-attempt', at: oldAt, outcome: 'success', trigger: 'schedule', reason: 'at_refresh_mark', durationMs: 40, attempts: 1, brokerVersion: '0.0.0' });
    const [all, day, week, failures, after, everywhere, table2, badSince] = await Promise.all([
      inProcess(['audit', '--org', ORG_FAIL, '--json', ...TABLE_ARGS]),
      inProcess(['audit', '--org', ORG_FAIL, '--since', '24h', '--json', ...TABLE_ARGS]),
      inProcess(['audit', '--org', ORG_FAIL, '--since', '7d', '--json', ...TABLE_ARGS]),
      inProcess(['audit', '--org', ORG_FAIL, '--failures', '--json', ...TABLE_ARGS]),
      inProcess(['audit', '--org', ORG_FAIL, '--since', boundary, '--json', ...TABLE_ARGS]),
      inProcess(['audit', '--failures', '--json', ...TABLE_ARGS]),
      cli(['audit', '--org', ORG_FAIL, '--failures', ...TABLE_ARGS]),
      inProcess(['audit', '--org', ORG_FAIL, '--since', 'yesterday', ...TABLE_ARGS]),
    ]);
    const outcomes = (run: CliRun) => (JSON.parse(run.stdout) as AuditRecord[]).map((r) => `${r.outcome}:${r.errorCode ?? ''}`);
    expect(outcomes(all)).toEqual(['failure:invalid_client', 'success:', 'success:']);
    expect(outcomes(day)).toEqual(['failure:invalid_client', 'success:']);
    expect(outcomes(week)).toEqual(['failure:invalid_client', 'success:', 'success:']);
    expect(outcomes(failures)).toEqual(['failure:invalid_client']);
    expect(outcomes(after)).toEqual(['failure:invalid_client']);
    expect((JSON.parse(everywhere.stdout) as AuditRecord[]).map((r) => r.orgId).sort()).toEqual([ORG_FAIL, ORG_RISK]);
    expect(table2.stdout).toMatch(/^TIME\s+OUTCOME\s+TRIGGER\s+REASON\s+ERROR\s+HTTP\s+TRIES\s+TOOK\s+DETAIL$/m);
    expect(table2.stdout).toMatch(/failure\s+cli\s+forced\s+invalid_client\s+401\s+1\s+/);
    expect(table2.stdout).not.toMatch(/success/);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain('error: --since must be a look-back like 30m, 24h, 7d or 2w');
  });

  it.concurrent('stores the rotated refresh token when onboarding a refresh_token client', async () => {
    const add = await cli(addArgs(ORG_RT, 'eu-west-1', 'rt-client', TABLE_ARGS, ['--grant', 'refresh_token']), `${SECRETS.rt}\n${RT0}\n`);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('First refresh (in-process engine): refreshed');
    const stored = storedSecret(credentialsSecretName(PREFIX, ORG_RT)) as { refreshToken: string };
    // Verification spent RT0, the first refresh spent its successor: the live one is what is stored.
    expect(sim.usedRefreshTokens('rt-client')).toHaveLength(2);
    expect(sim.usedRefreshTokens('rt-client')[0]).toBe(RT0);
    expect(stored.refreshToken).toBe(sim.currentRefreshToken('rt-client'));
    expect(sim.counts('rt-client').refreshTokenReuse).toBe(0);
    expect(await registry.get(ORG_RT)).toMatchObject({ grantType: 'refresh_token', credentialsVersion: 1 });
  });

  it.concurrent('rejects bad command lines with exit 2 and a message naming the flag', async () => {
    const [typo, unknownForCommand, secretFlag, secretFlagEq, badOrg, badRegion, noTarget, twoTargets, unknownCommand, noStack] = await Promise.all([
      inProcess(['orgs', 'add', '--org-idd', ORG_US, ...TABLE_ARGS]),
      inProcess(['status', '--jsn', ...TABLE_ARGS]),
      cli(['orgs', 'add', '--org-id', ORG_US, '--region', 'us-east-1', '--client-id', 'us-client', '--client-secret', SECRET_ARG, ...TABLE_ARGS]),
      inProcess(['orgs', 'add', `--client-secret=${SECRET_ARG}`, ...TABLE_ARGS]),
      inProcess(['refresh', '--org', 'not-a-uuid', ...TABLE_ARGS]),
      inProcess(['orgs', 'add', '--org-id', ORG_US, '--region', 'mars-north-1', '--client-id', 'x', ...TABLE_ARGS]),
      inProcess(['status']),
      inProcess(['status', '--local', ...STACK_ARGS]),
      inProcess(['stauts', ...TABLE_ARGS]),
      cli(['status', '--stack', 'no-such-stack']),
    ]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("error: unknown option --org-idd for 'orgs add'");
    expect(typo.stderr).toContain('hint: did you mean --org-id?');
    expect(unknownForCommand.code).toBe(2);
    expect(unknownForCommand.stderr).toContain('--jsn');
    expect(unknownForCommand.stderr).toContain('did you mean --json?');
    for (const run of [secretFlag, secretFlagEq]) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('error: --client-secret is not accepted');
      expect(run.stderr).toContain('--client-secret-stdin');
    }
    expect(badOrg.code).toBe(2);
    expect(badOrg.stderr).toContain('error: --org must be a Genesys Cloud organization id');
    expect(badRegion.code).toBe(2);
    expect(badRegion.stderr).toContain('error: --region is not a Genesys Cloud region');
    expect(badRegion.stderr).toContain('eu-west-1 (mypurecloud.ie)');
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toContain('error: no target');
    expect(twoTargets.code).toBe(2);
    expect(twoTargets.stderr).toContain('error: choose one target, not --stack and --local');
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("did you mean 'status'?");
    expect(noStack.code).toBe(4);
    expect(noStack.stderr).toContain('error: stack no-such-stack does not exist');
    expect(await registry.get(ORG_US)).toBeUndefined();
  });

  it('never prints a client secret, refresh token or access token outside the token command', () => {
    const secrets = [...Object.values(SECRETS), WRONG_SECRET, SECRET_ARG, RT0, ...sim.usedRefreshTokens('rt-client'), sim.currentRefreshToken('rt-client')!, ...sim.issuedAccessTokens()];
    expect(runs.length).toBeGreaterThan(20);
    expect(sim.issuedAccessTokens().length).toBeGreaterThan(5);
    for (const run of runs) {
      const output = `${tokenRuns.has(run) ? '' : run.stdout}\n${run.stderr}`;
      for (const secret of secrets) expect(output, `${run.args.slice(0, 3).join(' ')} leaked a secret`).not.toContain(secret);
    }
  });
});
