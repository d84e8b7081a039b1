// The lab suite end to end, short (2 s windows): the namespace lab with the director in its own
// namespace, valid clients, hping3 --flood and the native generator, `none` then `priority`.
// Checks the lines' shape and that the lab carried traffic; no performance thresholds (those are
// docs/BENCHMARKS.md's, measured on a quiet machine). Serialised with every other lab user
// through flock on /tmp/sluice-lab.lock; needs root.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const NODE = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'node_modules', '.bin', 'node');

const NUMBERS = [
  'offeredPps',
  'hpingPps',
  'generatorPps',
  'directorPps',
  'rcvbufErrors',
  'softnetDrops',
  'validAttempts',
  'validSuccess',
  'challengesSent',
] as const;

describe('bench lab (needs root, hping3, the native generator)', () => {
  it('prints one well-formed line per strategy, with floods offered and valid clients measured', () => {
    const r = spawnSync('flock', ['-w', '900', '/tmp/sluice-lab.lock', NODE, MAIN, 'lab', '--seconds', '2'], {
      encoding: 'utf8',
      timeout: 1_200_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.strategy)).toEqual(['none', 'priority']);
    for (const l of lines) {
      expect(l).toMatchObject({ suite: 'lab', io: 'native' });
      for (const k of NUMBERS) expect(typeof l[k], k).toBe('number');
      expect(l.hpingPps).toBeGreaterThan(0);
      expect(l.generatorPps).toBeGreaterThan(0);
      expect(l.directorPps).toBeGreaterThan(0);
      expect(l.validAttempts).toBeGreaterThan(0);
      expect(Object.keys(l.realServers as object)).toContain('SyncookiesSent');
    }
  }, 1_300_000);
});
