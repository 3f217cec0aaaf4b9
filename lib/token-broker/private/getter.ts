/**
 * Getter functions: the broker's default getter and its scoped getters share this one recipe (the
 * handler, its environment, its read-only grants, its nag acknowledgments). A getter reads token
 * secrets and the registry and asks the refresher for on-demand refreshes; it writes nothing.
 */
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ENV } from '../../../lambdas/core/env-names.js';
import { createBrokerFunction, grantGetterAccess } from './functions.js';
import { acknowledgeRoleFindings } from './nag.js';

/** What every getter of one broker shares. */
export interface GetterSettings {
  readonly secretPrefix: string;
  /** `<prefix>/tokens/*` as a secret ARN pattern. */
  readonly tokenSecretsPattern: string;
  readonly encryptionKey: kms.IKey;
  readonly registryTable: dynamodb.ITable;
  readonly refresher: lambda.IFunction;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly tracing: lambda.Tracing | undefined;
  /** The getter cache bound in seconds, as the env var's string (it may be a token). */
  readonly cacheMaxAgeSeconds: string;
  /** The metrics' `deployment` dimension (a token). */
  readonly deployment: string;
}

const settingsByBroker = new WeakMap<Construct, GetterSettings>();

/** Remembers a broker's getter settings for its scoped getters. */
export function registerGetterSettings(broker: Construct, settings: GetterSettings): void {
  settingsByBroker.set(broker, settings);
}

export function getterSettingsOf(broker: Construct): GetterSettings {
  const settings = settingsByBroker.get(broker);
  if (!settings) throw new Error('scoped getters are created with TokenBroker.addScopedGetter');
  return settings;
}

/**
 * A getter function `id` under `scope`. With `scope` given (a scoped getter), it serves only those
 * orgs: `tokenSecretArns` are theirs, the registry read is limited to their items, and the handler
 * answers `org_not_allowed` for any other.
 */
export function createGetterFunction(
  scope: Construct,
  id: string,
  settings: GetterSettings,
  options: { description: string; tokenSecretArns: string[]; orgIds?: string[] },
): lambda.IFunction {
  const { fn } = createBrokerFunction(scope, id, {
    handler: 'getter',
    description: options.description,
    memorySize: settings.memorySize,
    timeout: settings.timeout,
    environment: {
      [ENV.secretPrefix]: settings.secretPrefix,
      [ENV.registryTable]: settings.registryTable.tableName,
      [ENV.getterCacheMaxAgeSeconds]: settings.cacheMaxAgeSeconds,
      [ENV.refresherFunction]: settings.refresher.functionName,
      [ENV.deployment]: settings.deployment,
      ...(options.orgIds ? { [ENV.allowedOrgIds]: options.orgIds.join(',') } : {}),
      // Stack traces point at the TypeScript sources through the bundled source maps.
      NODE_OPTIONS: '--enable-source-maps',
    },
    removalPolicy: settings.removalPolicy,
    logRetention: settings.logRetention,
    tracing: settings.tracing,
  });
  grantGetterAccess(fn, {
    tokenSecretArns: options.tokenSecretArns,
    encryptionKey: settings.encryptionKey,
    registryTable: settings.registryTable,
    refresher: settings.refresher,
    ...(options.orgIds ? { orgIds: options.orgIds } : {}),
  });
  acknowledgeRoleFindings(fn, {
    ...(options.orgIds ? {} : { tokenSecretsPattern: settings.tokenSecretsPattern }),
    generateDataKeyFamily: false,
    // Lambda adds the X-Ray statement for any mode but DISABLED (PassThrough included when set explicitly).
    xrayStatement: settings.tracing !== undefined && settings.tracing !== lambda.Tracing.DISABLED,
  });
  return fn;
}
