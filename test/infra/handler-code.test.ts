/**
 * Where the construct takes its Lambda code from (handler-code.ts): the package's pre-built bundle
 * when the sources are absent (an installed package), a synth-time bundle of the sources in a clone,
 * and a plain error when neither is there.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  it('writes a minified ES module with the require banner and a source map without sources', () => {
    const root = fakePackage('bundle', []);
    mkdirSync(join(root, 'lambdas', 'handlers'), { recursive: true });
    writeFileSync(join(root, 'lambdas', 'handlers', 'refresher.ts'), "import { hostname } from 'node:os';\nexport const handler = async (): Promise<string> => hostname();\n");
    const out = join(scratch, 'bundle-out');
    const file = bundleHandler('refresher', out, root);
    expect(file).toBe(join(out, 'index.mjs'));
    const code = readFileSync(file, 'utf8');
    expect(code.startsWith(BUNDLE_BANNER)).toBe(true);
    expect(code).toMatch(/export\s*\{/);
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    const map = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[]; sourcesContent?: unknown };
    expect(map.sources.some((s) => s.endsWith('lambdas/handlers/refresher.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
    // Minified: the source's line structure is gone.
    expect(code.split('\n').length).toBeLessThanOrEqual(4);
  });
});
