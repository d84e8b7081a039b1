// The daemon refusing a broken config file at start (no lab, no root needed): it must exit
// non-zero, say which file and which line so the operator can fix it, and leave the file exactly
// as it was (a daemon that "repairs" or re-seeds a config it cannot read destroys the operator's
// text) with nothing else written beside it (no token, no temp file).
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { DirectorFiles, DirectorProcess } from '@sluice/lab';
import { afterEach, describe, expect, it } from 'vitest';

/** A config that would load, pretty-printed so each field has a line of its own. */
function goodConfigText(tokenPath: string): string {
  const config = {
    daemon: {
      vxlan: { address: '127.0.0.1', port: 4789 },
      api: { address: '127.0.0.1', port: 0 },
      workers: 1,
      connectionCapacity: 65536,
      tokenFile: tokenPath,
    },
    overlay: { vni: 100, directorMac: '02:53:4c:00:00:01' },
    services: [
      {
        name: 'web4',
        vip: '10.231.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        persistence: null,
        reals: [{ address: '10.231.0.11', port: 80, vtep: '192.168.231.11', mac: null }],
      },
    ],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The 1-based number of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`no line contains ${needle}`);
  return i + 1;
}

describe('sluice run with a corrupt config file', () => {
  let files: DirectorFiles | null = null;
  afterEach(async () => {
    await files?.cleanup();
    files = null;
  });

  /** Writes `text` as the config (no token file: a failed start must not make one), runs the daemon. */
  async function runWith(text: string) {
    files = await DirectorFiles.create('sluice-e2e-cfg-');
    const tokenPath = `${files.dir}/never-made-token`;
    await writeFile(files.configPath, text.replaceAll('@TOKEN@', tokenPath));
    const written = await readFile(files.configPath);
    const mtime = (await stat(files.configPath)).mtimeMs;
    const entries = (await readdir(files.dir)).sort();
    const daemon = DirectorProcess.spawn(files.configPath);
    const exit = await daemon.waitExit(30_000);
    if (exit === null) {
      daemon.child.kill('SIGKILL');
      await daemon.waitExit(10_000);
    }
    return {
      exit,
      daemon,
      configPath: files.configPath,
      unchanged: {
        bytes: (await readFile(files.configPath)).equals(written),
        mtime: (await stat(files.configPath)).mtimeMs === mtime,
        entries: JSON.stringify((await readdir(files.dir)).sort()) === JSON.stringify(entries),
      },
    };
  }

  it('a JSON syntax error: exit non-zero, stderr names file:line, the file is untouched', async () => {
    const good = goodConfigText('@TOKEN@');
    const line = lineOf(good, '"scheduler": "rr"');
    // An unquoted value on that line: invalid JSON whose position only a line number conveys.
    const text = good.replace('"scheduler": "rr"', '"scheduler": rr');
    const r = await runWith(text);
    expect(r.exit, `the daemon did not exit by itself\n${r.daemon.output()}`).not.toBeNull();
    expect(r.exit!.code, r.daemon.output()).not.toBe(0);
    expect(r.exit!.signal).toBeNull();
    expect(r.daemon.stderr).toContain(`${r.configPath}:${line}`);
    expect(r.daemon.stdout, 'it must not claim to be running').not.toContain('running');
    expect(r.unchanged).toEqual({ bytes: true, mtime: true, entries: true });
  }, 60_000);

  it('valid JSON with an invalid value: exit non-zero, stderr names file:line and the field', async () => {
    const good = goodConfigText('@TOKEN@');
    // The real's port (the first `"port": 80` after the real's address; the service's comes
    // before it) becomes "x".
    const realLine = lineOf(good, '"address": "10.231.0.11"');
    const lines = good.split('\n');
    const realPortLine = lines.findIndex((l, i) => i >= realLine && l.includes('"port": 80'));
    lines[realPortLine] = lines[realPortLine].replace('"port": 80', '"port": "x"');
    const r = await runWith(lines.join('\n'));
    expect(r.exit, `the daemon did not exit by itself\n${r.daemon.output()}`).not.toBeNull();
    expect(r.exit!.code, r.daemon.output()).not.toBe(0);
    expect(r.daemon.stderr).toContain(`${r.configPath}:${realPortLine + 1}`);
    expect(r.daemon.stderr).toContain('/services/0/reals/0/port');
    expect(r.unchanged).toEqual({ bytes: true, mtime: true, entries: true });
  }, 60_000);
});
