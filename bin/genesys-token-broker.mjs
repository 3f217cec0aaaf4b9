#!/usr/bin/env node
// Operator CLI entry point. The CLI is TypeScript run through tsx's loader, so the repository needs
// no build step; `npx genesys-token-broker --help` works in a clone after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../lib/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
