// What a SYN looks like: which TCP options it carries and in what order, and its TTL.
// Kernels build their SYN options in a fixed order, so the order (FrameInfo.optSignature: one
// nibble per option, first option lowest; with optCount) names the stack family; raw-socket flood
// tools send none (hping3's default SYN) or a fixed handful. Initial TTLs are 64 (Linux, macOS,
// BSD), 128 (Windows) and 255 (network gear, some Solaris), so a real TTL sits a few hops below one
// of them. Deliberately simple and documented rather than a fingerprint database (p0f is one):
// the shape is one input among several and costs at most a few points.
//
// Nibbles: 0 EOL, 1 NOP, 2 MSS, 3 WS, 4 SACK_PERM, 5 TS. Layouts below were read from the kernels'
// option writers (Linux tcp_options_write) and from captures; the Linux one is the fixture
// packages/wire/fixtures/curl-syn-ipv4.pcap.

export interface SynShape {
  name: string;
  /** optSignature as the parser builds it (first option in the lowest nibble). */
  signature: number;
  optCount: number;
  /** Initial TTL of the stacks that send this layout: 64, 128, or 0 when several families share it. */
  initialTtl: 0 | 64 | 128 | 255;
}

export const DEFAULT_SYN_SHAPES: readonly SynShape[] = [
  // MSS, SACK_PERM, TS, NOP, WS — Linux and Android defaults.
  { name: 'linux', signature: 0x31542, optCount: 5, initialTtl: 64 },
  // MSS, NOP, NOP, TS, NOP, WS — Linux with SACK off.
  { name: 'linux-nosack', signature: 0x315112, optCount: 6, initialTtl: 64 },
  // MSS, SACK_PERM, TS — Linux with window scaling off.
  { name: 'linux-nows', signature: 0x542, optCount: 3, initialTtl: 64 },
  // MSS, NOP, WS — Linux with SACK and timestamps off.
  { name: 'linux-minimal', signature: 0x312, optCount: 3, initialTtl: 64 },
  // MSS, NOP, WS, NOP, NOP, SACK_PERM — Windows 10/11, and also Linux with timestamps off.
  { name: 'windows', signature: 0x411312, optCount: 6, initialTtl: 0 },
  // MSS, NOP, WS, SACK_PERM, TS — FreeBSD, and Windows with timestamps on.
  { name: 'bsd', signature: 0x54312, optCount: 5, initialTtl: 0 },
  // MSS, NOP, WS, NOP, NOP, TS, SACK_PERM, EOL — macOS and iOS.
  { name: 'apple', signature: 0x04511312, optCount: 8, initialTtl: 64 },
];

/** The initial TTL a received TTL most likely started from: the smallest of 64, 128, 255 at or above it. */
export function inferInitialTtl(ttl: number): number {
  return ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

/** Compiled shapes: parallel typed arrays, scanned linearly (a handful of entries). */
export class SynShapes {
  readonly signatures: Int32Array;
  readonly counts: Int32Array;
  readonly ttls: Int32Array;
  readonly names: readonly string[];

  static compile(shapes: readonly SynShape[] = DEFAULT_SYN_SHAPES): SynShapes {
    return new SynShapes(shapes);
  }

  private constructor(shapes: readonly SynShape[]) {
    this.signatures = Int32Array.from(shapes, (s) => s.signature | 0);
    this.counts = Int32Array.from(shapes, (s) => s.optCount);
    this.ttls = Int32Array.from(shapes, (s) => s.initialTtl);
    this.names = shapes.map((s) => s.name);
  }

  /** Index of the shape with this signature and option count, or -1. */
  find(signature: number, optCount: number): number {
    const sigs = this.signatures;
    for (let i = 0; i < sigs.length; i++) {
      if (sigs[i] === (signature | 0) && this.counts[i] === optCount) return i;
    }
    return -1;
  }
}
