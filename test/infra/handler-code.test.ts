/**
 * Where the construct takes its Lambda code from (handler-code.ts): the package's pre-built bundle
 * when the sources are absent (an installed package), a synth-time bundle of the sources in a clone,
 * and a plain error when neither is there.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_BANNER, bundleHandler, handlerCode, packageRoot } from '../../lib/token-broker/private/handler-code.js';
import { REPO_ROOT } from '../cli/run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtb-handler-code-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A directory laid out like the installed package: its manifest and, optionally, pre-built bundles. */
function fakePackage(name: string, bundles: string[]): string {
  const root = join(scratch, name);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'genesys-token-broker' }));
  for (const handler of bundles) {
    mkdirSync(join(root, 'dist', 'assets', handler), { recursive: true });
    writeFileSync(join(root, 'dist', 'assets', handler, 'index.mjs'), `export const handler = () => '${handler}';\n`);
  }
  return root;
}

/** Binds `code` to a function of a stack whose bundling is skipped, and returns its S3 location. */
function assetPath(code: lambda.Code): string {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'HandlerCode');
  new lambda.Function(stack, 'Fn', { code, handler: 'index.handler', runtime: lambda.Runtime.NODEJS_24_X });
  const config = code.bind(stack);
  return config.s3Location ? `s3:${config.s3Location.objectKey}` : '';
}

describe('packageRoot', () => {
  it('finds the nearest directory whose package.json is this package, from a directory below it', () => {
    const root = fakePackage('nested', []);
    mkdirSync(join(root, 'dist', 'lib', 'token-broker', 'private'), { recursive: true });
    writeFileSync(join(root, 'dist', 'package.json'), JSON.stringify({ name: 'something-else' }));
    expect(packageRoot(join(root, 'dist', 'lib', 'token-broker', 'private'))).toBe(root);
    expect(packageRoot()).toBe(REPO_ROOT.replace(/\/$/, ''));
  });

  it('says so when there is none', () => {
    const lonely = join(scratch, 'lonely');
    mkdirSync(lonely);
    expect(() => packageRoot(lonely)).toThrow(/no package\.json of genesys-token-broker above/);
  });
});

describe('handlerCode', () => {
  it('uses the pre-built bundle of the installed package, where the sources are absent', () => {
    const root = fakePackage('installed', ['refresher', 'getter']);
    const code = handlerCode('getter', root);
    expect(code).toBeInstanceOf(lambda.AssetCode);
    expect((code as lambda.AssetCode).path).toBe(join(root, 'dist', 'assets', 'getter'));
    expect(assetPath(code)).toMatch(/^s3:/);
  });

  it('refuses plainly when an installed package lacks a bundle', () => {
    const root = fakePackage('damaged', ['refresher']);
    expect(() => handlerCode('getter', root)).toThrow(`genesys-token-broker: the getter Lambda bundle is missing from ${join(root, 'dist', 'assets', 'getter')}; reinstall the package`);
    expect(() => handlerCode('refresher', root)).not.toThrow();
  });

  it('bundles from the sources in a clone, even when a build left pre-built bundles there', () => {
    const root = fakePackage('clone', ['getter']);
    mkdirSync(join(root, 'lambdas', 'handlers'), { recursive: true });
    writeFileSync(join(root, 'lambdas', 'handlers', 'getter.ts'), "export const handler = (): string => 'from source';\n");
    const code = handlerCode('getter', root) as lambda.AssetCode;
    expect(code.path).toBe(root);
    // Bound in a stack that bundles: the asset is the esbuild output of the source, not the stale bundle.
    const stack = new Stack(new App({ outdir: join(scratch, 'clone-out') }), 'Clone');
    new lambda.Function(stack, 'Fn', { code, handler: 'index.handler', runtime: lambda.Runtime.NODEJS_24_X });
    const assembly = (stack.node.root as App).synth();
    const assetDir = assembly.directory;
    const bundles = readdirSync(assetDir).filter((d) => d.startsWith('asset.'));
    expect(bundles).toHaveLength(1);
    const bundled = readFileSync(join(assetDir, bundles[0]!, 'index.mjs'), 'utf8');
    expect(bundled).toContain('from source');
    expect(bundled.startsWith(BUNDLE_BANNER)).toBe(true);
  });
});

