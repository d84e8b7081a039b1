// Neighbours that age like the kernel's, with real sockets on loopback: a Director serving a
// real VXLAN socket and a fake real-server VTEP (FakeVtep: a NIC that drops frames addressed to
// another MAC, a neighbour stack that answers ARP and resolves the director's own address before
// answering a SYN). Proves: a learned MAC is re-confirmed by unicast probes; a changed MAC (the
// fake answers ARP with one MAC, then another) is picked up with the default timings when an
// overlay health check runs: its failure has the entry probed at once (one unicast probe, which
// the new NIC drops, then broadcast), so no reachable-time expiry is waited for, and established
// connections follow the new MAC (the time this takes is measured by `npm run --workspace
// @sluice/reliability mac-change`, docs/RELIABILITY.md: no timing is asserted here); a real server that
// stops answering is reported (state, metric, log) and takes no new connections while its
// established connection keeps its entry and its frames; the overlay check passes by SYN-ACK
// (and ends the half-open connection with the right RST) and fails on RST.

import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DIRECTOR_MAC,
  establish,
  MAC_A,
  MAC_B,
  metric,
  REAL,
  type Rig,
  segment,
  send,
  startRig,
  status,
  stopRig,
  until,
} from './neighbor-rig.fixture.ts';

let rig: Rig | null = null;
afterEach(async () => {
  if (rig !== null) await stopRig(rig);
  rig = null;
});

async function begin(...args: Parameters<typeof startRig>): Promise<Rig> {
  rig = await startRig(...args);
  return rig;
}

