/**
 * Where the broker's Lambda code comes from. One esbuild recipe ({@link bundleHandler}) makes every
 * bundle: the ones `npm run build` puts in the package (dist/assets/<handler>/index.mjs, built when
 * the package is packed), the ones `cdk synth` makes from the sources in a clone, and the ones the
 * benchmarks measure.
 *
 * Installed from npm, the construct uses the pre-built bundles: the code that was tested ships, with
 * the dependency versions of this package's lock file, and a customer's synth needs neither esbuild,
 * Docker, this repository's layout nor its devDependencies. In a clone (the TypeScript sources are
 * present) the construct bundles from source with the local esbuild, so a change is deployed without
 * a build step; CDK skips that bundling for stacks outside `aws:cdk:bundling-stacks` as it does for
 * NodejsFunction.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/** The broker's Lambda handlers: each exports `handler` from lambdas/handlers/<name>.ts. */
export const HANDLER_NAMES = ['refresher', 'getter'] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

/** The bundle's file name in its asset directory; the function's handler is `index.handler`. */
export const BUNDLE_FILE = 'index.mjs';

/**
 * esbuild turns a CommonJS dependency's require() of a Node built-in into a shim that throws in an ES
 * module unless `require` exists; defining it keeps such dependencies working.
 */
export const BUNDLE_BANNER = "import { createRequire as __gtbCreateRequire } from 'node:module'; const require = __gtbCreateRequire(import.meta.url);";

/** The package root: the nearest directory above this file whose package.json is this package's. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'genesys-token-broker') return dir;
    if (dirname(dir) === dir) throw new Error(`genesys-token-broker: no package.json of genesys-token-broker above ${from}`);
  }
}

/** Where a handler's TypeScript source is (present in a clone, not in the installed package). */
export function handlerSource(root: string, name: HandlerName): string {
  return join(root, 'lambdas', 'handlers', `${name}.ts`);
}

/** Where `npm run build` puts a handler's pre-built bundle. */
export function prebuiltAssetDir(root: string, name: HandlerName): string {
  return join(root, 'dist', 'assets', name);
}

/**
 * Bundles a handler into `outdir` (index.mjs and its source map), synchronously as CDK's local
 * bundling requires. esbuild is a devDependency: only a clone and the package build call this.
 */
export function bundleHandler(name: HandlerName, outdir: string, root: string = packageRoot()): string {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const outfile = join(outdir, BUNDLE_FILE);
  esbuild.buildSync({
    entryPoints: [handlerSource(root, name)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // The Lambda runtime the construct deploys (functions.ts); the code also runs on Node 20, which the
    // tests and the benchmark use to import it.
    target: 'node24',
    minify: true,
    sourcemap: true,
    // Stack traces need the mappings only; leaving the sources out shrinks the map Node parses at
    // cold start under --enable-source-maps from about 3.3 MB to 1.2 MB.
    sourcesContent: false,
    // Prefer packages' ESM builds (@middy/core is ESM only).
    mainFields: ['module', 'main'],
    // The AWS SDK is bundled too: the versions in package-lock.json are the ones the tests ran
    // against, not whatever the Lambda runtime happens to ship.
    external: [],
    banner: { js: BUNDLE_BANNER },
    logLevel: 'warning',
  });
  return outfile;
}

/**
 * The Lambda code of a handler: the package's pre-built bundle when there is one, else a bundle
 * made from the sources at synth time. Neither: the installation is damaged, said plainly.
 */
export function handlerCode(name: HandlerName, root: string = packageRoot()): lambda.Code {
  const prebuilt = prebuiltAssetDir(root, name);
  const fromSource = existsSync(handlerSource(root, name));
  if (!fromSource) {
    if (!existsSync(join(prebuilt, BUNDLE_FILE))) {
      throw new Error(`genesys-token-broker: the ${name} Lambda bundle is missing from ${prebuilt}; reinstall the package`);
    }
    return lambda.Code.fromAsset(prebuilt);
  }
  return lambda.Code.fromAsset(root, {
    // The bundle's content is the asset's identity, as NodejsFunction does; fingerprinting the
    // repository (node_modules included) would be slow and no more precise.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never run: local bundling always succeeds or throws; CDK requires an image. The command names
      // the handler because CDK caches bundles by source path and these options (not by `local`):
      // without it, the second handler would get the first one's bundle.
      image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs24.x'),
      command: ['genesys-token-broker-bundles-locally', name],
      local: {
        tryBundle(outputDir: string): boolean {
          bundleHandler(name, outputDir, root);
          return true;
        },
      },
    },
  });
}
