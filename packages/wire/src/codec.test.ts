import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildArpReply,
  buildNeighborAdvert,
  buildTcpRst,
  checksumAdjust16,
  checksumAdjust32,
  EtherType,
  FrameInfo,
  fillL4Checksum,
  IpProto,
  internetChecksum,
  onesSum,
  PARSE_STATUS_NAMES,
  ParseStatus,
  parseFrame,
  parseVxlan,
  RstSpec,
  VxlanInfo,
  writeArp,
  writeEthernet,
  writeIcmp,
  writeIpv4,
  writeIpv6,
  writeTcp,
  writeUdp,
  writeVxlan,
} from './index.ts';

const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0xb);
const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const port = fc.integer({ min: 0, max: 0xffff });

function hex(s: string): Uint8Array {
  const clean = s.replace(/#.*$/gm, '').replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}

/** Builds a whole frame: Ethernet (+VLAN) + IPv4/IPv6 + TCP with options and payload. */
function tcpFrame(o: {
  v6: boolean;
  vlan: number;
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: Uint8Array | null;
  payload: number;
  ttl: number;
}): Uint8Array {
  const buf = new Uint8Array(200 + o.payload);
  let p = writeEthernet(buf, 0, MAC_B, 0, MAC_A, 0, o.v6 ? EtherType.ipv6 : EtherType.ipv4, o.vlan);
  const l3 = p;
  const optLen = o.options === null ? 0 : o.options.length;
  const l4Len = 20 + optLen + o.payload;
  p += o.v6
    ? writeIpv6(buf, p, o.src, o.dst, IpProto.tcp, l4Len, o.ttl)
    : writeIpv4(buf, p, o.src[3], o.dst[3], IpProto.tcp, l4Len, o.ttl, 7, 0x4000);
  const l4 = p;
  p += writeTcp(buf, p, o.sport, o.dport, o.seq, o.ack, o.flags, o.window, o.options);
  p += o.payload;
  fillL4Checksum(buf, l3, o.v6 ? 6 : 4, l4, l4Len, IpProto.tcp);
  return buf.subarray(0, p);
}

const LINUX_OPTS = hex('020405b4 0402 080a 00000001 00000000 01 030307');

describe('round trips: write → parse → same fields', () => {
  it('TCP over IPv4 and IPv6, with and without VLAN and options', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: -1, max: 4095 }),
        fc.array(i32, { minLength: 4, maxLength: 4 }),
        fc.array(i32, { minLength: 4, maxLength: 4 }),
        port,
        port,
        i32,
        i32,
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 64 }),
        (v6, vlan, src, dst, sport, dport, seq, ack, flags, withOpts, payload) => {
          if (!v6) {
            src = [0, 0, 0xffff, src[3]];
            dst = [0, 0, 0xffff, dst[3]];
          }
          const frame = tcpFrame({
            v6,
            vlan,
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            flags,
            window: 1234,
            options: withOpts ? LINUX_OPTS : null,
            payload,
            ttl: 33,
          });
          const f = new FrameInfo();
          expect(parseFrame(frame, 0, frame.length, f)).toBe(ParseStatus.ok);
          expect(f.vlanId).toBe(vlan);
          expect(f.ipVersion).toBe(v6 ? 6 : 4);
          expect([f.src0, f.src1, f.src2, f.src3]).toEqual(src);
          expect([f.dst0, f.dst1, f.dst2, f.dst3]).toEqual(dst);
          expect([f.srcPort, f.dstPort, f.tcpSeq, f.tcpAck, f.tcpFlags, f.tcpWindow]).toEqual([
            sport,
            dport,
            seq,
            ack,
            flags,
            1234,
          ]);
          expect(f.ttl).toBe(33);
          expect(f.payloadLen).toBe(payload);
          expect(f.optSignature).toBe(withOpts ? 0x31542 : 0);
          if (withOpts)
            expect([f.optMss, f.optWscale, f.optSackPerm, f.optTimestamp, f.tsVal]).toEqual([
              1460, 7, 1, 1, 1,
            ]);
          // The transport checksum written verifies (sums to 0xffff with the pseudo-header).
          const l4Len = f.l4Len;
          const pseudo = v6
            ? onesSum(frame, f.l3Offset + 8, 32, IpProto.tcp + l4Len)
            : onesSum(frame, f.l3Offset + 12, 8, IpProto.tcp + l4Len);
          expect(onesSum(frame, f.l4Offset, l4Len, pseudo)).toBe(0xffff);
        },
      ),
    );
  });

  it('UDP, ICMP errors with the embedded flow, ARP and VXLAN', () => {
    fc.assert(
      fc.property(
        i32,
        i32,
        port,
        port,
        fc.integer({ min: 0, max: 100 }),
        (src, dst, sport, dport, payload) => {
          const b = new Uint8Array(300);
          let p = writeVxlan(b, 0, 0xabcdef);
          const eth = p;
          p += writeEthernet(b, p, MAC_B, 0, MAC_A, 0, EtherType.ipv4, -1);
          const l3 = p;
          p += writeIpv4(b, p, src, dst, IpProto.udp, 8 + payload, 64, 1, 0);
          const l4 = p;
          p += writeUdp(b, p, sport, dport, payload) + payload;
          fillL4Checksum(b, l3, 4, l4, 8 + payload, IpProto.udp);
          const vx = new VxlanInfo();
          expect(parseVxlan(b, 0, p, vx)).toBe(ParseStatus.ok);
          expect(vx.vni).toBe(0xabcdef);
          const f = new FrameInfo();
          expect(parseFrame(b, vx.innerOffset, p - eth, f)).toBe(ParseStatus.ok);
          expect([f.ipProto, f.src3, f.dst3, f.srcPort, f.dstPort, f.payloadLen]).toEqual([
            IpProto.udp,
            src,
            dst,
            sport,
            dport,
            payload,
          ]);

          // An ICMP port unreachable embedding that datagram's header, sent back to its source.
          const ic = new Uint8Array(200);
          let q = writeEthernet(ic, 0, MAC_A, 0, MAC_B, 0, EtherType.ipv4, -1);
          const il3 = q;
          q += writeIpv4(ic, q, dst, src, IpProto.icmp, 8 + 28, 64, 2, 0);
          const il4 = q;
          q += writeIcmp(ic, q, 3, 3, 0);
          ic.set(b.subarray(l3, l3 + 28), q);
          q += 28;
          fillL4Checksum(ic, il3, 4, il4, 36, IpProto.icmp);
          const g = new FrameInfo();
          expect(parseFrame(ic, 0, q, g)).toBe(ParseStatus.ok);
          expect([g.icmpType, g.icmpCode, g.innerValid, g.innerProto]).toEqual([3, 3, 1, IpProto.udp]);
          expect([g.innerSrc3, g.innerDst3, g.innerSrcPort, g.innerDstPort]).toEqual([
            src,
            dst,
            sport,
            dport,
          ]);
          expect(internetChecksum(ic, il4, 36)).toBe(0);

          const arp = new Uint8Array(60);
          const ap = writeEthernet(arp, 0, MAC_B, 0, MAC_A, 0, EtherType.arp, 5);
          writeArp(arp, ap, 1, MAC_A, 0, src, MAC_B, 0, dst);
          const h = new FrameInfo();
          expect(parseFrame(arp, 0, ap + 28, h)).toBe(ParseStatus.ok);
          expect([h.vlanId, h.arpOp, h.arpSenderIp, h.arpTargetIp]).toEqual([5, 1, src, dst]);
        },
      ),
    );
  });
});

