/**
 * Benchmarks: `npm run bench`. Each case prints its figures and checks a target; the run exits 1 if
 * any target is missed. Not part of `npm test`: timings belong here, not in unit tests.
 *
 *  1. engine overhead: one sweep refreshing 10,000 orgs against the local Genesys simulator over
 *     HTTP with in-memory stores (no artificial latency): orgs/s and heap growth.
 *  2. modelled production sweep: the full 10,000 orgs with 120 ms Genesys latency per call and the
 *     Secrets Manager write limiter at its default 20 writes/s, against the bound max(N·L/C, N·w/W).
 *  3. a sweep of 10,000 orgs where none is due (the every-5-minutes steady state).
 *  4. getter cache hits: latency percentiles of serving a cached token.
 *  5. onboarding over the wire: 300 new orgs through the real AWS adapters (dynalite, the Secrets
 *     Manager emulator, the SDK clients) and the write limiter at its default 20 writes/s: orgs/s
 *     and Secrets Manager writes per new org.
 *  6. the handler bundles: each Lambda bundled as the construct and the package build bundle it
 *     (handler-code.ts: esbuild, minified ESM, AWS SDK included), its size, and the median time to import it in 10 fresh Node processes.
 *  7. the consumer library's bundle: what a 3-line `createTokenClient` consumer weighs, AWS SDK external.
 *  8. the consumer cache over two days: reads per container-day, seconds serving a replaced or an
 *     expired token.
 *  9. sweep memory: the refresher's resident memory growth over a sweep of 5,000 due orgs, with the
 *     Genesys simulator in a process of its own so its token store does not count.
 * 10. the installed package: `npm pack` and an install into an empty directory; tarball size and file
 *     count, and the CLI's `--help` under plain node (median of 10 fresh processes).
 */
import { performance } from 'node:perf_hooks';
import { WriteLimiter } from '../../lambdas/adapters/aws/write-limiter.js';
import { InMemoryAuditLog, InMemoryCredentialStore, InMemoryLease, InMemoryOrgRegistry, InMemoryRefreshTokenJournal, InMemoryTokenVault } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { createRefreshEngine } from '../../lambdas/core/engine.js';
import { createOAuthClient, type FetchLike } from '../../lambdas/core/oauth.js';
import { type OrgRecord, systemClock, type TokenRecord } from '../../lambdas/core/ports.js';
import { REGIONS } from '../../lambdas/core/regions.js';
import { createEngineOnDemandRefresher } from '../../lambdas/core/on-demand.js';
import { createTokenGetter } from '../../lambdas/core/token-getter.js';
import { cacheUntil } from '../../lambdas/client/token-client.js';
import { REPLACEMENT_DELAY_MS } from '../../lambdas/core/policy.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { createAwsPorts } from '../../lambdas/adapters/aws/aws-ports.js';
import { createBrokerEngine } from '../../lambdas/core/broker-engine.js';
import { BROKER_SETTINGS } from '../../lambdas/core/settings.js';
import { MAX_RESULT_LINES } from '../../lambdas/core/sweep-summary.js';
import { startDynalite } from '../support/dynalite.js';
import { benchOrgId } from './bench-orgs.js';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleHandler } from '../../lib/token-broker/private/handler-code.js';
import { packAndInstall } from '../support/installed-package.js';
import { createEmulatorClient, SecretsManagerEmulator } from '../support/secrets-manager-emulator.js';

interface Result {
  name: string;
  figures: Record<string, string | number>;
  target: string;
  ok: boolean;
}
const results: Result[] = [];
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

const orgId = benchOrgId;

