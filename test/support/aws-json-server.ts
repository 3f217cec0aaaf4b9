/**
 * The awsJson1_1 plumbing the Secrets Manager and KMS emulators share: a node:http server on
 * 127.0.0.1, SigV4 verification (aws-wire.ts), the `X-Amz-Target: <prefix>.<Operation>` dispatch,
 * JSON replies and errors, call counts, a record of requests without bodies, and injected faults.
 * A subclass supplies the operations (`dispatch`) and its static `start`.
 *
 * Wire protocol, as AWS's awsJson1_1 services: `POST /` with `Content-Type: application/x-amz-json-1.1`;
 * replies are JSON (timestamps as epoch seconds, blobs as base64); errors carry
 * `{"__type": "<Name>", "message": "..."}` plus the `x-amzn-ErrorType` header, with HTTP 400 for client
 * faults and 5xx for server faults, so the SDK raises the modelled exception class and its retry
 * strategy classifies throttling and server errors as it would in AWS.
 *
 * Never logs, never records a body: values stay where the subclass keeps them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type EmulatorCredentials, headerValue, readBody, verifySigV4 } from './aws-wire.js';

export type Json = Record<string, unknown>;

/** An error the emulator answers with. */
export class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * A fault to return instead of (or after) the real answer. `type` is the exception name the SDK will
 * see (`ThrottlingException`, `InternalServiceError`, `KMSInternalException`, `AccessDeniedException`,
 * ...) or `ConnectionReset`, which destroys the socket without a response.
 */
export interface FaultSpec {
  type: string;
  /** How many matching requests get the fault. @default 1 */
  times?: number;
  /** @default the service's status for that type (5xx for its server faults), else 400 */
  status?: number;
  message?: string;
  /**
   * Apply the operation first and fail only the response: the "lost reply" case that idempotency
   * tokens exist for.
   * @default false
   */
  afterProcessing?: boolean;
  /**
   * Only requests whose input has each of these top-level members with exactly this value, for
   * example `{ SecretId: name }`: one secret's writes fail while every other secret's go through.
   * @default - every request for the operation
   */
  when?: Readonly<Record<string, string>>;
}

/** One request as the emulator saw it. Never holds a body, so never a secret value or plaintext. */
export interface RecordedRequest {
  operation: string;
  /** The SDK's attempt number from the `amz-sdk-request` header (1 for the first try). */
  attempt?: number;
  /** SDK invocation id: the same for every retry of one `client.send`. */
  invocationId?: string;
  /** `ok`, an exception name, or `ConnectionReset`. */
  outcome: string;
}

/** Request counts: one key per operation seen, plus `total`. */
export type CallCounts = { total: number } & Partial<Record<string, number>>;

/** What differs between awsJson1_1 services, as far as the shared plumbing is concerned. */
export interface AwsJsonService {
  /** The `X-Amz-Target` prefix before the dot: `secretsmanager`, `TrentService`. */
  targetPrefix: string;
  /** The SigV4 signing name: `secretsmanager`, `kms`. */
  signingName: string;
  /** HTTP status of injected faults by exception name; any other type answers 400. */
  faultStatuses: Readonly<Record<string, number>>;
  /** Message of injected faults by exception name; any other type says `Injected <type>`. */
  faultMessages: Readonly<Record<string, string>>;
  /** @default 1 MiB */
  maxBodyBytes?: number;
}

export interface AwsJsonEmulatorOptions {
  region: string;
  accountId: string;
  credentials: EmulatorCredentials;
  /** Check every request's SigV4 signature against the credentials, region and service, as AWS does. */
  verifySignatures: boolean;
}

interface QueuedFault extends Required<Omit<FaultSpec, 'message' | 'status' | 'when'>> {
  status?: number;
  message?: string;
  when?: Readonly<Record<string, string>>;
  operation: string;
}

