import { spawn } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_CONFIG } from './demo.ts';
import { ConfigFileError, ConfigFileMissingError, ConfigValidationError } from './errors.ts';
import { loadConfigFile, removeStaleTempFiles, saveConfigFile } from './file.ts';
import type { ConfigFile } from './schema.ts';
import { validateConfigFile } from './validate.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Line numbers matter below: "weight" is on line 17.
const LINES = [
  '{',
  '  "daemon": {',
  '    "workers": 1',
  '  },',
  '  "overlay": { "vni": 42, "directorMac": "02:5c:00:00:00:01" },',
  '  "services": [',
  '    {',
  '      "name": "web",',
  '      "vip": "10.42.0.100",',
  '      "port": 80,',
  '      "reals": [',
  '        { "address": "10.42.0.11", "port": 80, "vtep": "192.0.2.11" },',
  '        {',
  '          "address": "10.42.0.12",',
  '          "port": 80,',
  '          "vtep": "192.0.2.12",',
  '          "weight": 1',
  '        }',
  '      ]',
  '    }',
  '  ]',
  '}',
];

/** LINES with line `n` (1-based) passed through `edit`. */
function edited(n: number, edit: (line: string) => string, eol = '\n'): string {
  return LINES.map((l, i) => (i === n - 1 ? edit(l) : l)).join(eol);
}

async function loadError(text: string): Promise<ConfigFileError> {
  const path = join(dir, 'config.json');
  await writeFile(path, text);
  const err = await loadConfigFile(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigFileError);
  return err as ConfigFileError;
}

describe('loadConfigFile', () => {
  it('loads, validates and fills defaults', async () => {
    const path = join(dir, 'config.json');
    await writeFile(path, LINES.join('\n'));
    const config = await loadConfigFile(path);
    expect(config.daemon.api).toEqual({ address: '127.0.0.1', port: 9180 });
    expect(config.services[0].reals[1]).toMatchObject({ weight: 1, mac: null, state: 'active' });
  });

  it('accepts CRLF line ends and a byte-order mark', async () => {
    const path = join(dir, 'config.json');
    await writeFile(path, `\ufeff${LINES.join('\r\n')}`);
    expect((await loadConfigFile(path)).services).toHaveLength(1);
  });

  it('a missing file is a ConfigFileMissingError (a ConfigFileError) saying so', async () => {
    const path = join(dir, 'nope.json');
    const err = await loadConfigFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigFileMissingError);
    expect(err).toBeInstanceOf(ConfigFileError);
    expect(err).toMatchObject({ code: 'SLUICE_ERR_CONFIG_FILE_MISSING', file: path, line: null });
    expect((err as Error).message).toBe(`${path}: does not exist`);
  });

  it('an unreadable path is a ConfigFileError, not a missing file', async () => {
    const err = await loadConfigFile(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigFileError);
    expect(err).not.toBeInstanceOf(ConfigFileMissingError);
    expect((err as Error).message).toMatch(/cannot be read/);
  });

  describe('JSON syntax errors name the line, and the column in the message', () => {
    const cases: [string, string, number, number][] = [
      ['a missing comma', edited(8, (l) => l.replace(',', '')), 9, 7],
      ['a trailing comma', edited(17, (l) => `${l},`), 18, 9],
      ['a missing colon', edited(15, (l) => l.replace(':', '')), 15, 18],
      ['an unterminated string', edited(14, (l) => l.replace('12",', '12,')), 14, 34],
      ['a stray word', edited(10, (l) => l.replace('80', 'eighty')), 10, 15],
      ['a missing bracket at the end', LINES.slice(0, -1).join('\n'), 21, 4],
      ['text after the document', `${LINES.join('\n')}\n\n}`, 24, 1],
    ];
    for (const [name, text, line, column] of cases) {
      it(name, async () => {
        const err = await loadError(text);
        expect(err.line).toBe(line);
        expect(err.message).toMatch(new RegExp(`:${line}: invalid JSON at column ${column}: `));
        // With CRLF line ends the lines are the same.
        expect((await loadError(text.replaceAll('\n', '\r\n'))).line).toBe(line);
      });
    }

    it('an empty file', async () => {
      const err = await loadError('');
      expect(err.line).toBe(1);
      expect(err.message).toMatch(/empty/);
    });
  });

  describe('validation errors name the line of the offending field', () => {
    it('a bad nested field', async () => {
      expect(LINES[16]).toContain('"weight"');
      const path = join(dir, 'config.json');
      const err = await loadError(edited(17, (l) => l.replace('1', '-3')));
      expect(err.file).toBe(path);
      expect(err.line).toBe(17);
      expect(err.message).toBe(
        `${path}:17: /services/0/reals/1/weight: must be an integer from 0 to 65535 (got -3)`,
      );
      expect(err.cause).toBeInstanceOf(ConfigValidationError);
    });

    it('a field that is not written: the line of its object', async () => {
      const err = await loadError(edited(12, (l) => l.replace(', "vtep": "192.0.2.11"', '')));
      expect(err.line).toBe(12);
      expect(err.message).toMatch(/\/services\/0\/reals\/0\/vtep: is required/);
    });

    it('a semantic rule', async () => {
      const err = await loadError(edited(14, (l) => l.replace('10.42.0.12', '10.42.0.11')));
      expect(err.line).toBe(13);
      expect(err.message).toMatch(/\/services\/0\/reals\/1: real server 10\.42\.0\.11 port 80 is already/);
      const bad = await loadError(edited(9, (l) => l.replace('10.42.0.100', '10.42.0.1000')));
      expect(bad.line).toBe(9);
    });

    it('an unknown key with "/" and "~" in it', async () => {
      const err = await loadError(edited(3, (l) => `${l},\n    "a/b~c": 1`));
      expect(err.line).toBe(4);
      expect(err.message).toMatch(/\/daemon\/a~1b~0c: is an unknown property/);
    });

    it('the whole document: no line', async () => {
      const err = await loadError('[]');
      expect(err.line).toBeNull();
      expect(err.message).toMatch(/must be an object/);
    });
  });

  it('a broken file is left exactly as it was', async () => {
    const path = join(dir, 'config.json');
    const text = edited(8, (l) => l.replace(',', ''));
    await writeFile(path, text);
    const before = await stat(path);
    await expect(loadConfigFile(path)).rejects.toThrow(ConfigFileError);
    expect(await readFile(path, 'utf8')).toBe(text);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(dir)).toEqual(['config.json']);
  });
});