async function population(sim: GenesysSimulator, count: number, latencyMs = 0) {
  const orgs: Omit<OrgRecord, 'version'>[] = [];
  const creds: Record<string, { clientId: string; clientSecret: string }> = {};
  for (let i = 0; i < count; i++) {
    const id = orgId(i);
    const region = REGIONS[i % REGIONS.length]!;
    const clientId = `bench-${i}`;
    sim.addOrg({ orgId: id, region: region.domain });
    sim.addClient({ clientId, clientSecret: `bench-secret-${i}`, orgId: id });
    if (latencyMs > 0) {
      sim.injectFault(clientId, { kind: 'latency', ms: latencyMs }, { times: Infinity });
      sim.injectFault(clientId, { kind: 'latency', ms: latencyMs }, { endpoint: 'tokens/me', times: Infinity });
    }
    orgs.push({ orgId: id, region: region.domain, grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } });
    creds[id] = { clientId, clientSecret: `bench-secret-${i}` };
  }
  return { orgs, creds };
}

function engineFor(sim: GenesysSimulator, orgs: Omit<OrgRecord, 'version'>[], creds: Record<string, { clientId: string; clientSecret: string }>, vault = new InMemoryTokenVault()) {
  const registry = new InMemoryOrgRegistry(orgs);
  const lease = new InMemoryLease();
  const deps = {
    registry,
    credentials: new InMemoryCredentialStore(creds),
    vault,
    audit: new InMemoryAuditLog(),
    lease,
    journal: new InMemoryRefreshTokenJournal(lease),
    oauth: createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: sim.resolver }),
    clock: systemClock,
  };
  return { engine: createRefreshEngine(deps, { concurrency: 16 }), deps };
}

async function engineOverhead(): Promise<void> {
  const sim = await GenesysSimulator.start();
  const { orgs, creds } = await population(sim, 10_000);
  const { engine } = engineFor(sim, orgs, creds);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let peak = heapBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 50);
  const t0 = performance.now();
  const summary = await engine.sweep({ deadlineMs: Date.now() + 15 * 60_000, trigger: 'schedule' });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  await sim.close();
  const growth = mb(peak - heapBefore);
  results.push({
    name: 'sweep of 10,000 due orgs (engine + HTTP to simulator, in-memory stores)',
    figures: { refreshed: summary.refreshed, seconds: seconds.toFixed(1), orgsPerSecond: Math.round(summary.refreshed / seconds), peakHeapGrowthMB: growth },
    target: 'all refreshed, < 120 s on 2 cores, peak heap growth < 256 MB (the simulator, 10,000 stored tokens and garbage share this process)',
    ok: summary.refreshed === 10_000 && seconds < 120 && growth < 256,
  });
}

async function modelledSweep(): Promise<void> {
  // The full 10,000 orgs, not a sample scaled up: scaling would count the write limiter's burst once
  // per sample. Each refresh makes two Genesys calls (token, tokens/me) and one secret write, as the
  // real vault does for new and existing orgs alike (the onboarding case measures that over the wire).
  const count = 10_000;
  const latencyMs = 120;
  const concurrency = 16;
  const writesPerSecond = 20;
  const sim = await GenesysSimulator.start();
  const { orgs, creds } = await population(sim, count, latencyMs);
  const limiter = new WriteLimiter({ ratePerSecond: writesPerSecond, clock: systemClock });
  const inner = new InMemoryTokenVault();
  let writes = 0;
  const vault = Object.assign(Object.create(inner) as InMemoryTokenVault, {
    write: async (record: TokenRecord, options: { attemptId: string }) => {
      await limiter.acquire();
      writes++;
      return inner.write(record, options);
    },
  });
  const { engine } = engineFor(sim, orgs, creds, vault);
  const t0 = performance.now();
  const summary = await engine.sweep({ deadlineMs: Date.now() + 15 * 60_000, trigger: 'schedule' });
  const seconds = (performance.now() - t0) / 1000;
  await sim.close();
  // What no implementation can beat: the Genesys latency spread over the concurrency, or the writes
  // spread over the write rate, whichever is longer.
  const latencyBound = (count * 2 * latencyMs) / 1000 / concurrency;
  const writeBound = (count * (writes / Math.max(1, summary.refreshed))) / writesPerSecond;
  const bound = Math.max(latencyBound, writeBound);
  results.push({
    name: `modelled production sweep: ${count.toLocaleString('en')} orgs, ${latencyMs} ms per Genesys call, ${concurrency} at once, ${writesPerSecond} secret writes/s`,
    figures: {
      refreshed: summary.refreshed,
      seconds: Math.round(seconds),
      writesPerOrg: (writes / Math.max(1, summary.refreshed)).toFixed(2),
      latencyBoundSeconds: Math.round(latencyBound),
      writeBoundSeconds: Math.round(writeBound),
      efficiency: `${Math.round((bound / seconds) * 100)} %`,
    },
    target: 'all 10,000 refreshed within one 15-minute Lambda run (< 900 s), at least 90 % of max(N·L/C, N·w/W)',
    ok: summary.refreshed === count && seconds < 900 && bound / seconds >= 0.9,
  });
}

