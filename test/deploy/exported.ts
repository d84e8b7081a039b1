// What the director exports, read from createMetrics itself (the registry the daemon serves at
// /metrics) over the same shared-memory parts the daemon gives it, with one service and two real
// servers configured. Every family with a fixed vocabulary (verdicts, drop and removal reasons,
// states, priorities, sysctls, strategies) exports all its label values even at zero, so the
// inventory lists every value a query may select on. A renamed metric or label disappears from it.
// Every optional source the daemon passes (apps/director/src/director.ts) is passed here too,
// the kernel's UDP counters read from this machine's /proc/net/snmp, so a family the daemon
// serves only with one of them still has to appear on the dashboard.
import { ConnectionTable, VerifiedSourceTable } from '@sluice/conntrack';
import { CounterBlock } from '@sluice/dataplane';
import { DefenseState, VictimIndex } from '@sluice/defense';
import { readUdpCounters } from '@sluice/io';
import { createMetrics, LVS_OFF, type Topology } from '@sluice/metrics';
import { RealServerCounters } from '@sluice/schedulers';

/** Labels whose values come from the config or from Prometheus's target, not from a fixed set. */
export const CONFIG_LABELS: ReadonlySet<string> = new Set(['service', 'real', 'instance', 'job']);
/** Labels Prometheus attaches to every scraped series. */
export const TARGET_LABELS = ['job', 'instance'] as const;

/** Sample name (a histogram's _bucket/_sum/_count apart) → label name → values seen. */
export type Inventory = Map<string, Map<string, Set<string>>>;

const TOPOLOGY: Topology = {
  version: 1,
  services: [
    {
      index: 0,
      name: 'web',
      protocol: 'tcp',
      reals: [
        { index: 0, id: '10.42.0.11:80', health: 'up', weight: 1, upperThreshold: 100, lowerThreshold: 0 },
        { index: 1, id: '10.42.0.12:80', health: 'down', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
      ],
    },
    {
      // A UDP service routing QUIC by connection ID: its sluice_quic_* series exist only then.
      index: 1,
      name: 'quic',
      protocol: 'udp',
      quic: true,
      reals: [
        { index: 2, id: '10.42.0.11:443', health: 'up', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
      ],
    },
  ],
};

/** The director's metric families as a fresh createMetrics registry lists them. */
export async function directorInventory(): Promise<Inventory> {
  const limits = { maxWorkers: 1, maxServices: 4, maxReals: 4 };
  const metrics = createMetrics({
    counters: CounterBlock.create(limits),
    connections: ConnectionTable.create(1024),
    reals: RealServerCounters.create(limits.maxReals),
    topology: () => TOPOLOGY,
    workers: () => 1,
    configuredWorkers: 1,
    victims: VictimIndex.create(limits.maxReals),
    lvs: () => LVS_OFF,
    verified: VerifiedSourceTable.create(64),
    defenseState: DefenseState.create(limits.maxServices),
    strategy: () => 'priority',
    udp: () => readUdpCounters(),
    neighbors: () => ({
      unicastProbes: 0,
      broadcastProbes: 0,
      macChanges: 0,
      failures: 0,
      reals: [{ service: 'web', real: '10.42.0.11:80', state: 'reachable' }],
    }),
  });
  const inventory: Inventory = new Map();
  const add = (name: string, labels: Partial<Record<string, string | number>>) => {
    let byLabel = inventory.get(name);
    if (byLabel === undefined) {
      byLabel = new Map();
      inventory.set(name, byLabel);
    }
    for (const target of TARGET_LABELS) if (!byLabel.has(target)) byLabel.set(target, new Set());
    for (const [label, value] of Object.entries(labels)) {
      let values = byLabel.get(label);
      if (values === undefined) {
        values = new Set();
        byLabel.set(label, values);
      }
      if (value !== undefined) values.add(String(value));
    }
  };
  for (const family of await metrics.registry.getMetricsAsJSON()) {
    // A family with no sample now (e.g. a duration before its second observation) still exists;
    // a histogram's samples are its _bucket, _sum and _count.
    if (String(family.type) !== 'histogram') add(family.name, {});
    for (const v of family.values) add((v as { metricName?: string }).metricName ?? family.name, v.labels);
  }
  // Prometheus's own series for every target.
  add('up', {});
  return inventory;
}
