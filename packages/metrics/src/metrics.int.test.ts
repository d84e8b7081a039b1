// promtool (Debian's prometheus package) on the director's real exposition text: the families a
// scrape carries must pass `promtool check metrics`, and promtool must reject what it should.
import { ConnectionTable, TcpState } from '@sluice/conntrack';
import { CounterBlock, Defense, Per, Quic } from '@sluice/dataplane';
import { readUdpCounters } from '@sluice/io';
import { RealServerCounters } from '@sluice/schedulers';
import { describe, expect, it } from 'vitest';
import { LIMITS, setup, twoServices } from './metrics.fixture.ts';
import { createMetrics } from './metrics.ts';
import { addConnection, parseExposition, promtoolCheck } from './test-helpers.ts';

describe('createMetrics: exposition checked by promtool', () => {
  it('passes `promtool check metrics` with every family populated', async () => {
    const topo = twoServices();
    // Label values that need escaping in the text format.
    topo.services[0].name = 'web "blue"\\eu';
    topo.services[1].quic = true;
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
    for (let k = 0; k < Quic.words; k++) r1[layout.quic + 3 * Quic.words + k] += k + 1;
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
        'sluice_challenge_answers_total',
        'sluice_challenges_sent_total',
        'sluice_out_of_window_segments_total',
        'sluice_half_open_released_total',
        'sluice_admitted_over_capacity_total',
        'sluice_keepalive_connections_closed_total',
        'sluice_probes_sent_total',
        'sluice_config_version',
        'sluice_workers_configured',
        'sluice_real_server_upper_threshold',
        'sluice_real_server_lower_threshold',
        'sluice_defense_strategy',
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
        'sluice_real_server_held_connections',
        'sluice_real_server_unheld_connections',
        'sluice_real_server_quiet_connections',
        'sluice_real_server_up',
        'sluice_real_server_weight',
        'sluice_service_bytes_total',
        'sluice_service_connections_total',
        'sluice_service_packets_total',
        'sluice_workers',
        'sluice_quic_packets_total',
        'sluice_quic_path_changes_total',
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
      configuredWorkers: 1,
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
