// Writers for every header (encode into a caller's buffer at an offset, return bytes written)
// and the three frames the director makes itself: a TCP RST toward a real server, an ARP reply
// and an ICMPv6 neighbour advertisement for a VIP. Checksums are computed here; nothing is
// allocated per call (scratch buffers are module-level), so the builders may run per packet,
// and ARP/ND replies can be built in place over the request.
import { be32, put16, put32 } from './bytes.ts';
import { finishChecksum, onesSum, pseudoHeaderSum, pseudoHeaderSumWords } from './checksum.ts';
import { EtherType, type FrameInfo, IpProto } from './frame.ts';

function copy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i];
}

/** Ethernet II header, with an 802.1Q tag when vlanId >= 0. Returns 14 or 18. */
export function writeEthernet(
  out: Uint8Array,
  off: number,
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  etherType: number,
  vlanId: number,
): number {
  copy(out, off, dst, dstOff, 6);
  copy(out, off + 6, src, srcOff, 6);
  if (vlanId >= 0) {
    put16(out, off + 12, EtherType.vlan);
    put16(out, off + 14, vlanId & 0x0fff);
    put16(out, off + 16, etherType);
    return 18;
  }
  put16(out, off + 12, etherType);
  return 14;
}

/** ARP for IPv4 over Ethernet (28 bytes). */
export function writeArp(
  out: Uint8Array,
  off: number,
  op: number,
  sha: Uint8Array,
  shaOff: number,
  spa: number,
  tha: Uint8Array,
  thaOff: number,
  tpa: number,
): number {
  put16(out, off, 1);
  put16(out, off + 2, EtherType.ipv4);
  out[off + 4] = 6;
  out[off + 5] = 4;
  put16(out, off + 6, op);
  copy(out, off + 8, sha, shaOff, 6);
  put32(out, off + 14, spa);
  copy(out, off + 18, tha, thaOff, 6);
  put32(out, off + 24, tpa);
  return 28;
}

/**
 * IPv4 header of 20 bytes (no options) with its checksum. `frag` is the 16-bit flags+offset
 * field (0x4000 = DF). Returns 20.
 */
export function writeIpv4(
  out: Uint8Array,
  off: number,
  src: number,
  dst: number,
  proto: number,
  payloadLen: number,
  ttl: number,
  id: number,
  frag: number,
): number {
  out[off] = 0x45;
  out[off + 1] = 0;
  put16(out, off + 2, 20 + payloadLen);
  put16(out, off + 4, id);
  put16(out, off + 6, frag);
  out[off + 8] = ttl;
  out[off + 9] = proto;
  out[off + 10] = 0;
  out[off + 11] = 0;
  put32(out, off + 12, src);
  put32(out, off + 16, dst);
  put16(out, off + 10, finishChecksum(onesSum(out, off, 20, 0)));
  return 20;
}

/** IPv6 header (40 bytes); addresses as four words each (FrameInfo's form). */
export function writeIpv6(
  out: Uint8Array,
  off: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  nextHeader: number,
  payloadLen: number,
  hopLimit: number,
): number {
  put32(out, off, 0x60000000);
  put16(out, off + 4, payloadLen);
  out[off + 6] = nextHeader;
  out[off + 7] = hopLimit;
  for (let i = 0; i < 4; i++) {
    put32(out, off + 8 + 4 * i, src[i]);
    put32(out, off + 24 + 4 * i, dst[i]);
  }
  return 40;
}

/**
 * TCP header with `options` (already padded to a multiple of 4, or null); the checksum is left
 * zero for `fillL4Checksum`. Returns the header length.
 */
export function writeTcp(
  out: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  options: Uint8Array | null,
): number {
  const optLen = options === null ? 0 : options.length;
  const hl = 20 + optLen;
  put16(out, off, srcPort);
  put16(out, off + 2, dstPort);
  put32(out, off + 4, seq);
  put32(out, off + 8, ack);
  out[off + 12] = (hl / 4) << 4;
  out[off + 13] = flags;
  put16(out, off + 14, window);
  put16(out, off + 16, 0);
  put16(out, off + 18, 0);
  if (options !== null) copy(out, off + 20, options, 0, optLen);
  return hl;
}

