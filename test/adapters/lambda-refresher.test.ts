/**
 * The refresher Lambda as the getter's OnDemandRefresher, over the real LambdaClient and the Lambda
 * emulator: what it sends (`{ onDemand }` with a budget from the getter's deadline), valid answers
 * passed through, and every way the invoke can go wrong turned into an `unavailable` answer with
 * `refresher_unavailable`, never a throw.
 */
import type { InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createLambdaRefresher } from '../../lambdas/adapters/aws/lambda-refresher.js';
import { MAX_ON_DEMAND_BUDGET_MS, type OnDemandRequest, type OnDemandResult } from '../../lambdas/core/on-demand.js';
import { parseRefresherEvent } from '../../lambdas/core/refresher-event.js';
import { createLambdaEmulatorClient, LambdaEmulator } from '../support/lambda-emulator.js';

const ORG = '4f000000-0000-4000-8000-000000000001';
const ORG_OTHER = '4f000000-0000-4000-8000-000000000002';
const FUNCTION = 'gtb-refresher-stub';
const T0 = Date.parse('2026-09-01T00:00:00Z');
const REQUEST: OnDemandRequest = { orgId: ORG, reason: 'rejected', rejectedTokenFingerprint: 'b'.repeat(32), requestId: 'req-getter-1' };

let emulator: LambdaEmulator;
let client: LambdaClient;
/** What the stub refresher function answers next; it records every event it gets. */
let answer: (event: unknown) => unknown;
let events: unknown[];

