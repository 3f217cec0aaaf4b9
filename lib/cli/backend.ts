/**
 * Opens the stores of a target behind the core ports, plus the way refreshes run there: the deployed
 * refresher Lambda when the target has one, otherwise the same engine in this process. AWS targets
 * use the AWS world's composition root (`createAwsPorts`) with the target's typed resources, so the
 * CLI writes exactly what the Lambdas write; local targets use the file world's (`createFilePorts`).
 * Both build their engine with `createBrokerEngine`, as the Lambdas and local mode do.
 */
import { type BrokerEngineDependencies, type BrokerPolicySettings, brokerPolicy, createBrokerEngine } from '../../lambdas/core/broker-engine.js';
import type { OrgResult, RefreshEngine, SweepSummary } from '../../lambdas/core/engine.js';
import type { PolicyOptions } from '../../lambdas/core/policy.js';
import type { AuditLog, BrokerPorts, Clock, CredentialStore, Lease, OrgRecord, OrgRegistry, Telemetry, TokenVault } from '../../lambdas/core/ports.js';
import type { BaseUrlResolver } from '../../lambdas/core/regions.js';
import { resultOf } from '../../lambdas/core/sweep-summary.js';
import { DEFAULT_SCHEDULE_SECONDS } from '../local/config.js';
import { localPolicySettings } from '../local/lifetimes.js';
import { describeStackTarget, invokeRefresher } from './aws.js';
import type { TargetSpec } from './target.js';

/** How long an in-process refresh may run before it stops starting new orgs. */
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
  /** The per-org leases the engines take: operator writes of an org hold its lease too. */
  readonly lease: Lease;
  readonly clock: Clock;
  /**
   * The refresh policy of the target's refresher, for `orgs add`'s lifetime check: the defaults for
   * AWS (a 5-minute schedule; the CLI does not read a stack's schedule), local mode's at its default
   * 300 s schedule for a data directory.
   */
  readonly policy: PolicyOptions;
  /** How refreshes run: `refresher Lambda <name>` or `in-process engine`. */
  readonly refreshVia: string;
  /** Where an org's credentials are kept, for messages. */
  credentialsLocation(org: Pick<OrgRecord, 'orgId' | 'credentialsSecretId'>): string;
  /** Undoes a pending deletion of a new org's secrets (an org removed and re-added within the recovery window). */
  prepareNewOrg(orgId: string): Promise<void>;
  /** What `orgs remove` did to the org's secrets, for the operator. */
  removalNote(orgId: string): string;
  /** A sweep of every org, or of the named ones. */
  refresh(request: RefreshRequest): Promise<SweepSummary>;
  /** Refreshes one org the CLI holds (its first refresh after `orgs add`); undefined when nothing was reported for it. */
  refreshOrg(org: OrgRecord, force: boolean): Promise<OrgResult | undefined>;
  close(): void;
}

export interface BackendOptions {
  /** Genesys override (testing only). */
  genesysBaseUrl?: BaseUrlResolver;
  /** Receives the in-process engine's progress events. */
  telemetry: Telemetry;
  /**
   * The command only reads: a local store is opened without creating anything, and may be demo
   * mode's (which any other command is refused). @default false
   */
  readOnly?: boolean;
  /** Notes about the choice of store, for stderr. */
  note?: (message: string) => void;
}

/** The in-process engine over a target's ports, refreshing by the target's policy. */
function engineFor(ports: BrokerPorts, options: BackendOptions, policy: BrokerPolicySettings): RefreshEngine {
  const deps: BrokerEngineDependencies = { ...ports, telemetry: options.telemetry, ...(options.genesysBaseUrl ? { genesysBaseUrl: options.genesysBaseUrl } : {}) };
  return createBrokerEngine(deps, { runtime: 'cli', ...policy });
}

