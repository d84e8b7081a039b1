// @sluice/metrics: the director's Prometheus metrics, read from shared memory at scrape time.
export {
  CONNECTION_STATE_NAMES,
  ConnectionCensus,
  PRIORITY_COUNT,
  UDP_STATE_NAME,
} from './connection-census.ts';
export { LVS_OFF, type LvsDefenseState, lvsDefenseState } from './lvs-state.ts';
export {
  createMetrics,
  DEFENSE_STRATEGIES,
  type DefenseStrategy,
  type MetricsSource,
  NEIGHBOR_STATES,
  NEW_CONNECTION_DROP_REASONS,
  type NeighborSnapshot,
  type NeighborState,
  type SluiceMetrics,
} from './metrics.ts';
export { RescorerWatch } from './rescorer-watch.ts';
export { histogramSamples, type Sample, ScrapedMetric, type ScrapedType } from './scraped-metric.ts';
export {
  MetricsTopologyError,
  type RealHealth,
  type RealTopology,
  type ServiceTopology,
  type Topology,
  validateTopology,
} from './topology.ts';
