import { describe, expect, it } from 'vitest';
import { meetsTargets, type ReportLine, renderWorstTable, worstCases } from './report.ts';

const line = (over: Partial<ReportLine>): ReportLine => ({
  scenario: 'spoof-kernel',
  strategy: 'priority',
  attackLevel: 2000,
  attackPps: 15000,
  validSuccess: 1,
  validSuccessNew: 1,
  validSuccessReturning: 1,
  setupP99MsNew: 20,
  validFalselyReset: 0,
  priority0Shed: 0,
  labHealthy: true,
  ...over,
});

describe('worstCases', () => {
  it('takes the worst level of each scenario and strategy, not the mean', () => {
    const rows = worstCases([
      line({ attackLevel: 120, validSuccess: 1 }),
      line({
        attackLevel: 20000,
        attackPps: 39000,
        validSuccess: 0.95,
        validSuccessNew: 0.93,
        setupP99MsNew: 1100,
      }),
      line({ attackLevel: 2000, validSuccess: 0.99, validFalselyReset: 0.002 }),
      line({ strategy: 'none', attackLevel: 2000, validSuccess: 0.98 }),
    ]);
    expect(rows).toHaveLength(2);
    const p = rows[0];
    expect(p.validSuccess).toBe(0.95);
    expect(p.worstLevel).toBe(20000);
    expect(p.worstAttackPps).toBe(39000);
    expect(p.validSuccessNew).toBe(0.93);
    expect(p.setupP99MsNew).toBe(1100);
    expect(p.validFalselyReset).toBe(0.002);
    expect(p.runs).toBe(3);
    expect(p.meetsTargets).toBe(false);
    expect(p.atLeastNone).toBe(false);
    expect(rows[1].meetsTargets).toBeNull();
  });

  it('leaves out runs whose lab broke', () => {
    const rows = worstCases([line({ validSuccess: 0, labHealthy: false }), line({ validSuccess: 1 })]);
    expect(rows[0].validSuccess).toBe(1);
    expect(rows[0].runs).toBe(1);
  });

  it('checks every target on its own', () => {
    expect(meetsTargets(line({}))).toBe(true);
    expect(meetsTargets(line({ validSuccessReturning: 0.98 }))).toBe(false);
    expect(meetsTargets(line({ validSuccessNew: 0.96 }))).toBe(false);
    expect(meetsTargets(line({ setupP99MsNew: 1501 }))).toBe(false);
    expect(meetsTargets(line({ validFalselyReset: 0.0011 }))).toBe(false);
    expect(meetsTargets(line({ priority0Shed: 1 }))).toBe(false);
    expect(meetsTargets(line({ validSuccessNew: null, setupP99MsNew: null }))).toBe(true);
  });

  it('renders a row per scenario and strategy, marking a missed target', () => {
    const md = renderWorstTable(
      worstCases([line({ validSuccess: 0, validSuccessNew: 0 }), line({ strategy: 'none' })]),
    );
    expect(md.split('\n').filter((l) => l.startsWith('| spoof-kernel'))).toHaveLength(2);
    expect(md).toContain('**missed**, **below none**');
  });
});
