/**
 * What every command gets: parsed flags, the process window, lazy access to the target's stores, and
 * a progress channel on stderr. Commands return an exit code or throw UsageError / CliFailure /
 * BrokerError, which `main` maps to exit codes in one place.
 */
import type { LogFields, LogLevel, Telemetry } from '../../lambdas/core/ports.js';
import type { BaseUrlResolver } from '../../lambdas/core/regions.js';
import type { CommandSpec, ParsedValues } from './args.js';
import { type Backend, openBackend } from './backend.js';
import type { CliIo } from './io.js';
import { genesysBaseUrl, resolveTarget } from './target.js';

export interface CommandContext {
  io: CliIo;
  values: ParsedValues;
  positionals: string[];
  /** The Genesys override from `--genesys-base-url` (testing only). */
  genesysBaseUrl?: BaseUrlResolver;
  /** Opens the target once; later calls return the same backend. */
  backend(): Promise<Backend>;
  /** A progress line on stderr. */
  progress(message: string): void;
}

export interface Command {
  spec: CommandSpec;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * Engine telemetry rendered as progress lines: one per org refreshed or failed, plus errors. Fields
 * hold identifiers and codes only (the engine's contract), so nothing secret can reach the terminal.
 */
export function progressTelemetry(write: (line: string) => void): Telemetry {
  return {
    log(level: LogLevel, message: string, fields: LogFields = {}) {
      const org = typeof fields.orgId === 'string' ? fields.orgId : undefined;
      if (message === 'token refreshed' && org) return write(`  refreshed ${org} (${String(fields.reason ?? 'due')})`);
      if (message === 'token refresh failed' && org) return write(`  failed    ${org}: ${String(fields.errorCode ?? 'error')} (${String(fields.errorClass ?? 'unknown')})`);
      if (level === 'error' || level === 'critical') {
        write(`  ${level}: ${message}${org ? ` (org ${org})` : ''}${fields.errorCode ? ` [${String(fields.errorCode)}]` : ''}`);
      }
    },
    metric: () => undefined,
  };
}

/** Builds a command's context; the backend is opened on first use and closed by {@link closeContext}. */
export function createContext(io: CliIo, values: ParsedValues, positionals: string[], spec: CommandSpec): CommandContext & { close(): Promise<void> } {
  let opened: Promise<Backend> | undefined;
  const progress = (message: string) => io.stderr.write(`${message}\n`);
  const baseUrl = spec.target ? genesysBaseUrl(values) : undefined;
  if (baseUrl) progress(`warning: --genesys-base-url is set: Genesys requests go to ${baseUrl('login.<domain>')}, not Genesys Cloud (testing only)`);
  return {
    io,
    values,
    positionals,
    ...(baseUrl ? { genesysBaseUrl: baseUrl } : {}),
    progress,
    backend() {
      opened ??= (async () => {
        const target = resolveTarget(values);
        return openBackend(target, {
          telemetry: progressTelemetry(progress),
          readOnly: spec.readOnly === true,
          note: progress,
          ...(baseUrl ? { genesysBaseUrl: baseUrl } : {}),
        });
      })();
      return opened;
    },
    async close() {
      if (!opened) return;
      try {
        (await opened).close();
      } catch {
        // Opening failed: the error was already reported, and there is nothing to close.
      }
    },
  };
}