/** The shared server; `Operation` names what `injectFault` accepts. */
export abstract class AwsJsonEmulator<Operation extends string> {
  readonly region: string;
  readonly accountId: string;
  readonly credentials: EmulatorCredentials;
  readonly calls: CallCounts = { total: 0 };
  readonly requests: RecordedRequest[] = [];
  /** Every request waits this long before it is answered: a slow service. @default 0 */
  latencyMs = 0;
  readonly #service: AwsJsonService;
  readonly #server: Server;
  readonly #verifySignatures: boolean;
  #faults: QueuedFault[] = [];
  #endpoint = '';

  protected constructor(service: AwsJsonService, options: AwsJsonEmulatorOptions) {
    this.#service = service;
    this.region = options.region;
    this.accountId = options.accountId;
    this.credentials = options.credentials;
    this.#verifySignatures = options.verifySignatures;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        // A bug in the emulator itself: answer like an AWS internal failure rather than hang.
        if (!res.headersSent) this.#sendError(res, new ServiceError('InternalFailure', 'emulator failure', 500));
      });
    });
  }

  /** Answers one operation or throws a ServiceError. Called after signature, target and fault checks. */
  protected abstract dispatch(operation: string, input: Json): Json;

  /** Listens on 127.0.0.1 and an ephemeral port; a subclass's static `start` calls it. */
  protected async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.#server.address() as AddressInfo;
    this.#endpoint = `http://127.0.0.1:${port}`;
  }

  /** `http://127.0.0.1:<port>`, for the client's `endpoint` option. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Stops the server and drops kept-alive connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** How many requests named `operation` arrived (all operations when omitted), faulted ones included. */
  callCount(operation?: string): number {
    return operation === undefined ? this.calls.total : (this.calls[operation] ?? 0);
  }

  /** Zeroes `calls` and `requests` (stored state stays). */
  resetCalls(): void {
    for (const key of Object.keys(this.calls)) delete this.calls[key];
    this.calls.total = 0;
    this.requests.length = 0;
  }

  /** Makes the next `times` requests for `operation` (or `'*'` for any) fail with `spec.type`. */
  injectFault(operation: Operation | '*', spec: FaultSpec): void {
    const times = spec.times ?? 1;
    if (!Number.isSafeInteger(times) || times < 1) throw new Error('injectFault: times must be a positive integer');
    this.#faults.push({
      operation,
      type: spec.type,
      times,
      afterProcessing: spec.afterProcessing ?? false,
      ...(spec.status === undefined ? {} : { status: spec.status }),
      ...(spec.message === undefined ? {} : { message: spec.message }),
      ...(spec.when === undefined ? {} : { when: { ...spec.when } }),
    });
  }

  /** Drops faults not yet consumed. */
  clearFaults(): void {
    this.#faults = [];
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.#service.maxBodyBytes ?? 1_048_576);
    if (body === undefined) return this.#sendError(res, new ServiceError('SerializationException', 'Request body too large'));
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
      return this.#sendError(res, new ServiceError('UnknownOperationException', 'Only POST / is supported', 404));
    }
    if (this.#verifySignatures) {
      const failure = verifySigV4(req, body, { credentials: this.credentials, region: this.region, service: this.#service.signingName });
      // awsJson services answer a missing signature with 403 and every other signing fault with 400.
      if (failure) return this.#sendError(res, new ServiceError(failure.type, failure.message, failure.type === 'MissingAuthenticationTokenException' ? 403 : 400));
    }
    const prefix = `${this.#service.targetPrefix}.`;
    const target = headerValue(req, 'x-amz-target');
    const operation = target?.startsWith(prefix) ? target.slice(prefix.length) : undefined;
    if (!operation) return this.#sendError(res, new ServiceError('UnknownOperationException', 'Missing or unknown X-Amz-Target'));
    const contentType = headerValue(req, 'content-type') ?? '';
    this.calls.total++;
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
    const record: RecordedRequest = { operation, outcome: 'ok' };
    const attempt = /attempt=(\d+)/.exec(headerValue(req, 'amz-sdk-request') ?? '')?.[1];
    if (attempt !== undefined) record.attempt = Number(attempt);
    const invocationId = headerValue(req, 'amz-sdk-invocation-id');
    if (invocationId !== undefined) record.invocationId = invocationId;
    this.requests.push(record);

    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    const fault = this.#takeFault(operation, body);
    if (fault && !fault.afterProcessing) return this.#sendFault(req, res, fault, record);

    let reply: Json | ServiceError;
    try {
      if (!contentType.startsWith('application/x-amz-json-1.1')) throw new ServiceError('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      reply = this.dispatch(operation, parseInput(body));
    } catch (err) {
      if (!(err instanceof ServiceError)) throw err;
      reply = err;
    }
    if (fault) return this.#sendFault(req, res, fault, record);
    if (reply instanceof ServiceError) {
      record.outcome = reply.type;
      return this.#sendError(res, reply);
    }
    this.#send(res, 200, reply, {});
  }

  #takeFault(operation: string, body: Buffer): QueuedFault | undefined {
    let input: Json | undefined;
    const inputOf = (): Json => {
      if (input === undefined) {
        try {
          input = parseInput(body);
        } catch {
          input = {};
        }
      }
      return input;
    };
    const matches = (f: QueuedFault): boolean => f.when === undefined || Object.entries(f.when).every(([member, value]) => inputOf()[member] === value);
    const fault = this.#faults.find((f) => (f.operation === '*' || f.operation === operation) && matches(f));
    if (!fault) return undefined;
    fault.times--;
    if (fault.times <= 0) this.#faults = this.#faults.filter((f) => f !== fault);
    return fault;
  }

  #sendFault(req: IncomingMessage, res: ServerResponse, fault: QueuedFault, record: RecordedRequest): void {
    record.outcome = fault.type;
    if (fault.type === 'ConnectionReset') {
      req.socket.destroy();
      return;
    }
    const status = fault.status ?? this.#service.faultStatuses[fault.type] ?? 400;
    this.#sendError(res, new ServiceError(fault.type, fault.message ?? this.#service.faultMessages[fault.type] ?? `Injected ${fault.type}`, status));
  }

  #send(res: ServerResponse, status: number, payload: Json, headers: Record<string, string>): void {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
      ...headers,
    });
    res.end(text);
  }

  #sendError(res: ServerResponse, error: ServiceError): void {
    this.#send(res, error.status, { __type: error.type, message: error.message }, { 'x-amzn-errortype': error.type });
  }
}

