// OverlayProber: a TCP health check through the overlay, the path client traffic takes. Under
// direct routing the director's kernel has no route into the overlay (the overlay lives in the
// userspace VTEP), so the check is made by hand: a TCP SYN from the director's own overlay address
// (overlay.address) to the real server, in an Ethernet frame to the real server's MAC (configured
// or learned), in VXLAN to its VTEP. The real server answers from the target address to
// overlay.address, on-link over its VXLAN device: it resolves overlay.address by ARP (the serving
// workers answer it like a VIP) and sends the SYN-ACK to the director's VTEP, where a worker
// punts it here (a frame to the director's own address is never served traffic). A SYN-ACK that
// acknowledges our sequence number is a pass, and an RST that ends the half-open connection on
// the real server follows it; an RST is a refusal; silence until the timeout is a failure.
//
// So a pass proves what the underlay check cannot: the VXLAN path, the real server's MAC as the
// director has it, its overlay address, and the service's listener. The answer is matched by the
// director's port, the peer's address and port, and the acknowledgement number (ISN + 1, the ISN
// random per check), so a stray or forged frame cannot pass a check.
import { randomInt } from 'node:crypto';
import type { ProbeResult } from '@sluice/health';
import {
  buildTcpSegment,
  EtherType,
  FrameInfo,
  IpProto,
  ParseStatus,
  parseFrame,
  parseVxlan,
  RstSpec,
  TcpFlag,
  VxlanInfo,
  writeVxlan,
} from '@sluice/wire';
import type { OwnFrames } from './own-frames.ts';

/** Where a checked real server is, as the running config and the neighbour table say now. */
export interface OverlayTarget {
  vni: number;
  directorMac: string;
  /** overlay.address, or null when the config has none. */
  ownAddress: string | null;
  /** The real server's MAC (configured or learned), or null while unresolved. */
  mac: string | null;
  vtep: string;
}

interface Pending {
  address: number;
  port: number;
  isn: number;
  target: OverlayTarget;
  started: number;
  finish: (ok: boolean, detail: string) => void;
}

const FIRST_PORT = 49152;
const PORTS = 65536 - FIRST_PORT;

function v4(text: string): number {
  const p = text.split('.').map(Number);
  return (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3] | 0;
}

function macBytes(text: string, out: Uint8Array): void {
  const parts = text.split(':');
  for (let i = 0; i < 6; i++) out[i] = Number.parseInt(parts[i], 16);
}

export class OverlayProber {
  private readonly own: OwnFrames;
  private readonly lookup: (key: string) => OverlayTarget | null;
  /** In-flight checks by the director's source port. */
  private readonly pending = new Map<number, Pending>();
  private nextPort = 0;
  private readonly spec = new RstSpec();
  private readonly frame = new FrameInfo();
  private readonly vx = new VxlanInfo();
  /** SYNs sent, answers matched (SYN-ACK or RST), frames to our address matching no check. */
  readonly counters = { sent: 0, answered: 0, unmatched: 0 };

  constructor(own: OwnFrames, lookup: (key: string) => OverlayTarget | null) {
    this.own = own;
    this.lookup = lookup;
  }

