#!/usr/bin/env node
// Operator CLI entry point. Installed from npm it runs the compiled JavaScript in dist/ with plain
// node. In a clone (the TypeScript sources are present) it runs the sources through tsx, a
// devDependency, so a clone needs no build step.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const source = new URL('../lib/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/lib/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
