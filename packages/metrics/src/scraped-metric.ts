// ScrapedMetric: a prom-client metric whose samples are computed when Prometheus scrapes, from
// memory the workers already write (the counter block, the connection table, the real-server
// counters). prom-client's Counter and Histogram can only be incremented or observed, and the
// workers count into shared memory with no prom-client on the packet path, so the numbers have
// to be copied at scrape time. An object with `get()` is what the Registry formats; building the
// sample list anew at every `get()` means a label set that left the config leaves the output at
// the next scrape, with no stale series to remove by hand.
import type { Metric, Registry } from 'prom-client';

export type ScrapedType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  value: number;
  labels: Record<string, string>;
  /** For a histogram's `_bucket`, `_sum` and `_count` lines; omitted: the metric's name. */
  metricName?: string;
}

/** What prom-client's Registry reads from a metric: the shape its own metrics' `get()` returns. */
export interface ScrapedValues {
  name: string;
  help: string;
  type: ScrapedType;
  values: Sample[];
  aggregator: 'sum';
}

export class ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: ScrapedType;
  private readonly read: () => Sample[];

  constructor(name: string, help: string, type: ScrapedType, read: () => Sample[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.read = read;
  }

  // `read()` runs before the first await: the Registry calls every metric's get() in one
  // synchronous pass, which is what lets one scrape share one topology and one table scan.
  async get(): Promise<ScrapedValues> {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: 'sum' };
  }

  /** `Registry.resetMetrics()` calls this; the values live in shared memory, so there is nothing to reset. */
  reset(): void {}
}

/**
 * Registers a ScrapedMetric. The Registry's type admits only prom-client's own classes, but at
 * run time it uses nothing beyond `name`, `type`, `get()` and `reset()`, which ScrapedMetric has.
 */
export function register(registry: Registry, metric: ScrapedMetric): void {
  registry.registerMetric(metric as unknown as Metric);
}

/**
 * Samples of a Prometheus histogram from per-bucket (non-cumulative) counts: `counts[i]` is the
 * number of observations in (bounds[i-1], bounds[i]], and `counts[bounds.length]` those above
 * the last bound. Emits cumulative `le` buckets, `+Inf`, `_sum` and `_count`. The count is the
 * +Inf bucket rather than a separately kept total: the workers update the bucket and the total
 * without a lock, and a scrape between the two must still expose `+Inf` == `_count`.
 */
export function histogramSamples(
  name: string,
  bounds: readonly number[],
  counts: ArrayLike<number>,
  sum: number,
): Sample[] {
  if (counts.length !== bounds.length + 1) {
    throw new RangeError(`histogram ${name}: ${counts.length} counts for ${bounds.length} bounds`);
  }
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += counts[i];
    // String() gives the shortest text that parses back to the same float, as Go's client prints `le`.
    out.push({ metricName: `${name}_bucket`, labels: { le: String(bounds[i]) }, value: cumulative });
  }
  cumulative += counts[bounds.length];
  out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels: {}, value: sum });
  out.push({ metricName: `${name}_count`, labels: {}, value: cumulative });
  return out;
}