// ---- Input parsing ---------------------------------------------------------------------------------

/** Epoch seconds, the awsJson1_1 timestamp format. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

export function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** The service's wording for a member that breaks its model's constraints. */
export function validation(member: string, constraint: string): ServiceError {
  return new ServiceError('ValidationException', `1 validation error detected: Value at '${member}' failed to satisfy constraint: ${constraint}`);
}

function parseInput(body: Buffer): Json {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ServiceError('SerializationException', 'Request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ServiceError('SerializationException', 'Request body must be a JSON object');
  return parsed as Json;
}

export function requiredString(input: Json, member: string, min: number, max: number): string {
  const value = optionalString(input, member, min, max);
  if (value === undefined) throw validation(lowerFirst(member), 'Member must not be null');
  return value;
}

/** Length checks name the member, never the value (it may be a secret). */
export function optionalString(input: Json, member: string, min: number, max: number): string | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ServiceError('SerializationException', `${member} must be a string`);
  if (value.length < min) throw validation(lowerFirst(member), `Member must have length greater than or equal to ${min}`);
  if (value.length > max) throw validation(lowerFirst(member), `Member must have length less than or equal to ${max}`);
  return value;
}

export function optionalInteger(input: Json, member: string, min: number, max: number): number | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ServiceError('SerializationException', `${member} must be an integer`);
  if (value < min) throw validation(lowerFirst(member), `Member must have value greater than or equal to ${min}`);
  if (value > max) throw validation(lowerFirst(member), `Member must have value less than or equal to ${max}`);
  return value;
}
