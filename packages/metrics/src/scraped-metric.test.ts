import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { histogramSamples, register, ScrapedMetric } from './scraped-metric.ts';
import { parseExposition } from './test-helpers.ts';

describe('histogramSamples', () => {
  const bounds = [0.001, 0.01, 0.1];

  it('accumulates per-bucket counts into monotone le buckets ending in +Inf == count', () => {
    const s = histogramSamples('h', bounds, [2, 0, 5, 1], 0.75);
    expect(s.map((x) => [x.metricName, x.labels.le, x.value])).toEqual([
      ['h_bucket', '0.001', 2],
      ['h_bucket', '0.01', 2],
      ['h_bucket', '0.1', 7],
      ['h_bucket', '+Inf', 8],
      ['h_sum', undefined, 0.75],
      ['h_count', undefined, 8],
    ]);
  });

  it('prints le as the shortest text that parses back to the bound', () => {
    const s = histogramSamples('h', [0.00001, 0.000025, 1e-7, 2.5], [0, 0, 0, 0, 0], 0);
    expect(s.slice(0, 4).map((x) => x.labels.le)).toEqual(['0.00001', '0.000025', '1e-7', '2.5']);
    for (const x of s.slice(0, 4)) expect(Number(x.labels.le)).not.toBeNaN();
  });

  it('rejects a count array that does not match the bounds', () => {
    expect(() => histogramSamples('h', bounds, [1, 2, 3], 0)).toThrow(RangeError);
  });
});

describe('ScrapedMetric in a prom-client Registry', () => {
  it('reads its samples at every scrape, so label sets follow the source', async () => {
    const registry = new Registry();
    let labels = ['a', 'b'];
    let calls = 0;
    register(
      registry,
      new ScrapedMetric('x_things', 'Things.', 'gauge', () => {
        calls++;
        return labels.map((name, i) => ({ labels: { name }, value: i + 1 }));
      }),
    );
    expect(calls).toBe(0);
    expect(parseExposition(await registry.metrics())).toEqual(
      new Map([
        ['x_things{name="a"}', 1],
        ['x_things{name="b"}', 2],
      ]),
    );
    labels = ['b'];
    expect(parseExposition(await registry.metrics())).toEqual(new Map([['x_things{name="b"}', 1]]));
    expect(calls).toBe(2);
    // resetMetrics() must not break on it: the values live elsewhere.
    registry.resetMetrics();
    expect(parseExposition(await registry.metrics()).size).toBe(1);
  });
});
