// TrafficFrames: client traffic as the director receives it: VXLAN datagrams (the UDP payload)
// carrying Ethernet frames from a client toward a VIP. Kernel-shaped SYNs (Linux's option
// layout), bare flood SYNs (hping3's: no options), ACKs with data, FINs, UDP, ARP requests and
// neighbour solicitations. For tests, benchmarks, the demo and the simulator; not the packet path.
import { internetChecksum, pseudoHeaderSum } from './checksum.ts';

export interface TrafficOptions {
  vni: number;
  clientMac: string;
  directorMac: string;
}

export type SynShape = 'linux' | 'bare';

export const TCP = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => Number.parseInt(h, 16)));
}

/** Address as 4 (IPv4) or 16 (IPv6) bytes from text. */
export function addressBytes(text: string): Uint8Array {
  if (text.includes(':')) {
    const [head, tail] = text.includes('::') ? text.split('::') : [text, ''];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t].map((g) =>
      Number.parseInt(g, 16),
    );
    const out = new Uint8Array(16);
    groups.forEach((g, i) => {
      out[2 * i] = g >>> 8;
      out[2 * i + 1] = g & 0xff;
    });
    return out;
  }
  return Uint8Array.from(text.split('.').map(Number));
}

export function ipv4Bytes(addr: number): Uint8Array {
  return Uint8Array.of(addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff);
}

// Linux's SYN options: MSS 1460, SACK_PERM, TS, NOP, WS 7 (20 bytes).
function writeLinuxSynOptions(b: Uint8Array, o: number, tsVal: number): number {
  b.set([2, 4, 0x05, 0xb4, 4, 2, 8, 10], o);
  b[o + 8] = tsVal >>> 24;
  b[o + 9] = (tsVal >>> 16) & 0xff;
  b[o + 10] = (tsVal >>> 8) & 0xff;
  b[o + 11] = tsVal & 0xff;
  b.set([0, 0, 0, 0, 1, 3, 3, 7], o + 12);
  return 20;
}

export interface TcpSegment {
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  flags: number;
  seq: number;
  ack?: number;
  payloadLen?: number;
  shape?: SynShape;
  ttl?: number;
  /** The window field (64240, Linux's unscaled SYN window, unless given; 0: the receiver's buffer is full). */
  window?: number;
}

export class TrafficFrames {
  readonly vni: number;
  readonly clientMac: Uint8Array;
  readonly directorMac: Uint8Array;

  constructor(opts: TrafficOptions) {
    this.vni = opts.vni;
    this.clientMac = macBytes(opts.clientMac);
    this.directorMac = macBytes(opts.directorMac);
  }

  private start(len: number, etherType: number, dstMac: Uint8Array = this.directorMac): Uint8Array {
    const b = new Uint8Array(8 + 14 + len);
    b[0] = 0x08;
    b[4] = this.vni >>> 16;
    b[5] = (this.vni >>> 8) & 0xff;
    b[6] = this.vni & 0xff;
    b.set(dstMac, 8);
    b.set(this.clientMac, 14);
    b[20] = etherType >>> 8;
    b[21] = etherType & 0xff;
    return b;
  }

  /** IP header at offset 22; returns the L4 offset. */
  private ipHeader(
    b: Uint8Array,
    src: Uint8Array,
    dst: Uint8Array,
    proto: number,
    l4Len: number,
    ttl: number,
  ): number {
    const o = 22;
    if (src.length === 4) {
      const total = 20 + l4Len;
      b[o] = 0x45;
      b[o + 2] = total >>> 8;
      b[o + 3] = total & 0xff;
      b[o + 6] = 0x40; // DF
      b[o + 8] = ttl;
      b[o + 9] = proto;
      b.set(src, o + 12);
      b.set(dst, o + 16);
      const c = internetChecksum(b, o, 20, 0);
      b[o + 10] = c >>> 8;
      b[o + 11] = c & 0xff;
      return o + 20;
    }
    b[o] = 0x60;
    b[o + 4] = l4Len >>> 8;
    b[o + 5] = l4Len & 0xff;
    b[o + 6] = proto;
    b[o + 7] = ttl;
    b.set(src, o + 8);
    b.set(dst, o + 24);
    return o + 40;
  }

  private l4Checksum(
    b: Uint8Array,
    l4: number,
    len: number,
    src: Uint8Array,
    dst: Uint8Array,
    proto: number,
    at: number,
  ): void {
    const c = internetChecksum(b, l4, len, pseudoHeaderSum(src, dst, proto, len));
    b[l4 + at] = c >>> 8;
    b[l4 + at + 1] = c & 0xff;
  }

