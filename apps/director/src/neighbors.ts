// NeighborLearner: real servers whose MAC is not configured are resolved the way a host on
// their segment would: an ARP probe (RFC 5227: sender address 0.0.0.0, so no neighbour cache is
// polluted, and Linux answers it when the target is configured on the receiving interface) or an
// IPv6 neighbour solicitation, sent to the real server's VTEP once a second until it answers.
// The answer arrives at a serving worker, which punts it here; the learned MAC goes into the
// next snapshot. Until then the real server takes no new connections (weight 0 in the snapshot).
import { type LiveConfig, realKey } from '@sluice/config';
import { parseAddress, parseMac } from '@sluice/dataplane';
import {
  EtherType,
  FrameInfo,
  fillL4Checksum,
  IpProto,
  ParseStatus,
  parseFrame,
  parseVxlan,
  VxlanInfo,
  writeArp,
  writeEthernet,
  writeIpv6,
  writeVxlan,
} from '@sluice/wire';
import type { OwnFrames } from './own-frames.ts';

interface Pending {
  key: string;
  address: string;
  words: [number, number, number, number];
  vtep: string;
}

const PROBE_INTERVAL_MS = 1000;
const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

export class NeighborLearner {
  /** realKey → learned MAC. */
  readonly learned = new Map<string, string>();
  private pending: Pending[] = [];
  private vni = 0;
  private readonly directorMac = new Uint8Array(6);
  private timer: NodeJS.Timeout | null = null;
  private readonly own: OwnFrames;
  private readonly onLearned: () => void;
  private readonly frame = new FrameInfo();
  private readonly vx = new VxlanInfo();

  constructor(own: OwnFrames, onLearned: () => void) {
    this.own = own;
    this.onLearned = onLearned;
  }

  /** Which real servers still need resolving under this config. */
  track(live: LiveConfig): void {
    this.vni = live.overlay.vni;
    parseMac(live.overlay.directorMac, this.directorMac, 0);
    const keep = new Set<string>();
    const pending: Pending[] = [];
    for (const svc of live.services) {
      for (const r of svc.reals) {
        const key = realKey(svc.name, r.address, r.port);
        if (r.mac !== null) continue;
        keep.add(key);
        if (this.learned.has(key)) continue;
        pending.push({ key, address: r.address, words: parseAddress(r.address), vtep: r.vtep });
      }
    }
    for (const k of [...this.learned.keys()]) if (!keep.has(k)) this.learned.delete(k);
    this.pending = pending;
  }

  start(): void {
    this.probeAll();
    this.timer = setInterval(() => this.probeAll(), PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private probeAll(): void {
    for (const p of this.pending) {
      this.own.send(this.probe(p), p.vtep).catch(() => {});
    }
  }

  /** An ARP probe or a neighbour solicitation for `p`, VXLAN-encapsulated. */
  probe(p: Pending): Uint8Array {
    const out = new Uint8Array(8 + 14 + 40 + 32);
    writeVxlan(out, 0, this.vni);
    const w = p.words;
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) {
      let o = 8 + writeEthernet(out, 8, BROADCAST, 0, this.directorMac, 0, EtherType.arp, -1);
      o += writeArp(out, o, 1, this.directorMac, 0, 0, ZERO_MAC, 0, w[3]);
      return out.subarray(0, o);
    }
    // Solicited-node multicast of the target; source: our link-local address (EUI-64 of our MAC).
    const dst = [0xff020000 | 0, 0, 1, 0xff000000 | (w[3] & 0xffffff) | 0];
    const m = this.directorMac;
    const src = [
      0xfe800000 | 0,
      0,
      ((m[0] ^ 2) << 24) | (m[1] << 16) | (m[2] << 8) | 0xff | 0,
      (0xfe << 24) | (m[3] << 16) | (m[4] << 8) | m[5] | 0,
    ];
    const dstMac = new Uint8Array([0x33, 0x33, 0xff, (w[3] >>> 16) & 0xff, (w[3] >>> 8) & 0xff, w[3] & 0xff]);
    let o = 8 + writeEthernet(out, 8, dstMac, 0, m, 0, EtherType.ipv6, -1);
    const l3 = o;
    o += writeIpv6(out, o, src, dst, IpProto.icmpv6, 32, 255);
    const l4 = o;
    out[o] = 135; // neighbour solicitation
    for (let i = 0; i < 4; i++) {
      const v = w[i];
      out[o + 8 + i * 4] = v >>> 24;
      out[o + 9 + i * 4] = (v >>> 16) & 0xff;
      out[o + 10 + i * 4] = (v >>> 8) & 0xff;
      out[o + 11 + i * 4] = v & 0xff;
    }
    out[o + 24] = 1; // option: source link-layer address
    out[o + 25] = 1;
    out.set(m, o + 26);
    fillL4Checksum(out, l3, 6, l4, 32, IpProto.icmpv6);
    return out.subarray(0, l4 + 32);
  }

  /** A punted frame: an ARP reply or a neighbour advertisement from a real server we wait for. */
  learnFrom(datagram: Uint8Array, vni: number): void {
    if (this.pending.length === 0) return;
    if (parseVxlan(datagram, 0, datagram.length, this.vx) !== ParseStatus.ok || this.vx.vni !== vni) return;
    const f = this.frame;
    if (parseFrame(datagram, 8, datagram.length - 8, f) !== ParseStatus.ok) return;
    let words: number[] | null = null;
    if (f.etherType === EtherType.arp && f.arpOp === 2) {
      words = [0, 0, 0xffff, f.arpSenderIp | 0];
    } else if (f.ipProto === IpProto.icmpv6 && f.icmpType === 136 && f.l4Offset >= 0) {
      const t = f.l4Offset + 8;
      words = [0, 1, 2, 3].map(
        (i) =>
          (datagram[t + i * 4] << 24) |
          (datagram[t + i * 4 + 1] << 16) |
          (datagram[t + i * 4 + 2] << 8) |
          datagram[t + i * 4 + 3] |
          0,
      );
    }
    if (words === null) return;
    // The answer's Ethernet source is the real server's MAC on the overlay.
    const mac = [...datagram.subarray(8 + 6, 8 + 12)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    let changed = false;
    this.pending = this.pending.filter((p) => {
      const hit = p.words.every((v, i) => (v | 0) === words[i]);
      if (hit) {
        this.learned.set(p.key, mac);
        changed = true;
      }
      return !hit;
    });
    if (changed) this.onLearned();
  }
}
