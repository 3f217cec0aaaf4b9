/**
 * Demo mode: what `npm start` runs when there is no config file. A Genesys Cloud simulator starts in
 * this process with a few orgs in different regions, one of them with broken credentials, and the
 * broker refreshes their tokens exactly as it would real ones. No real org is ever contacted: the
 * engine reaches the simulator only through the OAuth client's base-URL resolver.
 *
 * Demo tokens live 300 s, so the 75% refresh mark (about 225 s) shows within minutes.
 *
 * The simulator forgets everything when the process stops, but Genesys does not: to keep a restart
 * (or a crash) honest, the simulator's current refresh tokens are written to a ledger in the demo data
 * directory as soon as it issues them, and a restarted simulator resumes from the ledger. A refresh
 * token the broker failed to persist is then really lost, just as it would be against Genesys.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../../lambdas/adapters/file/atomic-file.js';
import type { FileStore } from '../../lambdas/adapters/file/file-store.js';
import type { FetchLike } from '../../lambdas/core/oauth.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import type { GrantType } from '../../lambdas/core/ports.js';
import { resolveRegion } from '../../lambdas/core/regions.js';
import { GenesysSimulator } from './genesys-simulator.js';
import { listOrgsAndUnreadable } from '../../lambdas/core/registry-pages.js';
import type { DesiredOrg } from '../local/org-sync.js';

/** Printed first in demo mode, in every output format. */
export const DEMO_BANNER = 'DEMO MODE: simulated Genesys Cloud, no real orgs are contacted';
/** Demo data never mixes with real data. */
export const DEMO_DATA_DIR = '.broker-data/demo';
export const DEMO_TOKEN_LIFETIME_SECONDS = 300;
/**
 * Sweep interval in demo mode. Local mode's refresh policy leaves two sweeps and the 30 s serving
 * margin before expiry, so a 300 s demo token is refreshed at 210 s (a 300 s schedule could not keep
 * it fresh at all: its minimum lifetime would be 734 s). See README "Token lifetimes".
 */
export const DEMO_SCHEDULE_SECONDS = 30;
/** The simulator's ledger of current refresh tokens, in the demo data directory (0600 like the rest). */
export const DEMO_LEDGER_FILE = 'demo-simulator.json';

/**
 * Written into the demo data directory before anything else: it marks the store as demo mode's, whose
 * credentials are valid only against the in-process simulator. The CLI only reads such a store (any
 * refresh would send them to the real login.<domain> hosts) and config mode refuses it.
 */
export const DEMO_MARKER_FILE = 'DEMO-STORE.json';

/**
 * True when `dataDir` is a demo store: it has the marker, the simulator's ledger (a store from before
 * the marker existed), or a registry file of a demo org. Reads only; a missing directory is not one.
 */
export function isDemoStoreDir(dataDir: string): boolean {
  if (existsSync(join(dataDir, DEMO_MARKER_FILE)) || existsSync(join(dataDir, DEMO_LEDGER_FILE))) return true;
  try {
    return readdirSync(join(dataDir, 'registry')).some((name) => name.endsWith('.json') && isDemoOrgId(name.slice(0, -'.json'.length)));
  } catch {
    return false;
  }
}

/** One demo org. Secrets here are fake and only ever valid against the in-process simulator. */
export interface DemoOrgSpec {
  orgId: string;
  name: string;
  region: string;
  grantType: GrantType;
  /** Set for the org whose broker-side secret does not match the simulator's. */
  broken?: boolean;
  /** Simulated latency of every token request, to show slow upstreams. */
  tokenLatencyMs?: number;
}

