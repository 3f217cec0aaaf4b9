#!/usr/bin/env node
// Local mode (`npm start` in a clone): the whole broker on one machine with its embedded store, the
// demo when there is no broker.config.json (compiled JavaScript when installed: load-main.mjs).
import { loadMain } from './load-main.mjs';

const main = await loadMain('lib/local/main');
// Pooled upstream connections and timers must not keep a stopped broker alive.
process.exit(await main(process.argv.slice(2)));
