import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigFileError } from './errors.ts';
import { loadOrCreateToken, tokenMatches } from './token.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-token-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadOrCreateToken', () => {
  it('creates 32 random bytes as base64url, mode 0600, once', async () => {
    const path = join(dir, 'token');
    const first = await loadOrCreateToken(path);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(first.token, 'base64url')).toHaveLength(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe(`${first.token}\n`);
    expect(await loadOrCreateToken(path)).toEqual({ token: first.token, created: false });
    expect(await readdir(dir)).toEqual(['token']);
    const other = await loadOrCreateToken(join(dir, 'token2'));
    expect(other.token).not.toBe(first.token);
  });

  it('reads an existing token, trimmed', async () => {
    const path = join(dir, 'token');
    await writeFile(path, '  s3cret-token\n\n', { mode: 0o600 });
    expect(await loadOrCreateToken(path)).toEqual({ token: 's3cret-token', created: false });
  });

  it('refuses a token file group or others may read or write, saying how to fix it', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'abc\n', { mode: 0o600 });
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602]) {
      await chmod(path, mode);
      const err = await loadOrCreateToken(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigFileError);
      expect(err).toMatchObject({ file: path, line: null, code: 'SLUICE_ERR_CONFIG_FILE' });
      expect((err as Error).message).toContain(`mode 0${mode.toString(8)}`);
      expect((err as Error).message).toContain(`chmod 600 ${path}`);
    }
    await chmod(path, 0o400);
    expect((await loadOrCreateToken(path)).token).toBe('abc');
  });

  it('refuses an empty token file and does not replace it', async () => {
    const path = join(dir, 'token');
    await writeFile(path, ' \n', { mode: 0o600 });
    await expect(loadOrCreateToken(path)).rejects.toThrow(/is empty/);
    expect(await readFile(path, 'utf8')).toBe(' \n');
  });

  it('refuses a directory', async () => {
    await expect(loadOrCreateToken(dir)).rejects.toThrow(/not a regular file/);
  });

  it('a missing directory is a ConfigFileError', async () => {
    const err = await loadOrCreateToken(join(dir, 'no', 'token')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigFileError);
    expect((err as Error).message).toMatch(/cannot be created/);
  });

  it('callers racing to create agree on one token, made once', async () => {
    const path = join(dir, 'token');
    const results = await Promise.all(Array.from({ length: 16 }, () => loadOrCreateToken(path)));
    expect(new Set(results.map((r) => r.token)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results[0].token).toBe((await readFile(path, 'utf8')).trim());
    expect(await readdir(dir)).toEqual(['token']);
  });
});

describe('tokenMatches', () => {
  it('matches exactly the expected token', () => {
    const t = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXo';
    expect(tokenMatches(t, t)).toBe(true);
    expect(tokenMatches(t, `${t}x`)).toBe(false);
    expect(tokenMatches(t, t.slice(1))).toBe(false);
    expect(tokenMatches(t, t.toLowerCase())).toBe(false);
    expect(tokenMatches(t, '')).toBe(false);
    expect(tokenMatches(t, undefined)).toBe(false);
    expect(tokenMatches(t, null)).toBe(false);
    expect(tokenMatches('é', 'é')).toBe(true);
  });

  it('an empty expected token matches nothing, not even an empty one', () => {
    expect(tokenMatches('', '')).toBe(false);
  });
});
