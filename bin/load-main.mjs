// Shared by the binaries: finds an entry module's `main`. Installed from npm it imports the compiled
// JavaScript in dist/ with plain node. In a clone (the TypeScript sources are present) it runs the
// sources through tsx, a devDependency, so a clone needs no build step.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

/** `entry` is the module's path without extension from the package root, for example `lib/cli/main`. */
export async function loadMain(entry) {
  const source = new URL(`../${entry}.ts`, import.meta.url);
  if (existsSync(source)) {
    const { register } = await import('tsx/esm/api');
    register();
    return (await import(source.href)).main;
  }
  return (await import(new URL(`../dist/${entry}.js`, import.meta.url).href)).main;
}
