/**
 * The simulator's injected faults, acted out on a response: error statuses, 429 with Retry-After,
 * latency, hangs, resets, malformed and truncated bodies, proxy HTML pages.
 */
import type { ServerResponse } from 'node:http';
import { fakeBody, HTML_REASONS, platformBody, retryAfterSeconds, sendBody } from './simulator-protocol.js';
import type { SimEndpoint, SimFault } from './simulator-types.js';

/** What a fault needs from its simulator. */
export interface FaultEnv {
  sleep(ms: number): Promise<void>;
  now(): number;
  defaultLifetimeSeconds: number;
}

/** Acts out a fault. Returns true when the fault replaced the response, false to continue normally. */
export async function applyFault(fault: SimFault, endpoint: SimEndpoint, res: ServerResponse, env: FaultEnv): Promise<boolean> {
  switch (fault.kind) {
    case 'latency':
      await env.sleep(fault.ms);
      return false;
    case 'foreign_org':
      return false;
    case 'status':
      sendBody(res, fault.status, fault.body ?? platformBody(fault.status, `Injected HTTP ${fault.status}.`), {
        'Content-Type': fault.contentType ?? 'application/json',
      });
      return true;
    case 'rate_limit': {
      const retryAfter = fault.retryAfter === undefined ? '1' : fault.retryAfter;
      const seconds = retryAfterSeconds(retryAfter, env.now());
      sendBody(res, 429, platformBody(429, `Rate limit exceeded the maximum. Retry the request in [${seconds}] seconds`, 'too.many.requests'),
        retryAfter === null ? {} : { 'Retry-After': retryAfter });
      return true;
    }
    case 'hang':
      // Nothing is sent; close() or the client's abort destroys the socket.
      return true;
    case 'reset':
      res.socket?.destroy();
      return true;
    case 'malformed_json': {
      const full = fakeBody(endpoint, env.defaultLifetimeSeconds);
      sendBody(res, 200, full.slice(0, Math.floor(full.length / 2)));
      return true;
    }
    case 'truncated_body': {
      const full = fakeBody(endpoint, env.defaultLifetimeSeconds);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(full)) });
      // Flush the headers and half the body, then cut the connection so the client sees a short read.
      res.write(full.slice(0, Math.floor(full.length / 2)), () => res.socket?.destroy());
      return true;
    }
    case 'html': {
      const status = fault.status ?? 502;
      const reason = HTML_REASONS[status] ?? 'Error';
      const page = `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n<center><h1>${status} ${reason}</h1></center>\r\n</body>\r\n</html>\r\n`;
      sendBody(res, status, page, { 'Content-Type': 'text/html', Server: 'awselb/2.0' });
      return true;
    }
    case 'missing_access_token':
      sendBody(res, 200, JSON.stringify({ token_type: 'bearer', expires_in: env.defaultLifetimeSeconds }), { 'Cache-Control': 'no-store' });
      return true;
    case 'after_grant':
    case 'invalid_token_body':
      // Acted out by the grant itself (#token), after it ran.
      return false;
  }
}
