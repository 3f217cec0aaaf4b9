/**
 * Opens the stores of a target behind the core ports, plus the way refreshes run there: the deployed
 * refresher Lambda when the target has one, otherwise the same engine in this process. AWS targets
 * reuse the handlers' wiring (`wireAws`), so the CLI writes exactly what the Lambdas write; local
 * targets open the embedded file store local mode uses.
 */
import { createRefreshEngine, type RefreshEngine, type SweepSummary } from '../../lambdas/core/engine.js';
import { createOAuthClient, type FetchLike } from '../../lambdas/core/oauth.js';
import type { AuditLog, CredentialStore, OrgRecord, OrgRegistry, Telemetry, TokenVault } from '../../lambdas/core/ports.js';
import { systemClock } from '../../lambdas/core/ports.js';
import type { BaseUrlResolver } from '../../lambdas/core/regions.js';
import { ENV } from '../../lambdas/core/env-names.js';
import { describeStackTarget, invokeRefresher } from './aws.js';
import type { TargetSpec } from './target.js';

/** How long an in-process sweep may run before it stops starting new orgs. */
export const IN_PROCESS_SWEEP_BUDGET_MS = 10 * 60_000;

/** A refresh the CLI asks for. */
export interface RefreshRequest {
  orgIds?: string[];
  force: boolean;
}

/** A target's stores and refresh path. */
export interface Backend {
  readonly kind: 'aws' | 'local';
  /** For messages: `stack my-broker`, `tables reg/audit, prefix p`, `local data dir /x`. */
  readonly description: string;
  readonly registry: OrgRegistry;
  readonly credentials: CredentialStore;
  readonly vault: TokenVault;
  readonly audit: AuditLog;
  /** How refreshes run: `refresher Lambda <name>` or `in-process engine`. */
  readonly refreshVia: string;
  /** Where an org's credentials are kept, for messages. */
  credentialsLocation(org: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>): string;
  /** Undoes a pending deletion of a new org's secrets (an org removed and re-added within the recovery window). */
  prepareNewOrg(orgId: string): Promise<void>;
  /** What `orgs remove` did to the org's secrets, for the operator. */
  removalNote(orgId: string): string;
  refresh(request: RefreshRequest): Promise<SweepSummary>;
  close(): void;
}

export interface BackendOptions {
  /** Genesys override (testing only). */
  genesysBaseUrl?: BaseUrlResolver;
  /** Receives the in-process engine's progress events. */
  telemetry: Telemetry;
}

function sweepWith(engine: RefreshEngine, request: RefreshRequest): Promise<SweepSummary> {
  return engine.sweep({
    deadlineMs: systemClock.now() + IN_PROCESS_SWEEP_BUDGET_MS,
    trigger: 'cli',
    force: request.force,
    ...(request.orgIds ? { orgIds: request.orgIds } : {}),
  });
}

async function openLocal(dataDir: string, options: BackendOptions): Promise<Backend> {
  const [{ FileStore }, { BROKER_VERSION }] = await Promise.all([
    import('../../lambdas/adapters/file/file-store.js'),
    // The version constant lives with the Lambda wiring (and its SDK imports); local mode pays that load once.
    import('../../lambdas/handlers/wiring.js'),
  ]);
  const store = new FileStore({ dataDir });
  const engine = createRefreshEngine(
    {
      registry: store.registry,
      credentials: store.credentials,
      vault: store.vault,
      audit: store.audit,
      lease: store.lease,
      oauth: createOAuthClient({
        fetch: globalThis.fetch as unknown as FetchLike,
        clock: systemClock,
        userAgent: `genesys-token-broker-cli/${BROKER_VERSION}`,
        ...(options.genesysBaseUrl ? { baseUrl: options.genesysBaseUrl } : {}),
      }),
      clock: systemClock,
      telemetry: options.telemetry,
    },
    { brokerVersion: BROKER_VERSION },
  );
  return {
    kind: 'local',
    description: `local data dir ${store.dataDir}`,
    registry: store.registry,
    credentials: store.credentials,
    vault: store.vault,
    audit: store.audit,
    refreshVia: 'in-process engine',
    credentialsLocation: (org) => `${store.dataDir}/credentials/${org.orgId.toLowerCase()}.json`,
    prepareNewOrg: async () => undefined,
    removalNote: () => 'its token and credentials files were deleted; the audit trail is kept',
    refresh: (request) => sweepWith(engine, request),
    close: () => undefined,
  };
}

