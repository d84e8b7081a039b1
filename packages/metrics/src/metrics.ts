// createMetrics: the director's Prometheus metrics, read at scrape time from the memory the
// workers already write. Nothing here runs per packet: the workers count into the CounterBlock,
// the ConnectionTable and the RealServerCounters, and each scrape copies those numbers into
// samples. Labels come only from the config (service names, real servers' address:port) and
// from fixed vocabularies (verdicts, drop and removal reasons, TCP states), never from clients,
// so the number of series is bounded by the config.
//
// One scrape sees one topology and one connection-table walk: every metric reads them through
// `current()`, which computes them at the scrape's first `get()` and forgets them once that
// synchronous pass is over (a microtask later), so the next scrape starts afresh.
//
// The defense's families: sheds by reason and priority and RSTs sent (counter block), connections
// by priority (the table walk), the re-scorer's passes (the victim index header, see
// rescorer-watch.ts) and the LVS modes (lvs-state.ts). There is deliberately no
// `sluice_syns_dropped_total`: the new connections the director refuses are exactly
// `sluice_dropped_packets_total` with reason capacity, source-check, drop-packet,
// table-full or no-real-server (NEW_CONNECTION_DROP_REASONS), counted once per refused SYN or first datagram
// of a UDP flow, and nothing else counts them. A second family would be the same numbers under
// another name — and "SYN" would be wrong for UDP — so the HELP of the drop counter says which
// reasons are refused connections instead, and a dashboard sums those reasons.

import type { ConnectionTable, VerifiedSourceTable } from '@sluice/conntrack';
import { REMOVE_REASON_NAMES } from '@sluice/conntrack';
import {
  BATCH_LATENCY_BUCKETS,
  type CounterBlock,
  Defense,
  type DefenseSnapshot,
  DROP_REASON_NAMES,
  Per,
  Quic,
  REMOVE_REASON_COUNT,
  VERDICT_COUNT,
  VERDICT_NAMES,
} from '@sluice/dataplane';
import type { DefenseState, VictimIndex } from '@sluice/defense';
import type { UdpCounters } from '@sluice/io';
import type { RealServerCounters } from '@sluice/schedulers';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CONNECTION_STATE_NAMES, ConnectionCensus, PRIORITY_COUNT } from './connection-census.ts';
import type { LvsDefenseState } from './lvs-state.ts';
import { RescorerWatch } from './rescorer-watch.ts';
import {
  histogramSamples,
  register,
  type Sample,
  ScrapedMetric,
  type ScrapedType,
} from './scraped-metric.ts';
import { type RealHealth, type Topology, validateTopology } from './topology.ts';

export interface MetricsSource {
  counters: CounterBlock;
  connections: ConnectionTable;
  reals: RealServerCounters;
  /** Labels for the current config, called at each scrape. */
  topology(): Topology;
  /** Live worker threads. */
  workers(): number;
  /** Worker threads the daemon was configured to run (`daemon.workers`, read at start). */
  configuredWorkers: number;
  /** The re-scorer's victim index: its header counts passes and stamps each publication. */
  victims?: VictimIndex;
  /** The LVS defense modes in force, read at each scrape (lvsDefenseState builds it). */
  lvs?: () => LvsDefenseState;
  /** The verified-source table (its size is a gauge). */
  verified?: VerifiedSourceTable;
  /** Which services verify sources now. */
  defenseState?: DefenseState;
  /** The defense strategy of the config in force, read at each scrape. */
  strategy?: () => DefenseStrategy;
  /** The kernel's UDP counters for the director's network namespace (/proc/net/snmp), read at
   * each scrape; null where they cannot be read. */
  udp?: () => UdpCounters | null;
  /** The neighbour table of learned real-server MACs, read at each scrape. */
  neighbors?: () => NeighborSnapshot;
  /** Connections of real server `index` its load agent's last report calls quiet (marked), at each scrape. */
  quiet?: (index: number) => number;
}

/** The NUD states a learned real-server MAC can be in (Linux's names). */
export const NEIGHBOR_STATES = ['incomplete', 'reachable', 'stale', 'delay', 'probe', 'failed'] as const;
export type NeighborState = (typeof NEIGHBOR_STATES)[number];

