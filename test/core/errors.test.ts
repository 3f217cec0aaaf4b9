/**
 * The error catalog: every code the broker can emit, with its failure classes, agrees with README's
 * error table (both ways) and with what the code actually raises.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODE_CLASSES, ERROR_CODES, type ErrorCode, type FailureClass, StoreError } from '../../lambdas/core/errors.js';
import { classifyHttpFailure } from '../../lambdas/core/oauth.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The rows of README's "Error codes" table: codes and classes as written. */
function readmeErrorTable(): Map<string, FailureClass[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Error codes');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  const table = new Map<string, FailureClass[]>();
  for (const row of rows) {
    const [codes, classes] = row.split('|').slice(1, 3).map((cell) => cell.trim());
    const parsed = classes!.split(' or ').map((c) => c.trim() as FailureClass);
    for (const [, code] of codes!.matchAll(/`([a-z_]+)`/g)) {
      expect(table.has(code!), `${code} appears twice in the README table`).toBe(false);
      table.set(code!, parsed);
    }
  }
  return table;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error catalog', () => {
  it('lists exactly the codes of the README error table, with the same classes', () => {
    const table = readmeErrorTable();
    expect([...table.keys()].sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) expect({ code, classes: table.get(code) }).toEqual({ code, classes: [...ERROR_CODE_CLASSES[code]] });
  });

  it('names only codes some product code raises or maps to', () => {
    // A code is emitted where it is written as a literal outside the catalog itself.
    const product = [...sources(join(ROOT, 'lambdas')), ...sources(join(ROOT, 'lib'))]
      .filter((path) => !path.endsWith('lambdas/core/errors.ts'))
      .map((path) => readFileSync(path, 'utf8'))
      .join('\n');
    const unused = ERROR_CODES.filter((code) => !product.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('classes every Genesys HTTP failure within its code\'s classes', () => {
    const bodies = ['', '{"error":"invalid_grant"}', '{"error":"invalid_client","error_description":"client not found"}', '{"message":"x","code":"bad.request"}', '<html><title>502</title></html>', 'nope'];
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 599 }), fc.constantFrom(...bodies), fc.constantFrom('token' as const, 'tokens/me' as const), (status, bodyText, endpoint) => {
        const error = classifyHttpFailure({ status, bodyText, retryAfter: null, nowMs: 0, orgId: 'o', endpoint });
        expect(ERROR_CODE_CLASSES[error.code] as readonly FailureClass[]).toContain(error.failureClass);
      }),
    );
  });

  it('classes storage errors as the catalog says storage codes can be', () => {
    for (const code of ['vault_write_failed', 'registry_write_failed', 'registry_unavailable', 'audit_write_failed', 'credentials_unavailable'] satisfies ErrorCode[]) {
      for (const transient of [true, false]) {
        expect(ERROR_CODE_CLASSES[code] as readonly FailureClass[]).toContain(new StoreError(code, 'm', { transient }).failureClass);
      }
    }
  });
});
