#!/usr/bin/env node
// Local mode (`npm start` in a clone): the whole broker on one machine with its embedded store, the
// demo when there is no broker.config.json. Installed from npm it runs the compiled JavaScript in
// dist/; in a clone, the sources through tsx (a devDependency).
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const source = new URL('../lib/local/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/lib/local/main.js'));
}
// Pooled upstream connections and timers must not keep a stopped broker alive.
process.exit(await main(process.argv.slice(2)));
