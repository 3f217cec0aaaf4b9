/**
 * The broker's two functions as a deployment wires them, for handler tests: the real refresher handler
 * hosted in the Lambda emulator, and getter handlers that reach it through the real LambdaClient, so
 * every on-demand refresh crosses the wire the way `lambda:InvokeFunction` does on AWS.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { ENV } from '../../lambdas/core/env-names.js';
import { createGetterHandler } from '../../lambdas/handlers/getter.js';
import { createRefresherHandler } from '../../lambdas/handlers/refresher.js';
import type { HandlerOverrides } from '../../lambdas/handlers/setup.js';
import { createLambdaEmulatorClient, type EmulatedHandler, LambdaEmulator } from './lambda-emulator.js';

export interface BrokerFunctions {
  /** The refresher handler, also hosted in the emulator under `refresherName`. */
  refresher: ReturnType<typeof createRefresherHandler>;
  refresherName: string;
  /** A new getter handler (a new container) that asks the hosted refresher for on-demand refreshes. */
  getter(extraEnv?: Record<string, string>): ReturnType<typeof createGetterHandler>;
}

export interface BrokerFunctionHost {
  lambda: LambdaEmulator;
  client: LambdaClient;
  /** Hosts a refresher for `env` (the refresher's variables) and returns both functions. */
  deploy(env: Record<string, string>, overrides: HandlerOverrides): BrokerFunctions;
  close(): Promise<void>;
}

export async function startBrokerFunctionHost(): Promise<BrokerFunctionHost> {
  const lambda = await LambdaEmulator.start();
  const client = createLambdaEmulatorClient(lambda, { maxAttempts: 1 });
  let n = 0;
  return {
    lambda,
    client,
    deploy(env, overrides) {
      const refresherName = `gtb-refresher-${++n}`;
      const refresher = createRefresherHandler({ env, overrides });
      lambda.register(refresherName, refresher as unknown as EmulatedHandler, { timeoutMs: 30_000 });
      const { secretsManager, dynamoDb, clock } = overrides;
      return {
        refresher,
        refresherName,
        getter: (extraEnv = {}) =>
          createGetterHandler({
            env: { [ENV.secretPrefix]: env[ENV.secretPrefix]!, [ENV.registryTable]: env[ENV.registryTable]!, [ENV.refresherFunction]: refresherName, ...extraEnv },
            overrides: { lambda: client, ...(secretsManager ? { secretsManager } : {}), ...(dynamoDb ? { dynamoDb } : {}), ...(clock ? { clock } : {}) },
          }),
      };
    },
    async close() {
      client.destroy();
      await lambda.close();
    },
  };
}

export type { Context };
