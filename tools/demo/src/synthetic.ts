// `npm run synthetic [-- --workers N --seconds N]`: a director on the embedded demo config with
// synthetic clients, no sockets and no privileges needed: valid clients open, use and close connections, a bare-SYN flood from
// random sources runs beside them, and an ipvsadm-style listing is printed every two seconds
// until SIGINT/SIGTERM (then it shuts down cleanly and exits 0). The frames go through the
// director's own serving workers (the native port's loop), each fed by an in-memory FrameRing
// where its socket would be; a client's frames always reach the same worker, as SO_REUSEPORT
// keeps a flow on one.

import { parseArgs } from 'node:util';
import { DEMO_CONFIG, realKey, validateLiveConfig } from '@sluice/config';
import {
  type ConfigSnapshot,
  Dataplane,
  DROP_REASON_NAMES,
  FrameRing,
  type RingPair,
  Verdict,
} from '@sluice/dataplane';
import { formatListing } from '@sluice/director/src/listing.ts';
import { RealIndexAllocator, toSnapshot } from '@sluice/director/src/snapshot.ts';
import { ipv4Bytes, TCP, TrafficFrames } from '@sluice/traffic';

const MAX_SERVICES = 16;
const MAX_REALS = 64;

/**
 * The snapshot `npm start` would run on the demo config, with each real server's MAC already
 * learned: nothing answers ARP in a synthetic run, and a real server without a MAC takes no
 * new connections. One config, so the synthetic run and the daemon's first start never drift.
 */
export function syntheticSnapshot(): ConfigSnapshot {
  const live = validateLiveConfig({ overlay: DEMO_CONFIG.overlay, services: DEMO_CONFIG.services });
  const learnedMacs = new Map<string, string>();
  for (const svc of live.services) {
    svc.reals.forEach((r, i) => {
      learnedMacs.set(
        realKey(svc.name, r.address, r.port),
        `02:5c:00:00:01:${(i + 1).toString(16).padStart(2, '0')}`,
      );
    });
  }
  const allocator = new RealIndexAllocator({ maxServices: MAX_SERVICES, maxReals: MAX_REALS });
  return toSnapshot(live, 1, allocator, { learnedMacs });
}

export async function runDemo(opts: { workers: number; seconds: number }): Promise<void> {
  const dp = new Dataplane({
    workers: opts.workers,
    connectionCapacity: 1 << 18,
    maxServices: MAX_SERVICES,
    maxReals: MAX_REALS,
  });
  const snapshot = syntheticSnapshot();
  dp.publishConfig(snapshot);
  const web = snapshot.services[0];
  const traffic = new TrafficFrames({
    vni: snapshot.vni,
    clientMac: '02:5c:00:00:09:01',
    directorMac: snapshot.directorMac,
  });
  const vip = Uint8Array.from(web.vip.split('.'), Number);
  const rings: RingPair[] = Array.from({ length: opts.workers }, () => ({
    inbound: FrameRing.create({ kind: 'queue', slots: 4096 }),
    outbound: FrameRing.create({ kind: 'sink' }),
  }));
  await dp.serveRings(rings);
  /** The client VTEP the frames come from (replies would go back to it). */
  const vtep = 0xc00002c8; // 192.0.2.200, beside the demo config's real-server VTEPs
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
      // One client's segments: the handshake's SYN and ACK, an 80-byte request, for two in three a FIN.
      const segment = (flags: number, seq: number, ack: number, payloadLen = 0) =>
        inject(
          traffic.tcp({ src, dst: vip, srcPort: sport, dstPort: web.port, flags, seq, ack, payloadLen }),
          id,
        );
      segment(TCP.syn, 1000, 0);
      segment(TCP.ack, 1001, 1);
      segment(TCP.ack | TCP.psh, 1001, 1, 80);
      if (id % 3 !== 0) segment(TCP.ack | TCP.fin, 1081, 1);
    }
    for (let i = 0; i < 200; i++) {
      const src = ipv4Bytes((Math.random() * 0x100000000) >>> 0);
      inject(
        traffic.tcp({
          src,
          dst: vip,
          srcPort: 2000 + i,
          dstPort: web.port,
          flags: TCP.syn,
          seq: i,
          shape: 'bare',
        }),
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
        `\n${formatListing(snapshot, dp)}\nforwarded ${dp.counters.sum(Verdict.forward)}, dropped ${dropped}${reasons ? ` (${reasons})` : ''}` +
          `${ringFull > 0 ? `, ${ringFull} lost before a worker (ring full)` : ''}\n`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await dp.close();
  process.stdout.write('\nSluice demo stopped.\n');
}

/** `node synthetic.ts [--workers N] [--seconds N]` (0 seconds: until interrupted). */
export async function syntheticMain(args: string[]): Promise<number> {
  let values: { workers: string; seconds: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { workers: { type: 'string', default: '1' }, seconds: { type: 'string', default: '0' } },
    }));
  } catch (err) {
    process.stderr.write(
      `synthetic: ${(err as Error).message}\nusage: npm run synthetic -- [--workers N] [--seconds N]\n`,
    );
    return 2;
  }
  const workers = Number(values.workers);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(workers) || workers < 1) {
    process.stderr.write('synthetic: --workers must be a positive integer\n');
    return 2;
  }
  if (!(seconds >= 0)) {
    process.stderr.write('synthetic: --seconds must be a number of seconds (0 = until interrupted)\n');
    return 2;
  }
  await runDemo({ workers, seconds });
  return 0;
}

if (import.meta.main) process.exitCode = await syntheticMain(process.argv.slice(2));