async function steadyState(): Promise<void> {
  const sim = await GenesysSimulator.start();
  const { orgs, creds } = await population(sim, 10_000);
  const { engine } = engineFor(sim, orgs, creds);
  await engine.sweep({ deadlineMs: Date.now() + 15 * 60_000, trigger: 'schedule' });
  const before = sim.totalRequests();
  const t0 = performance.now();
  const summary = await engine.sweep({ deadlineMs: Date.now() + 15 * 60_000, trigger: 'schedule' });
  const ms = performance.now() - t0;
  await sim.close();
  results.push({
    name: 'steady-state sweep of 10,000 orgs, none due',
    figures: { examined: summary.examined, notDue: summary.skipped.notDue, ms: Math.round(ms), genesysRequests: sim.totalRequests() - before },
    target: 'no Genesys request, < 2 s of engine time',
    ok: summary.skipped.notDue === 10_000 && sim.totalRequests() === before && ms < 2_000,
  });
}

async function getterCacheHits(): Promise<void> {
  const sim = await GenesysSimulator.start();
  const { orgs, creds } = await population(sim, 100);
  const { engine, deps } = engineFor(sim, orgs, creds);
  const refresher = createEngineOnDemandRefresher({ engine, registry: deps.registry, clock: systemClock });
  const getter = createTokenGetter({ registry: deps.registry, vault: deps.vault, refresher, clock: systemClock });
  const ctx = { deadlineMs: Date.now() + 60_000 };
  for (const o of orgs) await getter.handle({ orgId: o.orgId }, ctx);
  const samples: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const t = performance.now();
    await getter.handle({ orgId: orgs[i % orgs.length]!.orgId }, ctx);
    samples.push(performance.now() - t);
  }
  await sim.close();
  samples.sort((a, b) => a - b);
  const p = (q: number) => samples[Math.floor(q * (samples.length - 1))]! * 1000;
  results.push({
    name: 'getter cache hit (100 orgs, 100,000 calls)',
    figures: { p50us: p(0.5).toFixed(1), p99us: p(0.99).toFixed(1), hits: getter.stats.hits },
    target: 'p99 < 1 ms',
    ok: p(0.99) < 1_000 && getter.stats.hits === 100_000,
  });
}

