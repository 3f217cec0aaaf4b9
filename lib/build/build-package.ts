/**
 * `npm run build` (and `prepack`): the npm package's dist/ from a clean slate. The TypeScript of the
 * construct, the consumer client, the CLI and local mode compiled to ES modules with declarations
 * (tsconfig.build.json), and each Lambda handler pre-bundled into dist/assets/<handler>/ with the
 * same esbuild recipe the construct uses in a clone (handler-code.ts). Exit code 1 on any failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FILE, bundleHandler, HANDLER_NAMES, packageRoot, prebuiltAssetDir } from '../token-broker/private/handler-code.js';

const root = packageRoot();
rmSync(join(root, 'dist'), { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('build: tsc failed');
  process.exit(1);
}

for (const name of HANDLER_NAMES) {
  const outdir = prebuiltAssetDir(root, name);
  bundleHandler(name, outdir, root);
  if (!existsSync(join(outdir, BUNDLE_FILE)) || !existsSync(join(outdir, `${BUNDLE_FILE}.map`))) {
    console.error(`build: the ${name} bundle is missing from ${outdir}`);
    process.exit(1);
  }
}
console.log(`build: dist/ compiled; Lambda bundles in dist/assets/{${HANDLER_NAMES.join(',')}}`);