  tcp(s: TcpSegment): Uint8Array {
    const payload = s.payloadLen ?? 0;
    const opts = (s.flags & TCP.syn) !== 0 && (s.shape ?? 'linux') === 'linux' ? 20 : 0;
    const l4Len = 20 + opts + payload;
    const ipLen = s.src.length === 4 ? 20 : 40;
    const b = this.start(ipLen + l4Len, s.src.length === 4 ? 0x0800 : 0x86dd);
    const l4 = this.ipHeader(b, s.src, s.dst, 6, l4Len, s.ttl ?? 64);
    b[l4] = s.srcPort >>> 8;
    b[l4 + 1] = s.srcPort & 0xff;
    b[l4 + 2] = s.dstPort >>> 8;
    b[l4 + 3] = s.dstPort & 0xff;
    const seq = s.seq >>> 0;
    b[l4 + 4] = seq >>> 24;
    b[l4 + 5] = (seq >>> 16) & 0xff;
    b[l4 + 6] = (seq >>> 8) & 0xff;
    b[l4 + 7] = seq & 0xff;
    const ack = (s.ack ?? 0) >>> 0;
    b[l4 + 8] = ack >>> 24;
    b[l4 + 9] = (ack >>> 16) & 0xff;
    b[l4 + 10] = (ack >>> 8) & 0xff;
    b[l4 + 11] = ack & 0xff;
    b[l4 + 12] = ((20 + opts) / 4) << 4;
    b[l4 + 13] = s.flags;
    const window = s.window ?? 64240;
    b[l4 + 14] = (window >>> 8) & 0xff;
    b[l4 + 15] = window & 0xff;
    if (opts > 0) writeLinuxSynOptions(b, l4 + 20, seq ^ 0x1234567);
    for (let i = 0; i < payload; i++) b[l4 + 20 + opts + i] = 0x61 + (i % 26);
    this.l4Checksum(b, l4, l4Len, s.src, s.dst, 6, 16);
    return b;
  }

  /** A UDP datagram of `payloadLen` zero bytes, or carrying `payload` (whose length then wins). */
  udp(
    src: Uint8Array,
    dst: Uint8Array,
    srcPort: number,
    dstPort: number,
    payloadLen: number,
    payload?: Uint8Array,
  ): Uint8Array {
    const l4Len = 8 + (payload?.length ?? payloadLen);
    const b = this.start((src.length === 4 ? 20 : 40) + l4Len, src.length === 4 ? 0x0800 : 0x86dd);
    const l4 = this.ipHeader(b, src, dst, 17, l4Len, 64);
    b[l4] = srcPort >>> 8;
    b[l4 + 1] = srcPort & 0xff;
    b[l4 + 2] = dstPort >>> 8;
    b[l4 + 3] = dstPort & 0xff;
    b[l4 + 4] = l4Len >>> 8;
    b[l4 + 5] = l4Len & 0xff;
    if (payload !== undefined) b.set(payload, l4 + 8);
    this.l4Checksum(b, l4, l4Len, src, dst, 17, 6);
    return b;
  }

  /** ARP who-has `target` from `sender`, broadcast. */
  arpRequest(sender: Uint8Array, target: Uint8Array): Uint8Array {
    const b = this.start(28, 0x0806, Uint8Array.of(255, 255, 255, 255, 255, 255));
    const o = 22;
    b.set([0, 1, 8, 0, 6, 4, 0, 1], o);
    b.set(this.clientMac, o + 8);
    b.set(sender, o + 14);
    b.set(target, o + 24);
    return b;
  }

  /** ARP reply: `sender` is at this generator's MAC; to `targetMac` (who asked, from `target`). */
  arpReply(sender: Uint8Array, target: Uint8Array, targetMac: Uint8Array): Uint8Array {
    const b = this.start(28, 0x0806, targetMac);
    const o = 22;
    b.set([0, 1, 8, 0, 6, 4, 0, 2], o);
    b.set(this.clientMac, o + 8);
    b.set(sender, o + 14);
    b.set(targetMac, o + 18);
    b.set(target, o + 24);
    return b;
  }

  /** ICMPv6 neighbour solicitation for `target`, to its solicited-node multicast address. */
  neighborSolicitation(src: Uint8Array, target: Uint8Array): Uint8Array {
    const snm = Uint8Array.of(
      0xff,
      2,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
      0xff,
      target[13],
      target[14],
      target[15],
    );
    const l4Len = 24 + 8;
    const b = this.start(
      40 + l4Len,
      0x86dd,
      Uint8Array.of(0x33, 0x33, 0xff, target[13], target[14], target[15]),
    );
    const l4 = this.ipHeader(b, src, snm, 58, l4Len, 255);
    b[l4] = 135;
    b.set(target, l4 + 8);
    b[l4 + 24] = 1; // source link-layer address option
    b[l4 + 25] = 1;
    b.set(this.clientMac, l4 + 26);
    this.l4Checksum(b, l4, l4Len, src, snm, 58, 2);
    return b;
  }

  /**
   * ICMP fragmentation-needed from a router about a packet the real server sent as the VIP to the
   * client (direct return), addressed to the VIP: the director must send it to that real server.
   */
  icmpFragNeeded(
    router: Uint8Array,
    vip: Uint8Array,
    vport: number,
    client: Uint8Array,
    cport: number,
    mtu: number,
  ): Uint8Array {
    const inner = 20 + 8;
    const l4Len = 8 + inner;
    const b = this.start(20 + l4Len, 0x0800);
    const l4 = this.ipHeader(b, router, vip, 1, l4Len, 64);
    b[l4] = 3;
    b[l4 + 1] = 4;
    b[l4 + 6] = mtu >>> 8;
    b[l4 + 7] = mtu & 0xff;
    const e = l4 + 8;
    b[e] = 0x45;
    b[e + 2] = 0x05;
    b[e + 3] = 0xdc;
    b[e + 8] = 64;
    b[e + 9] = 6;
    b.set(vip, e + 12);
    b.set(client, e + 16);
    b[e + 20] = vport >>> 8;
    b[e + 21] = vport & 0xff;
    b[e + 22] = cport >>> 8;
    b[e + 23] = cport & 0xff;
    const c = internetChecksum(b, l4, l4Len, 0);
    b[l4 + 2] = c >>> 8;
    b[l4 + 3] = c & 0xff;
    return b;
  }
}
