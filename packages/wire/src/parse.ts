// parseFrame: Ethernet (one optional 802.1Q tag) → ARP | IPv4 | IPv6 (extension headers walked)
// → TCP (options) | UDP | ICMP | ICMPv6 (errors with their embedded flow, neighbour discovery).
// An integer state machine over a Uint8Array: every read is preceded by a length check, the
// result goes into a caller's FrameInfo, and the return value is a ParseStatus. It allocates
// nothing and throws nothing, whatever the bytes say.
//
//  Ethernet II (+ 802.1Q)             IPv4 (RFC 791)
//  +-------+-------+------+-----+     0                   1                   2                   3
//  | dst 6 | src 6 |[8100 | TCI]|     |Version|  IHL  |Type of Service|          Total Length         |
//  +-------+-------+------+-----+     |         Identification        |Flags|      Fragment Offset    |
//  | type 2|  payload ...            |  Time to Live |    Protocol   |         Header Checksum       |
//                                    |                       Source Address                          |
//                                    |                    Destination Address                        |
import { be16, be32 } from './bytes.ts';
import { EtherType, type FrameInfo, IpProto, ParseStatus, TcpOptNibble } from './frame.ts';

/** Parses the Ethernet frame at buf[off, off+len) into `out`; returns a ParseStatus. */
export function parseFrame(buf: Uint8Array, off: number, len: number, out: FrameInfo): number {
  out.reset();
  if (off < 0 || len < 14 || off + len > buf.length) return ParseStatus.truncated;
  const end = off + len;
  out.l2Offset = off;
  let et = be16(buf, off + 12);
  let p = off + 14;
  if (et === EtherType.vlan) {
    if (p + 4 > end) return ParseStatus.truncated;
    out.vlanId = be16(buf, p) & 0x0fff;
    et = be16(buf, p + 2);
    p += 4;
  }
  out.etherType = et;
  if (et === EtherType.ipv4) return parseIpv4(buf, p, end, out);
  if (et === EtherType.ipv6) return parseIpv6(buf, p, end, out);
  if (et === EtherType.arp) return parseArp(buf, p, end, out);
  return ParseStatus.unsupportedEtherType;
}

//  ARP (RFC 826) for IPv4 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4, op,
//  sender MAC 6, sender IP 4, target MAC 6, target IP 4 (28 bytes).
function parseArp(b: Uint8Array, p: number, end: number, out: FrameInfo): number {
  if (p + 28 > end) return ParseStatus.truncated;
  if (be16(b, p) !== 1 || be16(b, p + 2) !== EtherType.ipv4 || b[p + 4] !== 6 || b[p + 5] !== 4) {
    return ParseStatus.badArp;
  }
  out.l3Offset = p;
  out.arpOp = be16(b, p + 6);
  out.arpSenderIp = be32(b, p + 14);
  out.arpTargetIp = be32(b, p + 24);
  return ParseStatus.ok;
}

function parseIpv4(b: Uint8Array, p: number, end: number, out: FrameInfo): number {
  if (p + 20 > end) return ParseStatus.truncated;
  if (b[p] >> 4 !== 4) return ParseStatus.badVersion;
  const ihl = (b[p] & 0x0f) * 4;
  if (ihl < 20) return ParseStatus.badIhl;
  const total = be16(b, p + 2);
  if (total < ihl) return ParseStatus.badTotalLength;
  if (p + total > end) return ParseStatus.truncated;
  out.l3Offset = p;
  out.ipVersion = 4;
  out.ipHeaderLen = ihl;
  out.ipTotalLen = total;
  out.fragId = be16(b, p + 4);
  const frag = be16(b, p + 6);
  out.moreFragments = (frag >> 13) & 1;
  out.fragOffset = (frag & 0x1fff) * 8;
  out.isFragment = out.moreFragments === 1 || out.fragOffset > 0 ? 1 : 0;
  out.ttl = b[p + 8];
  out.ipProto = b[p + 9];
  out.src2 = 0xffff;
  out.src3 = be32(b, p + 12);
  out.dst2 = 0xffff;
  out.dst3 = be32(b, p + 16);
  if (out.fragOffset > 0) return ParseStatus.ok;
  return parseL4(b, out.ipProto, p + ihl, p + total, out);
}

