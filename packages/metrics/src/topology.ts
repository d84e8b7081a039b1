// The config as metrics see it: service names and real servers' address:port for labels, the
// indices that say where their counters are, health and weight. Checked at every scrape because
// an index past the counter block's limits would read another counter's words, and two series
// with one label set would make the whole exposition invalid; either is a control-plane bug, and
// a failed scrape (Prometheus records `up` 0) shows it where wrong numbers would not.

export type RealHealth = 'up' | 'down' | 'unknown' | 'unchecked';

export interface RealTopology {
  /** Global real-server index: the RealServerCounters and CounterBlock slot. */
  index: number;
  /** address:port, the `real` label. */
  id: string;
  health: RealHealth;
  weight: number;
  /** IPVS -x: connections (active + inactive) at which it is overloaded; 0 = no limit. */
  upperThreshold: number;
  /** IPVS -y: connections under which it takes new ones again; 0 = 3/4 of the upper. */
  lowerThreshold: number;
}

export interface ServiceTopology {
  /** Service index: the CounterBlock slot and the low 16 bits of connection keys. */
  index: number;
  /** The `service` label. */
  name: string;
  protocol: string;
  /** Routes QUIC by connection ID: its sluice_quic_* series exist. */
  quic?: boolean;
  reals: RealTopology[];
}

export interface Topology {
  version: number;
  services: ServiceTopology[];
}

export class MetricsTopologyError extends Error {
  readonly code = 'SLUICE_ERR_METRICS_TOPOLOGY';
}

const HEALTH = new Set<string>(['up', 'down', 'unknown', 'unchecked']);

function isIndex(v: unknown, limit: number): boolean {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) < limit;
}

/** Throws MetricsTopologyError unless every index fits the limits and every label set is unique. */
export function validateTopology(t: Topology, limits: { maxServices: number; maxReals: number }): void {
  if (!Number.isFinite(t.version)) throw new MetricsTopologyError(`version ${t.version} is not a number`);
  const serviceIndices = new Set<number>();
  const serviceNames = new Set<string>();
  const realIndices = new Set<number>();
  for (const [i, s] of t.services.entries()) {
    const at = `services[${i}]`;
    if (!isIndex(s.index, limits.maxServices)) {
      throw new MetricsTopologyError(`${at}.index ${s.index} is outside 0..${limits.maxServices - 1}`);
    }
    if (typeof s.name !== 'string' || s.name === '') throw new MetricsTopologyError(`${at}.name is empty`);
    if (serviceIndices.has(s.index)) throw new MetricsTopologyError(`${at}.index ${s.index} is used twice`);
    if (serviceNames.has(s.name)) throw new MetricsTopologyError(`${at}.name "${s.name}" is used twice`);
    serviceIndices.add(s.index);
    serviceNames.add(s.name);
    const ids = new Set<string>();
    for (const [j, r] of s.reals.entries()) {
      const rat = `${at}.reals[${j}]`;
      if (!isIndex(r.index, limits.maxReals)) {
        throw new MetricsTopologyError(`${rat}.index ${r.index} is outside 0..${limits.maxReals - 1}`);
      }
      if (realIndices.has(r.index)) throw new MetricsTopologyError(`${rat}.index ${r.index} is used twice`);
      if (typeof r.id !== 'string' || r.id === '') throw new MetricsTopologyError(`${rat}.id is empty`);
      if (ids.has(r.id)) throw new MetricsTopologyError(`${rat}.id "${r.id}" is used twice in the service`);
      if (!HEALTH.has(r.health)) throw new MetricsTopologyError(`${rat}.health "${r.health}" is not known`);
      if (!Number.isFinite(r.weight))
        throw new MetricsTopologyError(`${rat}.weight ${r.weight} is not a number`);
      for (const field of ['upperThreshold', 'lowerThreshold'] as const) {
        if (!Number.isInteger(r[field]) || r[field] < 0)
          throw new MetricsTopologyError(`${rat}.${field} ${r[field]} is not a non-negative integer`);
      }
      realIndices.add(r.index);
      ids.add(r.id);
    }
  }
}
