/**
 * File primitives for the embedded store: private directories, crash-safe whole-file replacement,
 * fsynced appends and tolerant reads. Nothing here knows about orgs or tokens.
 *
 * Durability recipe (the classic one): write a temp file in the same directory, fsync it, rename it
 * over the target, fsync the directory. A reader sees either the old file or the new one, never a
 * half-written one, and after the directory fsync the rename survives a power cut.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Mode of every directory the store creates: owner only. */
export const DIR_MODE = 0o700;
/** Mode of every file the store creates: owner read/write only. */
export const FILE_MODE = 0o600;

/**
 * Temp files start with a dot and end in `.tmp`, so no reader that matches `<uuid>.<ext>` can take one for
 * data. The writer's pid is in the name only to make debris traceable.
 */
const TEMP_SUFFIX = '.tmp';
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomUUID()}${TEMP_SUFFIX}`);
}

export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

/** Raised by {@link ensurePrivateDir} when a directory cannot be made private. */
export class PrivateDirError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PrivateDirError';
  }
}

/**
 * Creates `dir` with mode 0700, or tightens an existing one to 0700 when group or others have any access.
 * Tightening (rather than refusing) keeps `npm start` working after a checkout or an unzip that widened
 * the mode; a directory owned by another user is refused, because we could not tighten it and would be
 * storing secrets somewhere someone else controls. Also tightens files inside that are wider than 0600.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new PrivateDirError(`cannot create data directory ${dir} (${errnoCode(err)})`, { cause: err });
  }
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw new PrivateDirError(`data directory ${dir} exists and is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new PrivateDirError(`data directory ${dir} is owned by uid ${stat.uid}, not by this user (uid ${uid}); refusing to store secrets there`);
  }
  // mkdir's mode is filtered by the umask and ignored for existing directories: set it explicitly.
  if ((stat.mode & 0o777) !== DIR_MODE) chmodSync(dir, DIR_MODE);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const entry = lstatSync(path);
    if (entry.isFile() && (entry.mode & 0o077) !== 0) chmodSync(path, FILE_MODE);
  }
}

/** fsyncs a directory so that a create, rename or unlink inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals metadata itself.
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `target` with `data` atomically and durably: temp file (0600) in the same directory, fsync,
 * rename, fsync of the directory. On failure the temp file is removed and `target` is untouched.
 */
export async function writeFileAtomic(target: string, data: string): Promise<void> {
  const temp = tempPathFor(target);
  try {
    const handle = await open(temp, 'wx', FILE_MODE);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(target));
}

/**
 * Appends one line (a trailing newline is added) and fsyncs before returning. When the file does not end
 * in a newline, a crash tore the previous append: a newline is written first so that the torn fragment
 * stays on its own line (readers skip it) instead of swallowing this record.
 * Callers must serialise appends to one file (the store's per-org mutex does).
 */
export async function appendLineDurable(path: string, line: string): Promise<void> {
  const handle = await open(path, 'a+', FILE_MODE);
  let created = false;
  try {
    const { size } = await handle.stat();
    created = size === 0;
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await handle.write(`${prefix}${line}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  // A new file's directory entry must be durable too, or the first records can vanish with it.
  if (created) await fsyncDir(dirname(path));
}

/** Reads a UTF-8 file, or undefined when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Deletes a file if present; true when something was deleted. */
export async function unlinkIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The lines of a JSONL text split into complete lines and a trailing fragment. A fragment (no final
 * newline) is what a crash mid-append leaves behind; callers ignore it.
 */
export function splitLines(text: string): { lines: string[]; fragment: string } {
  const parts = text.split('\n');
  const fragment = parts.pop() ?? '';
  return { lines: parts.filter((l) => l.length > 0), fragment };
}

/** The errno code of a Node fs error (`ENOENT`, `EEXIST`...), or the error's type name. */
export function errnoCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return err instanceof Error ? err.name : typeof err;
}

/**
 * Creates `path` holding `text` only if it does not exist yet (`O_EXCL`): the primitive behind both
 * lock files. With `durable`, the file and its directory entry are fsynced before returning true.
 */
export async function createExclusive(path: string, text: string, options: { durable?: boolean } = {}): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', FILE_MODE);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(text, 'utf8');
    if (options.durable) await handle.sync();
  } finally {
    await handle.close();
  }
  if (options.durable) await fsyncDir(dirname(path));
  return true;
}
