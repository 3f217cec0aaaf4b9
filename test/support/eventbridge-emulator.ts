/**
 * An Amazon EventBridge stand-in for tests: a node:http server on 127.0.0.1 that speaks the service's
 * awsJson1_1 wire protocol (`X-Amz-Target: AWSEvents.<Operation>`, SigV4 for `events`), so the real
 * `@aws-sdk/client-eventbridge` client runs against it unchanged through its `endpoint` option. The
 * plumbing is aws-json-server.ts, shared with the Secrets Manager and KMS emulators.
 *
 * PutEvents only, with the semantics a publisher depends on:
 * - 1 to 10 entries per call, else ValidationException for the whole call; at most 256 KiB of entries.
 * - Each entry is judged on its own, in order: Source, DetailType and Detail are required
 *   (`InvalidArgument`), Detail must be a JSON object (`MalformedDetail`), the bus must exist (by name
 *   or ARN; `ResourceNotFoundException`, the stand-in's choice). Accepted entries get an EventId;
 *   refused ones an ErrorCode and ErrorMessage, counted in FailedEntryCount. The answer's Entries match
 *   the request's one to one.
 * - Buses: `default` always; more with `addBus`.
 *
 * Test hooks: `events` (every accepted event, its detail parsed), `failEntries` (make the next
 * matching entries fail with an error code, such as `ThrottlingException` or `AccessDeniedException`),
 * `shortenNextAnswer` (an answer missing entry results), `injectFault` (fail whole calls),
 * `latencyMs` (a slow bus), `calls`, `requests`, and `close()`.
 */
import { randomUUID } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { AwsJsonEmulator, type Json, ServiceError, validation } from './aws-json-server.js';
import { type EmulatorClientOptions, emulatorClientConfig } from './aws-wire.js';

export type { FaultSpec } from './aws-json-server.js';

export const EVENTBRIDGE_EMULATOR_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIAEVENTSEMULATOR00',
  secretAccessKey: 'eventbridge-emulator-secret-access-key-not-a-real-one',
});

/** An event the bus accepted. */
export interface AcceptedEvent {
  id: string;
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  /** The bus's name (an ARN in the entry is resolved to it). */
  eventBusName: string;
  /** Epoch milliseconds, when the entry carried a Time. */
  timeMs?: number;
  resources: string[];
}

/** Which entries an injected entry failure hits. */
export interface EntryFailureSpec {
  errorCode: string;
  /** How many matching entries fail. @default 1 */
  times?: number;
  /** Only entries of this detail-type. */
  detailType?: string;
  /** Only entries whose detail's `orgId` is this. */
  orgId?: string;
}

const SERVICE = {
  targetPrefix: 'AWSEvents',
  signingName: 'events',
  faultStatuses: { InternalException: 500, InternalFailure: 500, ServiceUnavailable: 503 },
  faultMessages: { ThrottlingException: 'Rate exceeded', AccessDeniedException: 'User is not authorized to perform: events:PutEvents' },
};

const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;

export class EventBridgeEmulator extends AwsJsonEmulator<'PutEvents'> {
  readonly events: AcceptedEvent[] = [];
  readonly #buses = new Set(['default']);
  #entryFailures: Array<Required<Pick<EntryFailureSpec, 'errorCode' | 'times'>> & EntryFailureSpec> = [];
  #shortAnswers: number[] = [];

  private constructor(options: { region?: string; accountId?: string; verifySignatures?: boolean }) {
    super(SERVICE, {
      region: options.region ?? 'us-east-1',
      accountId: options.accountId ?? '123456789012',
      credentials: EVENTBRIDGE_EMULATOR_CREDENTIALS,
      verifySignatures: options.verifySignatures ?? true,
    });
  }

  static async start(options: { region?: string; accountId?: string; verifySignatures?: boolean } = {}): Promise<EventBridgeEmulator> {
    const emulator = new EventBridgeEmulator(options);
    await emulator.listen();
    return emulator;
  }

  /** Creates a custom bus; returns its ARN. */
  addBus(name: string): string {
    this.#buses.add(name);
    return this.busArn(name);
  }

  busArn(name: string): string {
    return `arn:aws:events:${this.region}:${this.accountId}:event-bus/${name}`;
  }

  /** Makes the next `times` entries that match fail with `errorCode` (the call itself succeeds). */
  failEntries(spec: EntryFailureSpec): void {
    this.#entryFailures.push({ ...spec, times: spec.times ?? 1 });
  }

