/**
 * Resource policies on token secrets for readers in other AWS accounts (core/cross-account-readers.ts).
 * Token secrets are created at runtime by the refresher, not by CloudFormation, so the refresher puts
 * the policies on them:
 * - when it creates an org's token secret ({@link TokenSecretPolicies.afterCreate}). A secret
 *   created elsewhere (the operator CLI refreshing in-process does not know the reader list), or
 *   whose policy could not be written then, is noted in the registry's bookkeeping item (tables.ts
 *   READER_POLICIES_ITEM, `newOrgs`) and handled by the next reconcile;
 * - whenever the reader list differs from the one every secret was last brought in line with
 *   ({@link TokenSecretPolicies.reconcile}, called before each scheduled sweep). The bookkeeping item
 *   records that list's fingerprint, and the progress of a pass that is under way, so a pass over
 *   10,000 orgs spreads over several sweeps and steady state costs one GetItem per sweep.
 *
 * PutResourcePolicy is sent with BlockPublicPolicy, so Secrets Manager's own validation refuses any
 * policy that would open the secret broadly; an org with no readers has its policy deleted. Policy
 * writes pass through the shared WriteLimiter like every other secret write. Nothing here fails a
 * refresh: a failure is logged and counted, and the next sweep tries again.
 */
import { GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteResourcePolicyCommand, PutResourcePolicyCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHash } from 'node:crypto';
import { canonicalReaders, type CrossAccountReader, readerPrincipalsFor, tokenSecretPolicy } from '../../core/cross-account-readers.js';
import { METRIC } from '../../core/metric-names.js';
import type { Clock, OrgPage, Telemetry } from '../../core/ports.js';
import { sdkErrorName } from './aws-errors.js';
import { tokenSecretName } from './secret-names.js';
import { READER_POLICIES_ITEM, REGISTRY_TABLE } from './tables.js';
import type { WriteLimiter } from './write-limiter.js';

/** Orgs listed per registry page during a reconcile pass, and new orgs handled per reconcile call. */
const PAGE_LIMIT = 100;

export interface TokenSecretPoliciesOptions {
  secretsManager: SecretsManagerClient;
  dynamoDb: DynamoDBClient;
  registryTable: string;
  secretPrefix: string;
  /** The deployment's reader list; undefined where it is not known (the CLI), which can then only note new secrets. */
  readers?: readonly CrossAccountReader[];
  clock: Clock;
  telemetry: Telemetry;
  limiter?: WriteLimiter;
}

/** What one org's secret got: its policy, no policy, or nothing because it has no token secret yet. */
export type PolicyApplied = 'policy_put' | 'policy_deleted' | 'no_secret';

/** How a reconcile call ended. */
export interface ReconcileResult {
  /** `in_line`: nothing to do; `done`: this call finished a pass; `partial`: time ran out, the next call resumes; `failed`: an org's write failed, the next call resumes there. */
  status: 'in_line' | 'done' | 'partial' | 'failed';
  /** Secrets whose policy this call wrote or deleted. */
  applied: number;
}

interface Progress {
  applied?: string;
  pending?: string;
  cursor?: string;
  newOrgs?: string[];
}

export class TokenSecretPolicies {
  readonly #o: TokenSecretPoliciesOptions;
  readonly #readers: readonly CrossAccountReader[] | undefined;

  constructor(options: TokenSecretPoliciesOptions) {
    this.#o = options;
    this.#readers = options.readers;
  }

