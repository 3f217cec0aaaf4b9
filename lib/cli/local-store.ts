/**
 * Which data directory a `--local` command opens, and whether it may. Demo mode's store holds
 * credentials that are valid only against the simulator inside `npm start`: the CLI only reads it
 * (`status`, `orgs list`, `audit`, `token`), because every other command could send them, or a real
 * org's, to the real `login.<domain>` hosts or mix real orgs into it. A reader asked for the default
 * directory while that is empty is pointed at the demo store instead, with a note saying so.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../lambdas/adapters/file/file-store.js';
import { DEMO_DATA_DIR, isDemoStoreDir } from '../demo/demo.js';
import { BIN } from './args.js';
import { CliFailure, EXIT } from './exit-codes.js';

/** The directory to open and the notes to print on stderr about the choice. */
export interface LocalStoreChoice {
  dataDir: string;
  notes: string[];
}

function hasOrgFiles(dataDir: string): boolean {
  try {
    return readdirSync(join(dataDir, 'registry')).some((name) => name.endsWith('.json'));
  } catch {
    return false;
  }
}

/**
 * Chooses the directory for a local target. `requested` is `--data-dir` (or the default); `readOnly`
 * says whether the command only reads. Throws CliFailure (exit 2) for a command that would write to,
 * or refresh from, a demo store.
 */
export function chooseLocalStore(requested: string, options: { readOnly: boolean; cwd?: string }): LocalStoreChoice {
  const cwd = options.cwd ?? process.cwd();
  const dataDir = resolve(cwd, requested);
  if (isDemoStoreDir(dataDir)) {
    if (!options.readOnly) {
      throw new CliFailure(
        EXIT.usage,
        `refused: ${dataDir} is demo mode's store. Its credentials are valid only against the simulator inside 'npm start'; ` +
          'this command could send them to the real Genesys Cloud login hosts, so the CLI only reads a demo store (status, orgs list, audit, token)',
        ["'npm start' (with no broker.config.json) refreshes the demo orgs", `register real orgs in another directory: ${BIN} orgs add --local --data-dir <dir> ...`],
      );
    }
    return { dataDir, notes: [`note: ${dataDir} is demo mode's store (simulated orgs, read only here)`] };
  }
  if (requested === DEFAULT_DATA_DIR && !hasOrgFiles(dataDir)) {
    const demoDir = resolve(cwd, DEMO_DATA_DIR);
    if (isDemoStoreDir(demoDir)) {
      if (options.readOnly) {
        return { dataDir: demoDir, notes: [`note: no orgs in ${dataDir}; reading demo mode's store ${demoDir} (simulated orgs; --data-dir chooses another)`] };
      }
      return { dataDir, notes: [`note: demo mode's store is ${demoDir}; the CLI only reads it ('npm start' refreshes the demo orgs)`] };
    }
  }
  return { dataDir, notes: [] };
}