beforeAll(async () => {
  emulator = await LambdaEmulator.start();
  // One attempt, as the refresher's own client makes when it builds one: a throttled invoke is not retried.
  client = createLambdaEmulatorClient(emulator, { maxAttempts: 1 });
  emulator.register(FUNCTION, async (event) => {
    events.push(event);
    return answer(event);
  });
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

beforeEach(() => {
  events = [];
  answer = () => ({ orgId: ORG, outcome: 'current' });
  emulator.resetCounts();
  emulator.clearFaults();
});

function refresher(options: { functionName?: string; lambda?: LambdaClient } = {}) {
  const clock = new ManualClock(T0);
  return { clock, refresher: createLambdaRefresher({ functionName: options.functionName ?? FUNCTION, clock, client: options.lambda ?? client }) };
}

/** The answer of one refresh, which must not throw. */
async function ask(options: { functionName?: string; lambda?: LambdaClient; request?: OnDemandRequest; deadlineMs?: number } = {}): Promise<OnDemandResult> {
  const { refresher: r } = refresher(options);
  return r.refresh(options.request ?? REQUEST, { deadlineMs: options.deadlineMs ?? T0 + 8_000 });
}

const unavailable = (message: RegExp, retryAfterSeconds?: number) => ({
  orgId: ORG,
  outcome: 'unavailable',
  errorCode: 'refresher_unavailable',
  message: expect.stringMatching(message),
  ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
});

describe('createLambdaRefresher', () => {
  describe('what it sends', () => {
    it('invokes the function once with { onDemand: request } and a budget of the time to the deadline', async () => {
      await ask({ deadlineMs: T0 + 7_500.9 });
      expect(events).toEqual([{ onDemand: { ...REQUEST, budgetMs: 7_500 } }]);
      expect(emulator.requests).toEqual([expect.objectContaining({ functionName: FUNCTION, invocationType: 'RequestResponse', outcome: 'ok' })]);
    });

    it('sends what the refresher accepts as an on-demand event', async () => {
      await ask();
      expect(parseRefresherEvent(events[0])).toEqual({ trigger: 'on_demand', onDemand: { ...REQUEST, budgetMs: 8_000 } });
    });

    it.each([
      ['a deadline already passed', T0 - 5_000, 1],
      ['a deadline less than 1 ms away', T0 + 0.5, 1],
      ['a deadline past the longest Lambda timeout', T0 + 3_600_000, MAX_ON_DEMAND_BUDGET_MS],
    ])('keeps the budget within what the refresher accepts for %s', async (_name, deadlineMs, budgetMs) => {
      await ask({ deadlineMs });
      expect(events).toEqual([{ onDemand: { ...REQUEST, budgetMs } }]);
      expect(() => parseRefresherEvent(events[0])).not.toThrow();
    });

    it('replaces a budget the request already carried with the one from the deadline', async () => {
      await ask({ request: { orgId: ORG, reason: 'missing', budgetMs: 900_000 }, deadlineMs: T0 + 2_000 });
      expect(events).toEqual([{ onDemand: { orgId: ORG, reason: 'missing', budgetMs: 2_000 } }]);
    });

    it('reaches the function by ARN as well as by name', async () => {
      expect(await ask({ functionName: emulator.functionArn(FUNCTION) })).toEqual({ orgId: ORG, outcome: 'current' });
      expect(emulator.invocationCount(FUNCTION)).toBe(1);
    });
  });

  describe('valid answers', () => {
    const results: OnDemandResult[] = [
      { orgId: ORG, outcome: 'refreshed', expiresAt: '2026-09-02T00:00:00.000Z' },
      { orgId: ORG, outcome: 'current' },
      { orgId: ORG, outcome: 'busy' },
      { orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 37 },
      { orgId: ORG, outcome: 'unavailable', errorCode: 'invalid_client', message: `client refused for org ${ORG}`, retryAfterSeconds: 120 },
      { orgId: ORG, outcome: 'unavailable', errorCode: 'org_disabled', message: `org ${ORG} is disabled` },
    ];
    it.each(results.map((r) => [r.outcome, r] as const))('passes %s through unchanged', async (_outcome, result) => {
      answer = () => result;
      expect(await ask()).toEqual(result);
    });
  });

  describe('failures, each an unavailable answer', () => {
    it('a function that throws: names the function error, not the text it threw', async () => {
      answer = () => {
        throw new Error('boom: token=tok-in-the-refresher');
      };
      const result = await ask();
      expect(result).toEqual(unavailable(/refresher function failed for org .* \(Unhandled\)/));
      expect(JSON.stringify(result)).not.toContain('tok-in-the-refresher');
      expect(emulator.requests[0]).toMatchObject({ outcome: 'function_error' });
    });

    it('a function that times out', async () => {
      emulator.register('gtb-refresher-slow', () => new Promise(() => undefined), { timeoutMs: 20 });
      expect(await ask({ functionName: 'gtb-refresher-slow' })).toEqual(unavailable(/refresher function failed .*Unhandled/));
      expect(emulator.requests[0]).toMatchObject({ outcome: 'timeout' });
    });

    it('throttling (TooManyRequestsException): ask again in 1 s, and the function never ran', async () => {
      emulator.injectFault(FUNCTION, { type: 'TooManyRequestsException', retryAfterSeconds: 1 });
      expect(await ask()).toEqual(unavailable(/could not be invoked for org .* \(TooManyRequestsException\)/, 1));
      expect(emulator.invocationCount(FUNCTION)).toBe(0);
      expect(emulator.requests).toHaveLength(1); // not retried
    });

    it.each([
      ['AccessDeniedException', 'a getter role without lambda:InvokeFunction'],
      ['ServiceException', 'Lambda itself failing'],
    ])('%s (%s), without a retry hint', async (type) => {
      emulator.injectFault(FUNCTION, { type });
      expect(await ask()).toEqual(unavailable(new RegExp(`could not be invoked for org .* \\(${type}\\)`)));
    });

    it('an unknown function (ResourceNotFoundException)', async () => {
      expect(await ask({ functionName: 'gtb-no-such-refresher' })).toEqual(unavailable(/\(ResourceNotFoundException\)/));
    });

    it('a payload that is not JSON', async () => {
      const forging = createLambdaEmulatorClient(emulator, { maxAttempts: 1 });
      // The emulator answers JSON as the Node.js runtime does; a custom runtime or a proxy need not.
      forging.middlewareStack.add(
        (next) => async (args) => {
          const result = await next(args);
          (result.output as InvokeCommandOutput).Payload = new TextEncoder().encode('<html>502 Bad Gateway</html>') as InvokeCommandOutput['Payload'];
          return result;
        },
        { step: 'initialize', name: 'forgePayload' },
      );
      try {
        expect(await ask({ lambda: forging })).toEqual(unavailable(/answered something other than an on-demand result/));
      } finally {
        forging.destroy();
      }
    });

    it.each([
      ['a result for another org', () => ({ orgId: ORG_OTHER, outcome: 'current' })],
      ['a sweep summary (a refresher that does not know onDemand)', () => ({ examined: 1, refreshed: 1, results: [] })],
      ['no result at all (null)', () => undefined],
      ['a JSON string', () => 'refreshed'],
      ['an outcome it does not know', () => ({ orgId: ORG, outcome: 'maybe' })],
      ['a retry hint of 0 s', () => ({ orgId: ORG, outcome: 'recently_checked', retryAfterSeconds: 0 })],
    ])('%s', async (_name, reply) => {
      answer = reply;
      expect(await ask()).toEqual(unavailable(/answered something other than an on-demand result for org/));
    });
  });

  it('builds its own client when given none, and makes one attempt: a throttled invoke is not retried', async () => {
    // The SDK's default configuration, pointed at the emulator through the standard environment.
    vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', emulator.endpoint);
    vi.stubEnv('AWS_REGION', emulator.region);
    vi.stubEnv('AWS_ACCESS_KEY_ID', emulator.credentials.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', emulator.credentials.secretAccessKey);
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    vi.stubEnv('AWS_PROFILE', '');
    const own = createLambdaRefresher({ functionName: FUNCTION, clock: new ManualClock(T0) });
    try {
      expect(await own.refresh(REQUEST, { deadlineMs: T0 + 1_000 })).toEqual({ orgId: ORG, outcome: 'current' });
      emulator.injectFault(FUNCTION, { type: 'TooManyRequestsException', retryAfterSeconds: 1, times: 5 });
      expect(await own.refresh(REQUEST, { deadlineMs: T0 + 1_000 })).toEqual(unavailable(/TooManyRequestsException/, 1));
      expect(emulator.requests.map((r) => r.outcome)).toEqual(['ok', 'service_error']);
    } finally {
      own.close();
      vi.unstubAllEnvs();
    }
  });

  it('leaves a client it was given open on close', async () => {
    const { refresher: r } = refresher();
    r.close();
    expect(await r.refresh(REQUEST, { deadlineMs: T0 + 1_000 })).toEqual({ orgId: ORG, outcome: 'current' });
  });
});
