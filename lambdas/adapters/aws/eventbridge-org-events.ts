/**
 * Per-org events on Amazon EventBridge: one PutEvents call per batch, and the mapping of events onto
 * entries and of the answer (each entry's EventId or ErrorCode, or an SDK exception) onto entry
 * failures. Batching, retries and the time bound are core/event-publisher.ts's; this file owns the call.
 *
 * Entries: `Source` genesys-token-broker, `DetailType` the event's, `Detail` its JSON detail plus
 * `deployment` (the metrics' dimension, when the construct set one), `Time` the attempt's end.
 * Per-entry codes EventBridge documents as retryable (ThrottlingException, InternalFailure) are
 * retried; any other (AccessDeniedException, NotAuthorizedForSourceException, MalformedDetail, ...) is
 * not. A failed call is retryable when the failure is transient (aws-errors.ts).
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { createBatchingPublisher, type EntryFailure, type SendOrgEvents } from '../../core/event-publisher.js';
import { ORG_EVENT_SOURCE } from '../../core/org-events.js';
import { type Clock, type OrgEventPublisher, systemClock, type Telemetry } from '../../core/ports.js';
import { isTransientAwsError, sdkErrorName } from './aws-errors.js';
import { SDK_TIMEOUTS } from './aws-timeouts.js';

/** The EventBridge client type, for callers that pass their own without importing the SDK. */
export type { EventBridgeClient };

/** Entry error codes EventBridge documents as retryable. */
const RETRYABLE_ENTRY_CODES: ReadonlySet<string> = new Set(['ThrottlingException', 'InternalFailure']);

export interface EventBridgeSenderOptions {
  client: EventBridgeClient;
  /** The bus name or ARN. */
  eventBus: string;
  /** Added to every detail as `deployment`, when set. */
  deployment?: string;
}

/** Puts one batch on the bus with one PutEvents call. Never throws. */
export function createEventBridgeSender(options: EventBridgeSenderOptions): SendOrgEvents {
  const { client, eventBus, deployment } = options;
  return async (batch, signal) => {
    const entries: PutEventsRequestEntry[] = batch.map((event) => ({
      Source: ORG_EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(deployment ? { ...event.detail, deployment } : event.detail),
      EventBusName: eventBus,
      Time: new Date(event.timeMs),
    }));
    try {
      const out = await client.send(new PutEventsCommand({ Entries: entries }), { abortSignal: signal });
      // Entries answer the request one to one. An entry without an answer (a short list) is no proof
      // it arrived: it is sent again, so a consumer may see it twice (EventBridge is at-least-once anyway).
      return entries.flatMap((_, index): EntryFailure[] => {
        const answer = out.Entries?.[index];
        if (answer?.EventId && !answer.ErrorCode) return [];
        const errorCode = answer?.ErrorCode ?? 'NoEntryResult';
        return [{ index, errorCode, retryable: errorCode === 'NoEntryResult' || RETRYABLE_ENTRY_CODES.has(errorCode) }];
      });
    } catch (err) {
      const errorCode = sdkErrorName(err) ?? 'UnknownError';
      const retryable = isTransientAwsError(err);
      return entries.map((_, index) => ({ index, errorCode, retryable }));
    }
  };
}

export interface EventBridgePublisherSettings {
  eventBus: string;
  deployment?: string;
}

export interface EventBridgePublisherOptions {
  /** @default - a client with the broker's SDK timeouts and 2 attempts per call */
  client?: EventBridgeClient;
  clock?: Clock;
  telemetry?: Telemetry;
}

/** The refresher's publisher: batches of up to 10 per PutEvents, bounded retries, bounded time. */
export function createEventBridgePublisher(settings: EventBridgePublisherSettings, options: EventBridgePublisherOptions = {}): OrgEventPublisher {
  // Few SDK-level attempts: the publisher retries failed entries itself, within its flush deadline.
  const client = options.client ?? new EventBridgeClient({ maxAttempts: 2, requestHandler: SDK_TIMEOUTS });
  const send = createEventBridgeSender({ client, eventBus: settings.eventBus, ...(settings.deployment ? { deployment: settings.deployment } : {}) });
  return createBatchingPublisher({ send, clock: options.clock ?? systemClock, ...(options.telemetry ? { telemetry: options.telemetry } : {}) });
}
