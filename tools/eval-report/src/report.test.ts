// Results in, worst cases out: other lines skipped, the worst of each case over its seeds kept
// figure by figure, one polyline per strategy in each figure, every case in the tables.
import { describe, expect, it } from 'vitest';
import { type EvalResult, parseResults, rateLabel, renderMarkdown, renderSvg, worstCases } from './index.ts';

const row = (
  strategy: string,
  attackRate: number,
  seed: number,
  validSuccess: number,
  p99: number | null = 40,
) =>
  ({
    mode: 'sim',
    scenario: 'syn-flood',
    strategy,
    attackRate,
    attackUnit: 'pps',
    seed,
    validSuccess,
    validSuccessNew: validSuccess,
    validSuccessReturning: 1,
    setupP50Ms: 40,
    setupP99Ms: p99,
    setupP99NewMs: p99,
    validFalselyReset: 0,
    priority0Shed: 0,
    partnerSuccess: 1,
    attackerSlots: 0.5,
    challengesSent: 10,
    sourcesVerified: 3,
  }) satisfies EvalResult;

const text = [
  JSON.stringify(row('priority', 0, 1, 1)),
  'not json',
  JSON.stringify({ mode: 'bench', x: 1 }),
  JSON.stringify({ ...row('priority', 0, 1, 1), attackUnit: 'furlongs' }),
  JSON.stringify(row('priority', 1000, 1, 0.995, 1000)),
  JSON.stringify(row('priority', 1000, 2, 0.99, 80)),
  JSON.stringify(row('none', 0, 1, 1)),
  JSON.stringify(row('none', 1000, 1, 0.1, null)),
  '',
].join('\n');

describe('eval report', () => {
  it('reads only result lines', () => {
    expect(parseResults(text)).toHaveLength(5);
  });

  it('keeps the worst of each figure over the seeds', () => {
    const w = worstCases(parseResults(text));
    expect(w).toHaveLength(4);
    const p = w.find((r) => r.strategy === 'priority' && r.attackRate === 1000);
    expect(p).toMatchObject({ runs: 2, worstSeed: 2, validSuccess: 0.99, setupP99Ms: 1000 });
  });

  it('draws one polyline per strategy with a point per rate', () => {
    const svg = renderSvg(worstCases(parseResults(text)), 'syn-flood');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg).toContain('data-strategy="priority"');
    expect(svg).toContain('>1k<');
    expect(svg).toContain('attack rate (packets/s)');
  });

  it('tabulates every case, and the priority defense in detail', () => {
    const md = renderMarkdown(worstCases(parseResults(text)), 'defense', ['syn-flood']);
    expect(md).toContain('## syn-flood');
    expect(md).toContain('![syn-flood: valid success vs attack rate](defense/sim-syn-flood.svg)');
    expect(md).toContain('| priority | 1 | 0.990 |');
    expect(md).toContain('| none | 1 | 0.100 |');
    expect(md).toContain('| 1k | 2 | 0.990 | 0.990 | 1 | 1000 | 1000 | 0 | 0 | 0 | 1 | 0.500 | 10 | 3 | 2 |');
  });

  it('labels rates compactly', () => {
    expect([0, 999, 1000, 1500, 20_000, 1_500_000].map(rateLabel)).toEqual([
      '0',
      '999',
      '1k',
      '1.5k',
      '20k',
      '1.5M',
    ]);
  });
});