  /**
   * Makes the next answer list only the first `keep` entry results (the entries are handled as usual):
   * a malformed answer, for callers that must not take a missing result for a delivery.
   */
  shortenNextAnswer(keep: number): void {
    this.#shortAnswers.push(keep);
  }

  /** Accepted events of one detail-type, or all. */
  eventsOf(detailType?: string): AcceptedEvent[] {
    return detailType === undefined ? [...this.events] : this.events.filter((e) => e.detailType === detailType);
  }

  protected dispatch(operation: string, input: Json): Json {
    if (operation !== 'PutEvents') throw new ServiceError('UnknownOperationException', `The emulator does not implement ${operation}`);
    const entries = input.Entries;
    if (!Array.isArray(entries)) throw validation('entries', 'Member must not be null');
    if (entries.length < 1) throw validation('entries', 'Member must have length greater than or equal to 1');
    if (entries.length > MAX_ENTRIES) throw validation('entries', `Member must have length less than or equal to ${MAX_ENTRIES}`);
    if (Buffer.byteLength(JSON.stringify(entries)) > MAX_REQUEST_BYTES) throw new ServiceError('ValidationException', 'Total size of the entries in the request is over the limit.');
    let failed = 0;
    const results = entries.map((raw: unknown) => {
      const result = this.#putEntry(typeof raw === 'object' && raw !== null ? (raw as Json) : {});
      if ('ErrorCode' in result) failed++;
      return result;
    });
    const keep = this.#shortAnswers.shift();
    return { FailedEntryCount: failed, Entries: keep === undefined ? results : results.slice(0, keep) };
  }

  #putEntry(entry: Json): Json {
    const source = typeof entry.Source === 'string' ? entry.Source : undefined;
    const detailType = typeof entry.DetailType === 'string' ? entry.DetailType : undefined;
    const detailText = typeof entry.Detail === 'string' ? entry.Detail : undefined;
    if (!source) return refused('InvalidArgument', 'Parameter Source is not valid. Reason: Source is a required argument.');
    if (!detailType) return refused('InvalidArgument', 'Parameter DetailType is not valid. Reason: DetailType is a required argument.');
    if (detailText === undefined) return refused('InvalidArgument', 'Parameter Detail is not valid. Reason: Detail is a required argument.');
    let detail: unknown;
    try {
      detail = JSON.parse(detailText);
    } catch {
      detail = undefined;
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return refused('MalformedDetail', 'Detail is malformed.');
    const busName = this.#busName(typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default');
    if (busName === undefined) return refused('ResourceNotFoundException', 'Event bus does not exist.');
    const injected = this.#takeEntryFailure(detailType, detail as Record<string, unknown>);
    if (injected) return refused(injected, `Injected ${injected}`);
    const id = randomUUID();
    this.events.push({
      id,
      source,
      detailType,
      detail: detail as Record<string, unknown>,
      eventBusName: busName,
      ...(typeof entry.Time === 'number' ? { timeMs: Math.round(entry.Time * 1000) } : {}),
      resources: Array.isArray(entry.Resources) ? entry.Resources.filter((r): r is string => typeof r === 'string') : [],
    });
    return { EventId: id };
  }

  /** A bus's name from its name or ARN, when it exists here. */
  #busName(nameOrArn: string): string | undefined {
    const prefix = `arn:aws:events:${this.region}:${this.accountId}:event-bus/`;
    const name = nameOrArn.startsWith('arn:') ? (nameOrArn.startsWith(prefix) ? nameOrArn.slice(prefix.length) : undefined) : nameOrArn;
    return name !== undefined && this.#buses.has(name) ? name : undefined;
  }

  #takeEntryFailure(detailType: string, detail: Record<string, unknown>): string | undefined {
    const failure = this.#entryFailures.find((f) => (f.detailType === undefined || f.detailType === detailType) && (f.orgId === undefined || f.orgId === detail.orgId));
    if (!failure) return undefined;
    failure.times--;
    if (failure.times <= 0) this.#entryFailures = this.#entryFailures.filter((f) => f !== failure);
    return failure.errorCode;
  }
}

function refused(code: string, message: string): Json {
  return { ErrorCode: code, ErrorMessage: message };
}

/** A real EventBridgeClient pointed at the emulator, signing with its credentials. */
export function createEventBridgeEmulatorClient(emulator: EventBridgeEmulator, options: EmulatorClientOptions = {}): EventBridgeClient {
  return new EventBridgeClient(emulatorClientConfig(emulator, options));
}
