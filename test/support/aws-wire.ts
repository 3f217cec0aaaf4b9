/**
 * What every AWS emulator in test/support shares, whatever its wire protocol: reading a request body
 * with a size cap, SigV4 verification as AWS performs it, and the client settings that point a real
 * SDK client at an emulator with fake credentials and a fast retry backoff.
 *
 * The SigV4 check recomputes the signature from the request as it arrived (method, canonical path
 * and query, the signed headers, the SHA-256 of the body actually received), so a client with the
 * wrong secret key, region or service is refused here as it would be in AWS. It does not check the
 * request's age (X-Amz-Date against the clock), session tokens or presigned URLs.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
// A transitive dependency of the SDK clients (not in package.json): only the fast test backoff uses it.
import { ConfiguredRetryStrategy } from '@smithy/core/retry';

/** Static fake credentials, as an emulator accepts them and its client helper signs with them. */
export interface EmulatorCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The body, or undefined when it is larger than `maxBytes` (the rest is drained, not kept). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

/** A header's value, repeated headers joined with commas as Node would fold them. */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 3986 escaping as the SigV4 signer applies it. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Why a request's signature was refused: the exception name AWS answers with, and its message. */
export interface SigV4Failure {
  type: 'MissingAuthenticationTokenException' | 'IncompleteSignatureException' | 'UnrecognizedClientException' | 'InvalidSignatureException';
  message: string;
}

/** Who a request must be signed by and for. */
export interface SigV4Expectation {
  credentials: EmulatorCredentials;
  region: string;
  /** The signing name: `secretsmanager`, `kms`, `lambda`. */
  service: string;
}

/**
 * SigV4 as AWS checks it: credential scope (access key, date, region, service), `host` among the
 * signed headers, and the signature over the canonical request. Undefined when the request passes.
 * Each caller picks the HTTP status of a failure, as the services differ (awsJson services answer
 * 400 for most, Lambda 403).
 */
export function verifySigV4(req: IncomingMessage, body: Buffer, expected: SigV4Expectation): SigV4Failure | undefined {
  const auth = headerValue(req, 'authorization');
  if (!auth) return { type: 'MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' };
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { type: 'IncompleteSignatureException', message: 'Authorization header is malformed' };
  const [, accessKeyId, shortDate, region, service, signedHeaderList, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (accessKeyId !== expected.credentials.accessKeyId) return { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  if (region !== expected.region) return { type: 'InvalidSignatureException', message: `Credential should be scoped to a valid region, not '${region}'.` };
  if (service !== expected.service) return { type: 'InvalidSignatureException', message: `Credential should be scoped to correct service: '${expected.service}'.` };
  const amzDate = headerValue(req, 'x-amz-date');
  if (!amzDate || amzDate.slice(0, 8) !== shortDate) return { type: 'IncompleteSignatureException', message: 'X-Amz-Date is missing or does not match the credential scope' };
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) return { type: 'InvalidSignatureException', message: "'Host' must be a signed header" };
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${(headerValue(req, name) ?? '').trim().replace(/\s+/g, ' ')}`).join('\n');
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const rawPath = queryAt < 0 ? url : url.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : url.slice(queryAt + 1);
  // The path arrives URI-encoded once; SigV4 (for every service but S3) encodes each segment again.
  const canonicalPath = rawPath.split('/').map(escapeUri).join('/');
  const canonicalQuery = [...new URLSearchParams(rawQuery).entries()]
    .map(([k, v]) => [escapeUri(k), escapeUri(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  // The hash of the body that arrived, not a header's claim about it: a body changed in flight fails.
  const canonicalRequest = [req.method ?? 'POST', canonicalPath, canonicalQuery, canonicalHeaders, '', signedHeaderList, sha256Hex(body)].join('\n');
  const scope = `${shortDate}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${expected.credentials.secretAccessKey}`, shortDate), region), service), 'aws4_request');
  const wanted = Buffer.from(hmac(key, stringToSign).toString('hex'));
  const given = Buffer.from(signature);
  if (wanted.length !== given.length || !timingSafeEqual(wanted, given)) {
    return { type: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided.' };
  }
  return undefined;
}

/** Options of the `create...EmulatorClient` helpers. */
export interface EmulatorClientOptions {
  /** SDK attempts per call, first try included. @default 3 (the SDK default) */
  maxAttempts?: number;
  /**
   * Fixed delay between SDK retries. Leave unset to use the SDK's default retry strategy unchanged
   * (jittered exponential backoff, up to a second or more for throttling); set a few ms to keep tests
   * fast. Either way the SDK's own error classification decides what is retried.
   */
  retryBackoffMs?: number;
  /** Sign for another region, to see the emulator refuse it. @default the emulator's region */
  region?: string;
}

/** Settings for any SDK v3 client constructor: the emulator's endpoint, region and fake credentials. */
export function emulatorClientConfig(emulator: { endpoint: string; region: string; credentials: EmulatorCredentials }, options: EmulatorClientOptions = {}) {
  const maxAttempts = options.maxAttempts ?? 3;
  return {
    endpoint: emulator.endpoint,
    region: options.region ?? emulator.region,
    credentials: { ...emulator.credentials },
    maxAttempts,
    ...(options.retryBackoffMs === undefined ? {} : { retryStrategy: new ConfiguredRetryStrategy(maxAttempts, () => options.retryBackoffMs!) }),
  };
}