describe('bundleHandler', () => {
  /** A handler with a local module, a dual ESM/CommonJS package and a CommonJS package that requires a Node built-in. */
  function handlerProject(): string {
    const root = fakePackage('bundle', []);
    const handlers = join(root, 'lambdas', 'handlers');
    mkdirSync(handlers, { recursive: true });
    writeFileSync(join(handlers, 'helper.ts'), "export const greeting = (): string => 'local-module';\n");
    writeFileSync(
      join(handlers, 'refresher.ts'),
      "import dual from 'dual';\nimport host from 'cjs-host';\nimport { greeting } from './helper.js';\nexport const handler = async (): Promise<string> => [greeting(), dual, typeof host()].join(' ');\n",
    );
    const dual = join(root, 'node_modules', 'dual');
    mkdirSync(dual, { recursive: true });
    writeFileSync(join(dual, 'package.json'), JSON.stringify({ name: 'dual', main: 'main.cjs', module: 'module.mjs' }));
    writeFileSync(join(dual, 'main.cjs'), "module.exports = 'dual-commonjs-build';\n");
    writeFileSync(join(dual, 'module.mjs'), "export default 'dual-esm-build';\n");
    const cjs = join(root, 'node_modules', 'cjs-host');
    mkdirSync(cjs, { recursive: true });
    writeFileSync(join(cjs, 'package.json'), JSON.stringify({ name: 'cjs-host', main: 'lib.cjs' }));
    writeFileSync(join(cjs, 'lib.cjs'), "module.exports = () => require('node:os').hostname();\n");
    return root;
  }

  it('writes one minified ES module, dependencies inside, with a source map without sources', () => {
    const root = handlerProject();
    const out = join(scratch, 'bundle-out');
    const file = bundleHandler('refresher', out, root);
    expect(file).toBe(join(out, 'index.mjs'));
    expect(readdirSync(out).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    const code = readFileSync(file, 'utf8');
    expect(code.startsWith("import { createRequire as __gtbCreateRequire } from 'node:module'")).toBe(true);
    // Bundled: no import of the local module or of the packages is left.
    expect(code).not.toMatch(/from\s*["'](\.\/helper|dual|cjs-host)/);
    expect(code).toContain('local-module');
    // Packages' ESM builds are preferred.
    expect(code).toContain('dual-esm-build');
    expect(code).not.toContain('dual-commonjs-build');
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    const map = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[]; sourcesContent?: unknown };
    expect(map.sources.some((s) => s.endsWith('lambdas/handlers/refresher.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
    expect(code.split('\n').length).toBeLessThanOrEqual(4);
  });

  it('runs under node: the banner gives CommonJS dependencies a working require of Node built-ins', async () => {
    const root = handlerProject();
    const file = bundleHandler('refresher', join(scratch, 'bundle-run'), root);
    const { execFileSync } = await import('node:child_process');
    const probe = `const m = await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(await m.handler());`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' }).trim()).toBe('local-module dual-esm-build string');
  });
});

describe('handlerCode in a clone', () => {
  it('gives each handler its own bundle in one stack (CDK caches bundles by their options)', () => {
    const root = fakePackage('two-handlers', []);
    mkdirSync(join(root, 'lambdas', 'handlers'), { recursive: true });
    for (const name of ['refresher', 'getter']) writeFileSync(join(root, 'lambdas', 'handlers', `${name}.ts`), `export const handler = (): string => 'i am the ${name}';\n`);
    const app = new App({ outdir: join(scratch, 'two-out') });
    const stack = new Stack(app, 'Two');
    for (const name of ['refresher', 'getter'] as const) new lambda.Function(stack, name, { code: handlerCode(name, root), handler: 'index.handler', runtime: lambda.Runtime.NODEJS_24_X });
    const dir = app.synth().directory;
    const bundles = readdirSync(dir).filter((d) => d.startsWith('asset.')).map((d) => readFileSync(join(dir, d, 'index.mjs'), 'utf8'));
    expect(bundles).toHaveLength(2);
    expect(bundles.filter((b) => b.includes('i am the refresher'))).toHaveLength(1);
    expect(bundles.filter((b) => b.includes('i am the getter'))).toHaveLength(1);
  });
});