export const DEMO_ORGS: readonly DemoOrgSpec[] = Object.freeze([
  { orgId: 'de000000-0000-4000-8000-000000000001', name: 'Acme (Dublin)', region: 'mypurecloud.ie', grantType: 'client_credentials' },
  { orgId: 'de000000-0000-4000-8000-000000000002', name: 'Globex (US East)', region: 'mypurecloud.com', grantType: 'client_credentials' },
  // Slow on purpose: sweeps take a moment, and a refresh-token rotation is visibly in flight.
  { orgId: 'de000000-0000-4000-8000-000000000003', name: 'Initech (Sydney, refresh token, slow link)', region: 'mypurecloud.com.au', grantType: 'refresh_token', tokenLatencyMs: 1_500 },
  { orgId: 'de000000-0000-4000-8000-000000000004', name: 'Umbrella (Frankfurt)', region: 'mypurecloud.de', grantType: 'client_credentials' },
  { orgId: 'de000000-0000-4000-8000-000000000005', name: 'Broken Co (Tokyo, bad secret)', region: 'mypurecloud.jp', grantType: 'client_credentials', broken: true },
] satisfies DemoOrgSpec[]);

const clientIdOf = (spec: DemoOrgSpec) => `demo-client-${spec.orgId.slice(-2)}`;
const secretOf = (spec: DemoOrgSpec) => `demo-secret-${spec.orgId.slice(-2)}-simulator-only`;
const seedOf = (spec: DemoOrgSpec) => `demo-refresh-seed-${spec.orgId.slice(-2)}-simulator-only`;

const DEMO_ORG_IDS: ReadonlySet<string> = new Set(DEMO_ORGS.map((o) => o.orgId));

/** True for the fixed ids of the demo orgs. */
export function isDemoOrgId(orgId: string): boolean {
  return DEMO_ORG_IDS.has(orgId.toLowerCase());
}

/**
 * Demo and real data never mix: demo mode refuses a directory that holds other orgs (it would add demo
 * orgs to it), and config mode refuses a directory the demo has used. Throws `invalid_config`.
 */
export async function assertDataDirMode(store: FileStore, mode: 'demo' | 'config'): Promise<void> {
  // An org whose registry file cannot be read still says which mode the directory belongs to.
  const { orgs, unreadable } = await listOrgsAndUnreadable(store.registry);
  const ids = [...orgs, ...unreadable].map((o) => o.orgId);
  const ledger = await readTextIfExists(join(store.dataDir, DEMO_LEDGER_FILE));
  const marked = (await readTextIfExists(join(store.dataDir, DEMO_MARKER_FILE))) !== undefined;
  if (mode === 'demo' && ids.some((id) => !isDemoOrgId(id))) {
    throw new ValidationError(`data directory ${store.dataDir} holds real orgs; demo mode never mixes with real data (add a broker.config.json or pick another --data-dir)`, { code: 'invalid_config', field: 'dataDir' });
  }
  if (mode === 'config' && (marked || ledger !== undefined || ids.some(isDemoOrgId))) {
    throw new ValidationError(`data directory ${store.dataDir} belongs to demo mode; real orgs never share it (pick another dataDir or --data-dir)`, { code: 'invalid_config', field: 'dataDir' });
  }
}

export interface DemoEnvironment {
  simulator: GenesysSimulator;
  /** The demo orgs as the broker should hold them (the broken one with a wrong secret). */
  orgs: DesiredOrg[];
  /** Fetch for the OAuth client: records rotated refresh tokens in the ledger before the broker sees them. */
  fetch: FetchLike;
  /** Orgs expected to fail. */
  brokenOrgIds: string[];
  /** A demo org with a healthy client, for the curl example. */
  exampleOrgId: string;
  close(): Promise<void>;
}

type Ledger = { refreshTokens: Record<string, string> };

