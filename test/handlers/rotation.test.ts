/**
 * Rotating refresh tokens over the wire: the real refresher and getter handlers (and, for the lease
 * race, two engines built by the same composition root) against dynalite, the Secrets Manager and KMS
 * emulators and the Genesys simulator. Each test ends by asking the simulator how often a spent
 * refresh token was presented again: never. The last test checks that no token or secret reached a
 * log line, an audit record or a DynamoDB item anywhere in this file.
 */
import { type AttributeValue, type DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAwsPorts } from '../../lambdas/adapters/aws/aws-ports.js';
import { DynamoDbAuditLog } from '../../lambdas/adapters/aws/dynamodb-audit-log.js';
import { DynamoDbOrgRegistry } from '../../lambdas/adapters/aws/dynamodb-org-registry.js';
import { DynamoDbRefreshTokenJournal } from '../../lambdas/adapters/aws/dynamodb-refresh-token-journal.js';
import { createKmsEnvelope } from '../../lambdas/adapters/aws/kms-envelope.js';
import { credentialsSecretName } from '../../lambdas/adapters/aws/secret-names.js';
import { SecretsManagerCredentialStore } from '../../lambdas/adapters/aws/secrets-manager-credential-store.js';
import { SecretsManagerTokenVault } from '../../lambdas/adapters/aws/secrets-manager-token-vault.js';
import { createBrokerEngine } from '../../lambdas/core/broker-engine.js';
import { LEASE_TAKEOVER_GRACE_MS, type RefreshOutcome, type SweepSummary } from '../../lambdas/core/engine.js';
import { ENV } from '../../lambdas/core/env-names.js';
import { type Clock, type OrgRecord, type RefreshTokenJournal, systemClock } from '../../lambdas/core/ports.js';
import { GenesysSimulator, type SimFault } from '../../lib/demo/genesys-simulator.js';
import { type BrokerFunctionHost, startBrokerFunctionHost } from '../support/broker-functions.js';
import { type DynaliteHarness, startDynalite } from '../support/dynalite.js';
import { lambdaContext } from '../support/lambda-context.js';
import { createKmsEmulatorClient, KmsEmulator } from '../support/kms-emulator.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';
import { captureOutput } from '../support/captured-output.js';

const REGION = 'mypurecloud.ie';
const KEY_ID = '7a0c1e2d-3b4f-4a5b-8c6d-7e8f9a0b1c2d';

let ddb: DynaliteHarness;
let sm: SecretsManagerEmulator;
let kms: KmsEmulator;
let sim: GenesysSimulator;
let keyArn: string;
let functions: BrokerFunctionHost;
/** Every log line of the file (Powertools writes info to stdout, warnings and errors to stderr). */
const logs: string[] = [];
/** What the last test needs of every org this file set up. */
const environments: Array<{ orgId: string; clientId: string; clientSecret: string; initialRefreshToken: string; tables: string[]; audit: DynamoDbAuditLog; dynamoDb: DynamoDBClient }> = [];

const scheduledEvent = {
  version: '0',
  id: '2f1c7a52-9d0e-4b7e-8a41-6c3b2d1e0f9a',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-29T06:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/GenesysTokenBroker-Schedule'],
  detail: {},
};


/** Real time plus an offset the test moves forward: the broker's view of time, not the simulator's. */
function manualClock(): Clock & { advance(ms: number): void } {
  let offsetMs = 0;
  return { now: () => Date.now() + offsetMs, sleep: systemClock.sleep, advance: (ms) => void (offsetMs += ms) };
}

type Environment = Awaited<ReturnType<typeof environment>>;

