/**
 * The browser half of `orgs authorize`: PKCE and state (RFC 7636, RFC 6749 §10.12), the authorization
 * URL, opening a browser, and the loopback listener that receives the redirect (RFC 8252 §7.3).
 *
 * The listener binds 127.0.0.1 only and answers only `GET /callback`. A callback whose state differs
 * is answered with a failure page and ignored: waiting goes on for the right one. The page the
 * browser lands on is one line and never holds the code, a token or a secret.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CliFailure, EXIT } from './exit-codes.js';

/** A PKCE pair: the verifier stays in this process; only the challenge travels. */
export interface Pkce {
  verifier: string;
  challenge: string;
}

/** 32 random bytes as base64url: a 43-character verifier, the shortest RFC 7636 allows, with 256 bits. */
export function newPkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier, 'ascii').digest('base64url') };
}

/** An unguessable state that ties the redirect to this run. */
export function newState(): string {
  return randomBytes(24).toString('base64url');
}

/** The loopback redirect URI for a port: what must be registered on the Genesys OAuth client. */
export function redirectUriFor(port: number): string {
  return `http://localhost:${port}/callback`;
}

/** `<loginBaseUrl>/oauth/authorize?response_type=code&...` with an S256 challenge. */
export function authorizeUrl(input: { loginBaseUrl: string; clientId: string; redirectUri: string; state: string; challenge: string }): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: input.clientId,
    redirect_uri: input.redirectUri,
    state: input.state,
    code_challenge: input.challenge,
    code_challenge_method: 'S256',
  });
  return `${input.loginBaseUrl}/oauth/authorize?${query.toString()}`;
}

/**
 * Starts the platform's URL opener, detached; false when there is no display to open it on. A missing
 * opener is not an error: the caller prints the URL either way.
 */
export function openBrowser(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): boolean {
  let command: string;
  let args: string[];
  if (platform === 'darwin') [command, args] = ['open', [url]];
  else if (platform === 'win32') [command, args] = ['cmd', ['/c', 'start', '""', `"${url}"`]];
  else {
    if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
    [command, args] = ['xdg-open', [url]];
  }
  try {
    const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsVerbatimArguments: platform === 'win32' });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** What the listener received: a code, a refusal from the authorization server, or nothing in time. */
export type CallbackResult =
  | { kind: 'code'; code: string }
  /** `error` is the OAuth error code, reduced to its safe characters. */
  | { kind: 'denied'; error: string }
  | { kind: 'timeout' };

export interface CallbackListener {
  /** Settles with the first callback that carries the expected state, or with a timeout. */
  readonly result: Promise<CallbackResult>;
  /** Answers the browser that brought the accepted callback with a one-line page, then stops listening. */
  finish(ok: boolean, line: string): Promise<void>;
}

/** A one-line HTML page; the line is escaped and holds no secret by the caller's contract. */
export function landingPage(ok: boolean, line: string): string {
  const text = line.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>genesys-token-broker: ${ok ? 'authorized' : 'authorization failed'}</title></head><body><p>${text}</p></body></html>\n`;
}

function sendPage(res: ServerResponse, status: number, ok: boolean, line: string, done?: () => void): void {
  const body = landingPage(ok, line);
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    // The callback URL carried a code: keep the page out of caches and send no Referer anywhere.
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body, done);
}

function sameState(got: string | null, expected: string): boolean {
  if (got === null) return false;
  const a = Buffer.from(got);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Listens on 127.0.0.1:`port` for `GET /callback`. `onIgnored` hears, in secret-free words, why a
 * callback was turned away. Throws a CliFailure when the port cannot be bound.
 */
export async function listenForCallback(options: { port: number; state: string; timeoutMs: number; onIgnored: (why: string) => void }): Promise<CallbackListener> {
  const { port, state, timeoutMs, onIgnored } = options;
  let settle!: (result: CallbackResult) => void;
  const result = new Promise<CallbackResult>((resolve) => (settle = resolve));
  let accepted: ServerResponse | undefined;
  let settled = false;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' || url.pathname !== '/callback') return sendPage(res, 404, false, 'Not found.');
    if (settled) return sendPage(res, 409, false, 'This authorization has already been received; you can close this window.');
    const query = url.searchParams;
    if (!sameState(query.get('state'), state)) {
      onIgnored(query.has('state') ? 'its state differs from this run\'s (a stale or forged redirect)' : 'it carries no state');
      return sendPage(res, 400, false, 'Authorization failed: this response does not belong to the authorization in progress.');
    }
    settled = true;
    clearTimeout(timer);
    accepted = res;
    const error = query.get('error');
    const code = query.get('code');
    if (error !== null || !code) settle({ kind: 'denied', error: (error ?? 'no_code').replace(/[^a-z0-9_]/gi, '').slice(0, 64) || 'error' });
    else settle({ kind: 'code', code });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE' || err.code === 'EACCES'
          ? new CliFailure(EXIT.failed, `cannot listen on 127.0.0.1:${port} for the redirect (${err.code}); nothing was stored`, [
              'free the port, or pass --redirect-port <port> and register http://localhost:<port>/callback on the OAuth client',
            ])
          : err,
      );
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const timer = setTimeout(() => {
    settled = true;
    settle({ kind: 'timeout' });
  }, timeoutMs);

  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    result,
    async finish(ok, line) {
      clearTimeout(timer);
      const res = accepted;
      accepted = undefined;
      if (res && !res.destroyed) await new Promise<void>((resolve) => sendPage(res, ok ? 200 : 400, ok, line, resolve));
      await stop();
    },
  };
}
