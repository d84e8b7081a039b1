// A ScrapedMetric histogram's text, checked by a real promtool.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { histogramSamples, register, ScrapedMetric } from './scraped-metric.ts';
import { promtoolCheck } from './test-helpers.ts';

describe('ScrapedMetric in a prom-client Registry, checked by promtool', () => {
  it('formats a histogram as Prometheus text that promtool accepts', async () => {
    const registry = new Registry();
    register(
      registry,
      new ScrapedMetric('x_duration_seconds', 'Durations.', 'histogram', () =>
        histogramSamples('x_duration_seconds', [0.001, 0.01], [3, 4, 2], 0.0625),
      ),
    );
    const text = await registry.metrics();
    expect(text).toBe(
      [
        '# HELP x_duration_seconds Durations.',
        '# TYPE x_duration_seconds histogram',
        'x_duration_seconds_bucket{le="0.001"} 3',
        'x_duration_seconds_bucket{le="0.01"} 7',
        'x_duration_seconds_bucket{le="+Inf"} 9',
        'x_duration_seconds_sum 0.0625',
        'x_duration_seconds_count 9',
        '',
      ].join('\n'),
    );
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });
});
