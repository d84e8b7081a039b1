// End-to-end through the real serving workers: each worker thread runs the native port's loop
// (BatchedPort: drain, classify, send) over a pair of FrameRings instead of a socket, against the
// shared tables; frames pushed on a worker's inbound ring come back on its outbound ring with the
// destination the port chose (a real server's VTEP, or the sender's for replies). The rings stand
// in for sockets only; the same loop serves the director's sockets.
import { Conn, RemoveReason, TcpState } from '@sluice/conntrack';
import { ipv4ToInt } from '@sluice/io';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { afterEach, describe, expect, it } from 'vitest';
import { exampleSnapshot } from './example-snapshot.ts';
import {
  type ConfigSnapshot,
  Dataplane,
  DropReason,
  FrameRing,
  Per,
  type RingDatagram,
  VERDICT_COUNT,
  Verdict,
} from './index.ts';
import { until } from './test-helpers.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const REAL_MACS = ['02:00:00:00:01:01', '02:00:00:00:01:02', '02:00:00:00:01:03'];

/** The example snapshot (its first service, with two weighted reals), plus an IPv6 and a UDP service. */
function snapshot(overrides: Partial<ConfigSnapshot> = {}, weights = [1, 1]): ConfigSnapshot {
  const example = exampleSnapshot({ directorMac: DIRECTOR_MAC, weights });
  return {
    ...example,
    services: [
      ...example.services,
      {
        index: 1,
        vip: 'fd00::100',
        port: 443,
        protocol: 'tcp',
        scheduler: 'wlc',
        persistence: null,
        reals: [
          {
            index: 2,
            address: 'fd00::1:3',
            port: 443,
            mac: REAL_MACS[2],
            vtep: '192.168.0.3',
            weight: 1,
            upperThreshold: 0,
            lowerThreshold: 0,
          },
        ],
      },
      {
        index: 2,
        vip: '10.0.0.100',
        port: 53,
        protocol: 'udp',
        scheduler: 'sh',
        persistence: null,
        reals: [
          {
            index: 3,
            address: '10.0.1.9',
            port: 53,
            mac: '02:00:00:00:01:09',
            vtep: '192.168.0.9',
            weight: 1,
            upperThreshold: 0,
            lowerThreshold: 0,
          },
        ],
      },
    ],
    ...overrides,
  };
}

const traffic = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:09:01', directorMac: DIRECTOR_MAC });
const VIP = addressBytes('10.0.0.100');
const VIP6 = addressBytes('fd00::100');

function client(i: number): Uint8Array {
  return addressBytes(`198.51.100.${i}`);
}

