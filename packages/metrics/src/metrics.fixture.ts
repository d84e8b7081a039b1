// The metrics tests' shared setup: a counter block, a table, real-server counters and a victim
// index behind a MetricsSource whose topology, workers and LVS state the test can change.
import { ConnectionTable } from '@sluice/conntrack';
import { CounterBlock } from '@sluice/dataplane';
import { VictimIndex } from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import type { LvsDefenseState } from './lvs-state.ts';
import { createMetrics, type DefenseStrategy, type MetricsSource } from './metrics.ts';
import { parseExposition } from './test-helpers.ts';
import type { Topology } from './topology.ts';

export const LIMITS = { maxWorkers: 3, maxServices: 8, maxReals: 16 };

export function setup(topology: Topology, defense: { victims?: boolean; lvs?: boolean } = {}) {
  const counters = CounterBlock.create(LIMITS);
  const connections = ConnectionTable.create(1024);
  const reals = RealServerCounters.create(LIMITS.maxReals);
  const victims = VictimIndex.create(LIMITS.maxReals);
  let topologyCalls = 0;
  let workers = 2;
  const state = {
    topology,
    lvs: { dropEntry: 0, dropPacket: 0, secureTcp: 0, dropRate: 0 } as LvsDefenseState,
    lvsCalls: 0,
    strategy: 'priority' as DefenseStrategy,
  };
  const source: MetricsSource = {
    counters,
    connections,
    reals,
    topology: () => {
      topologyCalls++;
      return state.topology;
    },
    workers: () => workers,
    configuredWorkers: 2,
  };
  if (defense.victims !== false) source.victims = victims;
  if (defense.lvs !== false) {
    source.lvs = () => {
      state.lvsCalls++;
      return state.lvs;
    };
    source.strategy = () => state.strategy;
  }
  const metrics = createMetrics(source);
  return {
    counters,
    connections,
    reals,
    victims,
    metrics,
    state,
    topologyCalls: () => topologyCalls,
    setWorkers: (n: number) => {
      workers = n;
    },
    scrape: async () => parseExposition(await metrics.render()),
  };
}

export function twoServices(): Topology {
  return {
    version: 7,
    services: [
      {
        index: 1,
        name: 'web',
        protocol: 'tcp',
        reals: [
          { index: 5, id: '10.1.0.5:80', health: 'up', weight: 3, upperThreshold: 500, lowerThreshold: 400 },
          { index: 6, id: '10.1.0.6:80', health: 'down', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
        ],
      },
      {
        index: 3,
        name: 'dns',
        protocol: 'udp',
        reals: [
          { index: 9, id: '10.1.0.9:53', health: 'unknown', weight: 2, upperThreshold: 2, lowerThreshold: 0 },
          {
            index: 10,
            id: '10.1.0.10:53',
            health: 'unchecked',
            weight: 0,
            upperThreshold: 0,
            lowerThreshold: 0,
          },
        ],
      },
    ],
  };
}