describe('FrameInfo', () => {
  it('reset() gives every field back the value a new FrameInfo starts with, in the same order', () => {
    const fresh = Object.entries(new FrameInfo());
    const f = new FrameInfo();
    for (const key of Object.keys(f)) (f as unknown as Record<string, number>)[key] = 7;
    f.reset();
    expect(Object.entries(f)).toEqual(fresh);
  });
});

describe('robustness: random and mutated bytes never throw', () => {
  const valid = tcpFrame({
    v6: true,
    vlan: 10,
    src: [1, 2, 3, 4],
    dst: [5, 6, 7, 8],
    sport: 1,
    dport: 2,
    seq: 3,
    ack: 4,
    flags: 2,
    window: 5,
    options: LINUX_OPTS,
    payload: 16,
    ttl: 64,
  });
  const known = (s: number) => s >= 0 && s < PARSE_STATUS_NAMES.length;

  it('random bytes', () => {
    const f = new FrameInfo();
    const vx = new VxlanInfo();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: -4, max: 310 }), (bytes, len) => {
        expect(known(parseFrame(bytes, 0, len, f))).toBe(true);
        expect(known(parseVxlan(bytes, 0, len, vx))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('valid frames with mutated bytes, at every truncation', () => {
    const f = new FrameInfo();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        (muts) => {
          const b = valid.slice();
          for (const [i, v] of muts) b[i] = v;
          for (let len = 0; len <= b.length; len++) expect(known(parseFrame(b, 0, len, f))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    for (let len = 0; len < valid.length; len++) {
      expect(parseFrame(valid, 0, len, f)).not.toBe(ParseStatus.ok);
    }
  });

  it('names the reason: bad IHL, bad version, lying total length, option overrun, long IPv6 chain', () => {
    const f = new FrameInfo();
    const v4 = tcpFrame({
      v6: false,
      vlan: -1,
      src: [0, 0, 0xffff, 1],
      dst: [0, 0, 0xffff, 2],
      sport: 1,
      dport: 2,
      seq: 0,
      ack: 0,
      flags: 2,
      window: 0,
      options: LINUX_OPTS,
      payload: 0,
      ttl: 64,
    });
    const t = (edit: (b: Uint8Array) => void) => {
      const b = v4.slice();
      edit(b);
      return parseFrame(b, 0, b.length, f);
    };
    expect(t((b) => (b[14] = 0x44))).toBe(ParseStatus.badIhl);
    expect(t((b) => (b[14] = 0x55))).toBe(ParseStatus.badVersion);
    expect(t((b) => (b[17] = 0xff))).toBe(ParseStatus.truncated);
    expect(
      t((b) => {
        b[16] = 0;
        b[17] = 10;
      }),
    ).toBe(ParseStatus.badTotalLength);
    expect(t((b) => (b[14 + 20 + 21] = 40))).toBe(ParseStatus.badTcpOption);
    expect(t((b) => (b[14 + 20 + 12] = 0x40))).toBe(ParseStatus.badTcpOffset);
    expect(t((b) => (b[12] = 0x88))).toBe(ParseStatus.unsupportedEtherType);
    // Nine hop-by-hop headers in a row.
    const v6 = new Uint8Array(14 + 40 + 9 * 8 + 20);
    const p = writeEthernet(v6, 0, MAC_B, 0, MAC_A, 0, EtherType.ipv6, -1);
    writeIpv6(v6, p, [1, 0, 0, 1], [2, 0, 0, 2], 0, 9 * 8 + 20, 64);
    for (let i = 0; i < 9; i++) v6[p + 40 + i * 8] = i < 8 ? 0 : IpProto.tcp;
    expect(parseFrame(v6, 0, v6.length, f)).toBe(ParseStatus.badExtensionHeader);
  });
});

describe('annotated hex fixture', () => {
  it('an IPv4 fragment (offset > 0) has no layer-4 header', () => {
    const frame = hex(`
      02000000000b 02000000000a 0800         # Ethernet: dst, src, IPv4
      4500 0024 abcd 2001 40 06 0000         # v4 ihl 5, total 36, id, MF + offset 1 (8 bytes), ttl, TCP
      0a000001 0a000002                      # 10.0.0.1 > 10.0.0.2
      0102030405060708 1112131415161718      # 16 bytes of the middle of a segment
    `);
    const f = new FrameInfo();
    expect(parseFrame(frame, 0, frame.length, f)).toBe(ParseStatus.ok);
    expect([f.isFragment, f.fragOffset, f.moreFragments, f.fragId, f.l4Offset]).toEqual([
      1, 8, 1, 0xabcd, -1,
    ]);
  });
});

describe('checksums', () => {
  it('incremental update (RFC 1624 eqn. 3) equals a full recomputation', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 60 }),
        fc.nat(),
        port,
        i32,
        (bytes, at, word, w32) => {
          const b = bytes.length % 2 === 0 ? bytes : bytes.subarray(1);
          const i = (at % (b.length / 2)) * 2;
          const before = internetChecksum(b, 0, b.length);
          const old = (b[i] << 8) | b[i + 1];
          b[i] = word >>> 8;
          b[i + 1] = word & 0xff;
          const full = internetChecksum(b, 0, b.length);
          const inc = checksumAdjust16(before, old, word);
          // 0x0000 and 0xffff are the same number in ones' complement.
          expect(inc === full || inc + full === 0xffff).toBe(true);
          if (b.length >= 8) {
            const o32 = (b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7] | 0;
            const c0 = internetChecksum(b, 0, b.length);
            b[4] = w32 >>> 24;
            b[5] = (w32 >>> 16) & 0xff;
            b[6] = (w32 >>> 8) & 0xff;
            b[7] = w32 & 0xff;
            const f2 = internetChecksum(b, 0, b.length);
            const i2 = checksumAdjust32(c0, o32, w32);
            expect(i2 === f2 || i2 + f2 === 0xffff).toBe(true);
          }
        },
      ),
    );
  });
});

