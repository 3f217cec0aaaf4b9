/**
 * Test harness: an in-memory dynalite (DynamoDB emulator) behind a tiny HTTP proxy, both on
 * 127.0.0.1 with ephemeral ports. Adapter tests use the real DynamoDBClient against it.
 *
 * The proxy counts requests per operation (the X-Amz-Target suffix, e.g. `UpdateItem`) and can
 * answer the next N requests of an operation with a DynamoDB error instead of forwarding them, so
 * tests can prove how adapters surface throttling and service failures.
 *
 * What dynalite does not do, and what the harness does about it:
 * - UpdateTimeToLive is not implemented (DescribeTimeToLive always reports DISABLED), so
 *   `createTables` skips that call and items never expire. Tests assert the TTL attribute's value.
 * - ReturnValuesOnConditionCheckFailure is not supported, so the adapters do not rely on it.
 * It does support what the adapters use: GSIs with ALL projection, UpdateItem SET/REMOVE with
 * `if_not_exists` and arithmetic, condition expressions (`attribute_exists`, `attribute_not_exists`,
 * comparisons), Query with BETWEEN and ScanIndexForward, Scan with Limit/ExclusiveStartKey and
 * ProjectionExpression.
 */
import { createServer, request, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { createTableInputs } from '../../lambdas/adapters/aws/tables.js';

/** Errors the proxy can inject, answered the way DynamoDB answers them. */
export type DynamoDbFailure = 'InternalServerError' | 'ProvisionedThroughputExceededException' | 'ThrottlingException' | 'ValidationException';

const FAILURE_STATUS: Record<DynamoDbFailure, number> = {
  InternalServerError: 500,
  ProvisionedThroughputExceededException: 400,
  ThrottlingException: 400,
  ValidationException: 400,
};

/** A running dynalite with its failure-injecting proxy. */
export interface DynaliteHarness {
  /** Proxy URL; requests through it are counted and may be failed. */
  endpoint: string;
  /**
   * A real DynamoDBClient pointed at the proxy (region us-east-1, static fake credentials).
   * `options` override the defaults, for example `{ maxAttempts: 1 }` to see a failure unretried.
   * Clients are destroyed by `close()`.
   */
  client(options?: Partial<DynamoDBClientConfig>): DynamoDBClient;
  /** Creates the registry and audit tables from the designs in tables.ts and waits until ACTIVE. */
  createTables(names: { registry: string; audit: string }): Promise<void>;
  /** Answers the next `count` requests of `operation` (e.g. `PutItem`) with `failure`. */
  failNext(operation: string, count?: number, failure?: DynamoDbFailure): void;
  /** Requests seen for `operation` since start or the last `resetCounts`, injected failures included. */
  callCount(operation: string): number;
  /** All counts by operation. */
  calls(): Record<string, number>;
  /** Zeroes the counts and drops pending injected failures. */
  resetCounts(): void;
  close(): Promise<void>;
}

interface DynaliteOptions {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;

// dynalite ships CommonJS without type declarations; this is the one entry point we use.
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

const FAKE_CREDENTIALS = { accessKeyId: 'AKIDDYNALITETEST', secretAccessKey: 'dynalite-test-secret' };

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

function operationOf(target: string | string[] | undefined): string {
  const value = Array.isArray(target) ? target[0] : target;
  return value?.split('.').at(-1) ?? '(none)';
}

/** Starts dynalite (in memory, instant table state changes) and its proxy. */
export async function startDynalite(): Promise<DynaliteHarness> {
  const db = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dbPort = await listen(db);
  const upstreamAgent = new Agent({ keepAlive: true });
  const counts = new Map<string, number>();
  const pending = new Map<string, { count: number; failure: DynamoDbFailure }>();
  const clients: DynamoDBClient[] = [];

  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const operation = operationOf(req.headers['x-amz-target']);
      counts.set(operation, (counts.get(operation) ?? 0) + 1);
      const injected = pending.get(operation);
      if (injected && injected.count > 0) {
        injected.count -= 1;
        if (injected.count === 0) pending.delete(operation);
        const body = JSON.stringify({
          __type: `com.amazonaws.dynamodb.v20120810#${injected.failure}`,
          message: `injected by the dynalite harness for ${operation}`,
        });
        res.writeHead(FAILURE_STATUS[injected.failure], {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': Buffer.byteLength(body),
          'x-amzn-requestid': 'INJECTED',
        });
        res.end(body);
        return;
      }
      const upstream = request(
        { host: '127.0.0.1', port: dbPort, method: req.method, path: req.url, headers: req.headers, agent: upstreamAgent },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  const proxyPort = await listen(proxy);
  const endpoint = `http://127.0.0.1:${proxyPort}`;

  const makeClient = (url: string, options: Partial<DynamoDBClientConfig> = {}): DynamoDBClient => {
    const client = new DynamoDBClient({ endpoint: url, region: 'us-east-1', credentials: FAKE_CREDENTIALS, ...options });
    clients.push(client);
    return client;
  };
  // Table setup goes straight to dynalite so it never shows up in (or trips) the proxy's counts.
  const admin = makeClient(`http://127.0.0.1:${dbPort}`);

  return {
    endpoint,
    client: (options) => makeClient(endpoint, options),

    async createTables(names) {
      const inputs = createTableInputs(names);
      for (const input of [inputs.registry, inputs.audit]) {
        await admin.send(new CreateTableCommand(input));
        // createTableMs: 0 still flips CREATING -> ACTIVE on a timer, so wait for it.
        for (let i = 0; ; i++) {
          const { Table } = await admin.send(new DescribeTableCommand({ TableName: input.TableName }));
          const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((gsi) => gsi.IndexStatus === 'ACTIVE');
          if (Table?.TableStatus === 'ACTIVE' && indexesActive) break;
          if (i > 200) throw new Error(`table ${input.TableName} did not become ACTIVE`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        // UpdateTimeToLive is not implemented by dynalite; on AWS the CDK construct enables TTL.
      }
    },

    failNext(operation, count = 1, failure = 'InternalServerError') {
      const name = operationOf(operation);
      if (!Number.isSafeInteger(count) || count < 1) throw new Error('count must be a positive integer');
      pending.set(name, { count, failure });
    },

    callCount: (operation) => counts.get(operationOf(operation)) ?? 0,
    calls: () => Object.fromEntries(counts),
    resetCounts() {
      counts.clear();
      pending.clear();
    },

    async close() {
      for (const client of clients.splice(0)) client.destroy();
      upstreamAgent.destroy();
      await closeServer(proxy);
      await closeServer(db);
    },
  };
}