/** UDP header (8 bytes); checksum left zero for `fillL4Checksum`. */
export function writeUdp(
  out: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  payloadLen: number,
): number {
  put16(out, off, srcPort);
  put16(out, off + 2, dstPort);
  put16(out, off + 4, 8 + payloadLen);
  put16(out, off + 6, 0);
  return 8;
}

/** ICMP/ICMPv6 header (8 bytes): type, code, checksum (zero), 32-bit rest field. */
export function writeIcmp(out: Uint8Array, off: number, type: number, code: number, rest: number): number {
  out[off] = type;
  out[off + 1] = code;
  put16(out, off + 2, 0);
  put32(out, off + 4, rest);
  return 8;
}

/**
 * Computes and writes the checksum of the layer-4 segment at l4Off (length l4Len) of protocol
 * `proto`, with the pseudo-header taken from the IP header at l3Off. ICMPv4 has no pseudo-header.
 */
export function fillL4Checksum(
  out: Uint8Array,
  l3Off: number,
  ipVersion: number,
  l4Off: number,
  l4Len: number,
  proto: number,
): void {
  const at = proto === IpProto.tcp ? 16 : proto === IpProto.udp ? 6 : 2;
  put16(out, l4Off + at, 0);
  let initial = 0;
  if (proto !== IpProto.icmp) {
    initial =
      ipVersion === 4
        ? pseudoHeaderSum(out, l3Off + 12, l3Off + 16, 4, proto, l4Len)
        : pseudoHeaderSum(out, l3Off + 8, l3Off + 24, 16, proto, l4Len);
  }
  let c = finishChecksum(onesSum(out, l4Off, l4Len, initial));
  // UDP sends a computed 0 as 0xffff (RFC 768); 0 means "no checksum".
  if (c === 0 && proto === IpProto.udp) c = 0xffff;
  put16(out, l4Off + at, c);
}

/**
 * An option-less TCP segment the director makes itself: an RST toward a real server (from the
 * client's address, with the client's next sequence number) or a challenge SYN-ACK toward a
 * client (from the VIP). Flags, acknowledgement and window default to an RST's.
 */
export class RstSpec {
  readonly dstMac = new Uint8Array(6);
  readonly srcMac = new Uint8Array(6);
  vlanId = -1;
  ipVersion = 4;
  /** Addresses as four words (int32 or uint32 patterns); IPv4 uses word 3. */
  readonly src = new Int32Array(4);
  readonly dst = new Int32Array(4);
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ttl = 64;
  /** TCP flags (TcpFlag bits); buildTcpRst always sends RST alone. */
  flags = 0x04;
  ack = 0;
  window = 0;
}

/**
 * A TCP RST (flags RST only, ack 0, window 0) from the client to the VIP, with the sequence
 * number the real server expects next, so its kernel accepts it and drops the connection.
 * Returns the frame length (54 for IPv4, 74 for IPv6, +4 with a VLAN tag).
 */
export function buildTcpRst(spec: RstSpec, out: Uint8Array, off: number): number {
  spec.flags = 0x04;
  spec.ack = 0;
  spec.window = 0;
  return buildTcpSegment(spec, out, off);
}

/**
 * The segment `spec` describes (its flags, sequence and acknowledgement numbers, window; no
 * options, no payload), Ethernet-framed, with correct IP and TCP checksums. Returns the frame
 * length (54 for IPv4, 74 for IPv6, +4 with a VLAN tag).
 */
