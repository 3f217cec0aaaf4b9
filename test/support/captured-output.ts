/**
 * Powertools writes log lines and EMF to stdout, warnings and errors to stderr. Handler tests keep
 * both quietly, to search them (for a log line, a metric, or a secret that must not be there).
 */
import { vi } from 'vitest';

/**
 * Appends everything written to stdout and stderr (and to `extraStreams`) to `into` instead of the
 * terminal, until `vi.restoreAllMocks()`.
 */
export function captureOutput(into: string[], extraStreams: NodeJS.WritableStream[] = []): void {
  for (const stream of new Set([process.stdout, process.stderr, ...extraStreams])) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
  }
}