function mac(bytes: Uint8Array, off: number): string {
  return Array.from(bytes.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** VTEP of real server i in snapshot(): 192.168.0.1, .2, .3, and .9 for the UDP service's. */
const REAL_VTEPS = ['192.168.0.1', '192.168.0.2', '192.168.0.3', '192.168.0.9'].map(ipv4ToInt);
const realOf = (d: RingDatagram) => REAL_VTEPS.indexOf(d.address);

let dp: Dataplane | null = null;
afterEach(async () => {
  await dp?.close();
  dp = null;
});

/** Serving workers over rings: `push` queues frames on worker w's inbound ring, `flush` waits
 * until every pushed frame has a verdict and `sends` frames were sent (a worker counts a verdict
 * before it sends the batch), and returns them, in order per worker. */
async function serveOnRings(d: Dataplane, workers: number) {
  const pairs = Array.from({ length: workers }, () => ({
    inbound: FrameRing.create({ kind: 'queue', slots: 256 }),
    outbound: FrameRing.create({ kind: 'queue', slots: 1024 }),
  }));
  await d.serveRings(pairs);
  let pushed = 0;
  const classified = () => {
    let n = 0;
    for (let v = 0; v < VERDICT_COUNT; v++) n += d.counters.sum(v);
    return n;
  };
  const base = classified();
  return {
    push(frame: Uint8Array, peer = ipv4ToInt('192.168.0.100'), w = 0) {
      expect(pairs[w].inbound.push(frame, peer)).toBe(true);
      pushed++;
    },
    async flush(sends: number): Promise<RingDatagram[]> {
      await until(
        () => classified() - base === pushed && pairs.reduce((n, p) => n + p.outbound.pending, 0) >= sends,
      );
      return pairs.flatMap((p) => p.outbound.drain());
    },
  };
}

// Each test starts worker threads, which load the packet path's modules: seconds on a busy machine.
describe('Dataplane: serving workers over in-memory rings', { timeout: 30_000 }, () => {
  it('forwards a handshake to one real server with rewritten MACs and counts it', async () => {
    dp = new Dataplane({ workers: 2, connectionCapacity: 4096, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = await serveOnRings(dp, 2);
    const src = client(1);
    port.push(traffic.tcp({ src, dst: VIP, srcPort: 40000, dstPort: 80, flags: TCP.syn, seq: 1000 }), 1, 1);
    const sent = await port.flush(1);
    port.push(
      traffic.tcp({ src, dst: VIP, srcPort: 40000, dstPort: 80, flags: TCP.ack, seq: 1001, ack: 1 }),
      1,
      1,
    );
    port.push(
      traffic.tcp({
        src,
        dst: VIP,
        srcPort: 40000,
        dstPort: 80,
        flags: TCP.ack | TCP.psh,
        seq: 1001,
        ack: 1,
        payloadLen: 100,
      }),
      1,
      1,
    );
    sent.push(...(await port.flush(2)));
    expect(dp.counters.sum(Verdict.drop)).toBe(0);
    expect(sent).toHaveLength(3);
    const real = realOf(sent[0]);
    expect(real).toBeGreaterThanOrEqual(0);
    for (const f of sent) {
      expect(realOf(f)).toBe(real);
      expect(f.port).toBe(4789);
      expect(mac(f.bytes, 8)).toBe(REAL_MACS[real]);
      expect(mac(f.bytes, 14)).toBe(DIRECTOR_MAC);
    }
    expect(dp.connections.count()).toBe(1);
    expect(dp.reals.active[real]).toBe(1);
    expect(dp.reals.inactive[real]).toBe(0);
    // The entry: ESTABLISHED, handshake and data seen, next sequence number tracked.
    const rec = new Int32Array(Conn.snapshotWords);
    let found = false;
    for (let s = 0; s < dp.connections.capacity; s++) {
      dp.connections.readRecord(s, rec);
      if (rec[Conn.tag] === 0) continue;
      found = true;
      expect(rec[Conn.statePrio] & 0xff).toBe(TcpState.established);
      expect(rec[Conn.nextSeq]).toBe(1101);
      expect(rec[Conn.packets]).toBe(3);
      expect(rec[Conn.flagsSyn] & 0x3).toBe(0x3);
      expect((rec[Conn.flagsSyn] >>> 16) & 0xff).toBe(1);
    }
    expect(found).toBe(true);
    const layout = dp.counters.layout;
    expect(dp.counters.sum(Verdict.forward)).toBe(3);
    expect(dp.counters.sum(layout.reals + real * Per.words + Per.connections)).toBe(1);
    expect(dp.counters.sum(layout.services + 0 * Per.words + Per.packets)).toBe(3);
  });

  it("removes a worker's connection from the main thread with exact counts, and no Pipeline there", async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 1024, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = await serveOnRings(dp, 1);
    const src = client(2);
    port.push(traffic.tcp({ src, dst: VIP, srcPort: 40001, dstPort: 80, flags: TCP.syn, seq: 5 }));
    port.push(traffic.tcp({ src, dst: VIP, srcPort: 40001, dstPort: 80, flags: TCP.ack, seq: 6, ack: 1 }));
    await port.flush(2);
    const rec = new Int32Array(Conn.snapshotWords);
    let slot = -1;
    for (let s = 0; s < dp.connections.capacity && slot < 0; s++) {
      dp.connections.readRecord(s, rec);
      if (rec[Conn.tag] !== 0) slot = s;
    }
    const real = rec[Conn.real];
    expect(dp.reals.active[real]).toBe(1);
    expect(dp.reals.held[real]).toBe(1);
    expect(dp.removeConnection(slot, rec[Conn.tag], RemoveReason.reset)).toBe(true);
    expect(dp.connections.count()).toBe(0);
    expect(dp.reals.active[real]).toBe(0);
    expect(dp.reals.held[real]).toBe(0);
    expect(dp.counters.sum(dp.counters.layout.removals + RemoveReason.reset)).toBe(1);
    expect(dp.removeConnection(slot, rec[Conn.tag], RemoveReason.reset)).toBe(false); // gone
  });

  it('spreads new connections over real servers (rr) and drops what it must, with reasons', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 4096, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = await serveOnRings(dp, 1);
    for (let i = 0; i < 10; i++) {
      port.push(
        traffic.tcp({ src: client(i + 1), dst: VIP, srcPort: 5000, dstPort: 80, flags: TCP.syn, seq: i }),
      );
    }
    // A mid-flow ACK with no entry, a SYN to a port with no service, garbage, a wrong VNI.
    port.push(traffic.tcp({ src: client(99), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.ack, seq: 1 }));
    port.push(traffic.tcp({ src: client(99), dst: VIP, srcPort: 1, dstPort: 81, flags: TCP.syn, seq: 1 }));
    port.push(Uint8Array.of(8, 0, 0, 0, 0, 0, 42, 0, 1, 2, 3));
    const wrongVni = traffic.tcp({
      src: client(98),
      dst: VIP,
      srcPort: 1,
      dstPort: 80,
      flags: TCP.syn,
      seq: 1,
    });
    wrongVni[6] = 7;
    port.push(wrongVni);
    const sent = await port.flush(10);
    const perReal = [0, 0];
    for (const f of sent) perReal[realOf(f)]++;
    expect(perReal).toEqual([5, 5]);
    const drops = dp.counters.layout.drops;
    const dropped = (reason: number) => dp?.counters.sum(drops + reason);
    expect(dp.counters.sum(Verdict.drop)).toBe(4);
    expect(dropped(DropReason.noEntry)).toBe(1);
    expect(dropped(DropReason.noService)).toBe(1);
    expect(dropped(1 /* truncated */)).toBe(1);
    expect(dropped(DropReason.wrongVni)).toBe(1);
  });

  it('answers ARP for an IPv4 VIP and neighbour solicitation for an IPv6 VIP, in place, to the sender', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 1024, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = await serveOnRings(dp, 1);
    port.push(traffic.arpRequest(client(5), VIP), 7);
    port.push(traffic.arpRequest(client(5), addressBytes('10.0.0.200')), 7);
    port.push(traffic.neighborSolicitation(addressBytes('fd00::5'), VIP6), 8);
    const replies = await port.flush(2);
    expect(replies).toHaveLength(2);
    const [arp, na] = replies;
    expect(arp.address).toBe(7);
    expect(arp.bytes[8 + 12]).toBe(0x08);
    expect(arp.bytes[8 + 13]).toBe(0x06);
    expect(arp.bytes[8 + 14 + 7]).toBe(2); // op = reply
    expect(mac(arp.bytes, 8 + 14 + 8)).toBe(DIRECTOR_MAC); // sender hardware address
    expect(na.address).toBe(8);
    expect(na.bytes[8 + 14 + 40]).toBe(136); // neighbour advertisement
    expect(dp.counters.sum(Verdict.reply)).toBe(2);
    expect(dp.counters.sum(dp.counters.layout.drops + DropReason.notForUs)).toBe(1);
  });

  it('serves IPv6 and UDP services and sends an ICMP error to the flow it names', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 1024, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = await serveOnRings(dp, 1);
    const c6 = addressBytes('2001:db8::7');
    port.push(traffic.tcp({ src: c6, dst: VIP6, srcPort: 33000, dstPort: 443, flags: TCP.syn, seq: 5 }));
    port.push(traffic.udp(client(3), VIP, 5353, 53, 40));
    port.push(traffic.tcp({ src: client(4), dst: VIP, srcPort: 41000, dstPort: 80, flags: TCP.syn, seq: 9 }));
    const first = await port.flush(3);
    expect(first.map(realOf).slice(0, 2)).toEqual([2, 3]);
    const httpReal = realOf(first[2]);
    port.push(traffic.icmpFragNeeded(addressBytes('203.0.113.1'), VIP, 80, client(4), 41000, 1400));
    port.push(traffic.icmpFragNeeded(addressBytes('203.0.113.1'), VIP, 80, client(4), 41001, 1400));
    const second = await port.flush(1);
    expect(second.map(realOf)).toEqual([httpReal]);
    expect(dp.counters.sum(dp.counters.layout.drops + DropReason.icmpNoFlow)).toBe(1);
  });

  it('a config change reaches every worker as one version; weight 0 drains new flows only', async () => {
    dp = new Dataplane({ workers: 2, connectionCapacity: 4096, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = await serveOnRings(dp, 2);
    // Both first flows on worker 0, whose rr cursor (per worker, as documented) spreads them.
    port.push(traffic.tcp({ src: client(1), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.syn, seq: 1 }), 1);
    port.push(traffic.tcp({ src: client(2), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.syn, seq: 1 }), 1);
    const opened = await port.flush(2);
    expect(opened.map(realOf).sort()).toEqual([0, 1]);
    const v2 = dp.publishConfig(snapshot({ version: 2 }, [0, 1]));
    expect(v2).toBe(2);
    // The connection already on real 0 carries on; every new one goes to real 1, on both workers.
    port.push(
      traffic.tcp({ src: client(1), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.ack, seq: 2 }),
      1,
      0,
    );
    port.push(
      traffic.tcp({ src: client(2), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.ack, seq: 2 }),
      1,
      1,
    );
    const carried = await port.flush(2);
    expect(carried.map(realOf).sort()).toEqual([0, 1]);
    for (let i = 10; i < 20; i++) {
      port.push(
        traffic.tcp({ src: client(i), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.syn, seq: 1 }),
        1,
        i & 1,
      );
    }
    const fresh = await port.flush(10);
    expect(fresh).toHaveLength(10);
    expect(fresh.every((f) => realOf(f) === 1)).toBe(true);
  });

  it('refuses a bad config with a clear error and keeps the running one', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 1024, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const bad = snapshot({ version: 5 });
    bad.services[0].vip = '10.0.0.300';
    expect(() => dp?.publishConfig(bad)).toThrow(/not an IP address/);
    expect(dp.version).toBe(1);
    const dup = snapshot({ version: 6 });
    dup.services[1].reals[0].index = 0;
    expect(() => dp?.publishConfig(dup)).toThrow(/index used twice/);
    expect(dp.version).toBe(1);
  });
});
