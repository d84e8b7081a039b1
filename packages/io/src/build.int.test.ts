// The build script with the real compiler, and the fallback when there is none or the addon is
// broken: a build into a scratch directory yields an addon that loads; with no compiler the
// install-time build prints one line and succeeds (the explicit build fails); an addon that does
// not load makes `auto` choose dgram with the reason, and `native` an error with a stable code.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const script = path.join(pkg, 'scripts', 'build.mjs');
const index = new URL('./index.ts', import.meta.url).href;
const scratch = mkdtempSync(path.join(tmpdir(), 'sluice-io-build-'));

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env }, cwd: pkg });
}

/** What a fresh process sees of the addon at `addon`. */
function probe(addon: string) {
  const code = `
    const m = await import(${JSON.stringify(index)});
    let native = null;
    try { m.selectIo('native'); native = 'ok'; } catch (e) { native = e.code; }
    console.log(JSON.stringify({ available: m.isNativeIoAvailable(), error: m.nativeIoLoadError(), auto: m.selectIo('auto'), native }));`;
  const r = run(['--input-type=module', '-e', code], { SLUICE_IO_ADDON: addon });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    available: boolean;
    error: string | null;
    auto: { io: string; reason: string; fellBack: boolean };
    native: string;
  };
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the @sluice/io build', () => {
  it('builds the addon and the tools with the system cc; the addon loads', () => {
    const out = path.join(scratch, 'ok');
    const r = run([script, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['sluice_io.node', 'sluice-relay', 'sluice-gen'])
      expect(existsSync(path.join(out, f))).toBe(true);
    const seen = probe(path.join(out, 'sluice_io.node'));
    expect(seen).toEqual({
      available: true,
      error: null,
      auto: { io: 'native', reason: 'addon loaded', fellBack: false },
      native: 'ok',
    });
    // The tools run and check their arguments.
    const relay = spawnSync(path.join(out, 'sluice-relay'), ['--batch', '0'], { encoding: 'utf8' });
    expect(relay.status).toBe(2);
    expect(relay.stderr).toMatch(/--batch must be an integer/);
  });

  it('without a compiler: one line and success at install, failure when asked to build', () => {
    const out = path.join(scratch, 'none');
    const optional = run([script, '--optional', '--out', out], { CC: '/nonexistent/cc' });
    expect(optional.status).toBe(0);
    expect(optional.stdout.trim().split('\n')).toHaveLength(1);
    expect(optional.stdout).toMatch(
      /native I\/O addon not built \(no C compiler.*build-essential.*dgram port/,
    );
    expect(existsSync(out)).toBe(false);
    const explicit = run([script, '--out', out], { CC: '/nonexistent/cc' });
    expect(explicit.status).toBe(1);
    expect(explicit.stderr).toMatch(/build failed: no C compiler/);
  });

  it('an addon that is missing or does not load: auto falls back to dgram saying why, native is an error', () => {
    const missing = probe(path.join(scratch, 'missing', 'sluice_io.node'));
    expect(missing.available).toBe(false);
    expect(missing.error).toMatch(/is not built .*build-essential/);
    expect(missing.auto).toEqual({ io: 'dgram', reason: missing.error, fellBack: true });
    expect(missing.native).toBe('SLUICE_ERR_IO_UNAVAILABLE');

    const corrupt = path.join(scratch, 'corrupt.node');
    writeFileSync(corrupt, 'not an ELF object');
    const broken = probe(corrupt);
    expect(broken.available).toBe(false);
    expect(broken.error).toMatch(/did not load: .*(invalid ELF header|too short)/);
    expect(broken.auto.io).toBe('dgram');
    expect(broken.native).toBe('SLUICE_ERR_IO_UNAVAILABLE');
  });
});
