// The flood suite end to end, short: the real daemon, an idle phase and a native-generator flood
// of one second each; checks the JSON lines are well formed and /healthz answered under the
// flood. No timing assertions: the figures are for docs/BENCHMARKS.md, not for CI.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const NODE = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'node_modules', '.bin', 'node');

describe('bench flood', () => {
  it('prints one well-formed line per figure and /healthz answers under the flood', () => {
    const r = spawnSync(NODE, [MAIN, 'flood', '--seconds', '1', '--rate', '100000'], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byFigure = new Map(lines.map((l) => [l.figure, l]));
    expect([...byFigure.keys()].sort()).toEqual([
      'healthzMs',
      'metricsScrapeMs',
      'offered',
      'rescorerPassMs',
    ]);
    for (const l of lines) {
      expect(l).toMatchObject({ suite: 'flood', io: 'native', workers: 1 });
    }
    const offered = byFigure.get('offered')!;
    expect(offered.offeredMpps).toBeGreaterThan(0);
    const healthz = byFigure.get('healthzMs')!;
    expect(healthz.floodRequests).toBeGreaterThan(0);
    expect(healthz.idleRequests).toBeGreaterThan(0);
    expect(typeof healthz.floodP99).toBe('number');
    expect(typeof healthz.ratioP99).toBe('number');
    expect(healthz.failed).toBe(0);
  });
});