//  IPv6 (RFC 8200): version 4 bits, traffic class, flow label, payload length 16, next header 8,
//  hop limit 8, source 128, destination 128 (40 bytes), then a chain of extension headers.
function parseIpv6(b: Uint8Array, p: number, end: number, out: FrameInfo): number {
  if (p + 40 > end) return ParseStatus.truncated;
  if (b[p] >> 4 !== 6) return ParseStatus.badVersion;
  const payload = be16(b, p + 4);
  const l3End = p + 40 + payload;
  if (l3End > end) return ParseStatus.truncated;
  out.l3Offset = p;
  out.ipVersion = 6;
  out.ipTotalLen = 40 + payload;
  out.ttl = b[p + 7];
  // Deliberately unrolled: one read per address word straight into FrameInfo's flat fields (as
  // parseIcmpv6 does for the embedded header); a loop would need an array to write into.
  out.src0 = be32(b, p + 8);
  out.src1 = be32(b, p + 12);
  out.src2 = be32(b, p + 16);
  out.src3 = be32(b, p + 20);
  out.dst0 = be32(b, p + 24);
  out.dst1 = be32(b, p + 28);
  out.dst2 = be32(b, p + 32);
  out.dst3 = be32(b, p + 36);
  let nh = b[p + 6];
  let q = p + 40;
  // Walk at most 8 extension headers: a longer chain is an attack on the parser, not a packet.
  for (let i = 0; ; i++) {
    if (nh !== 0 && nh !== 43 && nh !== 44 && nh !== 51 && nh !== 60) break;
    if (i === 8) return ParseStatus.badExtensionHeader;
    if (q + 8 > l3End) return ParseStatus.badExtensionHeader;
    if (nh === 44) {
      const fo = be16(b, q + 2);
      out.fragOffset = fo & 0xfff8;
      out.moreFragments = fo & 1;
      out.fragId = be32(b, q + 4);
      out.isFragment = 1;
      nh = b[q];
      q += 8;
    } else if (nh === 51) {
      const hl = (b[q + 1] + 2) * 4;
      nh = b[q];
      q += hl;
    } else {
      const hl = (b[q + 1] + 1) * 8;
      nh = b[q];
      q += hl;
    }
    if (q > l3End) return ParseStatus.badExtensionHeader;
  }
  out.ipProto = nh;
  out.ipHeaderLen = q - p;
  if (out.fragOffset > 0 || nh === 59) return ParseStatus.ok;
  return parseL4(b, nh, q, l3End, out);
}

function parseL4(b: Uint8Array, proto: number, q: number, l3End: number, out: FrameInfo): number {
  if (proto === IpProto.tcp) return parseTcp(b, q, l3End, out);
  if (proto === IpProto.udp) {
    if (q + 8 > l3End) return ParseStatus.truncated;
    const ulen = be16(b, q + 4);
    if (ulen < 8 || q + ulen > l3End) return ParseStatus.badTotalLength;
    out.l4Offset = q;
    out.l4Len = ulen;
    out.srcPort = be16(b, q);
    out.dstPort = be16(b, q + 2);
    out.payloadOffset = q + 8;
    out.payloadLen = ulen - 8;
    return ParseStatus.ok;
  }
  if (proto === IpProto.icmp) return parseIcmp(b, q, l3End, out);
  if (proto === IpProto.icmpv6) return parseIcmpv6(b, q, l3End, out);
  out.l4Offset = q;
  out.l4Len = l3End - q;
  return ParseStatus.ok;
}

//  TCP (RFC 9293): src port, dst port, seq, ack, data offset 4 bits, flags 8 bits, window,
//  checksum, urgent pointer (20 bytes), options up to data offset * 4.
function parseTcp(b: Uint8Array, q: number, l3End: number, out: FrameInfo): number {
  if (q + 20 > l3End) return ParseStatus.truncated;
  const hl = (b[q + 12] >> 4) * 4;
  if (hl < 20 || q + hl > l3End) return ParseStatus.badTcpOffset;
  out.l4Offset = q;
  out.l4Len = l3End - q;
  out.srcPort = be16(b, q);
  out.dstPort = be16(b, q + 2);
  out.tcpSeq = be32(b, q + 4);
  out.tcpAck = be32(b, q + 8);
  out.tcpHeaderLen = hl;
  out.tcpFlags = b[q + 13];
  out.tcpWindow = be16(b, q + 14);
  out.payloadOffset = q + hl;
  out.payloadLen = l3End - q - hl;
  return hl > 20 ? parseTcpOptions(b, q + 20, q + hl, out) : ParseStatus.ok;
}

//  Options: kind 0 EOL, 1 NOP, else kind, length, data. MSS (2, 4), WS (3, 3), SACK_PERM (4, 2),
//  SACK (5, 2 + 8n), TS (8, 10). Their order is recorded as nibbles in optSignature.
function parseTcpOptions(b: Uint8Array, i: number, end: number, out: FrameInfo): number {
  let count = 0;
  let sig = 0;
  while (i < end) {
    const kind = b[i];
    let nib: number;
    if (kind === 0) {
      nib = TcpOptNibble.eol;
      i = end;
    } else if (kind === 1) {
      nib = TcpOptNibble.nop;
      i++;
    } else {
      if (i + 2 > end) return ParseStatus.badTcpOption;
      const l = b[i + 1];
      if (l < 2 || i + l > end) return ParseStatus.badTcpOption;
      if (kind === 2) {
        if (l !== 4) return ParseStatus.badTcpOption;
        out.optMss = be16(b, i + 2);
        nib = TcpOptNibble.mss;
      } else if (kind === 3) {
        if (l !== 3) return ParseStatus.badTcpOption;
        out.optWscale = b[i + 2];
        nib = TcpOptNibble.wscale;
      } else if (kind === 4) {
        if (l !== 2) return ParseStatus.badTcpOption;
        out.optSackPerm = 1;
        nib = TcpOptNibble.sackPerm;
      } else if (kind === 5) {
        if ((l - 2) % 8 !== 0) return ParseStatus.badTcpOption;
        nib = TcpOptNibble.sack;
      } else if (kind === 8) {
        if (l !== 10) return ParseStatus.badTcpOption;
        out.optTimestamp = 1;
        out.tsVal = be32(b, i + 2);
        out.tsEcr = be32(b, i + 6);
        nib = TcpOptNibble.timestamp;
      } else {
        nib = TcpOptNibble.other;
      }
      i += l;
    }
    if (count < 8) sig |= nib << (count * 4);
    count++;
  }
  out.optCount = count;
  out.optSignature = sig;
  return ParseStatus.ok;
}

