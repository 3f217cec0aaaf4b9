/**
 * A Genesys Cloud simulator: one real HTTP server on 127.0.0.1 that answers as `login.<domain>` and
 * `api.<domain>` for every region in the region table, for several orgs at once. Local demo mode
 * runs the broker against it, and the test suite uses it as its stand-in for Genesys.
 *
 * Hosts are path prefixes: the broker's OAuth client takes a {@link BaseUrlResolver}, and
 * {@link GenesysSimulator.resolver} maps `login.mypurecloud.ie` to `http://127.0.0.1:PORT/login.mypurecloud.ie`,
 * so a request arrives as `POST /login.mypurecloud.ie/oauth/token`.
 *
 * What it models, as Genesys Cloud behaves:
 * - `POST /oauth/token` with HTTP Basic client authentication, the client_credentials grant, the
 *   refresh_token grant with single-use, rotating refresh tokens, and the authorization_code grant
 *   with single-use codes, redirect_uri matching and PKCE (S256); OAuth error bodies.
 * - `GET /oauth/authorize` with automatic consent: a 302 to an authorized redirect URI carrying a
 *   single-use code and the state (simulator-authorization.ts).
 * - `GET /api/v2/tokens/me` (with `preserveIdleTTL`) and `GET /api/v2/organizations/me`; Platform API
 *   error bodies.
 * - Credentials, and the tokens they get, that are valid only in their org's region; token expiry
 *   and idle timeouts by the injected clock, revoked clients and rotated secrets.
 * - Faults injected per client and endpoint: error statuses, 429 with Retry-After, latency, hangs,
 *   connection resets, malformed and truncated bodies, HTML pages from a proxy, token responses
 *   without a token, and tokens that belong to another org.
 *
 * Limits: no scopes enforcement, no login or consent page (every authorization request is approved),
 * one refresh token chain per client (a code exchange starts a new one), no rate limiting except as
 * an injected fault. It never logs anything, least of all bodies or headers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ValidationError } from '../../lambdas/core/errors.js';
import { type BaseUrlResolver, resolveRegion } from '../../lambdas/core/regions.js';
import {
  checkFault,
  checkSeconds,
  DOMAINS,
  ENDPOINTS,
  GRANT_TYPES,
  isNonEmptyString,
  KNOWN_GRANT_TYPES,
  MAX_BODY_BYTES,
  newToken,
  oauthBody,
  parseBasic,
  parseBearer,
  platformBody,
  sendBody,
  slug,
} from './simulator-protocol.js';
import { authorize, redeem } from './simulator-authorization.js';
import { applyFault } from './simulator-faults.js';
import type { ClientState, CodeState, OrgState, SimClientSpec, SimCounts, SimEndpoint, SimFault, SimGrantType, SimOrgSpec, SimulatorOptions, TokenState } from './simulator-types.js';

export type { SimClientSpec, SimCounts, SimEndpoint, SimFault, SimGrantType, SimOrgSpec, SimulatorOptions } from './simulator-types.js';

/** A simulated Genesys Cloud, listening on 127.0.0.1. Create it with {@link GenesysSimulator.start}. */
export class GenesysSimulator {
  /** `http://127.0.0.1:PORT`. */
  readonly baseUrl: string;
  /** Maps a Genesys host to its base URL on this simulator: `(host) => baseUrl + '/' + host`. */
  readonly resolver: BaseUrlResolver;

  readonly #server: Server;
  readonly #now: () => number;
  readonly #defaultLifetimeSeconds: number;
  readonly #orgs = new Map<string, OrgState>();
  readonly #clients = new Map<string, ClientState>();
  readonly #tokens = new Map<string, TokenState>();
  readonly #codes = new Map<string, CodeState>();
  readonly #issued: { clientId: string; token: string }[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #total = 0;
  #closed = false;