function variant(weight: number): ConfigFile {
  const c = validateConfigFile(DEMO_CONFIG);
  c.services[0].reals[0].weight = weight;
  // Make the two versions differ in length too, so a torn write could not look whole.
  c.services[0].name = weight % 2 === 0 ? 'web' : 'web-with-a-longer-name';
  return c;
}

describe('saveConfigFile', () => {
  it('writes pretty JSON with a trailing newline that loads back the same', async () => {
    const path = join(dir, 'config.json');
    const config = variant(5);
    await saveConfigFile(path, config);
    const text = await readFile(path, 'utf8');
    expect(text).toBe(`${JSON.stringify(config, null, 2)}\n`);
    expect(await loadConfigFile(path)).toEqual(config);
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  it('creates a new file with mode 0600 and keeps the mode of an existing one', async () => {
    const path = join(dir, 'config.json');
    await saveConfigFile(path, variant(1));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await chmod(path, 0o640);
    await saveConfigFile(path, variant(2));
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });

  it('replaces the file a symlink points to and keeps the symlink', async () => {
    await mkdir(join(dir, 'real'));
    const real = join(dir, 'real', 'config.json');
    const link = join(dir, 'config.json');
    await saveConfigFile(real, variant(1));
    await symlink(real, link);
    await saveConfigFile(link, variant(2));
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await loadConfigFile(real)).services[0].reals[0].weight).toBe(2);
  });

  it('refuses an invalid config and leaves the file alone', async () => {
    const path = join(dir, 'config.json');
    await saveConfigFile(path, variant(1));
    const before = await readFile(path, 'utf8');
    const bad = variant(2);
    bad.services[0].reals[1].address = bad.services[0].reals[0].address;
    await expect(saveConfigFile(path, bad)).rejects.toThrow(ConfigValidationError);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  it('a failed save is a ConfigFileError and leaves no temp file', async () => {
    await expect(saveConfigFile(join(dir, 'missing', 'config.json'), variant(1))).rejects.toThrow(
      ConfigFileError,
    );
    // rename() cannot replace a directory: the failure comes after the temp file is written.
    const path = join(dir, 'config.json');
    await mkdir(path);
    const err = await saveConfigFile(path, variant(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigFileError);
    expect((err as Error).message).toMatch(/cannot be saved/);
    expect(await readdir(dir)).toEqual(['config.json']);
    expect((await stat(path)).isDirectory()).toBe(true);
  });

  it('a temp file left by a crash neither shadows the file nor blocks the next save', async () => {
    const path = join(dir, 'config.json');
    await saveConfigFile(path, variant(1));
    const leftover = join(dir, `.config.json.${process.pid}.0123456789ab.tmp`);
    await writeFile(leftover, '{"daemon": {"wor');
    expect((await loadConfigFile(path)).services[0].reals[0].weight).toBe(1);
    await saveConfigFile(path, variant(2));
    expect((await loadConfigFile(path)).services[0].reals[0].weight).toBe(2);
  });

  it('a reader never sees a partial file while saves run', async () => {
    const path = join(dir, 'config.json');
    const a = variant(2);
    const b = variant(3);
    await saveConfigFile(path, a);
    let saving = true;
    const writer = (async () => {
      for (let i = 0; i < 150; i++) await saveConfigFile(path, i % 2 === 0 ? b : a);
      saving = false;
    })();
    let reads = 0;
    while (saving) {
      const seen = JSON.parse(await readFile(path, 'utf8'));
      expect([2, 3]).toContain(seen.services[0].reals[0].weight);
      expect(seen).toEqual(seen.services[0].reals[0].weight === 2 ? a : b);
      reads++;
    }
    await writer;
    expect(reads).toBeGreaterThan(10);
  });

  it('a process killed mid-save leaves the old file or the new one, whole', async () => {
    const path = join(dir, 'config.json');
    const configs = [variant(2), variant(3)];
    await saveConfigFile(path, configs[0]);
    const script = join(dir, 'save-loop.mjs');
    await writeFile(
      script,
      [
        `import { saveConfigFile } from ${JSON.stringify(new URL('./file.ts', import.meta.url).href)};`,
        `const configs = ${JSON.stringify(configs)};`,
        'process.stdout.write("ready\\n");',
        `for (let i = 1; ; i++) await saveConfigFile(${JSON.stringify(path)}, configs[i % 2]);`,
      ].join('\n'),
    );
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`save loop exited early (${code})`)));
      });
      await new Promise((r) => setTimeout(r, 10 + round * 25));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const loaded = await loadConfigFile(path);
      expect(configs).toContainEqual(loaded);
    }
  });
});

describe('removeStaleTempFiles', () => {
  it("removes the temp files of a save whose process is gone, not a live one's, nor anything else", async () => {
    const path = join(dir, 'config.json');
    await saveConfigFile(path, validateConfigFile(DEMO_CONFIG));
    // A pid that certainly belonged to a process that has exited.
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = child.pid as number;
    await new Promise((r) => child.on('close', r));
    const dead = `.config.json.${deadPid}.a1b2c3d4e5f6.tmp`;
    const live = `.config.json.${process.pid}.0123456789ab.tmp`;
    const other = `.token.${deadPid}.a1b2c3d4e5f6.tmp`;
    for (const name of [dead, live, other]) await writeFile(join(dir, name), '{"half":');
    expect(await removeStaleTempFiles(path)).toBe(1);
    expect((await readdir(dir)).sort()).toEqual([live, other, 'config.json'].sort());
    expect((await loadConfigFile(path)).services).toEqual(validateConfigFile(DEMO_CONFIG).services);
  });
});