async function readLedger(path: string): Promise<Ledger> {
  try {
    const json = JSON.parse((await readTextIfExists(path)) ?? '{}') as Partial<Ledger>;
    const tokens = json.refreshTokens && typeof json.refreshTokens === 'object' ? json.refreshTokens : {};
    return { refreshTokens: Object.fromEntries(Object.entries(tokens).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')) };
  } catch {
    return { refreshTokens: {} };
  }
}

/**
 * Starts the simulator with the demo orgs. `store` is the demo store: a restarted demo resumes refresh
 * tokens from the ledger, or failing that from the store.
 */
export async function startDemo(options: { store: FileStore; baseFetch?: FetchLike }): Promise<DemoEnvironment> {
  const { store } = options;
  // Marked before any demo credential is written, so no reader can mistake the store for a real one.
  await writeFileAtomic(join(store.dataDir, DEMO_MARKER_FILE), `${JSON.stringify({ demo: true, note: `${DEMO_BANNER}. The credentials in this directory are valid only against the simulator inside npm start; the CLI only reads this store.` }, null, 2)}\n`);
  const ledgerPath = join(store.dataDir, DEMO_LEDGER_FILE);
  const ledger = await readLedger(ledgerPath);
  const simulator = await GenesysSimulator.start({ tokenLifetimeSeconds: DEMO_TOKEN_LIFETIME_SECONDS });
  const refreshClients: string[] = [];
  try {
    for (const spec of DEMO_ORGS) {
      resolveRegion(spec.region);
      simulator.addOrg({ orgId: spec.orgId, name: spec.name, region: spec.region });
      let refreshToken: string | undefined;
      if (spec.grantType === 'refresh_token') {
        // A damaged registry file only means no stored refresh token to resume from.
        const org = await store.registry.get(spec.orgId).catch(() => undefined);
        const stored = org ? await store.credentials.read(org).then((c) => c.refreshToken, () => undefined) : undefined;
        refreshToken = ledger.refreshTokens[clientIdOf(spec)] ?? stored ?? seedOf(spec);
        refreshClients.push(clientIdOf(spec));
      }
      simulator.addClient({
        clientId: clientIdOf(spec),
        clientSecret: secretOf(spec),
        orgId: spec.orgId,
        name: `Token broker demo (${spec.name})`,
        grantTypes: [spec.grantType],
        scopes: ['conversations:readonly', 'users:readonly'],
        ...(refreshToken ? { refreshToken } : {}),
      });
      if (spec.tokenLatencyMs) simulator.injectFault(clientIdOf(spec), { kind: 'latency', ms: spec.tokenLatencyMs }, { times: Infinity });
    }
  } catch (err) {
    await simulator.close();
    throw err;
  }

  // Ledger writes are chained so they land in order; each is atomic and fsynced.
  let last = JSON.stringify(ledger);
  let chain: Promise<void> = Promise.resolve();
  const saveLedger = (): Promise<void> => {
    chain = chain.then(async () => {
      const next: Ledger = { refreshTokens: { ...ledger.refreshTokens } };
      for (const clientId of refreshClients) {
        const current = simulator.currentRefreshToken(clientId);
        if (current) next.refreshTokens[clientId] = current;
      }
      const text = JSON.stringify(next);
      if (text === last) return;
      await writeFileAtomic(ledgerPath, text);
      last = text;
      ledger.refreshTokens = next.refreshTokens;
    });
    return chain;
  };
  await saveLedger();

  const baseFetch = options.baseFetch ?? (globalThis.fetch as unknown as FetchLike);
  const fetch: FetchLike = async (url, init) => {
    const res = await baseFetch(url, init);
    // The simulator has rotated by the time its response arrives: record that before the broker acts.
    if (init.method === 'POST' && url.endsWith('/oauth/token')) await saveLedger();
    return res;
  };

  const orgs: DesiredOrg[] = DEMO_ORGS.map((spec) => ({
    orgId: spec.orgId,
    region: spec.region,
    grantType: spec.grantType,
    label: spec.name,
    enabled: true,
    credentials: {
      clientId: clientIdOf(spec),
      clientSecret: spec.broken ? 'demo-secret-that-the-simulator-rejects' : secretOf(spec),
      ...(spec.grantType === 'refresh_token' ? { refreshToken: seedOf(spec) } : {}),
    },
  }));

  return {
    simulator,
    orgs,
    fetch,
    brokenOrgIds: DEMO_ORGS.filter((s) => s.broken).map((s) => s.orgId),
    exampleOrgId: DEMO_ORGS[0]!.orgId,
    async close() {
      await chain.catch(() => undefined);
      await simulator.close();
    },
  };
}