  private constructor(server: Server, port: number, options: SimulatorOptions) {
    this.#server = server;
    this.#now = options.now ?? Date.now;
    this.#defaultLifetimeSeconds = options.tokenLifetimeSeconds ?? 86_400;
    this.baseUrl = `http://127.0.0.1:${port}`;
    const base = this.baseUrl;
    this.resolver = (host) => `${base}/${host}`;
  }

  /** Starts a simulator on 127.0.0.1 (ephemeral port unless `options.port`). */
  static async start(options: SimulatorOptions = {}): Promise<GenesysSimulator> {
    checkSeconds(options.tokenLifetimeSeconds, 'tokenLifetimeSeconds', true);
    const server = createServer();
    // Keep connections the client pools alive longer than undici's default, so a pooled socket is
    // not closed under a request that is just being sent.
    server.keepAliveTimeout = 60_000;
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
    const sim = new GenesysSimulator(server, port, options);
    server.on('connection', (socket) => {
      sim.#sockets.add(socket);
      socket.once('close', () => sim.#sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      sim.#handle(req, res).catch(() => {
        // A bug in the simulator answers 500 rather than crashing the test run; nothing is logged.
        if (!res.headersSent && !res.destroyed) sim.#send(res, 500, platformBody(500, 'The simulator failed to handle the request.'));
        else res.destroy();
      });
    });
    return sim;
  }

  /** Registers an org. Throws ValidationError for a duplicate id or an unknown region. */
  addOrg(spec: SimOrgSpec): void {
    if (!isNonEmptyString(spec?.orgId)) throw new ValidationError('orgId is required', { field: 'orgId' });
    if (this.#orgs.has(spec.orgId)) throw new ValidationError(`org ${spec.orgId} is already registered`, { field: 'orgId' });
    const region = resolveRegion(spec.region);
    this.#orgs.set(spec.orgId, { orgId: spec.orgId, name: spec.name ?? `Org ${spec.orgId}`, region });
  }

  /** Registers an OAuth client of a registered org. Throws ValidationError for bad or duplicate specs. */
  addClient(spec: SimClientSpec): void {
    if (!isNonEmptyString(spec?.clientId) || spec.clientId.includes(':')) {
      throw new ValidationError('clientId is required and must not contain ":"', { field: 'clientId' });
    }
    if (this.#clients.has(spec.clientId)) throw new ValidationError(`client ${spec.clientId} is already registered`, { field: 'clientId' });
    if (!isNonEmptyString(spec.clientSecret)) throw new ValidationError('clientSecret is required', { field: 'clientSecret' });
    if (!this.#orgs.has(spec.orgId)) throw new ValidationError(`org ${String(spec.orgId)} is not registered; call addOrg first`, { field: 'orgId' });
    const grantTypes = spec.grantTypes ?? ['client_credentials'];
    if (!Array.isArray(grantTypes) || grantTypes.length === 0 || grantTypes.some((g) => !GRANT_TYPES.includes(g))) {
      throw new ValidationError(`grantTypes must be a non-empty list of ${GRANT_TYPES.join(', ')}`, { field: 'grantTypes' });
    }
    checkSeconds(spec.tokenLifetimeSeconds, 'tokenLifetimeSeconds', true);
    checkSeconds(spec.idleTimeoutSeconds, 'idleTimeoutSeconds', false);
    if (spec.refreshToken !== undefined && !isNonEmptyString(spec.refreshToken)) {
      throw new ValidationError('refreshToken must be a non-empty string when given', { field: 'refreshToken' });
    }
    const redirectUris = spec.redirectUris ?? [];
    if (!Array.isArray(redirectUris) || redirectUris.some((u) => !URL.canParse(u))) {
      throw new ValidationError('redirectUris must be a list of absolute URLs', { field: 'redirectUris' });
    }
    this.#clients.set(spec.clientId, {
      clientId: spec.clientId,
      secret: spec.clientSecret,
      orgId: spec.orgId,
      name: spec.name ?? `Client ${spec.clientId}`,
      grantTypes: new Set(grantTypes),
      scopes: [...(spec.scopes ?? [])],
      ...(spec.tokenLifetimeSeconds !== undefined ? { tokenLifetimeSeconds: spec.tokenLifetimeSeconds } : {}),
      ...(spec.idleTimeoutSeconds !== undefined ? { idleTimeoutSeconds: spec.idleTimeoutSeconds } : {}),
      revoked: false,
      redirectUris: [...redirectUris],
      ...(spec.refreshToken !== undefined ? { currentRefreshToken: spec.refreshToken } : {}),
      usedRefreshTokens: [],
      counts: { token: 0, tokensMe: 0, organizationsMe: 0, refreshTokenReuse: 0, authorize: 0, codeReuse: 0 },
      faults: new Map(),
    });
  }

  /**
   * Queues a fault for a client's requests to one endpoint (default `token`). Faults are consumed in
   * FIFO order, each for `times` requests (default 1; `Infinity` until cleared). On the token
   * endpoint the client is the one named in the Basic header, in whichever region the request went
   * to; on tokens/me and organizations/me it is the client the bearer token was issued to.
   */
  injectFault(clientId: string, fault: SimFault, options: { endpoint?: SimEndpoint; times?: number } = {}): void {
    const client = this.#client(clientId);
    const endpoint = options.endpoint ?? 'token';
    if (!ENDPOINTS.includes(endpoint)) throw new ValidationError(`endpoint must be one of ${ENDPOINTS.join(', ')}`, { field: 'endpoint' });
    const times = options.times ?? 1;
    if (times !== Infinity && (!Number.isSafeInteger(times) || times < 1)) {
      throw new ValidationError('times must be a positive integer or Infinity', { field: 'times' });
    }
    checkFault(fault, endpoint);
    const queue = client.faults.get(endpoint) ?? [];
    queue.push({ fault: { ...fault }, remaining: times });
    client.faults.set(endpoint, queue);
  }

  /** Drops pending faults of one client, or of every client. */
  clearFaults(clientId?: string): void {
    if (clientId !== undefined) {
      this.#client(clientId).faults.clear();
      return;
    }
    for (const client of this.#clients.values()) client.faults.clear();
  }

  /** Revokes a client: token requests fail with invalid_client and its tokens stop working. */
  revokeClient(clientId: string): void {
    this.#client(clientId).revoked = true;
  }

  /** Rotates a client's secret; the old one fails with 401 from now on. Issued tokens stay valid. */
  setClientSecret(clientId: string, secret: string): void {
    const client = this.#client(clientId);
    if (!isNonEmptyString(secret)) throw new ValidationError('clientSecret is required', { field: 'clientSecret' });
    client.secret = secret;
  }

  /** Sets the lifetime of tokens issued to a client from now on (0 and out-of-range values allowed, to test the broker). */
  setTokenLifetime(clientId: string, seconds: number): void {
    const client = this.#client(clientId);
    checkSeconds(seconds, 'tokenLifetimeSeconds', true);
    client.tokenLifetimeSeconds = seconds;
  }

  /** Requests seen for a client, faulted ones included. */
  counts(clientId: string): SimCounts {
    return { ...this.#client(clientId).counts };
  }

  /** Every request the server received, 404s included. */
  totalRequests(): number {
    return this.#total;
  }

  /** Requests of every client that presented a refresh token it had already used: a broker must keep this 0. */
  totalRefreshTokenReuse(): number {
    return [...this.#clients.values()].reduce((n, c) => n + c.counts.refreshTokenReuse, 0);
  }

  /** The refresh token the client must present next, if any. */
  currentRefreshToken(clientId: string): string | undefined {
    return this.#client(clientId).currentRefreshToken;
  }

  /** Refresh tokens the client has used successfully, oldest first; each is now invalid. */
  usedRefreshTokens(clientId: string): string[] {
    return [...this.#client(clientId).usedRefreshTokens];
  }

  /** Access tokens issued, oldest first, to one client or to all; for asserting no token leaks into logs. */
  issuedAccessTokens(clientId?: string): string[] {
    if (clientId !== undefined) this.#client(clientId);
    return this.#issued.filter((i) => clientId === undefined || i.clientId === clientId).map((i) => i.token);
  }

  /** Stops the server and destroys every connection, hung ones included, so callers never wait. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #client(clientId: string): ClientState {
    const client = this.#clients.get(clientId);
    if (!client) throw new ValidationError(`client ${String(clientId)} is not registered`, { field: 'clientId' });
    return client;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  #send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    sendBody(res, status, body, headers);
  }

  #notFound(res: ServerResponse): void {
    this.#send(res, 404, platformBody(404, 'The requested resource was not found.'));
  }

  #unauthorized(res: ServerResponse, message: string): void {
    this.#send(res, 401, platformBody(401, message, 'authentication.required'));
  }

  #oauthError(res: ServerResponse, status: number, error: string, description: string): void {
    this.#send(res, status, oauthBody(error, description), { 'Cache-Control': 'no-store' });
  }

  /**
   * A code presented twice: what it granted is revoked (RFC 6749 §4.1.2), its access token and the
   * refresh token chain it started, since someone other than its client may hold the code.
   */
  #revokeCodeGrant(client: ClientState, entry: CodeState): void {
    client.counts.codeReuse += 1;
    if (!entry.granted) return;
    this.#tokens.delete(entry.granted.accessToken);
    const code = [...this.#codes].find(([, e]) => e === entry)?.[0];
    if (code !== undefined && client.refreshChainCode === code) {
      delete client.currentRefreshToken;
      delete client.refreshChainCode;
    }
  }

  /** Takes the next fault for a client and endpoint, counting down `times`. */
  #takeFault(client: ClientState, endpoint: SimEndpoint): SimFault | undefined {
    const queue = client.faults.get(endpoint);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) queue.shift();
    return head.fault;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#total += 1;
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const [, rawHost = '', ...rest] = url.pathname.split('/');
    const host = rawHost.toLowerCase();
    const path = `/${rest.join('/')}`;
    const dot = host.indexOf('.');
    const kind = host.slice(0, dot);
    const domain = host.slice(dot + 1);
    if (dot <= 0 || !DOMAINS.has(domain)) return this.#notFound(res);

    if (kind === 'login' && req.method === 'GET' && path === '/oauth/authorize') return this.#authorize(url.searchParams, res, domain);
    let endpoint: SimEndpoint;
    if (kind === 'login' && req.method === 'POST' && path === '/oauth/token') endpoint = 'token';
    else if (kind === 'api' && req.method === 'GET' && path === '/api/v2/tokens/me') endpoint = 'tokens/me';
    else if (kind === 'api' && req.method === 'GET' && path === '/api/v2/organizations/me') endpoint = 'organizations/me';
    else return this.#notFound(res);

    if (endpoint === 'token') {
      const body = await this.#readBody(req);
      const basic = parseBasic(req.headers.authorization);
      const client = basic ? this.#clients.get(basic.clientId) : undefined;
      if (client) client.counts.token += 1;
      const fault = client ? this.#takeFault(client, 'token') : undefined;
      let foreignOrgId: string | undefined;
      let afterGrant: SimFault | undefined;
      if (fault?.kind === 'foreign_org') foreignOrgId = fault.orgId;
      else if (fault?.kind === 'after_grant') afterGrant = fault.then;
      else if (fault?.kind === 'invalid_token_body') afterGrant = fault;
      else if (fault && (await this.#applyFault(fault, 'token', res))) return;
      if (res.destroyed) return;
      return this.#token(req, res, domain, body, foreignOrgId, afterGrant);
    }

    const bearer = parseBearer(req.headers.authorization);
    const tokenState = bearer ? this.#tokens.get(bearer) : undefined;
    const client = tokenState ? this.#clients.get(tokenState.clientId) : undefined;
    if (client) {
      if (endpoint === 'tokens/me') client.counts.tokensMe += 1;
      else client.counts.organizationsMe += 1;
    }
    const fault = client ? this.#takeFault(client, endpoint) : undefined;
    if (fault && (await this.#applyFault(fault, endpoint, res))) return;
    if (res.destroyed) return;

    if (!bearer) return this.#unauthorized(res, 'No authentication bearer token specified in authorization header.');
    if (!tokenState || !client) return this.#unauthorized(res, 'Invalid login credentials.');
    const now = this.#now();
    const idleMs = client.idleTimeoutSeconds !== undefined ? client.idleTimeoutSeconds * 1000 : undefined;
    // A token is known only to the region that issued it, as credentials are: elsewhere it is simply unknown.
    if (tokenState.domain !== domain || client.revoked || now >= tokenState.expiresAtMs || (idleMs !== undefined && now >= tokenState.lastActivityMs + idleMs)) {
      return this.#unauthorized(res, 'Invalid login credentials.');
    }
    // preserveIdleTTL=true lets a caller inspect a token without keeping it alive; any other call is activity.
    const preserve = endpoint === 'tokens/me' && url.searchParams.get('preserveIdleTTL')?.toLowerCase() === 'true';
    if (!preserve) tokenState.lastActivityMs = now;

    const org = this.#orgView(tokenState.orgId);
    if (endpoint === 'organizations/me') {
      return this.#send(res, 200, JSON.stringify({ id: org.id, name: org.name, state: 'active', domain: slug(org.name), selfUri: org.selfUri }));
    }
    return this.#send(res, 200, JSON.stringify({
      organization: org,
      homeOrganization: org,
      OAuthClient: { id: client.clientId, name: client.name, organization: { id: tokenState.orgId } },
      authorizedScope: [...client.scopes],
      ...(idleMs !== undefined ? { dateTokenIdles: new Date(tokenState.lastActivityMs + idleMs).toISOString() } : {}),
    }));
  }

  /** GET /oauth/authorize: auto-consent for a client known in this region. */
  #authorize(query: URLSearchParams, res: ServerResponse, domain: string): void {
    const named = this.#clients.get(query.get('client_id') ?? '');
    if (named) named.counts.authorize += 1;
    // Like the token endpoint: a client exists only in its org's region.
    const client = named && !named.revoked && this.#orgs.get(named.orgId)?.region.domain === domain ? named : undefined;
    const answer = authorize(query, client, this.#codes, this.#now());
    if (answer.kind === 'refuse') return this.#oauthError(res, 400, answer.error, answer.description);
    if (res.destroyed || res.headersSent) return;
    res.writeHead(302, { Location: answer.location, 'Cache-Control': 'no-store', 'Content-Length': '0' });
    res.end();
  }

  #orgView(orgId: string): { id: string; name: string; selfUri: string } {
    const name = this.#orgs.get(orgId)?.name ?? `Org ${orgId}`;
    return { id: orgId, name, selfUri: `/api/v2/organizations/${orgId}` };
  }

  /** Reads the request body up to a limit; undefined when it was larger (the rest is drained). */
  #readBody(req: IncomingMessage): Promise<string | undefined> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : undefined));
      // An aborted request resolves too; the response then goes nowhere, which is what Genesys would do.
      req.on('error', () => resolve(undefined));
    });
  }

  /** Acts out a fault (simulator-faults.ts). */
  #applyFault(fault: SimFault, endpoint: SimEndpoint, res: ServerResponse): Promise<boolean> {
    return applyFault(fault, endpoint, res, { sleep: (ms) => this.#sleep(ms), now: this.#now, defaultLifetimeSeconds: this.#defaultLifetimeSeconds });
  }

  /** POST /oauth/token after faults: authenticate the client in this region, then run the grant. */
  #token(req: IncomingMessage, res: ServerResponse, domain: string, body: string | undefined, foreignOrgId: string | undefined, afterGrant?: SimFault): void {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (contentType !== 'application/x-www-form-urlencoded') {
      return this.#oauthError(res, 400, 'invalid_request', 'content type must be application/x-www-form-urlencoded');
    }
    if (body === undefined) return this.#oauthError(res, 400, 'invalid_request', 'request body is too large');
    const basic = parseBasic(req.headers.authorization);
    if (!basic) return this.#oauthError(res, 401, 'invalid_client', 'client authentication is required');
    const client = this.#clients.get(basic.clientId);
    // Credentials exist only in their org's region: elsewhere the client is simply unknown.
    if (!client || this.#orgs.get(client.orgId)?.region.domain !== domain) {
      return this.#oauthError(res, 400, 'invalid_client', 'client not found');
    }
    if (client.revoked) return this.#oauthError(res, 400, 'invalid_client', 'client not found');
    if (basic.secret !== client.secret) return this.#oauthError(res, 401, 'invalid_client', 'authentication failed');

    const form = new URLSearchParams(body);
    const grantType = form.get('grant_type');
    if (grantType === null || grantType === '') return this.#oauthError(res, 400, 'invalid_request', 'grant_type is required');
    if (!KNOWN_GRANT_TYPES.has(grantType)) return this.#oauthError(res, 400, 'unsupported_grant_type', 'grant type is not supported');
    if (!client.grantTypes.has(grantType as SimGrantType)) {
      return this.#oauthError(res, 400, 'unauthorized_client', 'client is not authorized to use this grant type');
    }

    let refreshToken: string | undefined;
    if (grantType === 'refresh_token') {
      const presented = form.get('refresh_token');
      if (!presented) return this.#oauthError(res, 400, 'invalid_request', 'refresh_token is required');
      if (presented !== client.currentRefreshToken) {
        if (client.usedRefreshTokens.includes(presented)) client.counts.refreshTokenReuse += 1;
        return this.#oauthError(res, 400, 'invalid_grant', 'invalid refresh token');
      }
      // Single use: the presented token dies the moment a new one is issued.
      client.usedRefreshTokens.push(presented);
      refreshToken = newToken();
      client.currentRefreshToken = refreshToken;
    }
    let redeemed: CodeState | undefined;
    if (grantType === 'authorization_code') {
      const outcome = redeem(form, client, this.#codes, this.#now());
      if (!outcome.ok) {
        if (outcome.reused) this.#revokeCodeGrant(client, outcome.reused);
        return this.#oauthError(res, 400, outcome.error, outcome.description);
      }
      redeemed = outcome.entry;
      refreshToken = newToken();
      client.currentRefreshToken = refreshToken;
      client.refreshChainCode = outcome.code;
    }

    const lifetimeSeconds = client.tokenLifetimeSeconds ?? this.#defaultLifetimeSeconds;
    const accessToken = newToken();
    const now = this.#now();
    this.#tokens.set(accessToken, {
      clientId: client.clientId,
      orgId: foreignOrgId ?? client.orgId,
      domain,
      expiresAtMs: now + lifetimeSeconds * 1000,
      lastActivityMs: now,
    });
    this.#issued.push({ clientId: client.clientId, token: accessToken });
    if (redeemed && refreshToken) redeemed.granted = { accessToken, refreshToken };
    const answer = {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: afterGrant?.kind === 'invalid_token_body' ? 'soon' : lifetimeSeconds,
      ...(refreshToken !== undefined ? { refresh_token: refreshToken } : {}),
    };
    // The grant has run: a fault now replaces an answer Genesys did produce.
    if (afterGrant && afterGrant.kind !== 'invalid_token_body') {
      void this.#applyFault(afterGrant, 'token', res);
      return;
    }
    this.#send(res, 200, JSON.stringify(answer), { 'Cache-Control': 'no-store' });
  }
}
