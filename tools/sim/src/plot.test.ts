// Figures and tables from JSON lines: a line per strategy in each scenario's SVG, every run in
// the tables, and anything that is not a sim result skipped.
import { describe, expect, it } from 'vitest';
import { parseResults, rateLabel, renderMarkdown, renderSvg } from './plot.ts';

const row = (strategy: string, attackPps: number, validSuccess: number) => ({
  mode: 'sim',
  scenario: 'syn-flood',
  strategy,
  attackPps,
  validSuccess,
  setupP50Ms: 40,
  setupP99Ms: null,
  validFalselyReset: 0,
  priority0Shed: 0,
  attackerSlots: 0.5,
});

const text = [
  JSON.stringify(row('priority', 0, 1)),
  'not json',
  JSON.stringify({ mode: 'bench', x: 1 }),
  JSON.stringify(row('priority', 1000, 0.995)),
  JSON.stringify(row('none', 0, 1)),
  JSON.stringify(row('none', 1000, 0.1)),
  '',
].join('\n');

describe('plot', () => {
  it('reads only sim lines', () => {
    expect(parseResults(text)).toHaveLength(4);
  });

  it('draws one polyline per strategy with a point per rate', () => {
    const svg = renderSvg(parseResults(text), 'syn-flood');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg).toContain('data-strategy="priority"');
    expect(svg).toContain('>1k<');
  });

  it('tabulates every run', () => {
    const md = renderMarkdown(parseResults(text), 'defense');
    expect(md).toContain('## syn-flood');
    expect(md).toContain('![syn-flood: valid success vs attack rate](defense/sim-syn-flood.svg)');
    expect(md).toContain('| priority | 1 | 0.995 |');
    expect(md).toContain('| none | 1000 | 0.100 | 40 | – | 0 | 0 | – | 0.500 |');
  });

  it('labels rates', () => {
    expect([0, 500, 1000, 50_000, 1_500_000].map(rateLabel)).toEqual(['0', '500', '1k', '50k', '1.5M']);
  });
});
