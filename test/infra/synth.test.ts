/**
 * Runs the real `cdk synth` once (the app in cdk.json, esbuild bundling, cdk-nag and the built-in
 * CloudFormation validation) offline: no AWS credentials or config, no version check, notices or
 * telemetry. Then checks each Lambda asset holds its bundled handler, and that Node can import the
 * bundle with the handlers' cold-start environment without touching the network.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/core/env-names.js';
// The environment minus anything that could reach AWS or the internet.
import { offlineEnv } from '../support/installed-package.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STACK = 'GenesysTokenBroker';

/** Preloaded into the import check: any connection attempt or DNS lookup is recorded and refused. */
const NO_NETWORK_PRELOAD = `
import dns from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import { syncBuiltinESMExports } from 'node:module';
const refuse = (what) => (...args) => {
  process.stdout.write('NETWORK-ATTEMPT ' + what + ' ' + JSON.stringify(String(args[0] && (args[0].host ?? args[0]))) + '\\n');
  throw new Error('network access during import: ' + what);
};
net.connect = net.createConnection = refuse('net.connect');
net.Socket.prototype.connect = refuse('socket.connect');
tls.connect = refuse('tls.connect');
dns.lookup = refuse('dns.lookup');
dns.promises.lookup = refuse('dns.promises.lookup');
globalThis.fetch = refuse('fetch');
syncBuiltinESMExports();
`;

interface Asset {
  dir: string;
  entry: string;
}

let scratch: string;
let outdir: string;
let synthSeconds = 0;
let template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
const assets = new Map<'refresher' | 'getter', Asset>();

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'gtb-synth-'));
  outdir = join(scratch, 'cdk.out');
  const started = process.hrtime.bigint();
  await run(resolve(ROOT, 'node_modules/.bin/cdk'), ['synth', '--quiet', '--no-notices', '--no-version-reporting', '--no-lookups', '-o', outdir], {
    cwd: ROOT,
    env: offlineEnv(scratch),
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  synthSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.info(`cdk synth took ${synthSeconds.toFixed(1)} s`);

  template = JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8')) as typeof template;
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const description = String(resource.Properties.Description);
    const kind = description.includes('schedule') ? 'refresher' : 'getter';
    const key = (resource.Properties.Code as { S3Key: string }).S3Key;
    const dir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
    const entry = ['index.mjs', 'index.js'].map((name) => join(dir, name)).find((path) => existsSync(path)) ?? join(dir, 'index.mjs');
    assets.set(kind, { dir, entry });
  }
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Imports a bundle in a fresh Node process with network access refused; returns what it printed. */
async function importBundle(entry: string): Promise<string> {
  const preload = join(scratch, 'no-network.mjs');
  writeFileSync(preload, NO_NETWORK_PRELOAD);
  const probe = `import(${JSON.stringify(pathToFileURL(entry).href)}).then((m) => console.log('handler:' + typeof m.handler), (e) => { console.log('import failed: ' + e.message); process.exitCode = 1; });`;
  const env = {
    ...offlineEnv(scratch),
    // What the construct sets, pointing at nothing; the handlers only read it at cold start.
    [ENV.secretPrefix]: 'genesys-token-broker',
    [ENV.registryTable]: 'registry-table-that-does-not-exist',
    [ENV.auditTable]: 'audit-table-that-does-not-exist',
    [ENV.kmsKeyId]: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000',
    [ENV.refreshAtFraction]: '0.75',
    [ENV.sweepConcurrency]: '16',
    [ENV.secretWriteRatePerSecond]: '20',
    [ENV.auditRetentionDays]: '90',
    [ENV.getterCacheMaxAgeSeconds]: '300',
    [ENV.refresherFunction]: 'refresher-that-does-not-exist',
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: 'import-check',
    NODE_OPTIONS: '--enable-source-maps',
  };
  const { stdout } = await run(process.execPath, ['--import', pathToFileURL(preload).href, '-e', probe], { cwd: scratch, env, timeout: 30_000 });
  return stdout;
}

describe('cdk synth', () => {
  it('synthesizes the stack with both functions and no validation failure', () => {
    expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function')).toHaveLength(2);
    expect([...assets.keys()].sort()).toEqual(['getter', 'refresher']);
    // cdk-nag and the built-in CloudFormation validation report here; synth fails on errors, and
    // nothing is left at warning level either.
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: { violations: unknown[] }[] };
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
    expect(synthSeconds).toBeGreaterThan(0);
  });

  it.each(['refresher', 'getter'] as const)('bundles the %s as a minified ES module with its source map', (kind) => {
    const asset = assets.get(kind);
    expect(asset).toBeDefined();
    const { entry } = asset as Asset;
    expect(entry.endsWith('index.mjs')).toBe(true);
    const code = readFileSync(entry, 'utf8');
    expect(code.startsWith("import { createRequire as __gtbCreateRequire } from 'node:module'")).toBe(true);
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    const map = JSON.parse(readFileSync(`${entry}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources.some((source) => source.endsWith(`lambdas/handlers/${kind}.ts`))).toBe(true);
    // Each function gets its own handler's bundle (CDK caches bundles by their options).
    const other = kind === 'refresher' ? 'getter' : 'refresher';
    expect(map.sources.some((source) => source.endsWith(`lambdas/handlers/${other}.ts`))).toBe(false);
    // The AWS SDK is bundled (pinned by package-lock.json), not taken from the runtime.
    expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
  });

  it.each(['refresher', 'getter'] as const)('lets Node import the %s bundle and find its handler, without network access', async (kind) => {
    const output = await importBundle((assets.get(kind) as Asset).entry);
    expect(output).not.toContain('NETWORK-ATTEMPT');
    expect(output.trim()).toBe('handler:function');
  });
});