async function onboardingOverTheWire(): Promise<void> {
  const count = 300;
  const [sim, ddb, sm] = await Promise.all([GenesysSimulator.start(), startDynalite(), SecretsManagerEmulator.start()]);
  try {
    const tables = { registry: 'bench-registry', audit: 'bench-audit' };
    await ddb.createTables(tables);
    const ports = createAwsPorts(
      { registryTable: tables.registry, auditTable: tables.audit, secretPrefix: 'bench', secretWriteRatePerSecond: BROKER_SETTINGS.secretWriteRatePerSecond.default },
      { dynamoDb: ddb.client(), secretsManager: createEmulatorClient(sm) },
    );
    const { orgs, creds } = await population(sim, count);
    for (const org of orgs) {
      await ports.registry.put(org);
      await ports.credentials.save(org, creds[org.orgId]!);
    }
    sm.resetCalls();
    const engine = createBrokerEngine({ ...ports, genesysBaseUrl: sim.resolver }, { runtime: 'lambda' });
    const t0 = performance.now();
    const summary = await engine.sweep({ deadlineMs: Date.now() + 15 * 60_000, trigger: 'schedule' });
    const seconds = (performance.now() - t0) / 1000;
    const writes = (sm.calls.CreateSecret ?? 0) + (sm.calls.PutSecretValue ?? 0);
    results.push({
      name: `onboarding over the wire: ${count} new orgs, real AWS adapters, 20 secret writes/s`,
      figures: { refreshed: summary.refreshed, seconds: seconds.toFixed(1), orgsPerSecond: (summary.refreshed / seconds).toFixed(1), secretWritesPerOrg: (writes / count).toFixed(2) },
      target: 'one secret write per new org, and at least 90% of the write rate (18 orgs/s)',
      ok: summary.refreshed === count && writes === count && summary.refreshed / seconds >= 18,
    });
  } finally {
    await Promise.all([sim.close(), ddb.close(), sm.close()]);
  }
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Median milliseconds to import `file` in a fresh Node process, over `runs` processes. */
function medianImportMs(file: string, runs: number): number {
  const probe = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' } });
    if (out.status !== 0) throw new Error(`importing ${file} failed: ${out.stderr.slice(0, 500)}`);
    times.push(Number(out.stdout.trim()));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function handlerBundles(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gtb-bench-bundles-'));
  try {
    const figures: Record<string, string | number> = {};
    const targets = { getter: { kb: 450, ms: 100 }, refresher: { kb: 900, ms: Infinity } };
    let ok = true;
    for (const name of ['getter', 'refresher'] as const) {
      const out = join(dir, name);
      const file = bundleHandler(name, out);
      const kb = Math.round(statSync(file).size / 1024);
      const ms = Math.round(medianImportMs(file, 10));
      figures[`${name}KB`] = kb;
      figures[`${name}ImportMs`] = ms;
      ok &&= kb <= targets[name].kb && ms <= targets[name].ms;
    }
    results.push({
      name: 'handler bundles (esbuild as the construct bundles them) and cold import, median of 10 fresh processes',
      figures,
      target: 'getter <= 450 KB and <= 100 ms to import; refresher <= 900 KB',
      ok,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What `createTokenClient` adds to a consumer's bundle: a 3-line consumer, the AWS SDK left external as in a Lambda layer or runtime. */
async function consumerBundle(): Promise<void> {
  const dir = mkdtempSync(join(ROOT, '.bench-consumer-'));
  try {
    const entry = join(dir, 'consumer.ts');
    writeFileSync(
      entry,
      "import { createTokenClient } from '../lambdas/client/index.js';\n" +
        "const tokens = createTokenClient({ source: { secretPrefix: 'genesys-token-broker' } });\n" +
        "export const handler = async () => (await tokens.getToken('0b5d2c1e-3f4a-4b6c-8d7e-9f0a1b2c3d4e')).apiBaseUrl;\n",
    );
    const outfile = join(dir, 'index.mjs');
    await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', minify: true, external: ['@aws-sdk/*', '@smithy/*'], logLevel: 'silent' });
    const kb = Math.round(statSync(outfile).size / 1024);
    results.push({ name: 'consumer bundle: a 3-line createTokenClient consumer, AWS SDK external', figures: { kb }, target: '<= 60 KB (Powertools getSecret 8.6 KB, middy secrets-manager 5.9 KB)', ok: kb <= 60 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The consumer cache over two days, modelled with the client's own rule (cacheUntil): the broker
 * issues 24-hour tokens, writes each replacement at the first 5-minute sweep after the 18-hour mark,
 * and a container asks for the token every 10 seconds. Counts the reads of the token secret, the
 * seconds it served a token the broker had already replaced, and the seconds it served an expired one.
 */
async function consumerCache(): Promise<void> {
  const H = 3_600_000;
  const lifetimeMs = 24 * H;
  const sweepMs = 5 * 60_000;
  const startMs = Date.parse('2026-03-01T00:00:00Z');
  const endMs = startMs + 48 * H;
  // The broker's writes: issue times, each at the first sweep after the previous token's mark.
  const issued: number[] = [startMs];
  while (issued.at(-1)! < endMs) {
    const mark = issued.at(-1)! + 0.75 * lifetimeMs;
    issued.push(Math.ceil(mark / sweepMs) * sweepMs + 1_000);
  }
  const currentAt = (t: number) => issued.filter((i) => i <= t).at(-1)!;
  const run = (maxAgeMs: number | undefined) => {
    let reads = 0;
    let cached: { issuedAtMs: number; untilMs: number } | undefined;
    let superseded = 0;
    let expired = 0;
    for (let t = startMs; t < endMs; t += 10_000) {
      if (!cached || t >= cached.untilMs) {
        reads++;
        const issuedAtMs = currentAt(t);
        const { untilMs } = cacheUntil({
          fetchedAtMs: t,
          expiresAtMs: issuedAtMs + lifetimeMs,
          lifetimeMs,
          refreshMarginMs: 5 * 60_000,
          ...(maxAgeMs !== undefined ? { maxAgeMs } : { replacedAtMs: issuedAtMs + 0.75 * lifetimeMs + REPLACEMENT_DELAY_MS + Math.floor(Math.random() * 60_000) }),
        });
        cached = { issuedAtMs, untilMs };
      }
      if (cached.issuedAtMs !== currentAt(t)) superseded += 10;
      if (cached.issuedAtMs + lifetimeMs <= t) expired += 10;
    }
    return { readsPerDay: reads / 2, supersededSecondsPerDay: superseded / 2, expiredSeconds: expired };
  };
  const byMark = run(undefined);
  const flat = run(5 * 60_000);
  results.push({
    name: 'consumer cache over 48 h (24 h tokens, replacement at the first sweep after the 18 h mark, a call every 10 s)',
    figures: { readsPerDay: byMark.readsPerDay, supersededSecondsPerDay: byMark.supersededSecondsPerDay, expiredSeconds: byMark.expiredSeconds, flat5MinReadsPerDay: flat.readsPerDay },
    target: 'no second serving an expired token; at most 4 reads per container-day (a flat 5-minute cache makes 288)',
    ok: byMark.expiredSeconds === 0 && byMark.readsPerDay <= 4,
  });
}

async function sweepMemory(): Promise<void> {
  const count = 5_000;
  // The simulator in its own process: it keeps every token it issues.
  const child = spawn(process.execPath, [...process.execArgv, join(ROOT, 'test/bench/simulator-process.ts'), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const { baseUrl } = JSON.parse(await new Promise<string>((done) => lines.once('line', done))) as { baseUrl: string };
  try {
    const orgs: Omit<OrgRecord, 'version'>[] = [];
    const creds: Record<string, { clientId: string; clientSecret: string }> = {};
    for (let i = 0; i < count; i++) {
      const id = orgId(i);
      orgs.push({ orgId: id, region: REGIONS[i % REGIONS.length]!.domain, grantType: 'client_credentials', enabled: true, credentialsVersion: 1, state: { consecutiveFailures: 0 } });
      creds[id] = { clientId: `bench-${i}`, clientSecret: `bench-secret-${i}` };
    }
    const lease = new InMemoryLease();
    // On AWS the tokens and the audit trail leave the process (Secrets Manager, DynamoDB): here they
    // are written nowhere, so what grows is the refresher's own memory, not a store's contents.
    const vault = new InMemoryTokenVault();
    vault.write = async () => undefined;
    const audit = new InMemoryAuditLog();
    audit.append = async () => undefined;
    const engine = createRefreshEngine(
      {
        registry: new InMemoryOrgRegistry(orgs),
        credentials: new InMemoryCredentialStore(creds),
        vault,
        audit,
        lease,
        journal: new InMemoryRefreshTokenJournal(lease),
        oauth: createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: (host) => `${baseUrl}/${host}` }),
        clock: systemClock,
      },
      { concurrency: 16 },
    );
    global.gc?.();
    const before = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = before;
    let peakHeap = heapBefore;
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      peak = Math.max(peak, usage.rss);
      peakHeap = Math.max(peakHeap, usage.heapUsed);
    }, 20);
    const summary = await engine.sweep({ deadlineMs: Date.now() + 15 * 60_000, trigger: 'schedule' });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = mb(peak - before);
    const retainedMB = global.gc ? (global.gc(), mb(process.memoryUsage().heapUsed - heapBefore)) : undefined;
    results.push({
      name: `refresher memory over a sweep of ${count.toLocaleString('en')} due orgs (simulator out of process, in-memory stores)`,
      figures: { refreshed: summary.refreshed, resultLines: summary.results.length, peakRssGrowthMB: growth, peakHeapGrowthMB: mb(peakHeap - heapBefore), heapRetainedAfterGcMB: retainedMB ?? 'run with --expose-gc', summaryKB: Math.round(JSON.stringify(summary).length / 1024) },
      target:
        'all refreshed, <= 1,000 result lines, heap retained after the sweep <= 40 MB (tokens and audit records written nowhere, as they leave the process on AWS). ' +
        'Peak RSS and heap are reported, not judged: V8 collects lazily on an unbounded heap, so they measure garbage (run with --expose-gc for the retained figure)',
      ok: summary.refreshed === count && summary.results.length <= MAX_RESULT_LINES && (retainedMB === undefined || retainedMB <= 40),
    });
  } finally {
    child.stdin!.end();
    await new Promise((done) => child.once('exit', done));
  }
}

const only = process.argv[2];
/** The package as installed from npm: its size, and how fast its CLI answers under plain node. */
async function installedPackage(): Promise<void> {
  const pkg = await packAndInstall();
  try {
    const bin = join(pkg.dir, 'node_modules', '.bin', 'genesys-token-broker');
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const out = spawnSync(process.execPath, [bin, '--help'], { cwd: pkg.dir, encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`--help failed: ${out.stderr.slice(0, 500)}`);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const helpMs = Math.round(times[5]!);
    const tarballKB = Math.round(statSync(pkg.tarball).size / 1024);
    results.push({
      name: 'installed package: npm pack, npm install into an empty directory, CLI --help under plain node (median of 10)',
      figures: { tarballKB, files: pkg.files.length, helpMs },
      target: 'CLI --help <= 500 ms; tarball <= 2 MB',
      ok: helpMs <= 500 && tarballKB <= 2048,
    });
  } finally {
    pkg.close();
  }
}

const cases: Record<string, () => Promise<void>> = {
  engineOverhead,
  modelledSweep,
  steadyState,
  getterCacheHits,
  onboardingOverTheWire,
  handlerBundles,
  consumerBundle,
  consumerCache,
  sweepMemory,
  installedPackage,
};
for (const [name, run] of Object.entries(cases)) {
  if (only && only !== name) continue;
  await run();
  const r = results.at(-1)!;
  console.log(`${r.ok ? 'PASS' : 'MISS'}  ${r.name}\n      ${JSON.stringify(r.figures)}\n      target: ${r.target}`);
}
const missed = results.filter((r) => !r.ok).length;
console.log(`${results.length - missed} passed, ${missed} failed`);
process.exitCode = missed > 0 ? 1 : 0;
