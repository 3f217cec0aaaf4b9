/**
 * The CLI's window on the process: output streams, stdin, prompts and the clock. `main` takes a
 * partial override so unit tests can run commands in-process; the binary uses {@link processIo}.
 */
import { CliFailure, EXIT } from './exit-codes.js';

/** An output stream. */
export interface CliOutput {
  write(text: string): void;
  /** Whether a person is likely watching (decides whether `token` prints the token). */
  readonly isTTY: boolean;
}

/** Everything the commands read from or write to outside the stores. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Whether stdin is a terminal (prompt) or a pipe (read it). */
  stdinIsTTY: boolean;
  /** All of stdin, up to {@link MAX_STDIN_BYTES}. */
  readStdin(): Promise<string>;
  /** Asks on the terminal without echoing what is typed. */
  promptHidden(question: string): Promise<string>;
  /** Asks on the terminal with echo. */
  prompt(question: string): Promise<string>;
  now(): number;
}

/** Longest stdin accepted: a client secret and a refresh token are far shorter. */
export const MAX_STDIN_BYTES = 64 * 1024;

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_STDIN_BYTES) throw new CliFailure(EXIT.usage, `stdin is longer than ${MAX_STDIN_BYTES} bytes; expected one or two short lines`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads one line from a terminal in raw mode, echoing nothing. Handles backspace, Ctrl-C (aborts
 * with exit 130 semantics via CliFailure) and Ctrl-D (ends input); pasted text arrives as one chunk.
 */
function readHiddenLine(question: string, stdin: NodeJS.ReadStream, out: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    out.write(question);
    let value = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      out.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new CliFailure(EXIT.failed, 'interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

function readVisibleLine(question: string, stdin: NodeJS.ReadStream, out: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve) => {
    out.write(question);
    stdin.resume();
    stdin.setEncoding('utf8');
    let buffer = '';
    const onData = (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      stdin.off('data', onData);
      stdin.pause();
      resolve(buffer.slice(0, newline).replace(/\r$/, ''));
    };
    stdin.on('data', onData);
  });
}

/** The real process streams. Prompts go to stderr so stdout stays clean for pipes. */
export function processIo(): CliIo {
  return {
    stdout: { write: (text) => void process.stdout.write(text), isTTY: process.stdout.isTTY === true },
    stderr: { write: (text) => void process.stderr.write(text), isTTY: process.stderr.isTTY === true },
    stdinIsTTY: process.stdin.isTTY === true,
    readStdin: () => readAll(process.stdin),
    promptHidden: (question) => readHiddenLine(question, process.stdin, process.stderr),
    prompt: (question) => readVisibleLine(question, process.stdin, process.stderr),
    now: () => Date.now(),
  };
}
