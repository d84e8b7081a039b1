// The QUIC routing families: one series per route and per path change for each QUIC service only,
// summed over worker regions, and starting from zero for a service that takes a freed index.
import { Quic } from '@sluice/dataplane';
import { describe, expect, it } from 'vitest';
import { setup, twoServices } from './metrics.fixture.ts';
import { seriesOf } from './test-helpers.ts';

describe('sluice_quic_* families', () => {
  it('count each QUIC service by route and path change; other services have no series', async () => {
    const topo = twoServices();
    topo.services[1].quic = true; // dns, index 3
    const t = setup(topo);
    const { layout } = t.counters;
    const at = layout.quic + 3 * Quic.words;
    const r0 = t.counters.region(0);
    const r2 = t.counters.region(2);
    r0[at + Quic.longHeader] += 4;
    r2[at + Quic.longHeader] += 1;
    r0[at + Quic.cidRouted] += 90;
    r2[at + Quic.cidRouted] += 10;
    r0[at + Quic.unknownServerId] += 2;
    r2[at + Quic.unroutable] += 3;
    r0[at + Quic.newPath] += 1;
    r2[at + Quic.repointed] += 5;
    // A QUIC counter at web's index is never shown: web does not route QUIC.
    r0[layout.quic + 1 * Quic.words + Quic.cidRouted] += 77;
    const s = await t.scrape();
    expect(seriesOf(s, 'sluice_quic_packets_total')).toEqual([
      ['sluice_quic_packets_total{service="dns",route="long_header"}', 5],
      ['sluice_quic_packets_total{service="dns",route="cid"}', 100],
      ['sluice_quic_packets_total{service="dns",route="unknown_server_id"}', 2],
      ['sluice_quic_packets_total{service="dns",route="unroutable"}', 3],
    ]);
    expect(seriesOf(s, 'sluice_quic_path_changes_total')).toEqual([
      ['sluice_quic_path_changes_total{service="dns",entry="created"}', 1],
      ['sluice_quic_path_changes_total{service="dns",entry="repointed"}', 5],
    ]);
  });

  it("a QUIC service that takes another service's index starts from zero", async () => {
    const topo = twoServices();
    topo.services[1].quic = true;
    const t = setup(topo);
    const at = t.counters.layout.quic + 3 * Quic.words;
    t.counters.region(0)[at + Quic.cidRouted] += 40;
    expect((await t.scrape()).get('sluice_quic_packets_total{service="dns",route="cid"}')).toBe(40);
    const next = twoServices();
    next.services[1].name = 'h3';
    next.services[1].quic = true;
    t.state.topology = next;
    expect((await t.scrape()).get('sluice_quic_packets_total{service="h3",route="cid"}')).toBe(0);
    t.counters.region(1)[at + Quic.cidRouted] += 6;
    const s = await t.scrape();
    expect(s.get('sluice_quic_packets_total{service="h3",route="cid"}')).toBe(6);
    expect(seriesOf(s, 'sluice_quic_packets_total').some(([k]) => k.includes('"dns"'))).toBe(false);
  });
});
