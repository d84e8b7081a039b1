// The packet fuzzer's datagrams, drawn with fast-check from a seed: random bytes; client frames a
// VTEP would send (TCP SYN, ACK, data, FIN, RST to an IPv4 and an IPv6 VIP, UDP, ARP and
// neighbour solicitations, ICMP errors, VLAN-tagged and wrong-VNI frames); and those frames
// mutated where parsers are fragile: bytes overwritten, cut short, lengthened, the header fields
// that steer parsing (VXLAN flags, EtherType, IHL, total length, fragment offset, TCP data
// offset, option bytes) set to edge values, datagrams past a worker's 2048-byte frame slot.
// Written as sluice-gen's frames file: per datagram a 2-byte big-endian length, then the bytes.
import { writeFile } from 'node:fs/promises';
import { encodeFramesFile } from '@sluice/io';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import fc from 'fast-check';

export const FUZZ_VNI = 42;
export const FUZZ_DIRECTOR_MAC = '02:5c:00:00:00:01';
export const FUZZ_VIP4 = '10.42.0.100';
export const FUZZ_VIP6 = '2001:db8:42::100';

const tf = new TrafficFrames({
  vni: FUZZ_VNI,
  clientMac: '02:00:00:00:09:01',
  directorMac: FUZZ_DIRECTOR_MAC,
});
const VIP4 = addressBytes(FUZZ_VIP4);
const VIP6 = addressBytes(FUZZ_VIP6);

const v4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 }))
  .map((b) => Uint8Array.from(b));
const v6 = fc.uint8Array({ minLength: 14, maxLength: 14 }).map((t) => Uint8Array.from([0x20, 0x01, ...t]));
const port = fc.integer({ min: 1024, max: 65535 });
const seq = fc.nat(0xffffffff);

/** Frames a client's VTEP would send the director. */
const validFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .record({
      src: v4,
      srcPort: port,
      flags: fc.constantFrom(
        TCP.syn,
        TCP.ack,
        TCP.ack | TCP.psh,
        TCP.ack | TCP.fin,
        TCP.rst,
        TCP.syn | TCP.ack,
      ),
      seq,
      payloadLen: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1400 })),
      shape: fc.constantFrom('linux' as const, 'bare' as const),
      dstPort: fc.constantFrom(80, 80, 80, 443, 22),
    })
    .map((s) => tf.tcp({ ...s, dst: VIP4, ack: 1 })),
  fc
    .record({ src: v6, srcPort: port, flags: fc.constantFrom(TCP.syn, TCP.ack, TCP.ack | TCP.psh), seq })
    .map((s) => tf.tcp({ ...s, dst: VIP6, dstPort: 80, ack: 1, payloadLen: 20 })),
  fc
    .record({ src: v4, srcPort: port, len: fc.integer({ min: 0, max: 1200 }) })
    .map((s) => tf.udp(s.src, VIP4, s.srcPort, 53, s.len)),
  fc.tuple(v4, fc.oneof(fc.constant(VIP4), v4)).map(([s, t]) => tf.arpRequest(s, t)),
  v6.map((s) => tf.neighborSolicitation(s, VIP6)),
  fc
    .record({ router: v4, client: v4, cport: port, mtu: fc.integer({ min: 68, max: 1500 }) })
    .map((s) => tf.icmpFragNeeded(s.router, VIP4, 80, s.client, s.cport, s.mtu)),
);

/** Offsets in a VXLAN + Ethernet + IPv4 + TCP frame whose bytes steer parsing. */
const FRAGILE = [
  0, // VXLAN flags
  4,
  5,
  6, // VNI
  20,
  21, // EtherType
  22, // version + IHL
  24,
  25, // total length
  28,
  29, // flags + fragment offset
  31, // protocol
  42 + 12, // TCP data offset (after a 20-byte IPv4 header)
  42 + 13, // TCP flags
  42 + 20,
  42 + 21,
  42 + 22, // first option bytes (kind, length)
];

type Mutation =
  | { kind: 'bytes'; at: Array<[number, number]> }
  | { kind: 'fragile'; at: number; value: number }
  | { kind: 'cut'; keep: number }
  | { kind: 'grow'; tail: Uint8Array }
  | { kind: 'vlan'; id: number }
  | { kind: 'huge'; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('bytes' as const),
    at: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('fragile' as const),
    at: fc.constantFrom(...FRAGILE),
    value: fc.constantFrom(0, 1, 0x0f, 0x40, 0x45, 0x46, 0x4f, 0x60, 0x80, 0xf0, 0xff),
  }),
  fc.record({ kind: fc.constant('cut' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('grow' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 600 }) }),
  fc.record({ kind: fc.constant('vlan' as const), id: fc.nat(0x0fff) }),
  fc.record({ kind: fc.constant('huge' as const), length: fc.integer({ min: 2049, max: 9000 }) }),
);

function apply(frame: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'bytes': {
      const b = frame.slice();
      for (const [i, v] of m.at) b[i % b.length] = v;
      return b;
    }
    case 'fragile': {
      const b = frame.slice();
      if (m.at < b.length) b[m.at] = m.value;
      return b;
    }
    case 'cut':
      return frame.slice(0, m.keep % (frame.length + 1));
    case 'grow': {
      const b = new Uint8Array(frame.length + m.tail.length);
      b.set(frame);
      b.set(m.tail, frame.length);
      return b;
    }
    case 'vlan': {
      // An 802.1Q tag between the MACs and the EtherType (a frame cut before them has none).
      if (frame.length < 20) return frame;
      const b = new Uint8Array(frame.length + 4);
      b.set(frame.subarray(0, 20));
      b[20] = 0x81;
      b[21] = 0x00;
      b[22] = m.id >>> 8;
      b[23] = m.id & 0xff;
      b.set(frame.subarray(20), 24);
      return b;
    }
    case 'huge': {
      const b = new Uint8Array(m.length);
      b.set(frame.subarray(0, Math.min(frame.length, m.length)));
      return b;
    }
  }
}

export const datagram: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 1500 }) },
  { weight: 4, arbitrary: validFrame },
  { weight: 4, arbitrary: fc.tuple(validFrame, mutation).map(([f, m]) => apply(f, m)) },
  {
    weight: 1,
    arbitrary: fc.tuple(validFrame, mutation, mutation).map(([f, a, b]) => apply(apply(f, a), b)),
  },
);

/** `count` datagrams from `seed`, as a sluice-gen frames file at `file`; returns their byte total. */
export async function writeCorpus(
  file: string,
  count: number,
  seed: number,
): Promise<{ frames: number; bytes: number }> {
  const frames = fc.sample(datagram, { numRuns: count, seed });
  const out = encodeFramesFile(frames);
  await writeFile(file, out);
  return { frames: frames.length, bytes: out.length };
}
