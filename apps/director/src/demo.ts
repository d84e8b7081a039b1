// `sluice synthetic`: a director on the embedded demo config with synthetic clients, no sockets and
// no privileges needed: valid clients open, use and close connections, a bare-SYN flood from
// random sources runs beside them, and an ipvsadm-style listing is printed every two seconds
// until SIGINT/SIGTERM (then it shuts down cleanly and exits 0). The frames go through the
// director's own serving workers (the native port's loop), each fed by an in-memory FrameRing
// where its socket would be; a client's frames always reach the same worker, as SO_REUSEPORT
// keeps a flow on one.
import {
  type ConfigSnapshot,
  Dataplane,
  DROP_REASON_NAMES,
  FrameRing,
  type RingPair,
  Verdict,
} from '@sluice/dataplane';
import { ipv4Bytes, TCP, TrafficFrames } from '@sluice/traffic';
import { formatListing } from './listing.ts';

export const DEMO_CONFIG: ConfigSnapshot = {
  version: 1,
  vni: 4242,
  directorMac: '02:53:4c:00:00:01',
  services: [
    {
      index: 0,
      vip: '10.10.0.100',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wlc',
      persistence: null,
      reals: [1, 2, 3].map((n, i) => ({
        index: i,
        address: `10.10.1.${n}`,
        port: 80,
        mac: `02:53:4c:00:01:0${n}`,
        vtep: `192.168.53.${n + 10}`,
        weight: n === 3 ? 2 : 1,
        upperThreshold: 0,
        lowerThreshold: 0,
      })),
    },
  ],
};

export async function runDemo(opts: { workers: number; seconds: number }): Promise<void> {
  const dp = new Dataplane({
    workers: opts.workers,
    connectionCapacity: 1 << 18,
    maxServices: 16,
    maxReals: 64,
  });
  dp.publishConfig(DEMO_CONFIG);
  const traffic = new TrafficFrames({
    vni: 4242,
    clientMac: '02:53:4c:00:09:01',
    directorMac: '02:53:4c:00:00:01',
  });
  const vip = ipv4Bytes(0x0a0a0064);
  const rings: RingPair[] = Array.from({ length: opts.workers }, () => ({
    inbound: FrameRing.create({ kind: 'queue', slots: 4096 }),
    outbound: FrameRing.create({ kind: 'sink' }),
  }));
  await dp.serveRings(rings);
  /** The client VTEP the frames come from (replies would go back to it). */
  const vtep = 0xc0a835c8; // 192.168.53.200
  let ringFull = 0;
  const inject = (frame: Uint8Array, flow: number) => {
    if (!rings[flow % rings.length].inbound.push(frame, vtep)) ringFull++;
  };
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const started = Date.now();
  let nextPrint = started;
  let clientSeq = 0;
  process.stdout.write(
    `Sluice demo: synthetic clients through ${opts.workers} serving worker(s), rings for sockets. Ctrl-C stops.\n`,
  );
  while (!stopping && (opts.seconds <= 0 || Date.now() - started < opts.seconds * 1000)) {
    // 50 valid clients per round: SYN, ACK, data, FIN; and 200 flood SYNs from random sources.
    for (let i = 0; i < 50; i++) {
      const id = clientSeq++;
      const src = ipv4Bytes((0xc6336400 + (id % 200)) >>> 0);
      const sport = 1024 + (id % 60000);
      inject(traffic.tcp({ src, dst: vip, srcPort: sport, dstPort: 80, flags: TCP.syn, seq: 1000 }), id);
      inject(
        traffic.tcp({ src, dst: vip, srcPort: sport, dstPort: 80, flags: TCP.ack, seq: 1001, ack: 1 }),
        id,
      );
      inject(
        traffic.tcp({
          src,
          dst: vip,
          srcPort: sport,
          dstPort: 80,
          flags: TCP.ack | TCP.psh,
          seq: 1001,
          ack: 1,
          payloadLen: 80,
        }),
        id,
      );
      if (id % 3 !== 0) {
        inject(
          traffic.tcp({
            src,
            dst: vip,
            srcPort: sport,
            dstPort: 80,
            flags: TCP.ack | TCP.fin,
            seq: 1081,
            ack: 1,
          }),
          id,
        );
      }
    }
    for (let i = 0; i < 200; i++) {
      const src = ipv4Bytes((Math.random() * 0x100000000) >>> 0);
      inject(
        traffic.tcp({ src, dst: vip, srcPort: 2000 + i, dstPort: 80, flags: TCP.syn, seq: i, shape: 'bare' }),
        i,
      );
    }
    if (Date.now() >= nextPrint) {
      nextPrint += 2000;
      const dropped = dp.counters.sum(Verdict.drop);
      const reasons = DROP_REASON_NAMES.map(
        (n, i) => [n, dp.counters.sum(dp.counters.layout.drops + i)] as const,
      )
        .filter(([, v]) => v > 0)
        .map(([n, v]) => `${n}=${v}`)
        .join(' ');
      process.stdout.write(
        `\n${formatListing(DEMO_CONFIG, dp)}\nforwarded ${dp.counters.sum(Verdict.forward)}, dropped ${dropped}${reasons ? ` (${reasons})` : ''}` +
          `${ringFull > 0 ? `, ${ringFull} lost before a worker (ring full)` : ''}\n`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await dp.close();
  process.stdout.write('\nSluice demo stopped.\n');
}