  /** One check of real server `key` at `address:port` (HealthChecker's overlayProbe). */
  probe(
    key: string,
    address: string,
    port: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<ProbeResult> {
    const started = performance.now();
    const done = (ok: boolean, detail: string): ProbeResult => ({
      ok,
      detail,
      ms: Math.round(performance.now() - started),
    });
    const target = this.lookup(key);
    if (target === null) return Promise.resolve(done(false, 'not a real server of the running config'));
    if (target.ownAddress === null) return Promise.resolve(done(false, 'no overlay.address to check from'));
    if (target.mac === null) return Promise.resolve(done(false, 'MAC not resolved yet'));
    if (address.includes(':'))
      return Promise.resolve(done(false, 'overlay checks reach IPv4 addresses only'));
    if (signal.aborted) return Promise.resolve(done(false, 'aborted'));
    const srcPort = this.freePort();
    if (srcPort < 0) return Promise.resolve(done(false, 'no source port free'));
    return new Promise<ProbeResult>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const onAbort = () => finish(false, 'aborted');
      const finish = (ok: boolean, detail: string) => {
        if (!this.pending.has(srcPort)) return;
        this.pending.delete(srcPort);
        if (timer !== null) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(done(ok, detail));
      };
      const p: Pending = {
        address: v4(address),
        port,
        isn: randomInt(0, 2 ** 32) | 0,
        target,
        started,
        finish,
      };
      this.pending.set(srcPort, p);
      timer = setTimeout(
        () => finish(false, `timeout after ${timeoutMs} ms (no answer through the overlay)`),
        timeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      const syn = this.segment(target, p.address, srcPort, port, p.isn, 0, TcpFlag.syn, 64240);
      this.counters.sent++;
      this.own.send(syn, target.vtep).catch((err: Error) => finish(false, `send: ${err.message}`));
    });
  }

  /** A port no check in flight uses, or -1. */
  private freePort(): number {
    for (let i = 0; i < PORTS; i++) {
      const port = FIRST_PORT + ((this.nextPort + i) % PORTS);
      if (!this.pending.has(port)) {
        this.nextPort = (this.nextPort + i + 1) % PORTS;
        return port;
      }
    }
    return -1;
  }

  /** A TCP segment from overlay.address:srcPort to `dst:dstPort` at the real server's MAC, in VXLAN. */
  private segment(
    t: OverlayTarget,
    dst: number,
    srcPort: number,
    dstPort: number,
    seq: number,
    ack: number,
    flags: number,
    window: number,
  ): Uint8Array {
    const s = this.spec;
    macBytes(t.mac ?? '00:00:00:00:00:00', s.dstMac);
    macBytes(t.directorMac, s.srcMac);
    s.vlanId = -1;
    s.ipVersion = 4;
    s.src.set([0, 0, 0xffff, v4(t.ownAddress ?? '0.0.0.0')]);
    s.dst.set([0, 0, 0xffff, dst]);
    s.srcPort = srcPort;
    s.dstPort = dstPort;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.window = window;
    s.ttl = 64;
    const out = new Uint8Array(8 + 78);
    writeVxlan(out, 0, t.vni);
    const len = buildTcpSegment(s, out, 8);
    return out.subarray(0, 8 + len);
  }

  /** A punted frame: the answer to a check in flight, or nothing of ours. */
  onFrame(datagram: Uint8Array): void {
    if (this.pending.size === 0) return;
    if (parseVxlan(datagram, 0, datagram.length, this.vx) !== ParseStatus.ok) return;
    const f = this.frame;
    if (parseFrame(datagram, 8, datagram.length - 8, f) !== ParseStatus.ok) return;
    if (f.etherType !== EtherType.ipv4 || f.ipProto !== IpProto.tcp) return;
    const p = this.pending.get(f.dstPort);
    if (
      p === undefined ||
      this.vx.vni !== p.target.vni ||
      (f.src3 | 0) !== p.address ||
      f.srcPort !== p.port ||
      (f.dst3 | 0) !== v4(p.target.ownAddress ?? '0.0.0.0') ||
      (f.tcpAck | 0) !== ((p.isn + 1) | 0)
    ) {
      this.counters.unmatched++;
      return;
    }
    const flags = f.tcpFlags;
    if ((flags & (TcpFlag.syn | TcpFlag.ack)) === (TcpFlag.syn | TcpFlag.ack)) {
      this.counters.answered++;
      // End the half-open connection on the real server, as a kernel that never sent the SYN would.
      const rst = this.segment(p.target, p.address, f.dstPort, p.port, (p.isn + 1) | 0, 0, TcpFlag.rst, 0);
      this.own.send(rst, p.target.vtep).catch(() => {});
      p.finish(true, 'syn-ack through the overlay');
    } else if ((flags & TcpFlag.rst) !== 0) {
      this.counters.answered++;
      p.finish(false, 'refused (RST through the overlay)');
    }
  }
}
