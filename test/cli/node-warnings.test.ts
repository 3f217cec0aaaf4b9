import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNodeVersionWarning, showNodeVersionWarningOnce } from '../../lib/node-warnings.js';
import { REPO_ROOT } from './run-cli.js';

const SDK_TEXT = 'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after the first week of January 2027\nwill require node >=22.';

describe('showNodeVersionWarningOnce', () => {
  it('lets the SDK Node version warning through once and every other warning each time', () => {
    const seen: unknown[] = [];
    const target = { emitWarning: (warning: string | Error, ..._rest: unknown[]) => void seen.push(warning) };
    showNodeVersionWarningOnce(target);
    showNodeVersionWarningOnce(target);
    for (let i = 0; i < 3; i += 1) target.emitWarning(SDK_TEXT);
    target.emitWarning('something else', 'DeprecationWarning');
    target.emitWarning('something else', 'DeprecationWarning');
    expect(seen).toEqual([SDK_TEXT, 'something else', 'something else']);
  });

  it('shows it once among processes sharing a marker file (the test run\'s workers)', () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'node-warning-')), 'shown');
    const seen: string[] = [];
    for (const name of ['first', 'second', 'third']) {
      const target = { emitWarning: (warning: string | Error, ..._rest: unknown[]) => void seen.push(`${name}: ${String(warning).slice(0, 25)}`) };
      showNodeVersionWarningOnce(target, { sharedMarker: marker });
      target.emitWarning(SDK_TEXT);
      target.emitWarning('unrelated', 'MyOwnWarning');
    }
    expect(seen).toEqual(['first: NodeVersionSupportWarning', 'first: unrelated', 'second: unrelated', 'third: unrelated']);
  });

  it.each([
    [[SDK_TEXT], true],
    [['text', 'NodeVersionSupportWarning'], true],
    [['text', { type: 'NodeVersionSupportWarning' }], true],
    [[Object.assign(new Error('x'), { name: 'NodeVersionSupportWarning' })], true],
    [['Warning: NodeVersionSupportWarning in the middle'], false],
    [['text', 'ExperimentalWarning'], false],
  ] as const)('recognises %j: %s', ([warning, ...rest], expected) => {
    expect(isNodeVersionWarning(warning, rest)).toBe(expected);
  });

  it('prints the warning once in a real process however often fresh SDK copies emit it, and keeps other warnings', () => {
    const script = `
      const { showNodeVersionWarningOnce } = await import('./lib/node-warnings.ts');
      showNodeVersionWarningOnce();
      showNodeVersionWarningOnce();
      for (let i = 0; i < 5; i += 1) process.emitWarning(${JSON.stringify(SDK_TEXT)});
      process.emitWarning('first other warning', 'MyOwnWarning');
      process.emitWarning('second other warning', 'MyOwnWarning');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr.match(/NodeVersionSupportWarning/g)).toHaveLength(1);
    expect(run.stderr).toContain('MyOwnWarning: first other warning');
    expect(run.stderr).toContain('MyOwnWarning: second other warning');
  });
});