  /** Puts `orgId`'s policy on its token secret, or deletes the policy when the org has no readers. Throws the SDK error. */
  async apply(orgId: string): Promise<PolicyApplied> {
    const { secretsManager, secretPrefix, limiter } = this.#o;
    const SecretId = tokenSecretName(secretPrefix, orgId);
    const policy = tokenSecretPolicy(readerPrincipalsFor(orgId, this.#known()));
    await limiter?.acquire();
    try {
      if (policy === undefined) {
        await secretsManager.send(new DeleteResourcePolicyCommand({ SecretId }));
        return 'policy_deleted';
      }
      await secretsManager.send(new PutResourcePolicyCommand({ SecretId, ResourcePolicy: policy, BlockPublicPolicy: true }));
      return 'policy_put';
    } catch (err) {
      // Not created yet: its creation applies the policy. Scheduled for deletion: the org was removed.
      if (sdkErrorName(err) === 'ResourceNotFoundException' || sdkErrorName(err) === 'InvalidRequestException') return 'no_secret';
      throw err;
    }
  }

  /**
   * Called once the vault has created `orgId`'s token secret. Applies the org's policy when it has
   * readers; when that fails, or where the reader list is not known, notes the org for the next
   * reconcile. Never throws: the token is written, and that is what matters now.
   */
  async afterCreate(orgId: string): Promise<void> {
    try {
      if (this.#readers === undefined) return await this.#noteNew(orgId);
      if (readerPrincipalsFor(orgId, this.#readers).length === 0) return;
      try {
        await this.apply(orgId);
      } catch (err) {
        this.#failed(orgId, err);
        await this.#noteNew(orgId);
      }
    } catch (err) {
      this.#o.telemetry.log('error', 'a new token secret could not be noted for its resource policy', { orgId, errorName: sdkErrorName(err) ?? 'Error' });
      this.#o.telemetry.metric(METRIC.tokenSecretPolicyFailures, 1, 'Count');
    }
  }

  /**
   * Brings every org's token secret in line with the reader list, when it differs from the one last
   * applied everywhere. Works page by page until `deadlineMs`, recording its progress after each page;
   * stops at the first org whose write fails (the next call resumes at that page). Throws only when
   * the bookkeeping item cannot be read or written.
   */
  async reconcile(listPage: (options: { cursor?: string; limit: number }) => Promise<OrgPage>, deadlineMs: number): Promise<ReconcileResult> {
    const readers = this.#known();
    const fingerprint = readersFingerprint(readers);
    const progress = await this.#readProgress();
    let count = 0;
    // Secrets created without their policy: those of orgs with readers get it now.
    const noted = (progress.newOrgs ?? []).slice(0, PAGE_LIMIT);
    if (noted.length > 0) {
      for (const orgId of noted) {
        if (readerPrincipalsFor(orgId, readers).length === 0) continue;
        try {
          if ((await this.apply(orgId)) !== 'no_secret') count += 1;
        } catch (err) {
          this.#failed(orgId, err);
          return { status: 'failed', applied: count };
        }
      }
      await this.#forgetNew(noted);
    }
    // No list ever applied and none now: nothing to do, and nothing to delete.
    const applied = progress.applied ?? readersFingerprint([]);
    if (applied === fingerprint) return { status: count > 0 ? 'done' : 'in_line', applied: count };
    let cursor = progress.pending === fingerprint ? progress.cursor : undefined;
    for (;;) {
      if (this.#o.clock.now() >= deadlineMs) return { status: 'partial', applied: count };
      const page = await listPage({ ...(cursor === undefined ? {} : { cursor }), limit: PAGE_LIMIT });
      for (const org of page.items) {
        try {
          if ((await this.apply(org.orgId)) !== 'no_secret') count += 1;
        } catch (err) {
          this.#failed(org.orgId, err);
          return { status: 'failed', applied: count };
        }
      }
      if (page.cursor === undefined) break;
      cursor = page.cursor;
      await this.#writeProgress({ applied: progress.applied, pending: fingerprint, cursor });
    }
    await this.#writeProgress({ applied: fingerprint });
    this.#o.telemetry.log('info', 'token secret policies in line with the cross-account readers', { secretsUpdated: count, readers: readers.length });
    return { status: 'done', applied: count };
  }

  #known(): readonly CrossAccountReader[] {
    if (this.#readers === undefined) throw new Error('TokenSecretPolicies: the reader list is not known here');
    return this.#readers;
  }

  /** Adds `orgId` to the bookkeeping item's set of new orgs. */
  async #noteNew(orgId: string): Promise<void> {
    await this.#o.dynamoDb.send(
      new UpdateItemCommand({
        TableName: this.#o.registryTable,
        Key: itemKey(),
        UpdateExpression: 'ADD #n :o',
        ExpressionAttributeNames: { '#n': READER_POLICIES_ITEM.newOrgs },
        ExpressionAttributeValues: { ':o': { SS: [orgId] } },
      }),
    );
  }

  /** Removes `orgIds` from the set of new orgs (one noted again meanwhile stays noted only if re-added after this). */
  async #forgetNew(orgIds: string[]): Promise<void> {
    await this.#o.dynamoDb.send(
      new UpdateItemCommand({
        TableName: this.#o.registryTable,
        Key: itemKey(),
        UpdateExpression: 'DELETE #n :o',
        ExpressionAttributeNames: { '#n': READER_POLICIES_ITEM.newOrgs },
        ExpressionAttributeValues: { ':o': { SS: orgIds } },
      }),
    );
  }

  #failed(orgId: string, err: unknown): void {
    this.#o.telemetry.log('error', 'token secret policy could not be written; the next sweep retries', { orgId, errorName: sdkErrorName(err) ?? 'Error' });
    this.#o.telemetry.metric(METRIC.tokenSecretPolicyFailures, 1, 'Count');
  }

  async #readProgress(): Promise<Progress> {
    const out = await this.#o.dynamoDb.send(
      new GetItemCommand({ TableName: this.#o.registryTable, Key: itemKey(), ConsistentRead: true }),
    );
    const item = out.Item ?? {};
    const text = (name: string) => item[name]?.S;
    const newOrgs = item[READER_POLICIES_ITEM.newOrgs]?.SS;
    return {
      ...(text(READER_POLICIES_ITEM.applied) ? { applied: text(READER_POLICIES_ITEM.applied) } : {}),
      ...(text(READER_POLICIES_ITEM.pending) ? { pending: text(READER_POLICIES_ITEM.pending) } : {}),
      ...(text(READER_POLICIES_ITEM.cursor) ? { cursor: text(READER_POLICIES_ITEM.cursor) } : {}),
      ...(newOrgs?.length ? { newOrgs: [...newOrgs].sort() } : {}),
    };
  }

  /** Replaces the pass's bookkeeping attributes with `progress` (an UpdateItem: the set of new orgs is left alone). */
  async #writeProgress(progress: Omit<Progress, 'newOrgs'>): Promise<void> {
    const names = [READER_POLICIES_ITEM.applied, READER_POLICIES_ITEM.pending, READER_POLICIES_ITEM.cursor] as const;
    const values = [progress.applied, progress.pending, progress.cursor];
    const set: string[] = [];
    const remove: string[] = [];
    const ExpressionAttributeNames: Record<string, string> = {};
    const ExpressionAttributeValues: Record<string, { S: string }> = {};
    names.forEach((name, i) => {
      ExpressionAttributeNames[`#a${i}`] = name;
      const value = values[i];
      if (value === undefined) remove.push(`#a${i}`);
      else {
        set.push(`#a${i} = :v${i}`);
        ExpressionAttributeValues[`:v${i}`] = { S: value };
      }
    });
    await this.#o.dynamoDb.send(
      new UpdateItemCommand({
        TableName: this.#o.registryTable,
        Key: itemKey(),
        UpdateExpression: [set.length ? `SET ${set.join(', ')}` : '', remove.length ? `REMOVE ${remove.join(', ')}` : ''].filter(Boolean).join(' '),
        ExpressionAttributeNames,
        ...(set.length ? { ExpressionAttributeValues } : {}),
      }),
    );
  }
}

/** The bookkeeping's fingerprint of a reader list: a digest of its canonical form. */
export function readersFingerprint(readers: readonly CrossAccountReader[]): string {
  return createHash('sha256').update(canonicalReaders(readers)).digest('hex').slice(0, 32);
}

const itemKey = () => ({ [REGISTRY_TABLE.partitionKey.name]: { S: READER_POLICIES_ITEM.key } });