export interface NeighborSnapshot {
  unicastProbes: number;
  broadcastProbes: number;
  macChanges: number;
  failures: number;
  /** Each real server with a learned MAC: its service, `address:port` and state. */
  reals: ReadonlyArray<{ service: string; real: string; state: NeighborState }>;
}

export type DefenseStrategy = DefenseSnapshot['strategy'];

// A Record over the config's union: a strategy added there and not here fails to type-check.
const STRATEGY_LABELS: Record<DefenseStrategy, true> = {
  priority: true,
  none: true,
  drop_entry: true,
  drop_packet: true,
  secure_tcp: true,
};
/** `strategy` of sluice_defense_strategy: every value the config allows, so the series set is fixed. */
export const DEFENSE_STRATEGIES = Object.keys(STRATEGY_LABELS) as readonly DefenseStrategy[];

/** Drop reasons that are refused new connections (a SYN, or a new UDP flow's first datagram). */
export const NEW_CONNECTION_DROP_REASONS: readonly string[] = [
  'capacity',
  'source-check',
  'drop-packet',
  'table-full',
  'no-real-server',
];

/** `reason` of sluice_connections_shed_total (removal reasons' names) and its counter region. */
const SHED_REASONS: readonly (readonly [string, number])[] = [
  ['shed', Defense.shedByPriority],
  ['displaced', Defense.displacedByPriority],
  ['drop-entry', Defense.dropEntryByPriority],
];

export interface SluiceMetrics {
  registry: Registry;
  /** The Content-Type to serve `render()`'s text with. */
  contentType: string;
  /** The exposition text of every metric, read now. */
  render(): Promise<string>;
}

/**
 * `sluice_real_server_up`: 1 when the director may send it new connections. `unchecked` (no
 * health check configured) is up, as in IPVS where a destination without a checker is used.
 * `unknown` (checked, no verdict yet, e.g. just after a start) is also 1: the data plane still
 * schedules to it, and reporting 0 would raise a down alert at every restart.
 */
const UP_VALUE: Record<RealHealth, number> = { up: 1, down: 0, unknown: 1, unchecked: 1 };

export const DEFAULT_GAUGES_NAMED_TOTAL: readonly string[] = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * Keeps a per-index counter series from 0 when its index is taken by another label. The block's
 * per-service and per-real words are written by the workers without atomics, so nobody can zero
 * them when the control plane gives a freed index to a new real server; the new series would
 * start at the old one's total. Seeing the label at an index change, this subtracts the totals
 * of that moment. A label seen first at this index (e.g. at the first scrape) starts from the
 * block's totals, which began with the director.
 */
class Rebase {
  private readonly seen = new Map<number, { key: string; base: Float64Array }>();

  /** Turns the raw totals of `index` (Per.words values) into the series' values, in place. */
  apply(index: number, key: string, raw: Float64Array): Float64Array {
    let entry = this.seen.get(index);
    if (entry === undefined) {
      entry = { key, base: new Float64Array(raw.length) };
      this.seen.set(index, entry);
    } else if (entry.key !== key) {
      entry = { key, base: raw.slice() };
      this.seen.set(index, entry);
    }
    for (let i = 0; i < raw.length; i++) raw[i] -= entry.base[i];
    return raw;
  }
}

interface ServiceRow {
  name: string;
  index: number;
  /** packets, bytes, connections since this name took this index. */
  totals: Float64Array;
  /** A QUIC service's routing counters (Quic words) since then; null for other services. */
  quic: Float64Array | null;
}

/** `route` of sluice_quic_packets_total: every datagram of a QUIC service in exactly one. */
export const QUIC_ROUTES: readonly (readonly [string, number])[] = [
  ['long_header', Quic.longHeader],
  ['cid', Quic.cidRouted],
  ['unknown_server_id', Quic.unknownServerId],
  ['unroutable', Quic.unroutable],
];

interface RealRow {
  service: string;
  real: string;
  index: number;
  health: RealHealth;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  totals: Float64Array;
}

/** What one scrape reads once and shares among all metrics. */
class Scrape {
  readonly topology: Topology;
  readonly services: ServiceRow[] = [];
  readonly reals: RealRow[] = [];
  private census: ConnectionCensus | null = null;
  private readonly censusOf: () => ConnectionCensus;
  private watched: RescorerWatch | null = null;
  private readonly watch: RescorerWatch | null;

