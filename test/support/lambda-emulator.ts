/**
 * A Lambda emulator for tests: a node:http server on 127.0.0.1 that speaks the Lambda Invoke REST
 * API and runs in-process handlers, so the real `@aws-sdk/client-lambda` client (signing, retries,
 * error deserialisation) reaches them unchanged through its `endpoint` option.
 *
 * Wire protocol, as the real service: `POST /2015-03-31/functions/{FunctionName}/invocations`, with
 * the function as a name, a full ARN or a partial ARN (`123456789012:function:name`), optionally
 * qualified (`name:live`, or `?Qualifier=live`), SigV4-signed for the `lambda` service.
 * - `X-Amz-Invocation-Type: RequestResponse` (the default) runs the handler and answers 200 with its
 *   JSON result (`null` for undefined). When the handler throws, rejects, times out or returns more
 *   than 6 MB, the answer is still 200, with `X-Amz-Function-Error: Unhandled` and a body of
 *   `{"errorType","errorMessage","trace"?}` as the Node.js runtime writes it.
 * - `Event` answers 202 with no body and runs the handler in the background (see {@link LambdaEmulator.idle}).
 * - `DryRun` answers 204 without running anything.
 * - Service errors carry `x-amzn-ErrorType` and a `{"Type","Message"}` body: 404
 *   ResourceNotFoundException for an unknown function, 400 InvalidRequestContentException for a
 *   payload that is not JSON, 413 RequestTooLargeException above 6 MB, and whatever a test injects.
 *
 * Handlers get a Lambda-like context: awsRequestId, functionName, functionVersion,
 * invokedFunctionArn, memoryLimitInMB, log group and stream names, clientContext (from
 * `X-Amz-Client-Context`), tenantId, and getRemainingTimeInMillis() counting down the function's
 * timeout from the moment the request arrived.
 *
 * Honest limits: every handler runs in this process, so module-scope state is shared by "concurrent
 * containers" and a timed-out handler keeps running after its caller got the timeout error (it cannot
 * be killed). No logs are captured (`LogType: Tail` returns no `X-Amz-Log-Result`), no cold starts,
 * no concurrency limits except as injected TooManyRequestsException faults, no retries of failed
 * Event invocations. The emulator itself never logs and never records payloads.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { ClientContext, Context } from 'aws-lambda';
import { type EmulatorClientOptions, emulatorClientConfig, headerValue, readBody, verifySigV4 } from './aws-wire.js';

/** Static fake credentials the emulator accepts (and {@link createLambdaEmulatorClient} signs with). */
export const LAMBDA_EMULATOR_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIALAMBDAEMULATOR00',
  secretAccessKey: 'lambda-emulator-secret-access-key-not-real',
});

/** Lambda's synchronous request and response payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** A handler the emulator hosts: the shape of a Node.js Lambda handler (and of a middy handler). */
export type EmulatedHandler = (event: unknown, context: Context) => unknown;

/** Per-function settings, as a function's configuration would carry them. */
export interface RegisterOptions {
  /**
   * The function's timeout. A handler still running then answers `Sandbox.Timedout`.
   * @default 30_000 (more than Lambda's 3 s default, so a slow test machine does not flake)
   */
  timeoutMs?: number;
  /** @default 128 */
  memoryLimitInMB?: number;
  /** @default '$LATEST' */
  functionVersion?: string;
}

export interface LambdaEmulatorOptions {
  /** @default 'us-east-1' */
  region?: string;
  /** @default '123456789012' */
  accountId?: string;
  /**
   * Check every request's SigV4 signature against {@link LAMBDA_EMULATOR_CREDENTIALS}, the region and
   * the `lambda` service, as AWS does.
   * @default true
   */
  verifySignatures?: boolean;
}

