// End-to-end through the real worker threads: frames go into shared batches, piscina workers
// classify them against the shared tables, verdicts come back. The MemoryPort stands in for
// sockets only.
import { Conn, TcpState } from '@sluice/conntrack';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConfigSnapshot, Dataplane, DropReason, MemoryPort, Per, Verdict } from './index.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const REAL_MACS = ['02:00:00:00:01:01', '02:00:00:00:01:02', '02:00:00:00:01:03'];

function snapshot(overrides: Partial<ConfigSnapshot> = {}, weights = [1, 1]): ConfigSnapshot {
  return {
    version: 1,
    vni: 42,
    directorMac: DIRECTOR_MAC,
    services: [
      {
        index: 0,
        vip: '10.0.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        persistence: null,
        reals: weights.map((w, i) => ({
          index: i,
          address: `10.0.1.${i + 1}`,
          port: 80,
          mac: REAL_MACS[i],
          vtep: `192.168.0.${i + 1}`,
          weight: w,
          upperThreshold: 0,
          lowerThreshold: 0,
        })),
      },
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

let dp: Dataplane | null = null;
afterEach(async () => {
  await dp?.close();
  dp = null;
});

describe('Dataplane through piscina workers', () => {
  it('forwards a handshake to one real server with rewritten MACs and counts it', async () => {
    dp = new Dataplane({ workers: 2, connectionCapacity: 4096, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = new MemoryPort();
    const src = client(1);
    port.inject(traffic.tcp({ src, dst: VIP, srcPort: 40000, dstPort: 80, flags: TCP.syn, seq: 1000 }));
    await port.flush(dp);
    port.inject(
      traffic.tcp({ src, dst: VIP, srcPort: 40000, dstPort: 80, flags: TCP.ack, seq: 1001, ack: 1 }),
    );
    port.inject(
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
    );
    await port.flush(dp);
    expect(port.dropped).toEqual([]);
    expect(port.forwarded).toHaveLength(3);
    const real = port.forwarded[0].arg;
    for (const f of port.forwarded) {
      expect(f.arg).toBe(real);
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

  it('spreads new connections over real servers (rr) and drops what it must, with reasons', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 4096, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = new MemoryPort();
    for (let i = 0; i < 10; i++) {
      port.inject(
        traffic.tcp({ src: client(i + 1), dst: VIP, srcPort: 5000, dstPort: 80, flags: TCP.syn, seq: i }),
      );
    }
    // A mid-flow ACK with no entry, a SYN to a port with no service, garbage, a wrong VNI.
    port.inject(traffic.tcp({ src: client(99), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.ack, seq: 1 }));
    port.inject(traffic.tcp({ src: client(99), dst: VIP, srcPort: 1, dstPort: 81, flags: TCP.syn, seq: 1 }));
    port.inject(Uint8Array.of(8, 0, 0, 0, 0, 0, 42, 0, 1, 2, 3));
    const wrongVni = traffic.tcp({
      src: client(98),
      dst: VIP,
      srcPort: 1,
      dstPort: 80,
      flags: TCP.syn,
      seq: 1,
    });
    wrongVni[6] = 7;
    port.inject(wrongVni);
    await port.flush(dp);
    const perReal = [0, 0];
    for (const f of port.forwarded) perReal[f.arg]++;
    expect(perReal).toEqual([5, 5]);
    expect(port.dropped.map((d) => d.arg)).toEqual([
      DropReason.noEntry,
      DropReason.noService,
      1 /* truncated */,
      DropReason.wrongVni,
    ]);
    expect(dp.counters.sum(dp.counters.layout.drops + DropReason.noEntry)).toBe(1);
  });

  it('answers ARP for an IPv4 VIP and neighbour solicitation for an IPv6 VIP, in place', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 1024, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = new MemoryPort();
    port.inject(traffic.arpRequest(client(5), VIP), 7);
    port.inject(traffic.arpRequest(client(5), addressBytes('10.0.0.200')), 7);
    port.inject(traffic.neighborSolicitation(addressBytes('fd00::5'), VIP6), 8);
    await port.flush(dp);
    expect(port.replies).toHaveLength(2);
    const [arp, na] = port.replies;
    expect(arp.peer).toBe(7);
    expect(arp.bytes[8 + 12]).toBe(0x08);
    expect(arp.bytes[8 + 13]).toBe(0x06);
    expect(arp.bytes[8 + 14 + 7]).toBe(2); // op = reply
    expect(mac(arp.bytes, 8 + 14 + 8)).toBe(DIRECTOR_MAC); // sender hardware address
    expect(na.peer).toBe(8);
    expect(na.bytes[8 + 14 + 40]).toBe(136); // neighbour advertisement
    expect(port.dropped.map((d) => d.arg)).toEqual([DropReason.notForUs]);
  });

  it('serves IPv6 and UDP services and sends an ICMP error to the flow it names', async () => {
    dp = new Dataplane({ workers: 1, connectionCapacity: 1024, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = new MemoryPort();
    const c6 = addressBytes('2001:db8::7');
    port.inject(traffic.tcp({ src: c6, dst: VIP6, srcPort: 33000, dstPort: 443, flags: TCP.syn, seq: 5 }));
    port.inject(traffic.udp(client(3), VIP, 5353, 53, 40));
    port.inject(
      traffic.tcp({ src: client(4), dst: VIP, srcPort: 41000, dstPort: 80, flags: TCP.syn, seq: 9 }),
    );
    await port.flush(dp);
    expect(port.forwarded.map((f) => f.arg).slice(0, 2)).toEqual([2, 3]);
    const httpReal = port.forwarded[2].arg;
    port.inject(traffic.icmpFragNeeded(addressBytes('203.0.113.1'), VIP, 80, client(4), 41000, 1400));
    port.inject(traffic.icmpFragNeeded(addressBytes('203.0.113.1'), VIP, 80, client(4), 41001, 1400));
    await port.flush(dp);
    expect(port.forwarded[3].arg).toBe(httpReal);
    expect(port.dropped.map((d) => d.arg)).toEqual([DropReason.icmpNoFlow]);
  });

  it('a config change reaches every worker as one version; weight 0 drains new flows only', async () => {
    dp = new Dataplane({ workers: 2, connectionCapacity: 4096, maxServices: 8, maxReals: 16 });
    dp.publishConfig(snapshot());
    const port = new MemoryPort();
    port.inject(traffic.tcp({ src: client(1), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.syn, seq: 1 }));
    port.inject(traffic.tcp({ src: client(2), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.syn, seq: 1 }));
    await port.flush(dp);
    const onReal0 = port.forwarded.find((f) => f.arg === 0);
    expect(onReal0).toBeDefined();
    const v2 = dp.publishConfig(snapshot({ version: 2 }, [0, 1]));
    expect(v2).toBe(2);
    port.forwarded.length = 0;
    // The connection already on real 0 carries on; every new one goes to real 1.
    const c1 = port.forwarded;
    port.inject(traffic.tcp({ src: client(1), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.ack, seq: 2 }));
    port.inject(traffic.tcp({ src: client(2), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.ack, seq: 2 }));
    for (let i = 10; i < 20; i++) {
      port.inject(traffic.tcp({ src: client(i), dst: VIP, srcPort: 1, dstPort: 80, flags: TCP.syn, seq: 1 }));
    }
    await port.flush(dp);
    expect(c1.slice(2).every((f) => f.arg === 1)).toBe(true);
    expect(
      c1
        .slice(0, 2)
        .map((f) => f.arg)
        .sort(),
    ).toEqual([0, 1]);
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
