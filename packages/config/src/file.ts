// The config file on disk: loading reports a broken file by file and line (and never writes to
// it, so the operator's text survives for fixing), saving replaces it atomically, so a crash or a
// full disk leaves the previous file or the new one, never half of each.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigFileError, ConfigFileMissingError } from './errors.ts';
import { lineColumn, pointerLine, scanJson } from './json-scan.ts';
import type { ConfigFile } from './schema.ts';
import { validateConfigFile } from './validate.ts';

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function fileError(file: string, line: number | null, message: string, cause: unknown): ConfigFileError {
  const err = new ConfigFileError(file, line, message);
  err.cause = cause;
  return err;
}

export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') {
      const err = new ConfigFileMissingError(path);
      err.cause = e;
      throw err;
    }
    throw fileError(path, null, `cannot be read: ${(e as Error).message}`, e);
  }
  // Editors on some systems write a byte-order mark; JSON.parse rejects it, people cannot see it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw syntaxError(path, text, e as Error);
  }
  try {
    return validateConfigFile(raw);
  } catch (e) {
    const v = e as { code?: unknown; field?: unknown; message: string };
    if (v.code !== 'SLUICE_ERR_CONFIG_INVALID' || typeof v.field !== 'string') throw e;
    throw fileError(path, pointerLine(text, scanJson(text).offsets, v.field), v.message, e);
  }
}

function syntaxError(path: string, text: string, e: Error): ConfigFileError {
  // The scanner is strict JSON like JSON.parse, so it finds the same error, and it always knows
  // the offset; V8's message carries one only for some errors.
  const found = scanJson(text).error;
  const v8 = /at position (\d+)/.exec(e.message);
  const offset = found?.offset ?? (v8 === null ? null : Number(v8[1]));
  if (offset === null) return fileError(path, null, `is not valid JSON: ${e.message}`, e);
  const { line, column } = lineColumn(text, offset);
  return fileError(path, line, `invalid JSON at column ${column}: ${found?.message ?? e.message}`, e);
}

/**
 * Validates `config` (ConfigValidationError if it would not load again) and writes it as pretty
 * JSON: a temp file in the same directory, fsync, rename over the target, fsync the directory.
 * A new file gets mode 0600; an existing one keeps its mode, and a symlink keeps pointing at the
 * file, which is replaced beside its real path.
 */
export async function saveConfigFile(path: string, config: ConfigFile): Promise<void> {
  const text = `${JSON.stringify(validateConfigFile(config), null, 2)}\n`;
  let target = path;
  let mode = 0o600;
  try {
    target = await realpath(path);
    mode = (await stat(target)).mode & 0o7777;
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw fileError(path, null, `cannot be saved: ${(e as Error).message}`, e);
  }
  try {
    await writeAtomically(target, text, mode);
  } catch (e) {
    throw fileError(path, null, `cannot be saved: ${(e as Error).message}`, e);
  }
}

/**
 * Removes the temp files a save of `target` left behind when its process died between writing
 * and renaming (kill -9, a power cut): `.<name>.<pid>.<random>.tmp` beside it whose pid is not
 * a live process. Returns how many went. The target itself is never touched: it is always the
 * old file or the new one. Errors are ignored (a file already gone, a directory not readable).
 */
export async function removeStaleTempFiles(target: string): Promise<number> {
  const dir = dirname(target);
  const prefix = `.${basename(target)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
    try {
      await unlink(join(dir, name));
      removed++;
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user's.
    return errno(e) === 'EPERM';
  }
}

/** A temp-file name beside `target`, hidden, unique to this process and call. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAtomically(target: string, text: string, mode: number): Promise<void> {
  const tmp = tempPathFor(target);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(text, 'utf8');
      // Explicit, because the umask may have narrowed the mode open() was given.
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  // Without this the rename itself may not survive a power cut.
  await syncDirectory(dirname(target));
}