/** A service error to answer instead of invoking. */
export interface LambdaFaultSpec {
  /** Exception name the SDK will see: `TooManyRequestsException`, `ServiceException`, `AccessDeniedException`, ... */
  type: string;
  /** @default 1 */
  times?: number;
  /** @default 429 for TooManyRequestsException, 403 for AccessDeniedException, 500 for ServiceException, else 400 */
  status?: number;
  message?: string;
  /** Sent as `Retry-After` (TooManyRequestsException models it as `retryAfterSeconds`). */
  retryAfterSeconds?: number;
}

/** How one request ended. */
export type InvocationOutcome = 'ok' | 'accepted' | 'dry_run' | 'function_error' | 'timeout' | 'service_error';

/** One request as the emulator saw it. Never holds a payload. */
export interface RecordedInvocation {
  /** The function's plain name, or the FunctionName as sent when it matched no function. */
  functionName: string;
  invocationType: string;
  qualifier?: string;
  /** The context's awsRequestId (also the `x-amzn-RequestId` response header). */
  requestId: string;
  outcome: InvocationOutcome;
  /** errorType for function errors, the exception name for service errors. */
  errorType?: string;
}

interface RegisteredFunction {
  name: string;
  handler: EmulatedHandler;
  timeoutMs: number;
  memoryLimitInMB: number;
  functionVersion: string;
}

