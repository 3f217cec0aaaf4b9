/**
 * Runs once in vitest's main process: a marker path every worker shares, so the AWS SDK's
 * NodeVersionSupportWarning shows once per test run rather than once per test file's process
 * (test/support/node-warnings.ts, lib/node-warnings.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NODE_WARNING_MARKER_ENV = 'GTB_TEST_NODE_WARNING_MARKER';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'gtb-test-run-'));
  process.env[NODE_WARNING_MARKER_ENV] = join(dir, 'node-version-warning-shown');
  return () => rmSync(dir, { recursive: true, force: true });
}