/** One refresh_token org with its own tables, secrets, simulator client and handlers. */
async function environment(options: { clock?: Clock } = {}) {
  const n = environments.length + 1;
  const orgId = `0d000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  const clientId = `rotation-client-${n}`;
  const clientSecret = `rotation-secret-${n}-${crypto.randomUUID()}`;
  const initialRefreshToken = `initial-refresh-token-${n}-${crypto.randomUUID()}`;
  const names = { registry: `rotation-registry-${n}`, audit: `rotation-audit-${n}` };
  const prefix = `gtb-rotation-${n}`;
  await ddb.createTables(names);
  const dynamoDb = ddb.client();
  const secretsManager = createEmulatorClient(sm, { retryBackoffMs: 1, maxAttempts: 5 });
  const kmsClient = createKmsEmulatorClient(kms, { retryBackoffMs: 1 });
  sim.addOrg({ orgId, region: REGION });
  sim.addClient({ clientId, clientSecret, orgId, grantTypes: ['refresh_token'], refreshToken: initialRefreshToken });
  const registry = new DynamoDbOrgRegistry({ client: dynamoDb, tableName: names.registry });
  const org: Omit<OrgRecord, 'version'> = { orgId, region: REGION, grantType: 'refresh_token', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } };
  await registry.put(org);
  await new SecretsManagerCredentialStore({ client: secretsManager, secretPrefix: prefix }).save(org, { clientId, clientSecret, refreshToken: initialRefreshToken });
  const env = { [ENV.secretPrefix]: prefix, [ENV.registryTable]: names.registry, [ENV.auditTable]: names.audit, [ENV.kmsKeyId]: keyArn };
  const overrides = { genesysBaseUrl: sim.resolver, secretsManager, dynamoDb, kms: kmsClient, ...(options.clock ? { clock: options.clock } : {}) };
  const credentialsSecret = credentialsSecretName(prefix, orgId);
  const e = {
    orgId,
    clientId,
    clientSecret,
    initialRefreshToken,
    names,
    credentialsSecret,
    clients: { dynamoDb, secretsManager, kms: kmsClient },
    settings: { registryTable: names.registry, auditTable: names.audit, secretPrefix: prefix, kmsKeyId: keyArn },
    registry,
    audit: new DynamoDbAuditLog({ client: dynamoDb, tableName: names.audit }),
    vault: new SecretsManagerTokenVault({ client: secretsManager, secretPrefix: prefix }),
    journal: new DynamoDbRefreshTokenJournal({ client: dynamoDb, tableName: names.registry, sealer: createKmsEnvelope({ keyId: keyArn, client: kmsClient }) }),
    ...functions.deploy(env, overrides),
    /** The refresh token the credentials secret holds as AWSCURRENT. */
    storedRefreshToken: () => (JSON.parse(sm.versionWithStage(credentialsSecret)!.secretString!) as { refreshToken?: string }).refreshToken,
    /** The org's registry item as DynamoDB holds it, journal attributes included. */
    async rawItem(): Promise<Record<string, AttributeValue>> {
      const out = await dynamoDb.send(new GetItemCommand({ TableName: names.registry, Key: { orgId: { S: orgId } }, ConsistentRead: true }));
      return out.Item!;
    },
    /** Genesys never saw a spent refresh token again. */
    expectNoReuse: () => expect(sim.counts(clientId).refreshTokenReuse).toBe(0),
  };
  environments.push({ ...e, tables: [names.registry, names.audit], dynamoDb });
  return e;
}

const sweep = async (e: Environment, event: unknown = scheduledEvent) => (await e.refresher(event, lambdaContext())) as SweepSummary;
const forced = (e: Environment) => sweep(e, { orgIds: [e.orgId], force: true });

beforeAll(async () => {
  [ddb, sm, kms, sim, functions] = await Promise.all([startDynalite(), SecretsManagerEmulator.start(), KmsEmulator.start(), GenesysSimulator.start(), startBrokerFunctionHost()]);
  keyArn = kms.addKey(KEY_ID).arn;
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), kms?.close(), sim?.close(), functions?.close()]);
});

beforeEach(() => {
  captureOutput(logs);
  return () => {
    vi.restoreAllMocks();
    sm.clearFaults();
  };
});

describe('a credentials secret that refuses the rotated refresh token', () => {
  it.each(['InternalServiceError', 'ThrottlingException', 'LimitExceededException'])(
    'serves the new token, keeps the rotated refresh token sealed in the journal while PutSecretValue fails with %s, and persists it on the next attempt',
    async (failure) => {
      const e = await environment();
      expect(await sweep(e)).toMatchObject({ refreshed: 1 });
      const held = sim.currentRefreshToken(e.clientId)!;
      expect(e.storedRefreshToken()).toBe(held);
      const seen = sm.requests.length;
      // Only the credentials secret: the token secret's PutSecretValue goes through.
      sm.injectFault('PutSecretValue', { type: failure, times: 1_000_000, when: { SecretId: e.credentialsSecret } });

      expect(await forced(e)).toMatchObject({ refreshed: 1, failed: {}, critical: 0 });
      const rotated = sim.currentRefreshToken(e.clientId)!;
      expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken, held]);
      const puts = sm.requests.slice(seen).filter((r) => r.operation === 'PutSecretValue');
      expect(puts.filter((r) => r.outcome === failure).length).toBeGreaterThan(1);
      expect(puts.filter((r) => r.outcome === 'ok')).toHaveLength(1);
      // The credentials still hold the spent token; the journal holds the only live one, sealed.
      expect(e.storedRefreshToken()).toBe(held);
      expect(await e.journal.read(e.orgId)).toMatchObject({ kind: 'received', refreshToken: rotated, clientId: e.clientId, credentialsVersion: 1 });
      const item = await e.rawItem();
      expect(item.journalSealedToken?.S).toMatch(/^v1\./);
      expect(JSON.stringify(item)).not.toContain(rotated);
      const newest = sim.issuedAccessTokens(e.clientId).at(-1);
      expect((await e.vault.read(e.orgId))?.accessToken).toBe(newest);
      expect(await e.getter()({ orgId: e.orgId }, lambdaContext())).toMatchObject({ orgId: e.orgId, accessToken: newest });

      sm.clearFaults();
      const second = await forced(e);
      expect(second).toMatchObject({ refreshed: 1, failed: {} });
      // The pending token was the one presented, and its successor is what the credentials hold now.
      expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken, held, rotated]);
      expect(e.storedRefreshToken()).toBe(sim.currentRefreshToken(e.clientId));
      expect(await e.journal.read(e.orgId)).toBeUndefined();
      expect(Object.keys(await e.rawItem()).filter((k) => k.startsWith('journal'))).toEqual([]);
      expect(sim.counts(e.clientId).token).toBe(3);
      e.expectNoReuse();
    },
  );
});

describe('a pending refresh token while the credentials secret still refuses it', () => {
  it('is not presented until the credentials take it, so neither a 429 nor a lost answer can cost it', async () => {
    const e = await environment();
    sm.injectFault('PutSecretValue', { type: 'InternalServiceError', times: 1_000_000, when: { SecretId: e.credentialsSecret } });
    expect(await sweep(e)).toMatchObject({ refreshed: 1 });
    const pending = sim.currentRefreshToken(e.clientId)!;
    expect(e.storedRefreshToken()).toBe(e.initialRefreshToken);
    // Had the pending token been presented now, its spend note would have replaced the journal's only
    // copy: after the 429 nothing but the credentials' spent token would be left, and after the reset
    // a spend note that token does not match, which reads as stale. Either way the next attempt would
    // present the spent token.
    sim.injectFault(e.clientId, { kind: 'rate_limit', retryAfter: '1' });
    sim.injectFault(e.clientId, { kind: 'after_grant', then: { kind: 'reset' } });
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await forced(e)).toMatchObject({ refreshed: 0, failed: { credentials_unavailable: 1 }, critical: 0 });
      expect(sim.counts(e.clientId).token).toBe(1);
      expect(await e.journal.read(e.orgId)).toMatchObject({ kind: 'received', refreshToken: pending });
    }
    const [audit] = await e.audit.query(e.orgId);
    expect(audit).toMatchObject({ outcome: 'failure', errorCode: 'credentials_unavailable', errorClass: 'transient', attempts: 0 });
    expect((await e.registry.get(e.orgId))!.state.nextAttemptAtMs).toBeLessThan(Number.MAX_SAFE_INTEGER);

    sm.clearFaults();
    sim.clearFaults(e.clientId);
    expect(await forced(e)).toMatchObject({ refreshed: 1, failed: {} });
    expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken, pending]);
    expect(e.storedRefreshToken()).toBe(sim.currentRefreshToken(e.clientId));
    expect(await e.journal.read(e.orgId)).toBeUndefined();
    e.expectNoReuse();
  });
});

describe('a 200 that rotates the refresh token but carries an invalid body', () => {
  it('fails the attempt with invalid_token_response, keeps the rotated token and refreshes with it next time', async () => {
    const e = await environment();
    sim.injectFault(e.clientId, { kind: 'invalid_token_body' });

    const first = await sweep(e);
    expect(first).toMatchObject({ refreshed: 0, failed: { invalid_token_response: 1 }, critical: 0 });
    const rotated = sim.currentRefreshToken(e.clientId)!;
    expect(rotated).not.toBe(e.initialRefreshToken);
    expect(await e.journal.read(e.orgId)).toMatchObject({ kind: 'received', refreshToken: rotated });
    expect(JSON.stringify(await e.rawItem())).not.toContain(rotated);
    const [audit] = await e.audit.query(e.orgId);
    expect(audit).toMatchObject({ outcome: 'failure', errorCode: 'invalid_token_response', errorClass: 'transient', attempts: 1 });
    expect(audit).not.toHaveProperty('severity');

    const second = await forced(e);
    expect(second).toMatchObject({ refreshed: 1, failed: {} });
    expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken, rotated]);
    expect(e.storedRefreshToken()).toBe(sim.currentRefreshToken(e.clientId));
    expect(await e.journal.read(e.orgId)).toBeUndefined();
    expect(await e.getter()({ orgId: e.orgId }, lambdaContext())).toMatchObject({ accessToken: sim.issuedAccessTokens(e.clientId).at(-1) });
    expect(sim.counts(e.clientId).token).toBe(2);
    e.expectNoReuse();
  });
});

describe('an answer lost after Genesys rotated the refresh token', () => {
  it.each<[string, Extract<SimFault, { kind: 'after_grant' }>['then'], 'refresher' | 'getter']>([
    ['a connection reset', { kind: 'reset' }, 'refresher'],
    ['a 502', { kind: 'status', status: 502 }, 'refresher'],
    // The getter's short remaining time bounds the hang: it passes what it can wait (its remaining time
    // less 1.5 s to answer) to the refresher, whose token request gets what is left after the persist
    // reserve, about 2.5 s here.
    ['a hang until the deadline', { kind: 'hang' }, 'getter'],
  ])('stops the org after %s with one token request and a critical refresh_outcome_unknown, and never presents the token again', async (_name, then, trigger) => {
    const e = await environment();
    sim.injectFault(e.clientId, { kind: 'after_grant', then });

    if (trigger === 'refresher') {
      expect(await sweep(e)).toMatchObject({ refreshed: 0, failed: { refresh_outcome_unknown: 1 }, critical: 1 });
    } else {
      const answer = await e.getter()({ orgId: e.orgId }, lambdaContext(9_500));
      expect(answer).toMatchObject({ error: { code: 'token_unavailable', message: expect.stringContaining('refresh_outcome_unknown') } });
    }
    expect(sim.counts(e.clientId).token).toBe(1);
    // Genesys did spend it: presenting it again is exactly what must not happen.
    expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken]);
    const [audit] = await e.audit.query(e.orgId);
    expect(audit).toMatchObject({ outcome: 'failure', errorCode: 'refresh_outcome_unknown', errorClass: 'permanent', severity: 'critical', attempts: 1 });
    const { state } = (await e.registry.get(e.orgId))!;
    expect(state).toMatchObject({ lastOutcome: 'failure', lastErrorCode: 'refresh_outcome_unknown', nextAttemptAtMs: Number.MAX_SAFE_INTEGER });
    expect(await e.journal.read(e.orgId)).toMatchObject({ kind: 'spending', clientId: e.clientId });

    expect(await sweep(e)).toMatchObject({ refreshed: 0, failed: {}, skipped: { backingOff: 1 } });
    // Even an operator's forced refresh stops at the spend in doubt instead of presenting the token.
    expect(await forced(e)).toMatchObject({ refreshed: 0, failed: { refresh_outcome_unknown: 1 } });
    expect(sim.counts(e.clientId).token).toBe(1);
    e.expectNoReuse();
  });
});

describe('a getter and a sweep racing on one due org', () => {
  it('makes exactly one token request per race, ten races in a row, and both callers end with a valid token', async () => {
    const clock = manualClock();
    const e = await environment({ clock });
    // A little latency on every token request keeps the two callers overlapping.
    sim.injectFault(e.clientId, { kind: 'latency', ms: 50 }, { times: Infinity });
    expect(await sweep(e)).toMatchObject({ refreshed: 1 });
    const getter = e.getter();
    const winners = { getter: 0, sweep: 0 };
    for (let race = 1; race <= 10; race++) {
      // A day later on the broker's clock: the stored token has expired, so both callers find it due.
      clock.advance(25 * 3_600_000);
      const before = sim.counts(e.clientId).token;
      // The getter reads the registry and the token secret before it asks for the lease, so left to
      // itself the sweep always wins; a head start of 0 to 40 ms lets either one win.
      const headStartMs = [0, 10, 20, 40][race % 4]!;
      const [served, summary] = await Promise.all([getter({ orgId: e.orgId }, lambdaContext()), systemClock.sleep(headStartMs).then(() => sweep(e))]);
      expect(sim.counts(e.clientId).token - before, `race ${race}`).toBe(1);
      expect(summary.failed).toEqual({});
      expect(summary.refreshed + summary.skipped.leaseHeld + summary.skipped.notDue, `race ${race}`).toBe(1);
      winners[summary.refreshed === 1 ? 'sweep' : 'getter']++;
      const newest = sim.issuedAccessTokens(e.clientId).at(-1);
      expect(served, `race ${race}`).toMatchObject({ accessToken: newest });
      const stored = (await e.vault.read(e.orgId))!;
      expect(stored.accessToken).toBe(newest);
      expect(Date.parse(stored.expiresAt)).toBeGreaterThan(clock.now() + 23 * 3_600_000);
    }
    expect(winners.getter).toBeGreaterThan(0);
    expect(winners.sweep).toBeGreaterThan(0);
    expect(sim.usedRefreshTokens(e.clientId)).toHaveLength(11);
    expect(e.storedRefreshToken()).toBe(sim.currentRefreshToken(e.clientId));
    e.expectNoReuse();
  });
});

describe('a lease that runs out while its holder persists the rotated refresh token', () => {
  const LEASE_TTL_MS = 15_000;

  /**
   * Worker A's journal, whose write of a received token takes `slowMs` of the broker's clock; while
   * it is "in flight", `meanwhile` runs (worker B's attempt) before the write reaches DynamoDB.
   */
  function slowReceivedWrites(journal: RefreshTokenJournal, clock: ReturnType<typeof manualClock>, slowMs: number, meanwhile: () => Promise<void>): RefreshTokenJournal {
    return {
      read: (orgId) => journal.read(orgId),
      clear: (handle, attemptId) => journal.clear(handle, attemptId),
      async record(handle, entry) {
        if (entry.kind === 'received') {
          clock.advance(slowMs);
          await meanwhile();
        }
        return journal.record(handle, entry);
      },
    };
  }

  async function twoWorkers(slowMs: number) {
    const clock = manualClock();
    const e = await environment({ clock });
    const engine = (owner: string, journal?: (ports: ReturnType<typeof createAwsPorts>) => RefreshTokenJournal) => {
      const ports = createAwsPorts(e.settings, { ...e.clients, clock });
      return createBrokerEngine({ ...ports, ...(journal ? { journal: journal(ports) } : {}), genesysBaseUrl: sim.resolver }, { runtime: 'lambda', owner, leaseTtlMs: LEASE_TTL_MS });
    };
    const request = () => ({ trigger: 'schedule' as const, deadlineMs: clock.now() + 60_000 });
    const workerB = engine('worker-b');
    let b: { outcome: RefreshOutcome; tokenRequests: number } | undefined;
    const workerA = engine('worker-a', (ports) =>
      slowReceivedWrites(ports.journal, clock, slowMs, async () => {
        const before = sim.counts(e.clientId).token;
        const outcome = await workerB.refreshOne((await e.registry.get(e.orgId))!, request());
        b = { outcome, tokenRequests: sim.counts(e.clientId).token - before };
      }),
    );
    const a = await workerA.refreshOne((await e.registry.get(e.orgId))!, request());
    return { e, clock, a, b: b!, workerB, request };
  }

  it('keeps a second worker out within the takeover grace, and the first worker\'s write lands', async () => {
    // A's write takes longer than its whole lease, but less than the lease plus the grace.
    const { e, clock, a, b, workerB, request } = await twoWorkers(LEASE_TTL_MS + 1_000);
    expect(b.outcome).toMatchObject({ kind: 'skipped', reason: 'lease_held' });
    // A's clock passed its deadline while it persisted: it stores no access token, but keeps the refresh token.
    expect(a).toMatchObject({ kind: 'failed', errorCode: 'deadline_exceeded' });
    expect(b.tokenRequests).toBe(0);
    expect(sim.counts(e.clientId).token).toBe(1);
    // A still held the (fenced) lease, so its journal write and then the credentials took the token.
    const rotated = sim.currentRefreshToken(e.clientId);
    expect(e.storedRefreshToken()).toBe(rotated);
    expect(await e.journal.read(e.orgId)).toBeUndefined();

    clock.advance(LEASE_TAKEOVER_GRACE_MS);
    const next = await workerB.refreshOne((await e.registry.get(e.orgId))!, { ...request(), force: true });
    expect(next).toMatchObject({ kind: 'refreshed' });
    expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken, rotated]);
    expect(e.storedRefreshToken()).toBe(sim.currentRefreshToken(e.clientId));
    e.expectNoReuse();
  });

  it('stops a worker that takes over after the grace at the first worker\'s noted spend, and the first worker\'s token still lands', async () => {
    // A's write outlasts the lease and the grace: B takes the org over while A has not written yet.
    const { e, a, b, workerB, request } = await twoWorkers(LEASE_TTL_MS + LEASE_TAKEOVER_GRACE_MS + 1_000);
    expect(b.outcome).toMatchObject({ kind: 'failed', errorCode: 'refresh_outcome_unknown', critical: true });
    expect(a).toMatchObject({ kind: 'failed', errorCode: 'deadline_exceeded' });
    expect(b.tokenRequests).toBe(0);
    expect(sim.counts(e.clientId).token).toBe(1);
    // A's fenced journal write was refused (B had the lease); it wrote the credentials directly.
    const rotated = sim.currentRefreshToken(e.clientId);
    expect(e.storedRefreshToken()).toBe(rotated);
    const { state } = (await e.registry.get(e.orgId))!;
    expect(state).toMatchObject({ lastErrorCode: 'refresh_outcome_unknown', nextAttemptAtMs: Number.MAX_SAFE_INTEGER });

    // The operator's forced refresh finds the noted spend stale (the credentials moved on) and uses A's token.
    const next = await workerB.refreshOne((await e.registry.get(e.orgId))!, { ...request(), force: true });
    expect(next).toMatchObject({ kind: 'refreshed' });
    expect(sim.usedRefreshTokens(e.clientId)).toEqual([e.initialRefreshToken, rotated]);
    expect(e.storedRefreshToken()).toBe(sim.currentRefreshToken(e.clientId));
    expect(await e.journal.read(e.orgId)).toBeUndefined();
    e.expectNoReuse();
  });
});

describe('secrets across this file', () => {
  it('never puts an access token, a refresh token or a client secret in a log line, an audit record or a DynamoDB item', async () => {
    // One more org through the noisy paths, so this test checks something even when run alone.
    const e = await environment();
    sm.injectFault('PutSecretValue', { type: 'InternalServiceError', times: 1_000_000, when: { SecretId: e.credentialsSecret } });
    sim.injectFault(e.clientId, { kind: 'invalid_token_body' });
    expect(await sweep(e)).toMatchObject({ failed: { invalid_token_response: 1 } });
    expect(await forced(e)).toMatchObject({ failed: { credentials_unavailable: 1 } });
    sm.clearFaults();
    expect(await forced(e)).toMatchObject({ refreshed: 1 });
    sim.injectFault(e.clientId, { kind: 'after_grant', then: { kind: 'status', status: 502 } });
    expect(await forced(e)).toMatchObject({ failed: { refresh_outcome_unknown: 1 } });
    expect(await e.getter()({ orgId: e.orgId }, lambdaContext())).toHaveProperty('accessToken');

    // Every refresh token a client ever had: presented (used), issued and not yet used (current), or lost in flight.
    const secrets = environments.flatMap((env) => [
      env.clientSecret,
      env.initialRefreshToken,
      ...sim.usedRefreshTokens(env.clientId),
      sim.currentRefreshToken(env.clientId) ?? env.initialRefreshToken,
      ...sim.issuedAccessTokens(env.clientId),
    ]);
    expect(secrets.length).toBeGreaterThan(environments.length * 3);
    const text = logs.join('');
    for (const line of ['token refreshed', 'token refresh failed', 'refresh_outcome_unknown', 'finishing an interrupted refresh token persist failed', 'token served']) expect(text).toContain(line);
    const audits = (await Promise.all(environments.map((env) => env.audit.query(env.orgId)))).flat();
    expect(audits.length).toBeGreaterThan(environments.length);
    const items: Record<string, AttributeValue>[] = [];
    for (const env of environments) {
      for (const table of env.tables) items.push(...((await env.dynamoDb.send(new ScanCommand({ TableName: table }))).Items ?? []));
    }
    const haystacks = { logs: text, audit: JSON.stringify(audits), items: JSON.stringify(items) };
    for (const secret of secrets) {
      for (const [where, haystack] of Object.entries(haystacks)) expect(haystack.includes(secret), `a secret in ${where}`).toBe(false);
    }
    // Every client of the file, this test's included: not one spent refresh token presented again.
    expect(environments.reduce((sum, env) => sum + sim.counts(env.clientId).refreshTokenReuse, 0)).toBe(0);
  });
});
