// @sluice/metrics: the director's Prometheus metrics, read from shared memory at scrape time.
export { CONNECTION_STATE_NAMES, ConnectionCensus, UDP_STATE_NAME } from './connection-census.ts';
export { createMetrics, type MetricsSource, type SluiceMetrics } from './metrics.ts';
export { histogramSamples, type Sample, ScrapedMetric, type ScrapedType } from './scraped-metric.ts';
export {
  MetricsTopologyError,
  type RealHealth,
  type RealTopology,
  type ServiceTopology,
  type Topology,
  validateTopology,
} from './topology.ts';
