/**
 * The package as a customer gets it: `npm pack` (which runs `prepack`, i.e. `npm run build`), then
 * `npm install` of the tarball into an empty directory beside the peer dependencies a CDK app has
 * (aws-cdk-lib and constructs, at the versions this repository tests with). The install prefers
 * npm's cache and falls back to the registry for package metadata, which `npm ci` does not cache.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../cli/run-cli.js';

const run = promisify(execFile);

export interface InstalledPackage {
  /** The consumer project: package.json and node_modules with the package and its peers. */
  readonly dir: string;
  readonly tarball: string;
  /** The tarball's files, as `npm pack --json` lists them (paths relative to the package). */
  readonly files: readonly string[];
  /** The installed package's directory. */
  readonly packageDir: string;
  close(): void;
}

/** The environment of a machine without AWS credentials or configuration. */
export function offlineEnv(scratch: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('AWS_') || key.startsWith('CDK_') || key.startsWith('npm_') || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return {
    ...env,
    AWS_CONFIG_FILE: join(scratch, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    CDK_DISABLE_VERSION_CHECK: '1',
    CDK_DISABLE_CLI_TELEMETRY: '1',
  };
}

const versionOf = (name: string) => (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

export async function packAndInstall(): Promise<InstalledPackage> {
  const scratch = mkdtempSync(join(tmpdir(), 'gtb-package-'));
  const env = offlineEnv(scratch);
  try {
    const packed = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: REPO_ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 });
    // prepack's build output comes first on stdout; the JSON report is the last thing printed.
    const start = packed.stdout.startsWith('[') ? 0 : packed.stdout.lastIndexOf('\n[') + 1;
    const report = JSON.parse(packed.stdout.slice(start)) as { filename: string; files: { path: string }[] }[];
    const tarball = join(scratch, report[0]!.filename);
    const dir = join(scratch, 'consumer');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `aws-cdk-lib@${versionOf('aws-cdk-lib')}`, `constructs@${versionOf('constructs')}`],
      { cwd: dir, env, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
    );
    return {
      dir,
      tarball,
      files: report[0]!.files.map((f) => f.path),
      packageDir: join(dir, 'node_modules', 'genesys-token-broker'),
      close: () => rmSync(scratch, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}
