// The exposition parser on the shapes the director's /metrics serves: comments, bare samples,
// labels with escapes and IPv6 real ids, histogram buckets with +Inf, timestamps.
import { describe, expect, it } from 'vitest';
import { parseMetrics, Scrape } from './prometheus.ts';

const TEXT = `# HELP sluice_packets_total Frames the data plane classified, by verdict.
# TYPE sluice_packets_total counter
sluice_packets_total{verdict="drop"} 12
sluice_packets_total{verdict="forward"} 616
sluice_real_server_connections_total{service="web6",real="[fd22::11]:80"} 18
sluice_real_server_connections_total{service="web4",real="10.34.0.11:80"} 19
sluice_connection_table_entries 75
weird{path="a \\"quoted\\" \\\\ back\\nslash}",x="1"} 3 1700000000000
sluice_batch_duration_seconds_bucket{le="+Inf"} 42
nodejs_heap{space="new"} NaN
`;

describe('parseMetrics', () => {
  it('reads names, labels and values, skipping comments', () => {
    const samples = parseMetrics(TEXT);
    expect(samples).toHaveLength(8);
    expect(samples[0]).toEqual({ name: 'sluice_packets_total', labels: { verdict: 'drop' }, value: 12 });
    expect(samples[2].labels).toEqual({ service: 'web6', real: '[fd22::11]:80' });
    expect(samples[4]).toEqual({ name: 'sluice_connection_table_entries', labels: {}, value: 75 });
    expect(samples[5]).toEqual({
      name: 'weird',
      labels: { path: 'a "quoted" \\ back\nslash}', x: '1' },
      value: 3,
    });
    expect(samples[6].labels.le).toBe('+Inf');
    expect(samples[7].value).toBeNaN();
  });

  it('rejects what it cannot read', () => {
    expect(() => parseMetrics('9bad 1')).toThrow(/bad metrics line/);
    expect(() => parseMetrics('m{a="1} 2')).toThrow();
    expect(() => parseMetrics('m{a="1"} x')).toThrow(/bad sample value/);
  });
});

describe('Scrape', () => {
  const scrape = new Scrape(TEXT);
  it('selects by label subset and sums', () => {
    expect(scrape.sum('sluice_packets_total')).toBe(628);
    expect(scrape.sum('sluice_packets_total', { verdict: 'forward' })).toBe(616);
    expect(scrape.sum('sluice_real_server_connections_total', { service: 'web4' })).toBe(19);
    expect(scrape.select('sluice_real_server_connections_total', { real: '[fd22::11]:80' })).toHaveLength(1);
  });

  it('a series not reported sums to 0', () => {
    expect(scrape.sum('sluice_nothing')).toBe(0);
    expect(scrape.sum('sluice_packets_total', { verdict: 'reply' })).toBe(0);
  });
});