/** The type and code both ICMP versions start with (8 bytes with checksum and rest); false if cut short. */
function readIcmpHeader(b: Uint8Array, q: number, l3End: number, out: FrameInfo): boolean {
  if (q + 8 > l3End) return false;
  out.l4Offset = q;
  out.l4Len = l3End - q;
  out.icmpType = b[q];
  out.icmpCode = b[q + 1];
  return true;
}

//  ICMP (RFC 792): type, code, checksum, 4 bytes of rest; errors (3 unreachable, 11 time
//  exceeded, 12 parameter problem) carry the offending IP header and its first 8 data bytes.
function parseIcmp(b: Uint8Array, q: number, l3End: number, out: FrameInfo): number {
  if (!readIcmpHeader(b, q, l3End, out)) return ParseStatus.truncated;
  const type = out.icmpType;
  if (type === 3 && out.icmpCode === 4) out.icmpMtu = be16(b, q + 6);
  if (type !== 3 && type !== 11 && type !== 12) return ParseStatus.ok;
  const e = q + 8;
  if (e + 20 > l3End) return ParseStatus.badIcmp;
  if (b[e] >> 4 !== 4) return ParseStatus.badIcmp;
  const ihl = (b[e] & 0x0f) * 4;
  if (ihl < 20 || e + ihl + 4 > l3End) return ParseStatus.badIcmp;
  out.innerProto = b[e + 9];
  out.innerSrc2 = 0xffff;
  out.innerSrc3 = be32(b, e + 12);
  out.innerDst2 = 0xffff;
  out.innerDst3 = be32(b, e + 16);
  out.innerSrcPort = be16(b, e + ihl);
  out.innerDstPort = be16(b, e + ihl + 2);
  out.innerValid = 1;
  return ParseStatus.ok;
}

//  ICMPv6 (RFC 4443): errors 1..4 carry as much of the offending packet as fits; 2 (packet too
//  big) has the MTU in the rest field. Neighbour solicitation 135 / advertisement 136 (RFC 4861):
//  4 reserved bytes, 16-byte target, then options (type, length in 8-byte units).
function parseIcmpv6(b: Uint8Array, q: number, l3End: number, out: FrameInfo): number {
  if (!readIcmpHeader(b, q, l3End, out)) return ParseStatus.truncated;
  const type = out.icmpType;
  if (type >= 1 && type <= 4) {
    if (type === 2) out.icmpMtu = be32(b, q + 4);
    const e = q + 8;
    if (e + 44 > l3End || b[e] >> 4 !== 6) return ParseStatus.badIcmp;
    out.innerProto = b[e + 6];
    // Deliberately unrolled, as parseIpv6's addresses: one read per word into flat fields.
    out.innerSrc0 = be32(b, e + 8);
    out.innerSrc1 = be32(b, e + 12);
    out.innerSrc2 = be32(b, e + 16);
    out.innerSrc3 = be32(b, e + 20);
    out.innerDst0 = be32(b, e + 24);
    out.innerDst1 = be32(b, e + 28);
    out.innerDst2 = be32(b, e + 32);
    out.innerDst3 = be32(b, e + 36);
    out.innerSrcPort = be16(b, e + 40);
    out.innerDstPort = be16(b, e + 42);
    out.innerValid = 1;
    return ParseStatus.ok;
  }
  if (type === 135 || type === 136) {
    if (q + 24 > l3End) return ParseStatus.truncated;
    out.ndTargetOffset = q + 8;
    let o = q + 24;
    while (o + 2 <= l3End) {
      const optLen = b[o + 1] * 8;
      if (optLen === 0 || o + optLen > l3End) return ParseStatus.badIcmp;
      const optType = b[o];
      if (optLen >= 8 && ((optType === 1 && type === 135) || (optType === 2 && type === 136))) {
        out.ndLinkAddrOffset = o + 2;
      }
      o += optLen;
    }
  }
  return ParseStatus.ok;
}