interface AwsResources {
  description: string;
  registryTable: string;
  auditTable: string;
  secretPrefix: string;
  refresherFunction?: string;
  kmsKeyId?: string;
}

async function openAws(resources: AwsResources, options: BackendOptions): Promise<Backend> {
  const [{ DynamoDBClient }, { SecretsManagerClient, RestoreSecretCommand }, { loadConfig }, { wireAws }, names] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('@aws-sdk/client-secrets-manager'),
    import('../../lambdas/handlers/config.js'),
    import('../../lambdas/handlers/wiring.js'),
    import('../../lambdas/adapters/aws/secret-names.js'),
  ]);
  const dynamoDb = new DynamoDBClient({ maxAttempts: 3 });
  const secretsManager = new SecretsManagerClient({ maxAttempts: 3 });
  const config = loadConfig({
    [ENV.registryTable]: resources.registryTable,
    [ENV.auditTable]: resources.auditTable,
    [ENV.secretPrefix]: resources.secretPrefix,
    [ENV.kmsKeyId]: resources.kmsKeyId,
  });
  const { deps, engine } = wireAws(config, options.telemetry, {
    dynamoDb,
    secretsManager,
    ...(options.genesysBaseUrl ? { genesysBaseUrl: options.genesysBaseUrl } : {}),
  });
  const prefix = resources.secretPrefix;
  const restore = async (secretId: string) => {
    try {
      await secretsManager.send(new RestoreSecretCommand({ SecretId: secretId }));
    } catch (err) {
      // Nothing to restore is the common case: a brand-new org.
      if (!(err instanceof Error && err.name === 'ResourceNotFoundException')) throw err;
    }
  };
  const refresher = resources.refresherFunction;
  return {
    kind: 'aws',
    description: resources.description,
    registry: deps.registry,
    credentials: deps.credentials,
    vault: deps.vault,
    audit: deps.audit,
    refreshVia: refresher ? `refresher Lambda ${refresher}` : 'in-process engine',
    credentialsLocation: (org) => `secret ${org.credentialsSecretId ?? names.credentialsSecretName(prefix, org.orgId)}`,
    async prepareNewOrg(orgId) {
      await restore(names.tokenSecretName(prefix, orgId));
      await restore(names.credentialsSecretName(prefix, orgId));
    },
    removalNote: (orgId) =>
      `secrets ${names.tokenSecretName(prefix, orgId)} and ${names.credentialsSecretName(prefix, orgId)} are scheduled for deletion after a 7-day recovery window ` +
      '(aws secretsmanager restore-secret undoes it); the audit trail is kept',
    refresh: (request) =>
      refresher
        ? invokeRefresher(refresher, { ...(request.orgIds ? { orgIds: request.orgIds } : {}), ...(request.force ? { force: true } : {}) })
        : sweepWith(engine, request),
    close() {
      dynamoDb.destroy();
      secretsManager.destroy();
    },
  };
}

/** Opens a target. For a stack, reads its outputs first (one DescribeStacks call). */
export async function openBackend(target: TargetSpec, options: BackendOptions): Promise<Backend> {
  switch (target.kind) {
    case 'local':
      return openLocal(target.dataDir, options);
    case 'tables':
      return openAws(
        {
          description: `tables ${target.registryTable} / ${target.auditTable}, prefix ${target.secretPrefix}`,
          registryTable: target.registryTable,
          auditTable: target.auditTable,
          secretPrefix: target.secretPrefix,
          ...(target.refresherFunction ? { refresherFunction: target.refresherFunction } : {}),
        },
        options,
      );
    case 'stack': {
      const stack = await describeStackTarget(target.stackName);
      return openAws(
        {
          description: `stack ${stack.stackName}`,
          registryTable: stack.registryTable,
          auditTable: stack.auditTable,
          secretPrefix: stack.secretPrefix,
          refresherFunction: stack.refresherFunction,
          ...(stack.encryptionKeyArn ? { kmsKeyId: stack.encryptionKeyArn } : {}),
        },
        options,
      );
    }
  }
}