interface QueuedFault extends Required<Pick<LambdaFaultSpec, 'type' | 'times'>> {
  functionName: string;
  status?: number;
  message?: string;
  retryAfterSeconds?: number;
}

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const QUALIFIER = /^(\$LATEST|[A-Za-z0-9_-]{1,128})$/;
/** name, name:qualifier, 123456789012:function:name[:q], arn:aws:lambda:region:123456789012:function:name[:q] */
const FUNCTION_REF = /^(?:arn:aws[a-z-]*:lambda:([a-z0-9-]+):)?(?:(\d{12}):function:)?([A-Za-z0-9_-]{1,64})(?::(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;

const timedOut = Symbol('timedOut');

function defaultStatus(type: string): number {
  switch (type) {
    case 'TooManyRequestsException':
      return 429;
    case 'AccessDeniedException':
      return 403;
    case 'ServiceException':
      return 500;
    default:
      return 400;
  }
}

/** What the Node.js runtime reports for a thrown value. */
function describeThrown(err: unknown): { errorType: string; errorMessage: string; trace?: string[] } {
  if (err instanceof Error) {
    return { errorType: err.name, errorMessage: err.message, ...(err.stack ? { trace: err.stack.split('\n') } : {}) };
  }
  return { errorType: typeof err, errorMessage: String(err) };
}

/** The Lambda emulator. Start it with {@link LambdaEmulator.start}. */
export class LambdaEmulator {
  readonly region: string;
  readonly accountId: string;
  readonly credentials = LAMBDA_EMULATOR_CREDENTIALS;
  /** Every request, oldest first (payloads are never recorded). */
  readonly requests: RecordedInvocation[] = [];
  readonly #server: Server;
  readonly #verifySignatures: boolean;
  readonly #functions = new Map<string, RegisteredFunction>();
  readonly #invocations = new Map<string, number>();
  readonly #background = new Set<Promise<void>>();
  #faults: QueuedFault[] = [];
  #endpoint = '';

  private constructor(options: LambdaEmulatorOptions) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.#verifySignatures = options.verifySignatures ?? true;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        // A bug in the emulator itself: answer like a Lambda service failure rather than hang.
        if (!res.headersSent) this.#sendError(res, new ServiceError('ServiceException', 'emulator failure', 500));
      });
    });
  }

  /** Starts an emulator on 127.0.0.1 and an ephemeral port. */
  static async start(options: LambdaEmulatorOptions = {}): Promise<LambdaEmulator> {
    const emulator = new LambdaEmulator(options);
    await new Promise<void>((resolve, reject) => {
      emulator.#server.once('error', reject);
      emulator.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = emulator.#server.address() as AddressInfo;
    emulator.#endpoint = `http://127.0.0.1:${port}`;
    return emulator;
  }

  /** `http://127.0.0.1:<port>`, for the client's `endpoint` option. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /**
   * Hosts `handler` as the function `name` (a plain function name). Registering a name again
   * replaces its handler and settings, like deploying new code; its invocation count stays.
   */
  register(name: string, handler: EmulatedHandler, options: RegisterOptions = {}): void {
    if (!FUNCTION_NAME.test(name)) throw new Error(`register: ${JSON.stringify(name)} is not a Lambda function name (1-64 of A-Z a-z 0-9 _ -)`);
    if (typeof handler !== 'function') throw new Error('register: handler must be a function');
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new Error('register: timeoutMs must be a positive integer');
    this.#functions.set(name, {
      name,
      handler,
      timeoutMs,
      memoryLimitInMB: options.memoryLimitInMB ?? 128,
      functionVersion: options.functionVersion ?? '$LATEST',
    });
  }

  /** Removes a function; invoking it afterwards is ResourceNotFoundException. */
  unregister(name: string): void {
    this.#functions.delete(name);
  }

  /** The unqualified ARN of `name` in this emulator's region and account. */
  functionArn(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.accountId}:function:${name}`;
  }

  /**
   * How many times `name`'s handler was started (RequestResponse and Event; not DryRun, not requests
   * refused with a service error). All functions together when `name` is omitted.
   */
  invocationCount(name?: string): number {
    if (name !== undefined) return this.#invocations.get(name) ?? 0;
    let total = 0;
    for (const n of this.#invocations.values()) total += n;
    return total;
  }

  /** Zeroes the invocation counts and the request log (functions stay registered). */
  resetCounts(): void {
    this.#invocations.clear();
    this.requests.length = 0;
  }

  /** Makes the next `times` requests for `functionName` (plain name, or `'*'`) fail with a service error. */
  injectFault(functionName: string, spec: LambdaFaultSpec): void {
    const times = spec.times ?? 1;
    if (!Number.isSafeInteger(times) || times < 1) throw new Error('injectFault: times must be a positive integer');
    this.#faults.push({
      functionName,
      type: spec.type,
      times,
      ...(spec.status === undefined ? {} : { status: spec.status }),
      ...(spec.message === undefined ? {} : { message: spec.message }),
      ...(spec.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: spec.retryAfterSeconds }),
    });
  }

  /** Drops faults not yet consumed. */
  clearFaults(): void {
    this.#faults = [];
  }

  /** Resolves when every `Event` (asynchronous) invocation started so far has finished. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Stops the server, drops kept-alive connections and waits for background invocations. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.idle();
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedMs = Date.now();
    const requestId = randomUUID();
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    const url = new URL(req.url ?? '/', 'http://emulator');
    const match = req.method === 'POST' ? INVOKE_PATH.exec(url.pathname) : null;
    if (!match) return this.#sendError(res, new ServiceError('UnknownOperationException', 'Only POST /2015-03-31/functions/{FunctionName}/invocations is emulated', 404), requestId);
    if (body === undefined) {
      return this.#sendError(res, new ServiceError('RequestTooLargeException', `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation`, 413), requestId);
    }
    if (this.#verifySignatures) {
      // Lambda answers every signing fault with 403.
      const failure = verifySigV4(req, body, { credentials: this.credentials, region: this.region, service: 'lambda' });
      if (failure) return this.#sendError(res, new ServiceError(failure.type, failure.message, 403), requestId);
    }

    const rawRef = decodeURIComponent(match[1]!);
    const invocationType = headerValue(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    const record: RecordedInvocation = { functionName: rawRef, invocationType, requestId, outcome: 'ok' };
    this.requests.push(record);
    const refuse = (error: ServiceError): void => {
      record.outcome = 'service_error';
      record.errorType = error.type;
      this.#sendError(res, error, requestId);
    };

    const ref = FUNCTION_REF.exec(rawRef);
    if (!ref) return refuse(new ServiceError('ValidationException', `1 validation error detected: Value '${rawRef.slice(0, 170)}' at 'functionName' failed to satisfy constraint`));
    const [, arnRegion, arnAccount, name, refQualifier] = ref as unknown as [string, string | undefined, string | undefined, string, string | undefined];
    const queryQualifier = url.searchParams.get('Qualifier') ?? undefined;
    if (refQualifier !== undefined && queryQualifier !== undefined && refQualifier !== queryQualifier) {
      return refuse(new ServiceError('InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.'));
    }
    const qualifier = refQualifier ?? queryQualifier;
    if (qualifier !== undefined) record.qualifier = qualifier;
    if (qualifier !== undefined && !QUALIFIER.test(qualifier)) return refuse(new ServiceError('ValidationException', "1 validation error detected: Value at 'qualifier' failed to satisfy constraint"));
    record.functionName = name;
    const fn = this.#functions.get(name);
    const wrongPlace = (arnRegion !== undefined && arnRegion !== this.region) || (arnAccount !== undefined && arnAccount !== this.accountId);
    if (!fn || wrongPlace) {
      return refuse(new ServiceError('ResourceNotFoundException', `Function not found: ${this.functionArn(name)}${qualifier ? `:${qualifier}` : ''}`, 404));
    }
    if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
      return refuse(new ServiceError('InvalidParameterValueException', `Invalid invocation type: ${invocationType.slice(0, 32)}`));
    }
    const fault = this.#takeFault(name);
    if (fault) {
      const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
      return refuse(new ServiceError(fault.type, fault.message ?? `Injected ${fault.type}`, fault.status ?? defaultStatus(fault.type), headers));
    }

    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch (err) {
      return refuse(new ServiceError('InvalidRequestContentException', `Could not parse request body into json: ${(err as Error).message}`));
    }
    if (invocationType === 'DryRun') {
      record.outcome = 'dry_run';
      return this.#sendRaw(res, 204, '', { 'x-amzn-requestid': requestId });
    }

    const clientContext = parseClientContext(headerValue(req, 'x-amz-client-context'));
    const tenantId = headerValue(req, 'x-amz-tenant-id');
    const context = this.#context(fn, requestId, arrivedMs, qualifier, clientContext, tenantId);
    this.#invocations.set(name, (this.#invocations.get(name) ?? 0) + 1);
    const executedVersion = fn.functionVersion;

    if (invocationType === 'Event') {
      record.outcome = 'accepted';
      const run = this.#run(fn, event, context, arrivedMs)
        .then(() => undefined)
        .finally(() => this.#background.delete(run));
      this.#background.add(run);
      return this.#sendRaw(res, 202, '', { 'x-amzn-requestid': requestId });
    }

    const result = await this.#run(fn, event, context, arrivedMs);
    const headers: Record<string, string> = { 'x-amzn-requestid': requestId, 'x-amz-executed-version': executedVersion, 'content-type': 'application/json' };
    if (result.kind === 'ok') {
      if (Buffer.byteLength(result.payload) <= MAX_PAYLOAD_BYTES) return this.#sendRaw(res, 200, result.payload, headers);
      record.outcome = 'function_error';
      record.errorType = 'Function.ResponseSizeTooLarge';
      const payload = JSON.stringify({ errorType: 'Function.ResponseSizeTooLarge', errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).` });
      return this.#sendRaw(res, 200, payload, { ...headers, 'x-amz-function-error': 'Unhandled' });
    }
    record.outcome = result.kind === 'timeout' ? 'timeout' : 'function_error';
    record.errorType = result.error.errorType;
    return this.#sendRaw(res, 200, JSON.stringify(result.error), { ...headers, 'x-amz-function-error': 'Unhandled' });
  }

  async #run(
    fn: RegisteredFunction,
    event: unknown,
    context: Context,
    arrivedMs: number,
  ): Promise<{ kind: 'ok'; payload: string } | { kind: 'error' | 'timeout'; error: { errorType: string; errorMessage: string; trace?: string[] } }> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof timedOut>((resolve) => {
      timer = setTimeout(() => resolve(timedOut), Math.max(0, arrivedMs + fn.timeoutMs - Date.now()));
    });
    try {
      const outcome = await Promise.race([Promise.resolve().then(() => fn.handler(event, context)), deadline]);
      if (outcome === timedOut) {
        const seconds = (fn.timeoutMs / 1000).toFixed(2);
        return { kind: 'timeout', error: { errorType: 'Sandbox.Timedout', errorMessage: `${new Date().toISOString()} ${context.awsRequestId} Task timed out after ${seconds} seconds` } };
      }
      let payload: string | undefined;
      try {
        payload = JSON.stringify(outcome);
      } catch (err) {
        return { kind: 'error', error: { errorType: 'Runtime.MarshalError', errorMessage: `Unable to stringify response body: ${(err as Error).message}` } };
      }
      // JSON.stringify(undefined) is undefined; the runtime sends `null`.
      return { kind: 'ok', payload: payload ?? 'null' };
    } catch (err) {
      return { kind: 'error', error: describeThrown(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  #context(fn: RegisteredFunction, requestId: string, arrivedMs: number, qualifier: string | undefined, clientContext: ClientContext | undefined, tenantId: string | undefined): Context {
    const deadlineMs = arrivedMs + fn.timeoutMs;
    const unsupported = (what: string) => () => {
      throw new Error(`context.${what} is not supported by the Lambda emulator; return a value or throw`);
    };
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: fn.name,
      functionVersion: fn.functionVersion,
      invokedFunctionArn: `${this.functionArn(fn.name)}${qualifier ? `:${qualifier}` : ''}`,
      memoryLimitInMB: String(fn.memoryLimitInMB),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.name}`,
      logStreamName: `${new Date(arrivedMs).toISOString().slice(0, 10).replaceAll('-', '/')}/[${fn.functionVersion}]${requestId.replaceAll('-', '')}`,
      ...(clientContext ? { clientContext } : {}),
      ...(tenantId ? { tenantId } : {}),
      getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
      done: unsupported('done'),
      fail: unsupported('fail'),
      succeed: unsupported('succeed'),
    };
  }

  #takeFault(name: string): QueuedFault | undefined {
    const fault = this.#faults.find((f) => f.functionName === '*' || f.functionName === name);
    if (!fault) return undefined;
    fault.times--;
    if (fault.times <= 0) this.#faults = this.#faults.filter((f) => f !== fault);
    return fault;
  }

  #sendRaw(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
    res.writeHead(status, { 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  #sendError(res: ServerResponse, error: ServiceError, requestId = randomUUID()): void {
    const text = JSON.stringify({ Type: error.status >= 500 ? 'Service' : 'User', Message: error.message });
    this.#sendRaw(res, error.status, text, {
      'content-type': 'application/json',
      'x-amzn-errortype': error.type,
      'x-amzn-requestid': requestId,
      ...error.headers,
    });
  }
}

/** Options for {@link createLambdaEmulatorClient}. */
export type LambdaEmulatorClientOptions = EmulatorClientOptions;

/** A real LambdaClient pointed at the emulator with static fake credentials. */
export function createLambdaEmulatorClient(emulator: LambdaEmulator, options: LambdaEmulatorClientOptions = {}): LambdaClient {
  return new LambdaClient(emulatorClientConfig(emulator, options));
}

/** `X-Amz-Client-Context` is base64 JSON; the runtime hands it over as `context.clientContext`. */
function parseClientContext(header: string | undefined): ClientContext | undefined {
  if (!header) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as ClientContext) : undefined;
  } catch {
    return undefined;
  }
}
