#!/usr/bin/env node
// Operator CLI entry point (compiled JavaScript when installed, the sources in a clone: load-main.mjs).
import { loadMain } from './load-main.mjs';

const main = await loadMain('lib/cli/main');
process.exitCode = await main(process.argv.slice(2));
