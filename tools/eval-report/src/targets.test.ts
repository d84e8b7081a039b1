// The worst case per scenario against issue 8's targets: the worst level and seed, never the mean;
// each target checked on its own; priority compared with `none`.
import { describe, expect, it } from 'vitest';
import { type EvalResult, meetsTargets, renderTargetsTable, worstPerScenario } from './index.ts';

const line = (over: Partial<EvalResult>): EvalResult => ({
  mode: 'lab',
  scenario: 'spoof-kernel',
  strategy: 'priority',
  attackRate: 15000,
  attackUnit: 'pps',
  seed: 1,
  validSuccess: 1,
  validSuccessNew: 1,
  validSuccessReturning: 1,
  setupP50Ms: 10,
  setupP99Ms: 20,
  setupP99NewMs: 20,
  validFalselyReset: 0,
  priority0Shed: 0,
  partnerSuccess: 1,
  attackerSlots: 0,
  challengesSent: 0,
  sourcesVerified: 0,
  ...over,
});

describe('worstPerScenario', () => {
  it('takes the worst level and seed of each scenario and strategy, not the mean', () => {
    const rows = worstPerScenario([
      line({ attackRate: 1000, validSuccess: 1 }),
      line({ attackRate: 39000, seed: 3, validSuccess: 0.95, validSuccessNew: 0.93, setupP99NewMs: 1100 }),
      line({ attackRate: 15000, validSuccess: 0.99, validFalselyReset: 0.002 }),
      line({ strategy: 'none', attackRate: 15000, validSuccess: 0.98 }),
    ]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      validSuccess: 0.95,
      worstRate: 39000,
      worstSeed: 3,
      validSuccessNew: 0.93,
      setupP99NewMs: 1100,
      validFalselyReset: 0.002,
      runs: 3,
      meetsTargets: false,
      atLeastNone: false,
    });
    expect(rows[1].meetsTargets).toBeNull();
    const idle = worstPerScenario([line({ validFalselyReset: 0.3, validResetIdle: 0.25 })]);
    expect(idle[0]).toMatchObject({ validFalselyReset: 0.05, validResetIdle: 0.25 });
  });

  it('keeps the simulator and the lab apart', () => {
    const rows = worstPerScenario([line({}), line({ mode: 'sim', validSuccess: 0.5 })]);
    expect(rows.map((r) => [r.mode, r.validSuccess])).toEqual([
      ['lab', 1],
      ['sim', 0.5],
    ]);
  });

  it('checks every target on its own', () => {
    expect(meetsTargets(line({}))).toBe(true);
    expect(meetsTargets(line({ validSuccessReturning: 0.98 }))).toBe(false);
    expect(meetsTargets(line({ validSuccessNew: 0.96 }))).toBe(false);
    expect(meetsTargets(line({ setupP99NewMs: 1501 }))).toBe(false);
    expect(meetsTargets(line({ validFalselyReset: 0.0011 }))).toBe(false);
    // resets after the response, idle since (keep-alive connections closed at capacity) are apart
    expect(meetsTargets(line({ validFalselyReset: 0.3, validResetIdle: 0.2995 }))).toBe(true);
    expect(meetsTargets(line({ validFalselyReset: 0.3, validResetIdle: 0.298 }))).toBe(false);
    expect(meetsTargets(line({ priority0Shed: 1 }))).toBe(false);
    expect(meetsTargets(line({ validSuccessNew: null, setupP99NewMs: null }))).toBe(true);
  });

  it('renders a row per scenario and strategy, marking a missed target', () => {
    const md = renderTargetsTable(
      worstPerScenario([line({ validSuccess: 0, validSuccessNew: 0 }), line({ strategy: 'none' })]),
    );
    expect(md.split('\n').filter((l) => l.startsWith('| spoof-kernel'))).toHaveLength(2);
    expect(md).toContain('**missed**, **below none**');
    expect(md).toContain('(15000 pps, seed 1)');
  });
});