/** Refreshes in this process: a sweep, or one org straight through `refreshOne`. */
function inProcess(engine: RefreshEngine, ports: BrokerPorts): Pick<Backend, 'refresh' | 'refreshOrg'> {
  const deadlineMs = () => ports.clock.now() + IN_PROCESS_SWEEP_BUDGET_MS;
  return {
    refresh: (request) => engine.sweep({ deadlineMs: deadlineMs(), trigger: 'cli', force: request.force, ...(request.orgIds ? { orgIds: request.orgIds } : {}) }),
    async refreshOrg(org, force) {
      return resultOf(await engine.refreshOne(org, { deadlineMs: deadlineMs(), trigger: 'cli', force }));
    },
  };
}

async function openLocal(requested: string, options: BackendOptions): Promise<Backend> {
  const readOnly = options.readOnly ?? false;
  // Loaded here: it knows the demo, which --help and AWS targets never need.
  const { chooseLocalStore } = await import('./local-store.js');
  const { dataDir, notes } = chooseLocalStore(requested, { readOnly });
  for (const note of notes) options.note?.(note);
  const { createFilePorts } = await import('../../lambdas/adapters/file/file-ports.js');
  const ports = createFilePorts(dataDir, { readOnly });
  const policy = localPolicySettings({ scheduleSeconds: DEFAULT_SCHEDULE_SECONDS });
  return {
    kind: 'local',
    description: `local data dir ${ports.dataDir}`,
    registry: ports.registry,
    credentials: ports.credentials,
    vault: ports.vault,
    audit: ports.audit,
    lease: ports.lease,
    clock: ports.clock,
    policy: brokerPolicy(policy),
    refreshVia: 'in-process engine',
    credentialsLocation: (org) => `${ports.dataDir}/credentials/${org.orgId.toLowerCase()}.json`,
    prepareNewOrg: async () => undefined,
    removalNote: () => 'its token and credentials files were deleted; the audit trail is kept',
    ...inProcess(engineFor(ports, options, policy), ports),
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
  // Loaded on demand: --help and local targets never load the AWS SDK.
  const [{ createAwsPorts }, names] = await Promise.all([import('../../lambdas/adapters/aws/aws-ports.js'), import('../../lambdas/adapters/aws/secret-names.js')]);
  const ports = createAwsPorts(
    {
      registryTable: resources.registryTable,
      auditTable: resources.auditTable,
      secretPrefix: resources.secretPrefix,
      ...(resources.kmsKeyId ? { kmsKeyId: resources.kmsKeyId } : {}),
    },
    { maxAttempts: 3 },
  );
  const prefix = resources.secretPrefix;
  const refresher = resources.refresherFunction;
  const local = inProcess(engineFor(ports, options, {}), ports);
  return {
    kind: 'aws',
    description: resources.description,
    registry: ports.registry,
    credentials: ports.credentials,
    vault: ports.vault,
    audit: ports.audit,
    lease: ports.lease,
    clock: ports.clock,
    policy: brokerPolicy({}),
    refreshVia: refresher ? `refresher Lambda ${refresher}` : 'in-process engine',
    credentialsLocation: (org) => `secret ${ports.credentials.secretId(org)}`,
    async prepareNewOrg(orgId) {
      // Nothing to restore is the common case: a brand-new org.
      await ports.vault.restore(orgId);
      await ports.credentials.restore({ orgId });
    },
    removalNote: (orgId) =>
      `secrets ${names.tokenSecretName(prefix, orgId)} and ${names.credentialsSecretName(prefix, orgId)} are scheduled for deletion after a 7-day recovery window ` +
      '(aws secretsmanager restore-secret undoes it); the audit trail is kept',
    refresh: (request) =>
      refresher
        ? invokeRefresher(refresher, { ...(request.orgIds ? { orgIds: request.orgIds } : {}), ...(request.force ? { force: true } : {}) })
        : local.refresh(request),
    async refreshOrg(org, force) {
      // Through the deployed refresher when there is one, so it runs with the Lambda's role and code.
      if (!refresher) return local.refreshOrg(org, force);
      const summary = await invokeRefresher(refresher, { orgIds: [org.orgId], ...(force ? { force: true } : {}) });
      return summary.results.find((r) => r.orgId === org.orgId);
    },
    close: () => ports.close(),
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
          ...(target.kmsKeyId ? { kmsKeyId: target.kmsKeyId } : {}),
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