describe('builders', () => {
  it('TCP RST, IPv4 and IPv6: flags, sequence number and checksums an independent sum accepts', () => {
    for (const v6 of [false, true]) {
      const spec = new RstSpec();
      spec.dstMac.set(MAC_B);
      spec.srcMac.set(MAC_A);
      spec.ipVersion = v6 ? 6 : 4;
      spec.src.set(v6 ? [0x20010db8, 0, 0, 7] : [0, 0, 0xffff, 0xc6336407 | 0]);
      spec.dst.set(v6 ? [0xfd000000 | 0, 0, 0, 0x100] : [0, 0, 0xffff, 0x0a000064]);
      spec.srcPort = 40000;
      spec.dstPort = 80;
      spec.seq = 0xdeadbeef | 0;
      const out = new Uint8Array(100);
      const n = buildTcpRst(spec, out, 3);
      expect(n).toBe(v6 ? 74 : 54);
      const f = new FrameInfo();
      expect(parseFrame(out, 3, n, f)).toBe(ParseStatus.ok);
      expect([f.tcpFlags, f.tcpSeq, f.tcpAck, f.srcPort, f.dstPort]).toEqual([
        0x04,
        0xdeadbeef | 0,
        0,
        40000,
        80,
      ]);
      expect([f.src0, f.src1, f.src2, f.src3]).toEqual(Array.from(spec.src));
      if (!v6) expect(internetChecksum(out, f.l3Offset, 20)).toBe(0);
      const pseudo = v6 ? onesSum(out, f.l3Offset + 8, 32, 6 + 20) : onesSum(out, f.l3Offset + 12, 8, 6 + 20);
      expect(onesSum(out, f.l4Offset, 20, pseudo)).toBe(0xffff);
    }
  });

  it('ARP reply, built in place over the request', () => {
    const b = new Uint8Array(64);
    const p = writeEthernet(
      b,
      0,
      Uint8Array.of(255, 255, 255, 255, 255, 255),
      0,
      MAC_A,
      0,
      EtherType.arp,
      -1,
    );
    writeArp(b, p, 1, MAC_A, 0, 0xc0a80001 | 0, new Uint8Array(6), 0, 0x0a000064);
    const f = new FrameInfo();
    expect(parseFrame(b, 0, p + 28, f)).toBe(ParseStatus.ok);
    const n = buildArpReply(b, 0, f, MAC_B, b, 0);
    expect(n).toBe(42);
    const g = new FrameInfo();
    expect(parseFrame(b, 0, n, g)).toBe(ParseStatus.ok);
    expect([g.arpOp, g.arpSenderIp, g.arpTargetIp]).toEqual([2, 0x0a000064, 0xc0a80001 | 0]);
    expect(Array.from(b.subarray(0, 6))).toEqual(Array.from(MAC_A));
    expect(Array.from(b.subarray(6, 12))).toEqual(Array.from(MAC_B));
    expect(Array.from(b.subarray(p + 8, p + 14))).toEqual(Array.from(MAC_B));
    expect(Array.from(b.subarray(p + 18, p + 24))).toEqual(Array.from(MAC_A));
  });

  it('neighbour advertisement, in place, solicited and override, checksum valid', () => {
    for (const unspecified of [false, true]) {
      const b = new Uint8Array(120);
      const target = [0xfd000000 | 0, 0, 0, 0x100];
      const src = unspecified ? [0, 0, 0, 0] : [0xfd000000 | 0, 0, 0, 5];
      let p = writeEthernet(b, 0, Uint8Array.of(0x33, 0x33, 0xff, 0, 1, 0), 0, MAC_A, 0, EtherType.ipv6, -1);
      const l3 = p;
      p += writeIpv6(b, p, src, [0xff020000 | 0, 0, 1, 0xff000100 | 0], IpProto.icmpv6, 32, 255);
      const l4 = p;
      p += writeIcmp(b, p, 135, 0, 0);
      for (let i = 0; i < 4; i++) {
        b[p + 4 * i] = target[i] >>> 24;
        b[p + 4 * i + 1] = (target[i] >>> 16) & 0xff;
        b[p + 4 * i + 2] = (target[i] >>> 8) & 0xff;
        b[p + 4 * i + 3] = target[i] & 0xff;
      }
      p += 16;
      b.set([1, 1, ...MAC_A], p);
      p += 8;
      fillL4Checksum(b, l3, 6, l4, 32, IpProto.icmpv6);
      const f = new FrameInfo();
      expect(parseFrame(b, 0, p, f)).toBe(ParseStatus.ok);
      const n = buildNeighborAdvert(b, 0, f, MAC_B, b, 0);
      expect(n).toBe(86);
      const g = new FrameInfo();
      expect(parseFrame(b, 0, n, g)).toBe(ParseStatus.ok);
      expect(g.icmpType).toBe(136);
      expect(g.ttl).toBe(255);
      expect([g.src0, g.src1, g.src2, g.src3]).toEqual(target);
      expect([g.dst0, g.dst1, g.dst2, g.dst3]).toEqual(unspecified ? [0xff020000 | 0, 0, 0, 1] : src);
      expect(b[g.l4Offset + 4]).toBe(unspecified ? 0x20 : 0x60);
      expect(Array.from(b.subarray(g.ndLinkAddrOffset, g.ndLinkAddrOffset + 6))).toEqual(Array.from(MAC_B));
      expect(onesSum(b, g.l4Offset, 32, onesSum(b, g.l3Offset + 8, 32, IpProto.icmpv6 + 32))).toBe(0xffff);
    }
  });
});
