/**
 * The AWS SDK warns with `NodeVersionSupportWarning` when it runs on Node.js older than 22. The
 * broker's floor is deliberately Node 20.19 for the machines that build, test and operate it (the
 * Lambdas run on Node 24), so the warning is true but says nothing new after its first showing; yet
 * every fresh copy of the SDK's module state (each vitest file, each client package with its own copy)
 * emits it again. {@link showNodeVersionWarningOnce} lets it through once per process and leaves every
 * other warning alone.
 *
 * Why wrap `emitWarning` rather than listen: Node prints warnings from its own 'warning' listener, so
 * another listener can add output but cannot hold a duplicate back.
 */

import { closeSync, openSync } from 'node:fs';

/** The warning let through once per process. */
export const NODE_VERSION_WARNING = 'NodeVersionSupportWarning';

const INSTALLED = Symbol.for('genesys-token-broker.node-version-warning-once');

type EmitWarning = (warning: string | Error, ...rest: unknown[]) => void;

/** True for the SDK's Node version warning, however it is emitted (text prefix, name or type option). */
export function isNodeVersionWarning(warning: unknown, rest: readonly unknown[] = []): boolean {
  const [typeOrOptions] = rest;
  const type = typeof typeOrOptions === 'string' ? typeOrOptions : (typeOrOptions as { type?: unknown } | undefined)?.type;
  if (type === NODE_VERSION_WARNING) return true;
  if (typeof warning === 'string') return warning.startsWith(NODE_VERSION_WARNING);
  return warning instanceof Error && (warning.name === NODE_VERSION_WARNING || warning.message.startsWith(NODE_VERSION_WARNING));
}

/**
 * Installs the once-per-process filter on `target` (default `process`); installing it again is a no-op.
 * Installed by the CLI's `main` and by the test setup. With `sharedMarker` (a file path several
 * processes share: the test run's workers), only the first process to claim the file shows it.
 */
export function showNodeVersionWarningOnce(
  target: { emitWarning: EmitWarning } = process as unknown as { emitWarning: EmitWarning },
  options: { sharedMarker?: string } = {},
): void {
  const holder = target as unknown as Record<symbol, unknown>;
  if (holder[INSTALLED]) return;
  holder[INSTALLED] = true;
  const original = target.emitWarning.bind(target);
  let shown = false;
  target.emitWarning = (warning, ...rest) => {
    if (isNodeVersionWarning(warning, rest)) {
      if (shown) return;
      shown = true;
      if (options.sharedMarker !== undefined && !claim(options.sharedMarker)) return;
    }
    original(warning, ...rest);
  };
}

/**
 * Creates `path` exclusively: true for the one process (of several sharing the path, as the test
 * workers do) that gets there first, and also when the path cannot be written at all (better shown
 * twice than never).
 */
function claim(path: string): boolean {
  try {
    closeSync(openSync(path, 'wx'));
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code !== 'EEXIST';
  }
}