  constructor(
    source: MetricsSource,
    serviceBase: Rebase,
    realBase: Rebase,
    quicBase: Rebase,
    censusOf: () => ConnectionCensus,
    watch: RescorerWatch | null,
  ) {
    const topology = source.topology();
    const counters = source.counters;
    const layout = counters.layout;
    validateTopology(topology, {
      maxServices: layout.maxServices,
      maxReals: Math.min(layout.maxReals, source.reals.capacity),
    });
    this.topology = topology;
    this.censusOf = censusOf;
    this.watch = watch;
    const sums = (at: number): Float64Array => {
      const out = new Float64Array(Per.words);
      out[Per.packets] = counters.sum(at + Per.packets);
      out[Per.bytes] = counters.sum(at + Per.bytes);
      out[Per.connections] = counters.sum(at + Per.connections);
      return out;
    };
    for (const s of topology.services) {
      const totals = serviceBase.apply(s.index, s.name, sums(layout.services + s.index * Per.words));
      let quic: Float64Array | null = null;
      if (s.quic === true) {
        const raw = new Float64Array(Quic.words);
        for (let k = 0; k < Quic.words; k++) raw[k] = counters.sum(layout.quic + s.index * Quic.words + k);
        quic = quicBase.apply(s.index, s.name, raw);
      }
      this.services.push({ name: s.name, index: s.index, totals, quic });
      for (const r of s.reals) {
        // The service is part of the key: the same address:port under another service is another series.
        const key = `${s.name}\n${r.id}`;
        const raw = sums(layout.reals + r.index * Per.words);
        this.reals.push({
          service: s.name,
          real: r.id,
          index: r.index,
          health: r.health,
          weight: r.weight,
          upperThreshold: r.upperThreshold,
          lowerThreshold: r.lowerThreshold,
          totals: realBase.apply(r.index, key, raw),
        });
      }
    }
  }

  /** The connection table walk, done once per scrape and only if a metric needs it. */
  connections(): ConnectionCensus {
    if (this.census === null) this.census = this.censusOf();
    return this.census;
  }

  /** The victim index header, read once per scrape: its families then agree with each other. */
  rescorer(): RescorerWatch | null {
    if (this.watched === null && this.watch !== null) this.watched = this.watch.observe();
    return this.watched;
  }
}