describe('neighbours on loopback against a fake real-server VTEP', () => {
  it('learns by broadcast probe, then re-confirms the MAC by unicast probes', async () => {
    const r = await begin(null, { reachableMs: 400, delayMs: 100, retransMs: 100 });
    await until(() => status(r).neighbor?.state === 'reachable', 3000, 'learned');
    expect(status(r)).toMatchObject({ mac: MAC_A, macSource: 'learned' });
    expect(r.fake.arpRequests.broadcast).toBeGreaterThanOrEqual(1);
    // A gratuitous ARP claiming the address from a VTEP that is no real server's is not even
    // handed to the control plane: the MAC stays.
    const claim = new TrafficFrames({ vni: 42, clientMac: MAC_B, directorMac: DIRECTOR_MAC });
    await send(r, claim.arpRequest(addressBytes(REAL), addressBytes(REAL)));
    await new Promise((res) => setTimeout(res, 300));
    expect(status(r).mac).toBe(MAC_A);
    await until(() => r.fake.arpRequests.unicast >= 2, 5000, 'unicast re-confirmations');
    expect(status(r).neighbor?.state).not.toBe('failed');
    expect(await metric(r, 'sluice_neighbor_probes_total{kind="unicast"}')).toBeGreaterThanOrEqual(2);
  });

  it('picks up a changed MAC after a failed overlay check (default timings), established flows follow it', async () => {
    const r = await begin({ type: 'tcp', via: 'overlay', intervalSeconds: 2, timeoutSeconds: 1, fall: 2 });
    await until(() => status(r).mac === MAC_A && status(r).health === 'up', 6000, 'learned and checked');
    await until(() => r.fake.checks.synAck >= 1, 4000, 'an overlay check answered');
    await establish(r, 40001);
    await until(
      () => r.fake.forwarded.some((f) => f.srcPort === 40001 && f.dstMac === MAC_A),
      2000,
      'forwarded to A',
    );

    r.fake.setMac(MAC_B);
    const toOldMacBefore = r.fake.arpRequests.otherMac;
    let seq = 1011;
    const pump = setInterval(() => {
      void send(r, segment(40001, TCP.ack | TCP.psh, seq, 10));
      seq += 10;
    }, 100);
    try {
      // A liveness bound only: with the default 30 s reachable time, a change found here was
      // found by the overlay check's failure, not by the entry's ageing.
      await until(
        () => r.fake.forwarded.some((f) => f.srcPort === 40001 && f.dstMac === MAC_B),
        14_000,
        'the established connection forwarded to the new MAC',
      );
    } finally {
      clearInterval(pump);
    }
    expect(status(r).mac).toBe(MAC_B);
    // A unicast probe to the old MAC (dropped by the new NIC), then broadcast: the suspicion path.
    expect(r.fake.arpRequests.otherMac - toOldMacBefore).toBeGreaterThanOrEqual(1);
    expect(r.fake.arpRequests.broadcast).toBeGreaterThanOrEqual(2);
    expect(r.logs.some((l) => l.includes(`changed its MAC: ${MAC_A} → ${MAC_B}`))).toBe(true);
    expect(await metric(r, 'sluice_neighbor_mac_changes_total')).toBe(1);
    // The connection kept its entry through the change.
    expect(r.director.listConnections({ limit: 10 }).items.map((c) => c.client.port)).toContain(40001);
  });

  it('reports a real server that stops answering; no new connections, established ones keep their entries', async () => {
    const r = await begin(null, {
      reachableMs: 300,
      delayMs: 100,
      retransMs: 100,
      ucastProbes: 2,
      mcastProbes: 2,
    });
    await until(() => status(r).neighbor?.state === 'reachable', 3000, 'learned');
    await establish(r, 40002);
    await until(() => r.fake.forwarded.some((f) => f.srcPort === 40002), 2000, 'established');

    r.fake.answerArp = false;
    await until(() => status(r).neighbor?.state === 'failed', 5000, 'failed');
    expect(r.logs.some((l) => l.includes(`neighbour ${REAL}`) && l.includes('stopped answering'))).toBe(true);
    expect(
      await metric(r, `sluice_real_server_neighbor_state{service="web",real="${REAL}:80",state="failed"}`),
    ).toBe(1);

    const before = r.fake.forwarded.length;
    await send(r, segment(40003, TCP.syn, 5000));
    await send(r, segment(40002, TCP.ack | TCP.psh, 1011, 10));
    await until(() => r.fake.forwarded.length > before, 2000, 'the established connection still forwarded');
    await new Promise((res) => setTimeout(res, 200));
    const after = r.fake.forwarded.slice(before);
    expect(after.some((f) => f.srcPort === 40002 && f.dstMac === MAC_A)).toBe(true);
    expect(after.some((f) => f.srcPort === 40003)).toBe(false);
    expect(r.director.listConnections({ limit: 10 }).items.map((c) => c.client.port)).toContain(40002);

    r.fake.answerArp = true;
    await until(() => status(r).neighbor?.state === 'reachable', 3000, 'answers again');
    expect(r.logs.some((l) => l.includes('answers again'))).toBe(true);
    await send(r, segment(40004, TCP.syn, 6000));
    await until(() => r.fake.forwarded.some((f) => f.srcPort === 40004), 2000, 'new connections again');
  });

  it('an overlay check passes by SYN-ACK (then resets the half-open connection) and fails on RST', async () => {
    const r = await begin({ type: 'tcp', via: 'overlay', port: 80, intervalSeconds: 0.3, timeoutSeconds: 1 });
    await until(() => r.fake.checks.rst >= 1, 6000, 'a check answered and reset');
    expect(status(r).health).toBe('up');
    // The RST carries the sequence number the SYN-ACK acknowledged (ISN + 1): the real server takes it.
    expect(r.fake.checks.resetsReceived[0]).toBe((r.fake.checks.synSeqs[0] + 1) >>> 0);
    expect(r.fake.checks.synAck).toBeGreaterThanOrEqual(1);

    // Another port: the real server's stack answers RST+ACK.
    await r.director.applyConfig({
      ...r.director.getConfig().config,
      services: [
        {
          ...r.director.getConfig().config.services[0],
          reals: [
            {
              ...r.director.getConfig().config.services[0].reals[0],
              healthCheck: {
                type: 'tcp',
                via: 'overlay',
                port: 81,
                intervalSeconds: 0.3,
                timeoutSeconds: 1,
                rise: 1,
                fall: 1,
              },
            },
          ],
        },
      ],
    });
    await until(() => status(r).health === 'down', 4000, 'down on RST');
    expect(r.logs.some((l) => l.includes('refused (RST through the overlay)'))).toBe(true);
  });
});
