/**
 * A short-lived cross-process mutex built on exclusive file creation (`open(path, 'wx')`). The store
 * holds it for the few milliseconds of a read-modify-write (registry compare-and-set, token stage
 * rotation, refresh-token replacement, audit append, lease changes), so the CLI and the broker can share
 * one data directory.
 *
 * Time here is wall-clock time (`Date.now()`), not the injected domain clock: it coordinates live
 * processes on one machine, and a fake clock in tests must not make a live holder look stale.
 *
 * Recovery after a crash: a mutex file is stale when its holder's pid is gone (same host), when it is
 * older than `maxHoldMs` (pid reuse, another host on a shared disk), or when it is unreadable and older
 * than {@link EMPTY_GRACE_MS} (the holder died between create and write). A stale file is moved aside
 * with `rename` and the moved file is checked against what was judged stale; if a live holder had
 * replaced it in between, its file is linked back.
 *
 * Remaining race, stated honestly: that link-back fails if a third process created the mutex in the
 * microseconds between the move and the link, and then two processes hold it. It needs a crashed holder
 * plus three processes racing inside that window; local mode runs at most a broker and a CLI.
 */
import { randomUUID } from 'node:crypto';
import { link, rename, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { createExclusive, errnoCode, readTextIfExists, tempPathFor, unlinkIfExists } from './atomic-file.js';

/** An unreadable mutex file younger than this is a holder still writing its owner line. */
export const EMPTY_GRACE_MS = 2_000;

/** Raised when the mutex could not be taken in time; the store maps it to a transient StoreError. */
export class MutexTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MutexTimeoutError';
  }
}

interface MutexOwner {
  pid: number;
  host: string;
  nonce: string;
  acquiredAtMs: number;
}

export interface FileMutexOptions {
  /** How long `run` waits for a held mutex. @default 10_000 */
  waitTimeoutMs?: number;
  /** A holder older than this is presumed dead whatever its pid says. @default 30_000 */
  maxHoldMs?: number;
}

const HOST = hostname();
/** Nonces of mutexes held by this process, to tell our own live mutex from a dead process that had our pid. */
const heldNonces = new Set<string>();

/** Cross-process mutexes keyed by file path, with an in-process queue in front to avoid busy polling. */
export class FileMutex {
  readonly #waitTimeoutMs: number;
  readonly #maxHoldMs: number;
  /** Tail of the in-process queue per path: callers in this instance wait here, not on the file. */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(options: FileMutexOptions = {}) {
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 10_000;
    this.#maxHoldMs = options.maxHoldMs ?? 30_000;
  }

  /** Runs `fn` while holding the mutex at `path`. */
  async run<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(path) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(path, tail);
    try {
      await previous;
      const owner = await this.#acquire(path);
      try {
        return await fn();
      } finally {
        await this.#release(path, owner);
      }
    } finally {
      done();
      if (this.#tails.get(path) === tail) this.#tails.delete(path);
    }
  }

  async #acquire(path: string): Promise<MutexOwner & { text: string }> {
    const deadline = Date.now() + this.#waitTimeoutMs;
    for (;;) {
      const owner: MutexOwner = { pid: process.pid, host: HOST, nonce: randomUUID(), acquiredAtMs: Date.now() };
      const text = JSON.stringify(owner);
      heldNonces.add(owner.nonce);
      if (await createExclusive(path, text)) return { ...owner, text };
      heldNonces.delete(owner.nonce);
      const judged = await this.#staleSnapshot(path);
      if (judged) {
        await removeStale(path, judged);
        continue;
      }
      if (Date.now() >= deadline) throw new MutexTimeoutError(`timed out after ${this.#waitTimeoutMs} ms waiting for ${path}`);
      await sleep(2 + Math.random() * 8);
    }
  }

  async #release(path: string, owner: MutexOwner & { text: string }): Promise<void> {
    try {
      // Only delete our own file: if we overran maxHoldMs, someone else may hold it by now.
      if ((await readTextIfExists(path)) === owner.text) await unlinkIfExists(path);
    } finally {
      heldNonces.delete(owner.nonce);
    }
  }

  /** The content and inode of the mutex file when it is stale, else undefined. */
  async #staleSnapshot(path: string): Promise<{ text: string; ino: number } | undefined> {
    let info;
    let text;
    try {
      info = await stat(path);
      text = await readTextIfExists(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    if (text === undefined) return undefined;
    const owner = parseOwner(text);
    if (!owner) return Date.now() - info.mtimeMs > EMPTY_GRACE_MS ? { text, ino: info.ino } : undefined;
    if (owner.host === HOST && owner.pid === process.pid && !heldNonces.has(owner.nonce)) return { text, ino: info.ino };
    if (owner.host === HOST && !pidAlive(owner.pid)) return { text, ino: info.ino };
    if (Date.now() - owner.acquiredAtMs > this.#maxHoldMs) return { text, ino: info.ino };
    return undefined;
  }
}

async function removeStale(path: string, judged: { text: string; ino: number }): Promise<void> {
  const aside = tempPathFor(path);
  try {
    await rename(path, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return; // someone else cleared it
    throw err;
  }
  const movedInfo = await stat(aside);
  const movedText = await readTextIfExists(aside);
  if (movedInfo.ino !== judged.ino || movedText !== judged.text) {
    // We moved a live holder's fresh mutex, not the stale one: put it back (see the module comment).
    await link(aside, path).catch(() => undefined);
  }
  await unlinkIfExists(aside);
}

function parseOwner(text: string): MutexOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<MutexOwner>;
    if (typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.acquiredAtMs === 'number') {
      return value as MutexOwner;
    }
  } catch {
    // Unreadable: the holder is still writing, or died doing so. The caller decides by age.
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
