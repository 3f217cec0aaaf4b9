/**
 * The shape of the house, checked: the lint rules that keep imports flowing one way really fire on
 * a violation (eslint.config.js), and no product file outgrows one concern.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('import rules', () => {
  const eslint = new ESLint({ cwd: ROOT });
  const lint = async (filePath: string, code: string) => {
    const [result] = await eslint.lintText(code, { filePath: join(ROOT, filePath) });
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => m.message);
  };

  it.each([
    ['core importing an adapter', 'lambdas/core/x.ts', "import { a } from '../adapters/aws/aws-errors.js'; a;", /core\/ imports only core\/ and zod/],
    ['core importing a Node module', 'lambdas/core/x.ts', "import { readFileSync } from 'node:fs'; readFileSync;", /core\/ imports only core\/ and zod/],
    ['core importing the AWS SDK', 'lambdas/core/x.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; DynamoDBClient;", /core\/ imports only/],
    ['a handler importing the AWS SDK', 'lambdas/handlers/x.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; DynamoDBClient;", /only lambdas\/adapters\/aws\//],
    ['the client library importing the AWS SDK types', 'lambdas/client/x.ts', "import type { LambdaClient } from '@aws-sdk/client-lambda'; export type L = LambdaClient;", /only lambdas\/adapters\/aws\//],
    ['the CLI loading the AWS SDK lazily', 'lib/cli/x.ts', "export const load = () => import('@aws-sdk/client-lambda');", /only lambdas\/adapters\/aws\//],
    ['local mode importing the AWS SDK', 'lib/local/x.ts', "import { LambdaClient } from '@aws-sdk/client-lambda'; LambdaClient;", /only lambdas\/adapters\/aws\//],
    ['lambdas importing lib', 'lambdas/client/sources/x.ts', "import { a } from '../../../lib/local/config.js'; a;", /lambdas\/ never imports lib\//],
    ['an AWS adapter importing lib', 'lambdas/adapters/aws/x.ts', "import { a } from '../../../lib/cli/target.js'; a;", /lambdas\/ never imports lib\//],
    ['the CLI importing a handler', 'lib/cli/commands/x.ts', "import { a } from '../../../lambdas/handlers/setup.js'; a;", /lib\/cli never imports the Lambda handlers/],
    ['the client library importing the Genesys SDK types', 'lambdas/client/x.ts', "import type { ApiClientClass } from 'purecloud-platform-client-v2'; export type A = ApiClientClass;", /a devDependency for tests only/],
    ['the client library loading the Genesys SDK lazily', 'lambdas/client/x.ts', "export const load = () => import('purecloud-platform-client-v2');", /a devDependency for tests only/],
    ['an AWS adapter importing the Genesys SDK', 'lambdas/adapters/aws/x.ts', "import platformClient from 'purecloud-platform-client-v2'; platformClient;", /a devDependency for tests only/],
    ['local mode importing the service discovery list', 'lib/local/x.ts', "import { getEnvironments } from 'genesys-cloud-service-discovery-web'; getEnvironments;", /a devDependency for tests only/],
    ['the CLI loading the service discovery list lazily', 'lib/cli/x.ts', "export const load = () => import('genesys-cloud-service-discovery-web');", /a devDependency for tests only/],
  ])('refuses %s', async (_name, file, code, message) => {
    const messages = await lint(file, code);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('\n')).toMatch(message);
  });

  it.each([
    ['core importing core and zod', 'lambdas/core/x.ts', "import { z } from 'zod'; import { a } from './errors.js'; z; a;"],
    ['an AWS adapter importing the AWS SDK and core', 'lambdas/adapters/aws/x.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; import { a } from '../../core/errors.js'; DynamoDBClient; a;"],
    ['the CLI loading an AWS adapter lazily', 'lib/cli/x.ts', "export const load = () => import('../../lambdas/adapters/aws/aws-ports.js');"],
    ['a test importing anything', 'test/x.test.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; import { a } from '../lambdas/handlers/setup.js'; DynamoDBClient; a;"],
    ['a test importing the Genesys SDK', 'test/x.test.ts', "import platformClient from 'purecloud-platform-client-v2'; platformClient;"],
  ])('allows %s', async (_name, file, code) => {
    expect(await lint(file, code)).toEqual([]);
  });
});

describe('room sizes', () => {
  it('keeps every .ts file under lambdas/ and lib/ within 500 lines', () => {
    const tooLong = [...tsFiles(join(ROOT, 'lambdas')), ...tsFiles(join(ROOT, 'lib'))]
      .map((path) => ({ file: relative(ROOT, path), lines: readFileSync(path, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 500);
    expect(tooLong).toEqual([]);
  });
});
