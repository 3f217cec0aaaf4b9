/**
 * The npm package as a customer installs it (test/support/installed-package.ts: `npm pack`, then
 * `npm install` of the tarball into an empty directory with aws-cdk-lib and constructs), used with
 * plain `node`: a JavaScript ESM CDK app synthesizes with the pre-built Lambda bundles, the consumer
 * client and the construct resolve to compiled JavaScript with types, and both binaries run without
 * a TypeScript loader.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../cli/run-cli.js';
import { type InstalledPackage, offlineEnv, packAndInstall } from '../support/installed-package.js';

const run = promisify(execFile);
const ORG_A = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const TS_LOADERS = ['tsx', 'ts-node', '@swc-node/register', 'esbuild-register', 'jiti', '@babel/register'];

let pkg: InstalledPackage;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  pkg = await packAndInstall();
  env = offlineEnv(pkg.dir);
}, 420_000);

afterAll(() => pkg?.close());

interface Manifest {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports: Record<string, { types: string; default: string } | string>;
}

describe('the tarball', () => {
  it('holds the compiled package, its binaries and the pre-built Lambda bundles, nothing else', () => {
    const outside = pkg.files.filter((f) => !f.startsWith('dist/') && !f.startsWith('bin/') && f !== 'package.json' && f !== 'README.md');
    expect(outside).toEqual([]);
    expect(pkg.files.filter((f) => /(^|\/)(test|\.ci)\//.test(f) || /\.test\.|\.spec\./.test(f))).toEqual([]);
    // TypeScript only as declarations: the package runs under plain node.
    expect(pkg.files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // The Genesys simulator ships only as local mode's demo.
    const simulatorFiles = pkg.files.filter((f) => /simulator/i.test(f));
    expect(simulatorFiles.length).toBeGreaterThan(0);
    expect(simulatorFiles.filter((f) => !f.startsWith('dist/lib/demo/'))).toEqual([]);
    for (const name of ['refresher', 'getter']) {
      expect(pkg.files).toContain(`dist/assets/${name}/index.mjs`);
      expect(pkg.files).toContain(`dist/assets/${name}/index.mjs.map`);
    }
    // The handlers' sources are in the bundles, not compiled beside them.
    expect(pkg.files.filter((f) => f.startsWith('dist/lambdas/handlers/'))).toEqual([]);
    expect(pkg.files).toEqual(expect.arrayContaining(['bin/genesys-token-broker.mjs', 'bin/genesys-token-broker-local.mjs', 'bin/load-main.mjs']));
  });

  it('takes aws-cdk-lib and constructs as peers and needs no TypeScript loader at runtime', () => {
    const manifest = JSON.parse(readFileSync(join(pkg.packageDir, 'package.json'), 'utf8')) as Manifest;
    expect(Object.keys(manifest.peerDependencies ?? {})).toEqual(expect.arrayContaining(['aws-cdk-lib', 'constructs']));
    expect(manifest.peerDependenciesMeta?.['aws-cdk-lib']?.optional).not.toBe(true);
    expect(Object.keys(manifest.dependencies ?? {})).not.toEqual(expect.arrayContaining(['aws-cdk-lib']));
    expect(Object.keys(manifest.dependencies ?? {}).filter((d) => TS_LOADERS.includes(d))).toEqual([]);
    // Nothing pulled one in transitively either.
    expect(TS_LOADERS.filter((d) => existsSync(join(pkg.dir, 'node_modules', d)))).toEqual([]);
  });
});

describe('a plain JavaScript CDK app', () => {
  it('synthesizes offline with the broker, a scoped getter and its grant, bundling both Lambdas from the package', async () => {
    writeFileSync(
      join(pkg.dir, 'app.mjs'),
      `import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { TokenBroker } from 'genesys-token-broker';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Consumer');
const broker = new TokenBroker(stack, 'Broker');
const consumer = new iam.Role(stack, 'ConsumerRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
broker.addScopedGetter('TeamA', { orgIds: ['${ORG_A}'] }).grantInvoke(consumer);
app.synth();
`,
    );
    await run(process.execPath, ['app.mjs'], { cwd: pkg.dir, env, timeout: 120_000 });

    const out = join(pkg.dir, 'cdk.out');
    const template = JSON.parse(readFileSync(join(out, 'Consumer.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(3);
    const bundleOf = (name: string) => readFileSync(join(pkg.packageDir, 'dist', 'assets', name, 'index.mjs'), 'utf8');
    const kinds = functions.map((fn) => {
      expect(fn.Properties).toMatchObject({ Handler: 'index.handler', Runtime: 'nodejs24.x' });
      const key = (fn.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
      const dir = join(out, `asset.${key}`);
      expect(readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      // The asset is the package's pre-built bundle, byte for byte.
      return code === bundleOf('refresher') ? 'refresher' : code === bundleOf('getter') ? 'getter' : 'unknown';
    });
    expect(kinds.sort()).toEqual(['getter', 'getter', 'refresher']);

    const policies = Object.values(template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy');
    const consumerPolicy = policies.find((p) => JSON.stringify(p.Properties.Roles).includes('ConsumerRole'));
    expect(JSON.stringify(consumerPolicy?.Properties.PolicyDocument)).toContain('lambda:InvokeFunction');
  }, 180_000);
});

describe('the consumer client and the construct', () => {
  it('resolve to compiled JavaScript under plain node', async () => {
    const probe = `
const client = await import('genesys-token-broker/client');
const construct = await import('genesys-token-broker');
console.log(JSON.stringify({
  client: import.meta.resolve('genesys-token-broker/client'),
  construct: import.meta.resolve('genesys-token-broker'),
  exports: [typeof client.createTokenClient, typeof client.genesysToken, typeof client.withTokenRetry, typeof construct.TokenBroker],
}));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: pkg.dir, env, timeout: 60_000 });
    const resolved = JSON.parse(stdout) as { client: string; construct: string; exports: string[] };
    expect(resolved.client).toMatch(/\/node_modules\/genesys-token-broker\/dist\/lambdas\/client\/index\.js$/);
    expect(resolved.construct).toMatch(/\/node_modules\/genesys-token-broker\/dist\/lib\/token-broker\/index\.js$/);
    expect(resolved.exports).toEqual(['function', 'function', 'function', 'function']);
  });

  it('come with types that a strict TypeScript consumer checks against, declarations included', async () => {
    writeFileSync(
      join(pkg.dir, 'consumer.ts'),
      `import { createTokenClient, genesysToken, type GenesysToken } from 'genesys-token-broker/client';
import { TokenBroker, type TokenBrokerProps } from 'genesys-token-broker';

const client = createTokenClient({ source: { secretPrefix: 'genesys-token-broker' } });
export const middleware = genesysToken({ orgId: '${ORG_A}' }, { client });
export async function accessToken(orgId: string): Promise<string> {
  const token: GenesysToken = await client.getToken(orgId);
  // @ts-expect-error an access token is a string: the types resolved rather than falling back to any
  const wrong: number = token.accessToken;
  void wrong;
  return token.accessToken;
}
export const props: TokenBrokerProps = { secretPrefix: 'genesys-token-broker' };
export { TokenBroker };
`,
    );
    writeFileSync(
      join(pkg.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          // Our declarations are checked too, not skipped.
          skipLibCheck: false,
          // A Lambda project's own @types (node, aws-lambda); borrowed from this repository.
          typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: pkg.dir, env, timeout: 120_000 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }),
    );
    expect(tsc.stdout).toBe('');
  }, 150_000);
});

describe('the binaries under plain node', () => {
  it('prints the CLI help', async () => {
    const { stdout } = await run(process.execPath, [join(pkg.dir, 'node_modules', '.bin', 'genesys-token-broker'), '--help'], { cwd: pkg.dir, env, timeout: 30_000 });
    expect(stdout).toContain('Usage: genesys-token-broker <command>');
    expect(stdout).toContain('orgs');
  });

  it('runs local mode once on its embedded demo store and exits 0', async () => {
    const { stdout } = await run(process.execPath, [join(pkg.dir, 'node_modules', '.bin', 'genesys-token-broker-local'), '--once', '--data-dir', join(pkg.dir, 'broker-data')], {
      cwd: pkg.dir,
      env,
      timeout: 60_000,
    });
    const events = stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events).toContain('demo_mode');
    expect(events).toContain('sweep');
  }, 90_000);
});