export function createMetrics(source: MetricsSource): SluiceMetrics {
  const registry = new Registry();
  const counters = source.counters;
  const layout = counters.layout;
  const census = new ConnectionCensus(source.connections);
  const serviceBase = new Rebase();
  const realBase = new Rebase();
  const quicBase = new Rebase();
  const watch = source.victims === undefined ? null : new RescorerWatch(source.victims);

  let scrape: Scrape | null = null;
  const current = (): Scrape => {
    if (scrape === null) {
      scrape = new Scrape(source, serviceBase, realBase, quicBase, () => census.scan(), watch);
      queueMicrotask(() => {
        scrape = null;
      });
    }
    return scrape;
  };

  // Each family below is one `add` of its own name, HELP and read: parallel declarations, alike in
  // shape (one sample, or one per label value) but not one logic, so they stay written out.
  const add = (name: string, type: ScrapedType, help: string, read: () => Sample[]): void => {
    register(registry, new ScrapedMetric(name, help, type, read));
  };

  /** One sample per named code of a fixed vocabulary, zeros included, so rate() works from the start. */
  const byName = (label: string, names: readonly string[], count: number, offset: number) => (): Sample[] => {
    const out: Sample[] = [];
    for (let code = 0; code < count && code < names.length; code++) {
      if (names[code] === '') continue;
      out.push({ labels: { [label]: names[code] }, value: counters.sum(offset + code) });
    }
    return out;
  };

  add(
    'sluice_packets_total',
    'counter',
    'Frames the data plane classified, by verdict.',
    byName('verdict', VERDICT_NAMES, VERDICT_COUNT, layout.verdicts),
  );
  add(
    'sluice_dropped_packets_total',
    'counter',
    'Frames dropped, by reason. capacity, source-check, drop-packet, table-full and no-real-server are ' +
      "refused new connections (each a TCP SYN or a new UDP flow's first datagram): the SYNs dropped.",
    byName('reason', DROP_REASON_NAMES, DROP_REASON_NAMES.length, layout.drops),
  );
  add(
    'sluice_connections_removed_total',
    'counter',
    'Connection entries removed from the table, by reason.',
    byName('reason', REMOVE_REASON_NAMES, REMOVE_REASON_COUNT, layout.removals),
  );

  const perService = (word: number) => (): Sample[] =>
    current().services.map((s) => ({ labels: { service: s.name }, value: s.totals[word] }));
  add(
    'sluice_service_packets_total',
    'counter',
    "Packets forwarded to a service's real servers.",
    perService(Per.packets),
  );
  add(
    'sluice_service_bytes_total',
    'counter',
    "Bytes (inner Ethernet frames) forwarded to a service's real servers.",
    perService(Per.bytes),
  );
  add(
    'sluice_service_connections_total',
    'counter',
    'New connections a service accepted.',
    perService(Per.connections),
  );

  add(
    'sluice_quic_packets_total',
    'counter',
    'Datagrams of a QUIC service by how they were routed: cid (a short header, to the real server its ' +
      'connection ID names), long_header (Initial, 0-RTT, Handshake: the 5-tuple entry or the scheduler), ' +
      'unknown_server_id (no real server owns the ID) and unroutable (too short, or another QUIC-LB config ' +
      'rotation codepoint): both of those fall back to the 5-tuple entry or the scheduler.',
    () => {
      const out: Sample[] = [];
      for (const s of current().services) {
        const q = s.quic;
        if (q === null) continue;
        for (const [route, k] of QUIC_ROUTES) out.push({ labels: { service: s.name, route }, value: q[k] });
      }
      return out;
    },
  );
  add(
    'sluice_quic_path_changes_total',
    'counter',
    "Datagrams routed by connection ID whose 5-tuple had no entry (entry=created: the client's new path " +
      'after a NAT rebinding or migration, recorded on its real server) or an entry on another real server ' +
      '(entry=repointed).',
    () => {
      const out: Sample[] = [];
      for (const s of current().services) {
        const q = s.quic;
        if (q === null) continue;
        out.push({ labels: { service: s.name, entry: 'created' }, value: q[Quic.newPath] });
        out.push({ labels: { service: s.name, entry: 'repointed' }, value: q[Quic.repointed] });
      }
      return out;
    },
  );

  const perReal = (value: (r: RealRow) => number) => (): Sample[] =>
    current().reals.map((r) => ({ labels: { service: r.service, real: r.real }, value: value(r) }));
  add(
    'sluice_real_server_connections_total',
    'counter',
    'New connections scheduled to a real server.',
    perReal((r) => r.totals[Per.connections]),
  );
  add(
    'sluice_real_server_packets_total',
    'counter',
    'Packets forwarded to a real server.',
    perReal((r) => r.totals[Per.packets]),
  );
  add(
    'sluice_real_server_bytes_total',
    'counter',
    'Bytes (inner Ethernet frames) forwarded to a real server.',
    perReal((r) => r.totals[Per.bytes]),
  );
  const live = source.reals;
  add(
    'sluice_real_server_active_connections',
    'gauge',
    "Connections of a real server in ESTABLISHED (IPVS's ActiveConn).",
    perReal((r) => live.active[r.index]),
  );
  add(
    'sluice_real_server_inactive_connections',
    'gauge',
    "Connections of a real server in any other state (IPVS's InActConn).",
    perReal((r) => live.inactive[r.index]),
  );
  add(
    'sluice_real_server_held_connections',
    'gauge',
    'Connections a real server holds as the defense counts them: not those its clients closed, nor ' +
      'half-open ones past their grace (what the thresholds count unless countInactive).',
    perReal((r) => live.held[r.index]),
  );
  add(
    'sluice_real_server_unheld_connections',
    'gauge',
    "Held connections a real server's load agent says the server does not hold (forged handshakes a server " +
      'with syncookies never kept); the thresholds count held minus these. 0 without an agent report.',
    perReal((r) => live.unheld[r.index]),
  );
  add(
    'sluice_real_server_quiet_connections',
    'gauge',
    "Connections a real server's load agent last reported its server has sent no data on for servedIdleMs " +
      "or more, or is answering slower than the agent's floor, whatever their clients' acknowledgements " +
      'claim; they get no progress credit. 0 without an agent report.',
    perReal((r) => (source.quiet === undefined ? 0 : source.quiet(r.index))),
  );
  add(
    'sluice_real_server_up',
    'gauge',
    'Whether a real server may take new connections by its health: 1 up, unchecked or not yet known; 0 down ' +
      '(its health check failed, or its learned MAC stopped answering probes).',
    perReal((r) => UP_VALUE[r.health]),
  );
  add(
    'sluice_real_server_weight',
    'gauge',
    "A real server's configured weight.",
    perReal((r) => r.weight),
  );
  add(
    'sluice_real_server_overloaded',
    'gauge',
    'Whether a real server is over its connection threshold (1) and takes no new connections.',
    perReal((r) => (live.isOverloaded(r.index) ? 1 : 0)),
  );
  add(
    'sluice_real_server_upper_threshold',
    'gauge',
    'IPVS upper connection threshold (-x) of a real server: active + inactive connections at which it is ' +
      "overloaded, and the defense's capacity for it; 0 = no limit.",
    perReal((r) => r.upperThreshold),
  );
  add(
    'sluice_real_server_lower_threshold',
    'gauge',
    'IPVS lower connection threshold (-y) of a real server: it takes new connections again below it; ' +
      '0 = three quarters of the upper threshold.',
    perReal((r) => r.lowerThreshold),
  );

  add('sluice_connections', 'gauge', 'Connection entries by TCP state (UDP entries as UDP).', () => {
    const c = current().connections();
    return CONNECTION_STATE_NAMES.map((state, i) => ({ labels: { state }, value: c.byState[i] }));
  });
  add('sluice_connections_by_service', 'gauge', 'Connection entries by service.', () => {
    const s = current();
    const c = s.connections();
    return s.services.map((row) => ({ labels: { service: row.name }, value: c.byService[row.index] }));
  });
  add(
    'sluice_connection_scan_seconds',
    'gauge',
    'Time the last scrape spent walking the connection table for the by-state and by-service gauges.',
    () => [{ labels: {}, value: current().connections().seconds }],
  );
  add(
    'sluice_connections_by_priority',
    'gauge',
    'Connection entries by current priority: 0 highest (never shed), 15 lowest (shed first).',
    () => {
      const c = current().connections();
      const out: Sample[] = [];
      for (let p = 0; p < PRIORITY_COUNT; p++)
        out.push({ labels: { priority: String(p) }, value: c.byPriority[p] });
      return out;
    },
  );
  add('sluice_connection_table_entries', 'gauge', 'Entries in the connection table.', () => [
    { labels: {}, value: source.connections.count() },
  ]);
  add('sluice_connection_table_capacity', 'gauge', 'Slots in the connection table.', () => [
    { labels: {}, value: source.connections.capacity },
  ]);
  add('sluice_config_version', 'gauge', 'Version of the configuration the control plane serves.', () => [
    { labels: {}, value: current().topology.version },
  ]);
  add('sluice_workers', 'gauge', 'Live data-plane worker threads.', () => [
    { labels: {}, value: source.workers() },
  ]);
  add(
    'sluice_workers_configured',
    'gauge',
    'Data-plane worker threads the daemon is configured to run.',
    () => [{ labels: {}, value: source.configuredWorkers }],
  );

  const histogramCounts = new Float64Array(BATCH_LATENCY_BUCKETS.length + 1);
  add(
    'sluice_batch_duration_seconds',
    'histogram',
    'Time a worker took to process one batch of frames.',
    () => {
      const base = layout.histogram;
      for (let i = 0; i < histogramCounts.length; i++) histogramCounts[i] = counters.sum(base + i);
      const sum = counters.sum(base + BATCH_LATENCY_BUCKETS.length + 1);
      return histogramSamples('sluice_batch_duration_seconds', BATCH_LATENCY_BUCKETS, histogramCounts, sum);
    },
  );

  add(
    'sluice_connections_shed_total',
    'counter',
    'Connections the defense removed to free a slot, by reason and by the priority they had then: ' +
      'shed (reset at the high watermark), displaced (reset for a new SYN that outranked it), ' +
      'drop-entry (LVS drop_entry).',
    () => {
      const out: Sample[] = [];
      for (const [reason, at] of SHED_REASONS) {
        for (let p = 0; p < PRIORITY_COUNT; p++) {
          out.push({ labels: { reason, priority: String(p) }, value: counters.sum(layout.defense + at + p) });
        }
      }
      return out;
    },
  );
  if (source.udp !== undefined) {
    const udp = source.udp;
    const families: ReadonlyArray<readonly [string, keyof UdpCounters, string]> = [
      [
        'sluice_udp_receive_buffer_errors_total',
        'rcvbufErrors',
        "UDP datagrams the kernel dropped because a socket's receive buffer was full (RcvbufErrors of " +
          '/proc/net/snmp, for the whole network namespace): frames lost before the director read them.',
      ],
      [
        'sluice_udp_receive_errors_total',
        'inErrors',
        'UDP datagrams the kernel could not deliver to a socket (InErrors of /proc/net/snmp, for the whole ' +
          'network namespace; includes the receive buffer errors).',
      ],
    ];
    for (const [name, field, help] of families) {
      add(name, 'counter', help, () => {
        const c = udp();
        return c === null ? [] : [{ labels: {}, value: c[field] }];
      });
    }
  }

  const neighbors = source.neighbors;
  if (neighbors !== undefined) {
    add(
      'sluice_real_server_neighbor_state',
      'gauge',
      "The state of a learned real-server MAC, as Linux's neighbour table names it (1 for the state " +
        'it is in, 0 for the others): failed = it stopped answering probes and takes no new connections.',
      () =>
        neighbors().reals.flatMap((r) =>
          NEIGHBOR_STATES.map((s) => ({
            labels: { service: r.service, real: r.real, state: s },
            value: s === r.state ? 1 : 0,
          })),
        ),
    );
    add(
      'sluice_neighbor_probes_total',
      'counter',
      'ARP probes and neighbour solicitations sent to confirm or find real-server MACs, by kind.',
      () => {
        const n = neighbors();
        return [
          { labels: { kind: 'unicast' }, value: n.unicastProbes },
          { labels: { kind: 'broadcast' }, value: n.broadcastProbes },
        ];
      },
    );
    add(
      'sluice_neighbor_mac_changes_total',
      'counter',
      'Learned real-server MACs that changed (a rebuilt VM, a replaced NIC): each republishes the config.',
      () => [{ labels: {}, value: neighbors().macChanges }],
    );
    add(
      'sluice_neighbor_failures_total',
      'counter',
      'Times a learned real-server MAC stopped answering probes (entered the failed state).',
      () => [{ labels: {}, value: neighbors().failures }],
    );
  }
  add(
    'sluice_rsts_sent_total',
    'counter',
    'TCP RSTs the defense sent to real servers for the connections it shed or displaced ' +
      '(operator resets count in sluice_connections_removed_total{reason="reset"}).',
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.rstSent) }],
  );
  add(
    'sluice_half_open_released_total',
    'counter',
    "Half-open connections the defense stopped counting against their real server's capacity " +
      'instead of resetting them (shed or displaced): a server holds no worker for them (with ' +
      "syncookies, nothing for a spoofed SYN), and a real client's handshake still completes.",
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.halfOpenReleased) }],
  );
  add(
    'sluice_admitted_over_capacity_total',
    'counter',
    'SYNs in good standing (a verified client with a clean record, or priority 0) forwarded to a ' +
      'service whose real servers the director counts as full, because no connection they outrank ' +
      "could give up its slot: the real server's own queue decides, as without the director.",
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.admittedOverCapacity) }],
  );
  add(
    'sluice_keepalive_connections_closed_total',
    'counter',
    'Connections shed or displaced at capacity that had been answered and had asked nothing since: ' +
      'idle keep-alive connections (weights.servedIdleMs), closed as a server closes its own when it ' +
      'runs out. Their clients lose no request, only the connection; a push stream quieter than ' +
      'servedIdleMs (a WebSocket, server-sent events) is counted here too.',
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.keepAliveClosed) }],
  );
  add(
    'sluice_challenges_sent_total',
    'counter',
    'SYNs the director answered with a challenge (a SYN-ACK carrying a cookie) instead of forwarding: ' +
      'their source had not proved it receives packets, and the service was verifying sources.',
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.challengesSent) }],
  );
  add(
    'sluice_probes_sent_total',
    'counter',
    'Probes (the challenge sent to another port) of the sources of unverified connections.',
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.probesSent) }],
  );
  add(
    'sluice_challenge_answers_total',
    'counter',
    'RSTs for no connection, by result: verified (its sequence number was the cookie: the source ' +
      'is verified) or wrong (no valid cookie: a guess, or a late RST); unanswered counts verified ' +
      "sources asked again (reconfirmAfterMs) that did not answer within their connection's " +
      'provisional time, whose verification ended.',
    () => [
      { labels: { result: 'verified' }, value: counters.sum(layout.defense + Defense.sourcesVerified) },
      { labels: { result: 'wrong' }, value: counters.sum(layout.defense + Defense.answersWrong) },
      { labels: { result: 'unanswered' }, value: counters.sum(layout.defense + Defense.reconfirmFailed) },
    ],
  );
  add(
    'sluice_out_of_window_segments_total',
    'counter',
    "Client segments outside a connection's tracked sequence window: forwarded, but they change nothing " +
      '(a blind spoofer cannot close, age or credit a connection it does not see).',
    () => [{ labels: {}, value: counters.sum(layout.defense + Defense.outOfWindow) }],
  );
  const verified = source.verified;
  if (verified !== undefined) {
    add(
      'sluice_verified_sources',
      'gauge',
      "Sources that answered the director's challenge and whose verification has not expired (entries).",
      () => [{ labels: {}, value: verified.count() }],
    );
  }
  const state = source.defenseState;
  if (state !== undefined) {
    add(
      'sluice_service_verifying',
      'gauge',
      'Whether a service answers SYNs from unverified sources with a challenge now (1) or not (0).',
      () => current().services.map((s) => ({ labels: { service: s.name }, value: state.verifying(s.index) })),
    );
  }

  if (watch !== null) {
    const rescorer = () => current().rescorer() as RescorerWatch;
    add(
      'sluice_rescorer_passes_total',
      'counter',
      'Full passes of the background re-scorer over the connection table (each republishes the victim index).',
      () => [{ labels: {}, value: rescorer().passes }],
    );
    add(
      'sluice_rescorer_priority_changes_total',
      'counter',
      'Connection priorities the background re-scorer changed.',
      () => [{ labels: {}, value: rescorer().changes }],
    );
    add(
      'sluice_rescorer_pass_duration_seconds',
      'gauge',
      "Duration of the re-scorer's last pass (pauses included), from consecutive publications; the " +
        'mean over the passes since the previous scrape when there were several. Absent until two are seen.',
      () => {
        const seconds = rescorer().passSeconds;
        return seconds === null ? [] : [{ labels: {}, value: seconds }];
      },
    );
  }

  const strategy = source.strategy;
  if (strategy !== undefined) {
    add(
      'sluice_defense_strategy',
      'gauge',
      'The defense strategy in force (1) among those the config allows (0): priority, or none, or an LVS baseline.',
      () => {
        const now = strategy();
        return DEFENSE_STRATEGIES.map((s) => ({ labels: { strategy: s }, value: s === now ? 1 : 0 }));
      },
    );
  }

  const lvs = source.lvs;
  if (lvs !== undefined) {
    // Shaped like the neighbour families (labelled samples of one read); apart on purpose, see `add`.
    add(
      'sluice_lvs_defense_mode',
      'gauge',
      'LVS defense sysctl values in force: 0 off, 1 automatic and off, 2 automatic and on, 3 always on.',
      () => {
        const s = lvs();
        return [
          { labels: { sysctl: 'drop_entry' }, value: s.dropEntry },
          { labels: { sysctl: 'drop_packet' }, value: s.dropPacket },
          { labels: { sysctl: 'secure_tcp' }, value: s.secureTcp },
        ];
      },
    );
    add(
      'sluice_lvs_drop_rate',
      'gauge',
      "LVS drop_packet's drop_rate: 1 in this many new connections is refused; 0 refuses none.",
      () => [{ labels: {}, value: lvs().dropRate }],
    );
  }

  // process_* and nodejs_* under their conventional names, so stock dashboards find them.
  collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names `_total`, which `promtool check metrics` rejects (only counters
  // end in _total). Each is the sum of its by-type gauge that stays: nodejs_active_handles{type}, ...
  for (const name of DEFAULT_GAUGES_NAMED_TOTAL) registry.removeSingleMetric(name);

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
  };
}
