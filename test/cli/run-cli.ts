/**
 * Runs the CLI binary as a child process, the way an operator does: `node bin/genesys-token-broker.mjs`,
 * stdin and stdout pipes, a clean environment (no AWS profile or credentials of the machine).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN_PATH = fileURLToPath(new URL('../../bin/genesys-token-broker.mjs', import.meta.url));

export interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The parent's environment without AWS settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('BROKER_')) env[k] = v;
  }
  return {
    ...env,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** Spawns the CLI, writes `stdin` (then closes it) and resolves when it exits. */
export function runCli(args: string[], options: { env: Record<string, string>; stdin?: string; cwd?: string; timeoutMs?: number }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN_PATH, ...args], { env: options.env, cwd: options.cwd ?? REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${options.timeoutMs ?? 20_000} ms: ${args.join(' ')}\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ args, code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/**
 * Runs `main` in this process with captured streams: the same code as the binary minus its three-line
 * loader, for the many variations that would each cost a process start. AWS endpoints then come from
 * this process's environment.
 */
export async function runInProcess(
  args: string[],
  options: { stdin?: string; stdinIsTTY?: boolean; stdoutIsTTY?: boolean; prompts?: string[] } = {},
): Promise<CliRun> {
  const { main } = await import('../../lib/cli/main.js');
  let stdout = '';
  let stderr = '';
  const prompts = [...(options.prompts ?? [])];
  const code = await main(args, {
    stdout: { write: (t) => void (stdout += t), isTTY: options.stdoutIsTTY ?? false },
    stderr: { write: (t) => void (stderr += t), isTTY: false },
    stdinIsTTY: options.stdinIsTTY ?? false,
    readStdin: async () => options.stdin ?? '',
    promptHidden: async () => prompts.shift() ?? '',
    prompt: async () => prompts.shift() ?? '',
  });
  return { args, code, stdout, stderr };
}
