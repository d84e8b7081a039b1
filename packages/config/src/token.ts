// The bearer token that guards the REST mutations. Made once, on first start, readable by its
// owner only; a token file others can read is refused rather than trusted, since anyone holding
// it can reconfigure the director. Compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigFileError } from './errors.ts';
import { syncDirectory, tempPathFor } from './file.ts';

function fail(path: string, message: string, cause?: unknown): ConfigFileError {
  const err = new ConfigFileError(path, null, message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

/** The token in `path`, or null when there is no such file. */
async function readToken(path: string): Promise<string | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fail(path, `cannot be read: ${(e as Error).message}`, e);
  }
  try {
    // Checked on the open descriptor, so the file judged is the file read.
    const st = await fh.stat();
    if (!st.isFile()) throw fail(path, 'is not a regular file');
    const perm = st.mode & 0o777;
    if ((perm & 0o077) !== 0) {
      throw fail(
        path,
        `has mode ${perm.toString(8).padStart(4, '0')}: group or others may read or write it, and it ` +
          `grants control of the director; run \`chmod 600 ${path}\` (and check who may have read it)`,
      );
    }
    const token = (await fh.readFile('utf8')).trim();
    if (token === '') {
      throw fail(path, `is empty; write a token into it (chmod 600), or delete it to have one made`);
    }
    return token;
  } finally {
    await fh.close();
  }
}

/** Creates `path` holding `text`, only if it does not exist; false when it already did. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  // Written in full under a temp name, then linked into place: link() fails when the name
  // exists, like O_EXCL, but a crash can never leave an empty or partial token under `path`.
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(text, 'utf8');
      await fh.chmod(0o600);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
  await syncDirectory(dirname(path));
  return true;
}

/**
 * The token in `path`, made (32 random bytes, base64url, mode 0600) when the file does not exist.
 * `created` tells the daemon to print it, once.
 */
export async function loadOrCreateToken(path: string): Promise<{ token: string; created: boolean }> {
  const existing = await readToken(path);
  if (existing !== null) return { token: existing, created: false };
  const token = randomBytes(32).toString('base64url');
  let created: boolean;
  try {
    created = await createExclusive(path, `${token}\n`);
  } catch (e) {
    throw fail(path, `cannot be created: ${(e as Error).message}`, e);
  }
  if (created) return { token, created: true };
  // Another process made it between our look and our link: theirs is the token.
  const theirs = await readToken(path);
  if (theirs === null) throw fail(path, 'appeared and vanished while being created; start again');
  return { token: theirs, created: false };
}

/**
 * Whether the presented token is the expected one, in time that depends on neither's content nor
 * length (both are hashed to 32 bytes first). An empty expected token matches nothing.
 */
export function tokenMatches(expected: string, presented: string | null | undefined): boolean {
  if (typeof presented !== 'string' || expected === '') return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, b);
}
