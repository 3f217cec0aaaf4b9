import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLambdaEmulatorClient, LambdaEmulator, MAX_PAYLOAD_BYTES } from './lambda-emulator.js';

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const decode = (bytes: Uint8Array | undefined): unknown => JSON.parse(new TextDecoder().decode(bytes));

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number }; retryAfterSeconds?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('LambdaEmulator', () => {
  let emulator: LambdaEmulator;
  let client: LambdaClient;

  beforeAll(async () => {
    emulator = await LambdaEmulator.start();
    client = createLambdaEmulatorClient(emulator, { maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
  });

  beforeEach(() => {
    emulator.resetCounts();
    emulator.clearFaults();
  });

  it('runs a registered handler and answers 200 with its JSON result', async () => {
    emulator.register('echo', async (event) => ({ got: event }));
    const out = await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: encode({ orgId: 'x', n: 1 }) }));
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBeUndefined();
    expect(out.ExecutedVersion).toBe('$LATEST');
    expect(decode(out.Payload)).toEqual({ got: { orgId: 'x', n: 1 } });
  });

  it('passes a Lambda-like context whose request id is the response request id', async () => {
    let seen: Context | undefined;
    let remainingMs = -1;
    emulator.register(
      'ctx',
      (_event, context) => {
        seen = context;
        remainingMs = context.getRemainingTimeInMillis();
        return 'ok';
      },
      { timeoutMs: 10_000, memoryLimitInMB: 256 },
    );
    const clientContext = Buffer.from(JSON.stringify({ custom: { team: 'a' } })).toString('base64');
    const out = await client.send(new InvokeCommand({ FunctionName: 'ctx', ClientContext: clientContext }));
    expect(decode(out.Payload)).toBe('ok');
    expect(seen).toBeDefined();
    expect(seen!.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.$metadata.requestId).toBe(seen!.awsRequestId);
    expect(seen!.functionName).toBe('ctx');
    expect(seen!.functionVersion).toBe('$LATEST');
    expect(seen!.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:123456789012:function:ctx');
    expect(seen!.memoryLimitInMB).toBe('256');
    expect(seen!.logGroupName).toBe('/aws/lambda/ctx');
    expect(seen!.clientContext).toEqual({ custom: { team: 'a' } });
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(10_000);
  });

  it('answers null for a handler that returns nothing', async () => {
    emulator.register('void', async () => undefined);
    const out = await client.send(new InvokeCommand({ FunctionName: 'void' }));
    expect(new TextDecoder().decode(out.Payload)).toBe('null');
  });

  it('passes an empty payload as an empty object event', async () => {
    let event: unknown;
    emulator.register('empty', (e) => {
      event = e;
    });
    await client.send(new InvokeCommand({ FunctionName: 'empty' }));
    expect(event).toEqual({});
  });

  it('reports a thrown error as X-Amz-Function-Error Unhandled with errorType and errorMessage', async () => {
    emulator.register('boom', async () => {
      throw new TypeError('bad thing');
    });
    const out = await client.send(new InvokeCommand({ FunctionName: 'boom' }));
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBe('Unhandled');
    const body = decode(out.Payload) as { errorType: string; errorMessage: string; trace: string[] };
    expect(body.errorType).toBe('TypeError');
    expect(body.errorMessage).toBe('bad thing');
    expect(body.trace[0]).toBe('TypeError: bad thing');
    expect(emulator.requests.at(-1)).toMatchObject({ functionName: 'boom', outcome: 'function_error', errorType: 'TypeError' });
  });

  it('reports a thrown non-Error with its type', async () => {
    emulator.register('string-throw', () => {
      throw 'plain';
    });
    const out = await client.send(new InvokeCommand({ FunctionName: 'string-throw' }));
    expect(out.FunctionError).toBe('Unhandled');
    expect(decode(out.Payload)).toEqual({ errorType: 'string', errorMessage: 'plain' });
  });

  it('answers Sandbox.Timedout when the handler outlives its timeout', async () => {
    emulator.register('slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 300)), { timeoutMs: 50 });
    const out = await client.send(new InvokeCommand({ FunctionName: 'slow' }));
    expect(out.FunctionError).toBe('Unhandled');
    const body = decode(out.Payload) as { errorType: string; errorMessage: string };
    expect(body.errorType).toBe('Sandbox.Timedout');
    expect(body.errorMessage).toMatch(/Task timed out after 0\.05 seconds/);
    expect(emulator.requests.at(-1)?.outcome).toBe('timeout');
  });

  it('answers Function.ResponseSizeTooLarge for a result above 6 MB', async () => {
    emulator.register('huge', () => 'x'.repeat(MAX_PAYLOAD_BYTES));
    const out = await client.send(new InvokeCommand({ FunctionName: 'huge' }));
    expect(out.FunctionError).toBe('Unhandled');
    expect((decode(out.Payload) as { errorType: string }).errorType).toBe('Function.ResponseSizeTooLarge');
  });

  it('answers ResourceNotFoundException 404 for an unknown function and counts no invocation', async () => {
    const err = await rejectionOf(client.send(new InvokeCommand({ FunctionName: 'nope', Payload: encode({}) })));
    expect(err.name).toBe('ResourceNotFoundException');
    expect(err.$metadata?.httpStatusCode).toBe(404);
    expect(err.message).toContain('function:nope');
    expect(emulator.invocationCount()).toBe(0);
    expect(emulator.requests.at(-1)).toMatchObject({ functionName: 'nope', outcome: 'service_error', errorType: 'ResourceNotFoundException' });
  });

  it('resolves full and partial ARNs and qualifiers, and refuses an ARN of another account', async () => {
    emulator.register('named', () => 'hi');
    const arn = emulator.functionArn('named');
    for (const FunctionName of [arn, `${arn}:live`, '123456789012:function:named', 'named:$LATEST']) {
      const out = await client.send(new InvokeCommand({ FunctionName }));
      expect(decode(out.Payload)).toBe('hi');
    }
    const qualified = await client.send(new InvokeCommand({ FunctionName: 'named', Qualifier: 'blue' }));
    expect(decode(qualified.Payload)).toBe('hi');
    expect(emulator.requests.at(-1)?.qualifier).toBe('blue');
    const other = await rejectionOf(client.send(new InvokeCommand({ FunctionName: 'arn:aws:lambda:us-east-1:999999999999:function:named' })));
    expect(other.name).toBe('ResourceNotFoundException');
    expect(emulator.invocationCount('named')).toBe(5);
  });

  it('runs an Event invocation in the background and answers 202', async () => {
    let ran = 0;
    emulator.register('async', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ran++;
    });
    const out = await client.send(new InvokeCommand({ FunctionName: 'async', InvocationType: 'Event', Payload: encode({}) }));
    expect(out.StatusCode).toBe(202);
    expect(emulator.invocationCount('async')).toBe(1);
    await emulator.idle();
    expect(ran).toBe(1);
  });

  it('answers a DryRun with 204 without running the handler', async () => {
    let ran = 0;
    emulator.register('dry', () => {
      ran++;
    });
    const out = await client.send(new InvokeCommand({ FunctionName: 'dry', InvocationType: 'DryRun' }));
    expect(out.StatusCode).toBe(204);
    expect(ran).toBe(0);
    expect(emulator.invocationCount('dry')).toBe(0);
  });

  it('refuses a payload that is not JSON with InvalidRequestContentException', async () => {
    emulator.register('strict', () => 'never');
    const err = await rejectionOf(client.send(new InvokeCommand({ FunctionName: 'strict', Payload: new TextEncoder().encode('{not json') })));
    expect(err.name).toBe('InvalidRequestContentException');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    expect(emulator.invocationCount('strict')).toBe(0);
  });

  it('answers injected faults as the modelled exception, Retry-After included', async () => {
    emulator.register('busy', () => 'ok');
    emulator.injectFault('busy', { type: 'TooManyRequestsException', retryAfterSeconds: 7 });
    const err = await rejectionOf(client.send(new InvokeCommand({ FunctionName: 'busy' })));
    expect(err.name).toBe('TooManyRequestsException');
    expect(err.$metadata?.httpStatusCode).toBe(429);
    expect(err.retryAfterSeconds).toBe('7');
    const out = await client.send(new InvokeCommand({ FunctionName: 'busy' }));
    expect(decode(out.Payload)).toBe('ok');
    expect(emulator.invocationCount('busy')).toBe(1);
  });

  it('lets the SDK retry a throttled invocation', async () => {
    const retrying = createLambdaEmulatorClient(emulator, { maxAttempts: 3, retryBackoffMs: 5 });
    try {
      emulator.register('flaky', () => 'ok');
      emulator.injectFault('flaky', { type: 'TooManyRequestsException', retryAfterSeconds: 0 });
      const out = await retrying.send(new InvokeCommand({ FunctionName: 'flaky' }));
      expect(decode(out.Payload)).toBe('ok');
      expect(out.$metadata.attempts).toBe(2);
    } finally {
      retrying.destroy();
    }
  });

  it('counts invocations per function and resets the counts', async () => {
    emulator.register('a', () => 1);
    emulator.register('b', () => 2);
    await client.send(new InvokeCommand({ FunctionName: 'a' }));
    await client.send(new InvokeCommand({ FunctionName: 'a' }));
    await client.send(new InvokeCommand({ FunctionName: 'b' }));
    expect(emulator.invocationCount('a')).toBe(2);
    expect(emulator.invocationCount('b')).toBe(1);
    expect(emulator.invocationCount()).toBe(3);
    emulator.resetCounts();
    expect(emulator.invocationCount('a')).toBe(0);
    expect(emulator.requests).toHaveLength(0);
  });

  it('hosts a middy handler with its middlewares', async () => {
    const handler = middy(async (event: { n: number }, context: Context) => ({ doubled: event.n * 2, fn: context.functionName }))
      .before((request) => {
        request.event.n += 1;
      });
    emulator.register('middy-fn', handler as unknown as (event: unknown, context: Context) => unknown);
    const out = await client.send(new InvokeCommand({ FunctionName: 'middy-fn', Payload: encode({ n: 2 }) }));
    expect(decode(out.Payload)).toEqual({ doubled: 6, fn: 'middy-fn' });
  });

  it('replaces a handler registered again under the same name', async () => {
    emulator.register('v', () => 1);
    emulator.register('v', () => 2);
    const out = await client.send(new InvokeCommand({ FunctionName: 'v' }));
    expect(decode(out.Payload)).toBe(2);
    emulator.unregister('v');
    expect((await rejectionOf(client.send(new InvokeCommand({ FunctionName: 'v' })))).name).toBe('ResourceNotFoundException');
  });

  it('refuses a request signed for another region or with other credentials', async () => {
    emulator.register('signed', () => 'ok');
    const elsewhere = createLambdaEmulatorClient(emulator, { maxAttempts: 1, region: 'eu-west-1' });
    const { LambdaClient: Ctor } = await import('@aws-sdk/client-lambda');
    const stranger = new Ctor({ endpoint: emulator.endpoint, region: emulator.region, maxAttempts: 1, credentials: { accessKeyId: emulator.credentials.accessKeyId, secretAccessKey: 'wrong' } });
    try {
      const wrongRegion = await rejectionOf(elsewhere.send(new InvokeCommand({ FunctionName: 'signed' })));
      expect(wrongRegion.name).toBe('InvalidSignatureException');
      const wrongKey = await rejectionOf(stranger.send(new InvokeCommand({ FunctionName: 'signed' })));
      expect(wrongKey.name).toBe('InvalidSignatureException');
      expect(wrongKey.$metadata?.httpStatusCode).toBe(403);
      expect(emulator.invocationCount('signed')).toBe(0);
    } finally {
      elsewhere.destroy();
      stranger.destroy();
    }
  });

  it('refuses bad registrations', () => {
    expect(() => emulator.register('has space', () => 1)).toThrow(/not a Lambda function name/);
    expect(() => emulator.register('ok', () => 1, { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
