// Frames for the simulator, at flood rates. @sluice/traffic's TrafficFrames builds each kind of
// segment once (so the bytes are exactly what the tests and benchmarks send: Linux's SYN option
// layout, a flood tool's bare SYN); per packet only the client address, port, sequence numbers
// and checksums are patched into a reused buffer. Building a fresh frame per packet allocates and
// would make a 100 kpps × 20 s run take minutes; patching keeps it to seconds. The Pipeline
// rewrites MACs in place, so each use starts from the pristine template.
import { TCP, TrafficFrames } from '@sluice/traffic';

export const FrameKind = {
  synLinux: 0,
  synBare: 1,
  ack: 2,
  data: 3,
  fin: 4,
  rst: 5,
  trickle: 6,
  /** a pure ACK advertising a zero window: a client whose receive buffer is full (it is not reading) */
  ackZeroWindow: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const IP = 22;
const L4 = IP + 20;
/** Request payload a valid client sends (an HTTP GET is a few hundred bytes). */
export const REQUEST_BYTES = 300;
/** A slow-header attacker's line: one more header of a request head that never ends. */
export const TRICKLE_BYTES = 20;

export class FrameFactory {
  private readonly templates: Uint8Array[];
  private readonly work: Uint8Array[];
  private readonly vip: number;

  constructor(vni: number, directorMac: string, vip: number, vport: number) {
    const t = new TrafficFrames({ vni, clientMac: '02:00:00:00:09:09', directorMac });
    const src = Uint8Array.of(1, 1, 1, 1);
    const dst = Uint8Array.of(vip >>> 24, (vip >>> 16) & 0xff, (vip >>> 8) & 0xff, vip & 0xff);
    const base = { src, dst, srcPort: 1, dstPort: vport, seq: 0 };
    this.templates = [
      t.tcp({ ...base, flags: TCP.syn, shape: 'linux' }),
      t.tcp({ ...base, flags: TCP.syn, shape: 'bare' }),
      t.tcp({ ...base, flags: TCP.ack }),
      t.tcp({ ...base, flags: TCP.psh | TCP.ack, payloadLen: REQUEST_BYTES }),
      t.tcp({ ...base, flags: TCP.fin | TCP.ack }),
      t.tcp({ ...base, flags: TCP.rst }),
      t.tcp({ ...base, flags: TCP.psh | TCP.ack, payloadLen: TRICKLE_BYTES }),
      zeroWindow(t.tcp({ ...base, flags: TCP.ack })),
    ];
    this.work = this.templates.map((b) => new Uint8Array(b.length));
    this.vip = vip;
  }

  /**
   * The frame of `kind` from client `addr` (IPv4, unsigned) : `port`, with `seq` and `ack`.
   * Returns a buffer reused by the next call of the same kind: process it before asking again.
   */
  frame(kind: FrameKind, addr: number, port: number, seq: number, ack: number): Uint8Array {
    const b = this.work[kind];
    b.set(this.templates[kind]);
    put32(b, IP + 12, addr);
    b[IP + 10] = 0;
    b[IP + 11] = 0;
    put16(b, IP + 10, fold(sum16(b, IP, 20, 0)));
    put16(b, L4, port);
    put32(b, L4 + 4, seq);
    put32(b, L4 + 8, ack);
    b[L4 + 16] = 0;
    b[L4 + 17] = 0;
    const l4Len = b.length - L4;
    const pseudo = (addr >>> 16) + (addr & 0xffff) + (this.vip >>> 16) + (this.vip & 0xffff) + 6 + l4Len;
    put16(b, L4 + 16, fold(sum16(b, L4, l4Len, pseudo)));
    return b;
  }
}

/** The segment with its window field 0 (frame() recomputes the checksum). */
function zeroWindow(b: Uint8Array): Uint8Array {
  put16(b, L4 + 14, 0);
  return b;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function sum16(b: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if ((len & 1) !== 0) s += b[off + len - 1] << 8;
  return s;
}

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** What the client side needs of a SYN-ACK the director sent (a challenge or a probe). */
export class SegmentView {
  /** The client address it goes to (IPv4, unsigned). */
  dst = 0;
  dstPort = 0;
  /** Its acknowledgement number (the cookie). */
  ack = 0;
  flags = 0;
}

/** Reads a director-made TCP segment (VXLAN, Ethernet without a VLAN tag, IPv4) into `out`. */
export function readSegment(b: Uint8Array, out: SegmentView): void {
  out.dst = get32(b, IP + 16) >>> 0;
  out.dstPort = (b[L4 + 2] << 8) | b[L4 + 3];
  out.ack = get32(b, L4 + 8);
  out.flags = b[L4 + 13];
}

function get32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3] | 0;
}