export function buildTcpSegment(spec: RstSpec, out: Uint8Array, off: number): number {
  const v6 = spec.ipVersion === 6;
  let p =
    off +
    writeEthernet(
      out,
      off,
      spec.dstMac,
      0,
      spec.srcMac,
      0,
      v6 ? EtherType.ipv6 : EtherType.ipv4,
      spec.vlanId,
    );
  const s = spec.src;
  const d = spec.dst;
  if (v6) p += writeIpv6(out, p, s, d, IpProto.tcp, 20, spec.ttl);
  else p += writeIpv4(out, p, s[3], d[3], IpProto.tcp, 20, spec.ttl, 0, 0x4000);
  const l4 = p;
  p += writeTcp(out, p, spec.srcPort, spec.dstPort, spec.seq, spec.ack, spec.flags, spec.window, null);
  const sum = pseudoHeaderSumWords(
    spec.ipVersion,
    s[0],
    s[1],
    s[2],
    s[3],
    d[0],
    d[1],
    d[2],
    d[3],
    IpProto.tcp,
    20,
  );
  put16(out, l4 + 16, finishChecksum(onesSum(out, l4, 20, sum)));
  return p - off;
}

// Scratch for in-place replies: what must be read before the request's bytes are overwritten.
const scratchMac = new Uint8Array(6);
const scratchSrc = new Int32Array(4);
const scratchTarget = new Int32Array(4);
const ALL_NODES = Int32Array.of(0xff020000 | 0, 0, 0, 1);
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);

/**
 * Answers an ARP request parsed into `info` ("who has T? tell S") with "T is at ourMac", sent to
 * the requester. Works in place (out === req, outOff === reqOff). Returns the frame length.
 */
export function buildArpReply(
  req: Uint8Array,
  reqOff: number,
  info: FrameInfo,
  ourMac: Uint8Array,
  out: Uint8Array,
  outOff: number,
): number {
  copy(scratchMac, 0, req, info.l3Offset + 8, 6);
  const requesterIp = info.arpSenderIp;
  const target = info.arpTargetIp;
  const vlan = info.vlanId;
  void reqOff;
  const p = outOff + writeEthernet(out, outOff, scratchMac, 0, ourMac, 0, EtherType.arp, vlan);
  return p - outOff + writeArp(out, p, 2, ourMac, 0, target, scratchMac, 0, requesterIp);
}

/**
 * Answers a neighbour solicitation parsed into `info` with a solicited, override neighbour
 * advertisement for its target carrying ourMac (RFC 4861 §7.2.4): to the solicitor, or to
 * all-nodes when it came from the unspecified address. Works in place. Returns the frame length.
 */
export function buildNeighborAdvert(
  req: Uint8Array,
  reqOff: number,
  info: FrameInfo,
  ourMac: Uint8Array,
  out: Uint8Array,
  outOff: number,
): number {
  const l3 = info.l3Offset;
  for (let i = 0; i < 4; i++) {
    scratchSrc[i] = be32(req, l3 + 8 + 4 * i);
    scratchTarget[i] = be32(req, info.ndTargetOffset + 4 * i);
  }
  const unspecified = (scratchSrc[0] | scratchSrc[1] | scratchSrc[2] | scratchSrc[3]) === 0;
  if (info.ndLinkAddrOffset >= 0) copy(scratchMac, 0, req, info.ndLinkAddrOffset, 6);
  else copy(scratchMac, 0, req, reqOff + 6, 6);
  const vlan = info.vlanId;
  const dstMac = unspecified ? ALL_NODES_MAC : scratchMac;
  const dst = unspecified ? ALL_NODES : scratchSrc;
  let p = outOff + writeEthernet(out, outOff, dstMac, 0, ourMac, 0, EtherType.ipv6, vlan);
  const ip = p;
  p += writeIpv6(out, p, scratchTarget, dst, IpProto.icmpv6, 32, 255);
  const l4 = p;
  // Flags: Router 0, Solicited (unless to all-nodes), Override.
  p += writeIcmp(out, p, 136, 0, unspecified ? 0x20000000 : 0x60000000);
  for (let i = 0; i < 4; i++) put32(out, p + 4 * i, scratchTarget[i]);
  p += 16;
  out[p] = 2; // target link-layer address option
  out[p + 1] = 1;
  copy(out, p + 2, ourMac, 0, 6);
  p += 8;
  fillL4Checksum(out, ip, 6, l4, 32, IpProto.icmpv6);
  return p - outOff;
}
