import { ConnectionTable, RemoveReason, TcpState } from '@sluice/conntrack';
import {
  BATCH_LATENCY_BUCKETS,
  CounterBlock,
  Defense,
  DROP_REASON_NAMES,
  DropReason,
  Per,
  VERDICT_NAMES,
  Verdict,
} from '@sluice/dataplane';
import { VictimHeader, VictimIndex } from '@sluice/defense';
import { readUdpCounters } from '@sluice/io';
import { RealServerCounters } from '@sluice/schedulers';
import { describe, expect, it, vi } from 'vitest';
import { CONNECTION_STATE_NAMES } from './connection-census.ts';
import type { LvsDefenseState } from './lvs-state.ts';
import {
  createMetrics,
  DEFAULT_GAUGES_NAMED_TOTAL,
  type MetricsSource,
  NEW_CONNECTION_DROP_REASONS,
} from './metrics.ts';
import { addConnection, parseExposition, promtoolCheck, seriesOf } from './test-helpers.ts';
import type { Topology } from './topology.ts';

const LIMITS = { maxWorkers: 3, maxServices: 8, maxReals: 16 };

function setup(topology: Topology, defense: { victims?: boolean; lvs?: boolean } = {}) {
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
  };
  if (defense.victims !== false) source.victims = victims;
  if (defense.lvs !== false) {
    source.lvs = () => {
      state.lvsCalls++;
      return state.lvs;
    };
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

function twoServices(): Topology {
  return {
    version: 7,
    services: [
      {
        index: 1,
        name: 'web',
        protocol: 'tcp',
        reals: [
          { index: 5, id: '10.1.0.5:80', health: 'up', weight: 3 },
          { index: 6, id: '10.1.0.6:80', health: 'down', weight: 1 },
        ],
      },
      {
        index: 3,
        name: 'dns',
        protocol: 'udp',
        reals: [
          { index: 9, id: '10.1.0.9:53', health: 'unknown', weight: 2 },
          { index: 10, id: '10.1.0.10:53', health: 'unchecked', weight: 0 },
        ],
      },
    ],
  };
}

const svc = (name: string) => `{service="${name}"}`;
const real = (service: string, id: string) => `{service="${service}",real="${id}"}`;

describe('createMetrics: counters from the counter block', () => {
  it('sums each counter over every worker region', async () => {
    const t = setup(twoServices());
    const { layout } = t.counters;
    const r0 = t.counters.region(0);
    const r2 = t.counters.region(2); // a region no live worker writes any more still counts
    r0[layout.verdicts + Verdict.forward] += 7;
    r2[layout.verdicts + Verdict.forward] += 5;
    r0[layout.verdicts + Verdict.drop] += 3;
    r2[layout.verdicts + Verdict.reply] += 2;
    r0[layout.drops + DropReason.noService] += 2;
    r2[layout.drops + DropReason.noService] += 1;
    r2[layout.drops + DropReason.tableFull] += 4;
    r0[layout.removals + RemoveReason.expired] += 4;
    r2[layout.removals + RemoveReason.evicted] += 1;
    const web = layout.services + 1 * Per.words;
    r0[web + Per.packets] += 10;
    r0[web + Per.bytes] += 1500;
    r0[web + Per.connections] += 3;
    r2[web + Per.packets] += 2;
    r2[web + Per.bytes] += 300;
    r2[web + Per.connections] += 1;
    const real5 = layout.reals + 5 * Per.words;
    r0[real5 + Per.packets] += 8;
    r2[real5 + Per.bytes] += 1200;
    r2[real5 + Per.connections] += 4;

    const s = await t.scrape();
    expect(seriesOf(s, 'sluice_packets_total')).toEqual([
      ['sluice_packets_total{verdict="drop"}', 3],
      ['sluice_packets_total{verdict="forward"}', 12],
      ['sluice_packets_total{verdict="reply"}', 2],
    ]);
    expect(s.get('sluice_dropped_packets_total{reason="no-service"}')).toBe(3);
    expect(s.get('sluice_dropped_packets_total{reason="table-full"}')).toBe(4);
    expect(s.get('sluice_connections_removed_total{reason="expired"}')).toBe(4);
    expect(s.get('sluice_connections_removed_total{reason="evicted"}')).toBe(1);
    expect(s.get(`sluice_service_packets_total${svc('web')}`)).toBe(12);
    expect(s.get(`sluice_service_bytes_total${svc('web')}`)).toBe(1800);
    expect(s.get(`sluice_service_connections_total${svc('web')}`)).toBe(4);
    expect(s.get(`sluice_service_packets_total${svc('dns')}`)).toBe(0);
    expect(s.get(`sluice_real_server_packets_total${real('web', '10.1.0.5:80')}`)).toBe(8);
    expect(s.get(`sluice_real_server_bytes_total${real('web', '10.1.0.5:80')}`)).toBe(1200);
    expect(s.get(`sluice_real_server_connections_total${real('web', '10.1.0.5:80')}`)).toBe(4);
    expect(s.get(`sluice_real_server_connections_total${real('web', '10.1.0.6:80')}`)).toBe(0);
  });

  it('lists every named verdict, drop and removal reason from the first scrape, zeros included', async () => {
    const t = setup({ version: 1, services: [] });
    const s = await t.scrape();
    const labelsOf = (name: string, label: string) =>
      seriesOf(s, name).map(([k, v]) => {
        expect(v).toBe(0);
        return k.slice(`${name}{${label}="`.length, -2);
      });
    expect(labelsOf('sluice_packets_total', 'verdict')).toEqual(VERDICT_NAMES.filter((n) => n !== ''));
    expect(labelsOf('sluice_dropped_packets_total', 'reason')).toEqual(
      DROP_REASON_NAMES.filter((n) => n !== ''),
    );
    expect(labelsOf('sluice_connections_removed_total', 'reason')).toEqual([
      'expired',
      'evicted',
      'shed',
      'reset',
      'control',
      'drop-entry',
      'displaced',
    ]);
    // 'ok' is parse status 0, not a drop reason: the dropped counter never names it.
    expect(s.has('sluice_dropped_packets_total{reason="ok"}')).toBe(false);
  });

  it('builds the batch histogram with cumulative, monotone le buckets and +Inf equal to count', async () => {
    const t = setup({ version: 1, services: [] });
    const { layout } = t.counters;
    const n = BATCH_LATENCY_BUCKETS.length;
    // Non-cumulative per-bucket counts, as observeBatchSeconds writes them, split over two workers.
    const counts = [0, 4, 1, 0, 3, 0, 0, 2, 0, 0, 0, 1, 2];
    expect(counts.length).toBe(n + 1);
    const r0 = t.counters.region(0);
    const r1 = t.counters.region(1);
    for (let i = 0; i <= n; i++) {
      r0[layout.histogram + i] += Math.ceil(counts[i] / 2);
      r1[layout.histogram + i] += Math.floor(counts[i] / 2);
    }
    r0[layout.histogram + n + 1] += 0.5;
    r1[layout.histogram + n + 1] += 0.25;
    // The separate count word lags here, as it may between a worker's two writes: not used.
    r0[layout.histogram + n + 2] += 10;

    const s = await t.scrape();
    const buckets = seriesOf(s, 'sluice_batch_duration_seconds_bucket');
    expect(buckets.map(([k]) => k)).toEqual([
      ...BATCH_LATENCY_BUCKETS.map((b) => `sluice_batch_duration_seconds_bucket{le="${b}"}`),
      'sluice_batch_duration_seconds_bucket{le="+Inf"}',
    ]);
    let expected = 0;
    for (let i = 0; i <= n; i++) {
      expected += counts[i];
      expect(buckets[i][1]).toBe(expected);
      if (i > 0) expect(buckets[i][1]).toBeGreaterThanOrEqual(buckets[i - 1][1]);
    }
    const les = BATCH_LATENCY_BUCKETS.map(Number);
    for (let i = 1; i < les.length; i++) expect(les[i]).toBeGreaterThan(les[i - 1]);
    expect(s.get('sluice_batch_duration_seconds_count')).toBe(13);
    expect(s.get('sluice_batch_duration_seconds_bucket{le="+Inf"}')).toBe(13);
    expect(s.get('sluice_batch_duration_seconds_sum')).toBe(0.75);
  });
});

describe('createMetrics: gauges', () => {
  it('reads real servers: IPVS counts, health, weight, overload', async () => {
    const t = setup(twoServices());
    t.reals.bind(5, true, 0, 0);
    t.reals.bind(5, true, 0, 0);
    t.reals.bind(5, false, 0, 0);
    t.reals.bind(9, false, 2, 0);
    t.reals.bind(9, false, 2, 0); // reaches the upper threshold of 2
    t.reals.addUnproven(9, 2);
    const s = await t.scrape();
    expect(s.get(`sluice_real_server_unproven_connections${real('dns', '10.1.0.9:53')}`)).toBe(2);
    expect(s.get(`sluice_real_server_unproven_connections${real('web', '10.1.0.5:80')}`)).toBe(0);
    expect(s.get(`sluice_real_server_active_connections${real('web', '10.1.0.5:80')}`)).toBe(2);
    expect(s.get(`sluice_real_server_inactive_connections${real('web', '10.1.0.5:80')}`)).toBe(1);
    expect(s.get(`sluice_real_server_inactive_connections${real('dns', '10.1.0.9:53')}`)).toBe(2);
    expect(s.get(`sluice_real_server_overloaded${real('dns', '10.1.0.9:53')}`)).toBe(1);
    expect(s.get(`sluice_real_server_overloaded${real('web', '10.1.0.5:80')}`)).toBe(0);
    expect(
      seriesOf(s, 'sluice_real_server_up').map(([k, v]) => [k.slice('sluice_real_server_up'.length), v]),
    ).toEqual([
      [real('web', '10.1.0.5:80'), 1],
      [real('web', '10.1.0.6:80'), 0],
      [real('dns', '10.1.0.9:53'), 1],
      [real('dns', '10.1.0.10:53'), 1],
    ]);
    expect(s.get(`sluice_real_server_weight${real('web', '10.1.0.5:80')}`)).toBe(3);
    expect(s.get(`sluice_real_server_weight${real('dns', '10.1.0.10:53')}`)).toBe(0);
    expect(s.get('sluice_config_version')).toBe(7);
    expect(s.get('sluice_workers')).toBe(2);
    t.setWorkers(1);
    expect((await t.scrape()).get('sluice_workers')).toBe(1);
  });

  it('counts connection entries by state and by configured service', async () => {
    const t = setup(twoServices());
    const c = (client: number, service: number, state: number, udp = false) =>
      addConnection(t.connections, { client, port: 40000, service, real: 5, state, udp });
    c(1, 1, TcpState.established);
    c(2, 1, TcpState.established);
    c(3, 1, TcpState.synRecv);
    c(4, 3, 0, true);
    c(5, 2, TcpState.close); // service 2 is not in the topology: counted by state only
    const s = await t.scrape();
    const byState = new Map(seriesOf(s, 'sluice_connections').map(([k, v]) => [k, v]));
    expect([...byState.keys()]).toEqual(
      CONNECTION_STATE_NAMES.map((n) => `sluice_connections{state="${n}"}`),
    );
    expect(byState.get('sluice_connections{state="ESTABLISHED"}')).toBe(2);
    expect(byState.get('sluice_connections{state="SYN_RECV"}')).toBe(1);
    expect(byState.get('sluice_connections{state="CLOSE"}')).toBe(1);
    expect(byState.get('sluice_connections{state="UDP"}')).toBe(1);
    expect(byState.get('sluice_connections{state="NONE"}')).toBe(0);
    expect(seriesOf(s, 'sluice_connections_by_service')).toEqual([
      [`sluice_connections_by_service${svc('web')}`, 3],
      [`sluice_connections_by_service${svc('dns')}`, 1],
    ]);
    expect(s.get('sluice_connection_table_entries')).toBe(5);
    expect(s.get('sluice_connection_table_capacity')).toBe(t.connections.capacity);
    expect(s.get('sluice_connection_scan_seconds')).toBeGreaterThan(0);
  });
});

describe('createMetrics: scrapes follow the config', () => {
  it('drops the series of removed services and real servers at the next scrape', async () => {
    const t = setup(twoServices());
    const before = await t.scrape();
    expect(before.has(`sluice_real_server_up${real('web', '10.1.0.6:80')}`)).toBe(true);
    expect(before.has(`sluice_service_packets_total${svc('dns')}`)).toBe(true);

    const next = twoServices();
    next.version = 8;
    next.services[0].reals.pop(); // web loses 10.1.0.6:80
    next.services.pop(); // dns is removed
    t.state.topology = next;
    const after = await t.scrape();
    const mentions = (id: string) => [...after.keys()].filter((k) => k.includes(id));
    expect(mentions('10.1.0.6:80')).toEqual([]);
    expect(mentions('"dns"')).toEqual([]);
    expect(mentions('10.1.0.9:53')).toEqual([]);
    expect(after.has(`sluice_real_server_up${real('web', '10.1.0.5:80')}`)).toBe(true);
    expect(after.get('sluice_config_version')).toBe(8);
  });

  it('starts a series from 0 when its counter index is given to another real server', async () => {
    const t = setup(twoServices());
    const { layout } = t.counters;
    const r0 = t.counters.region(0);
    const words = layout.reals + 6 * Per.words;
    r0[words + Per.packets] += 50;
    expect((await t.scrape()).get(`sluice_real_server_packets_total${real('web', '10.1.0.6:80')}`)).toBe(50);

    // 10.1.0.6 leaves; its index 6 goes to a new real server, whose words still hold 50.
    const next = twoServices();
    next.services[0].reals[1] = { index: 6, id: '10.1.0.66:80', health: 'up', weight: 1 };
    t.state.topology = next;
    const s1 = await t.scrape();
    expect(s1.get(`sluice_real_server_packets_total${real('web', '10.1.0.66:80')}`)).toBe(0);
    r0[words + Per.packets] += 3;
    const s2 = await t.scrape();
    expect(s2.get(`sluice_real_server_packets_total${real('web', '10.1.0.66:80')}`)).toBe(3);
    // The unchanged real server keeps its totals.
    expect(s2.get(`sluice_real_server_packets_total${real('web', '10.1.0.5:80')}`)).toBe(0);
  });

  it('asks for the topology once per scrape, however many metrics read it', async () => {
    const t = setup(twoServices());
    await t.metrics.render();
    expect(t.topologyCalls()).toBe(1);
    await t.metrics.render();
    expect(t.topologyCalls()).toBe(2);
  });

  it('fails the scrape with a typed error when the topology cannot be labelled safely', async () => {
    const bad: Array<[string, (t: Topology) => void]> = [
      [
        'service index past the counter block',
        (t) => {
          t.services[0].index = LIMITS.maxServices;
        },
      ],
      [
        'real index past the counter block',
        (t) => {
          t.services[0].reals[0].index = LIMITS.maxReals;
        },
      ],
      [
        'two services named alike',
        (t) => {
          t.services[1].name = 'web';
        },
      ],
      [
        'one real index twice',
        (t) => {
          t.services[1].reals[0].index = 5;
        },
      ],
      [
        'one real id twice in a service',
        (t) => {
          t.services[0].reals[1].id = '10.1.0.5:80';
        },
      ],
      [
        'unknown health',
        (t) => {
          t.services[0].reals[0].health = 'maybe' as 'up';
        },
      ],
    ];
    for (const [why, spoil] of bad) {
      const topo = twoServices();
      spoil(topo);
      const t = setup(topo);
      await expect(t.metrics.render(), why).rejects.toMatchObject({ code: 'SLUICE_ERR_METRICS_TOPOLOGY' });
    }
  });
});

describe('createMetrics: the defense', () => {
  it('counts sheds by reason and priority (all 48 series, zeros included) and RSTs sent', async () => {
    const t = setup({ version: 1, services: [] });
    const { layout } = t.counters;
    const r0 = t.counters.region(0);
    const r1 = t.counters.region(1);
    r0[layout.defense + Defense.shedByPriority + 15] += 4;
    r1[layout.defense + Defense.shedByPriority + 15] += 1;
    r1[layout.defense + Defense.shedByPriority + 9] += 2;
    r0[layout.defense + Defense.displacedByPriority + 12] += 3;
    r1[layout.defense + Defense.dropEntryByPriority + 0] += 1;
    r0[layout.defense + Defense.rstSent] += 8;
    r1[layout.defense + Defense.rstSent] += 1;
    const s = await t.scrape();
    const shed = seriesOf(s, 'sluice_connections_shed_total');
    expect(shed).toHaveLength(48);
    const key = (reason: string, p: number) =>
      `sluice_connections_shed_total{reason="${reason}",priority="${p}"}`;
    for (const reason of ['shed', 'displaced', 'drop-entry']) {
      for (let p = 0; p < 16; p++) expect(s.has(key(reason, p)), key(reason, p)).toBe(true);
    }
    expect(s.get(key('shed', 15))).toBe(5);
    expect(s.get(key('shed', 9))).toBe(2);
    expect(s.get(key('displaced', 12))).toBe(3);
    expect(s.get(key('drop-entry', 0))).toBe(1);
    expect(shed.reduce((sum, [, v]) => sum + v, 0)).toBe(11);
    expect(s.get('sluice_rsts_sent_total')).toBe(9);
  });

  it('names only drop reasons that exist as the refused new connections', () => {
    for (const reason of NEW_CONNECTION_DROP_REASONS) expect(DROP_REASON_NAMES).toContain(reason);
  });

  it('counts connection entries by priority, 0..15, UDP included', async () => {
    const t = setup({ version: 1, services: [] });
    const c = (client: number, priority: number, udp = false) =>
      addConnection(t.connections, {
        client,
        port: 1,
        service: 0,
        real: 0,
        state: TcpState.established,
        priority,
        udp,
      });
    c(1, 0);
    c(2, 7);
    c(3, 7, true);
    c(4, 15);
    const s = await t.scrape();
    const series = seriesOf(s, 'sluice_connections_by_priority');
    expect(series.map(([k]) => k)).toEqual(
      Array.from({ length: 16 }, (_, p) => `sluice_connections_by_priority{priority="${p}"}`),
    );
    expect(series.map(([, v]) => v)).toEqual([1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('follows the re-scorer: passes and changes from the victim index header, the pass duration from two publications', async () => {
    const t = setup({ version: 1, services: [] });
    const v = t.victims;
    // Before any pass: counters at 0, no duration yet (absent, not a made-up 0).
    let s = await t.scrape();
    expect(s.get('sluice_rescorer_passes_total')).toBe(0);
    expect(s.has('sluice_rescorer_pass_duration_seconds')).toBe(false);

    // One pass published at t=1000 ms: its start is not known, so still no duration.
    v.notePass(1000, 5);
    s = await t.scrape();
    expect(s.get('sluice_rescorer_passes_total')).toBe(1);
    expect(s.get('sluice_rescorer_priority_changes_total')).toBe(5);
    expect(s.has('sluice_rescorer_pass_duration_seconds')).toBe(false);

    // The next pass ends at 1600: it took 0.6 s.
    v.notePass(1600, 2);
    s = await t.scrape();
    expect(s.get('sluice_rescorer_passes_total')).toBe(2);
    expect(s.get('sluice_rescorer_priority_changes_total')).toBe(7);
    expect(s.get('sluice_rescorer_pass_duration_seconds')).toBeCloseTo(0.6, 9);

    // Two passes between scrapes (1600 → 2400): 0.4 s each.
    v.notePass(2000, 0);
    v.notePass(2400, 1);
    s = await t.scrape();
    expect(s.get('sluice_rescorer_passes_total')).toBe(4);
    expect(s.get('sluice_rescorer_pass_duration_seconds')).toBeCloseTo(0.4, 9);

    // No pass since: the last duration stays.
    s = await t.scrape();
    expect(s.get('sluice_rescorer_passes_total')).toBe(4);
    expect(s.get('sluice_rescorer_pass_duration_seconds')).toBeCloseTo(0.4, 9);
  });

  it('keeps the re-scorer counters monotone across the 32-bit header words wrapping', async () => {
    const t = setup({ version: 1, services: [] });
    const v = t.victims;
    v.i32[VictimHeader.passes] = 0x7ffffffe;
    v.i32[VictimHeader.changes] = -2; // 0xfffffffe as an unsigned count
    v.i32[VictimHeader.publishedAt] = 0x7fffff00; // the ms clock wraps too
    const first = (await t.scrape()).get('sluice_rescorer_passes_total') as number;
    expect(first).toBe(0x7ffffffe);
    v.notePass(0x7fffffff, 1); // clock at its maximum
    v.notePass(-0x7fffff01, 3); // 0x200 ms later, past the wrap; passes wraps to negative
    v.notePass(-0x7ffffe01, 0); // another 0x100 ms
    const s = await t.scrape();
    expect(s.get('sluice_rescorer_passes_total')).toBe(first + 3);
    expect(s.get('sluice_rescorer_priority_changes_total')).toBe(0xfffffffe + 4);
    // 0x7fffff00 → -0x7ffffe01 is 0x2ff ms over 3 passes.
    expect(s.get('sluice_rescorer_pass_duration_seconds')).toBeCloseTo(0x2ff / 3 / 1000, 9);
  });

  it('reads the header once per scrape, so the three re-scorer families agree', async () => {
    const t = setup({ version: 1, services: [] });
    const read = vi.spyOn(t.victims, 'headerValue');
    await t.metrics.render();
    expect(read).toHaveBeenCalledTimes(3);
  });

  it('shows the LVS modes and drop rate from the lvs source, read at scrape time', async () => {
    const t = setup({ version: 1, services: [] });
    t.state.lvs = { dropEntry: 2, dropPacket: 3, secureTcp: 1, dropRate: 10 };
    const s = await t.scrape();
    expect(seriesOf(s, 'sluice_lvs_defense_mode')).toEqual([
      ['sluice_lvs_defense_mode{sysctl="drop_entry"}', 2],
      ['sluice_lvs_defense_mode{sysctl="drop_packet"}', 3],
      ['sluice_lvs_defense_mode{sysctl="secure_tcp"}', 1],
    ]);
    expect(s.get('sluice_lvs_drop_rate')).toBe(10);
    t.state.lvs = { dropEntry: 0, dropPacket: 0, secureTcp: 0, dropRate: 0 };
    expect((await t.scrape()).get('sluice_lvs_defense_mode{sysctl="drop_packet"}')).toBe(0);
  });

  it('leaves out the re-scorer and LVS families when the source has no victim index or LVS state', async () => {
    const t = setup({ version: 1, services: [] }, { victims: false, lvs: false });
    const text = await t.metrics.render();
    expect(text).not.toContain('sluice_rescorer_');
    expect(text).not.toContain('sluice_lvs_');
    // The counter-block families are always there.
    expect(text).toContain('sluice_rsts_sent_total 0');
  });
});

describe('createMetrics: the kernel UDP counters', () => {
  it("exports /proc/net/snmp's RcvbufErrors and InErrors as counters when given a reader", async () => {
    const counters = CounterBlock.create(LIMITS);
    const snmp = readUdpCounters();
    expect(snmp).not.toBeNull();
    const metrics = createMetrics({
      counters,
      connections: ConnectionTable.create(1024),
      reals: RealServerCounters.create(LIMITS.maxReals),
      topology: () => ({ version: 1, services: [] }),
      workers: () => 0,
      udp: readUdpCounters,
    });
    const series = parseExposition(await metrics.render());
    expect(series.get('sluice_udp_receive_buffer_errors_total')).toBeGreaterThanOrEqual(
      snmp?.rcvbufErrors ?? 0,
    );
    expect(series.get('sluice_udp_receive_errors_total')).toBeGreaterThanOrEqual(snmp?.inErrors ?? 0);
    const check = promtoolCheck(await metrics.render());
    expect(check.output).toBe('');
  });
});

describe('createMetrics: exposition', () => {
  it('adds the default process and Node.js metrics under their conventional names', async () => {
    const t = setup({ version: 1, services: [] });
    const text = await t.metrics.render();
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).not.toMatch(/^sluice_process_|^sluice_nodejs_/m);
    for (const name of DEFAULT_GAUGES_NAMED_TOTAL) expect(text).not.toContain(`${name} `);
    expect(t.metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('passes `promtool check metrics` with every family populated', async () => {
    const topo = twoServices();
    // Label values that need escaping in the text format.
    topo.services[0].name = 'web "blue"\\eu';
    const t = setup(topo);
    const { layout } = t.counters;
    const r1 = t.counters.region(1);
    for (let i = 0; i < layout.services; i++) r1[i] += i + 1;
    for (const w of [layout.services + 1 * Per.words, layout.reals + 5 * Per.words]) {
      r1[w + Per.packets] += 3;
      r1[w + Per.bytes] += 180;
      r1[w + Per.connections] += 1;
    }
    t.reals.bind(5, true, 0, 0);
    addConnection(t.connections, { client: 7, port: 1, service: 1, real: 5, state: TcpState.established });
    // The defense: its counter region, two re-scorer publications across scrapes, the LVS modes.
    for (let i = 0; i < Defense.words; i++) r1[layout.defense + i] += i + 1;
    t.victims.notePass(100, 3);
    await t.metrics.render();
    t.victims.notePass(350, 4);
    t.state.lvs = { dropEntry: 1, dropPacket: 2, secureTcp: 3, dropRate: 7 };

    const text = await t.metrics.render();
    const series = parseExposition(text);
    expect(series.get(`sluice_service_packets_total{service="web \\"blue\\"\\\\eu"}`)).toBe(3);
    // Every sluice_ family is there, and no sluice_ series is missing its HELP and TYPE.
    const families = new Set([...text.matchAll(/^# TYPE (sluice_\w+) /gm)].map((m) => m[1]));
    expect([...families].sort()).toEqual(
      [
        'sluice_batch_duration_seconds',
        'sluice_config_version',
        'sluice_connection_scan_seconds',
        'sluice_connection_table_capacity',
        'sluice_connection_table_entries',
        'sluice_connections',
        'sluice_connections_by_service',
        'sluice_connections_by_priority',
        'sluice_connections_removed_total',
        'sluice_connections_shed_total',
        'sluice_dropped_packets_total',
        'sluice_lvs_defense_mode',
        'sluice_lvs_drop_rate',
        'sluice_rescorer_pass_duration_seconds',
        'sluice_rescorer_passes_total',
        'sluice_rescorer_priority_changes_total',
        'sluice_rsts_sent_total',
        'sluice_packets_total',
        'sluice_real_server_active_connections',
        'sluice_real_server_bytes_total',
        'sluice_real_server_connections_total',
        'sluice_real_server_inactive_connections',
        'sluice_real_server_overloaded',
        'sluice_real_server_packets_total',
        'sluice_real_server_unproven_connections',
        'sluice_real_server_up',
        'sluice_real_server_weight',
        'sluice_service_bytes_total',
        'sluice_service_connections_total',
        'sluice_service_packets_total',
        'sluice_workers',
      ].sort(),
    );
    // Every family has at least one sample, so promtool checks each one's lines too.
    for (const f of families)
      expect(
        [...series.keys()].some((k) => k.startsWith(f)),
        f,
      ).toBe(true);
    expect(series.get('sluice_rescorer_pass_duration_seconds')).toBe(0.25);
    for (const k of series.keys()) {
      if (!k.startsWith('sluice_')) continue;
      const family = [...families].find((f) => k === f || k.startsWith(`${f}{`) || k.startsWith(`${f}_`));
      expect(family, k).toBeDefined();
    }

    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });

  it('promtool rejects what it should, so the check above means something', () => {
    const check = promtoolCheck('# HELP x_total X.\n# TYPE x_total gauge\nx_total 1\n');
    expect(check.status).not.toBe(0);
    expect(check.output).toContain('non-counter metrics should not have "_total" suffix');
  });
});
