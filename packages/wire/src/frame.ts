// FrameInfo is the one reusable result of parsing a frame: every field a number, set in the
// constructor with its final type, so the per-packet parser writes into it without allocating
// and every function that reads it stays monomorphic. Offsets point into the caller's buffer;
// nothing is copied. A pipeline owns one FrameInfo and reuses it for every frame.
// 32-bit fields (addresses, sequence numbers) hold signed int32 bit patterns (`x | 0`), the form
// Int32Array tables store and V8 keeps as small integers; print them with `>>> 0`.

/** Why a frame could not be parsed. 0 is success; the rest are drop reasons the pipeline counts. */
export const ParseStatus = {
  ok: 0,
  truncated: 1,
  badVersion: 2,
  badIhl: 3,
  badTotalLength: 4,
  unsupportedEtherType: 5,
  badTcpOffset: 6,
  badExtensionHeader: 7,
  badVxlan: 8,
  badArp: 9,
  badTcpOption: 10,
  badIcmp: 11,
} as const;
export type ParseStatus = (typeof ParseStatus)[keyof typeof ParseStatus];

/** Stable names for counters and metrics labels, indexed by ParseStatus. */
export const PARSE_STATUS_NAMES: readonly string[] = [
  'ok',
  'truncated',
  'bad-version',
  'bad-ihl',
  'bad-total-length',
  'unsupported-ethertype',
  'bad-tcp-offset',
  'bad-extension-header',
  'bad-vxlan',
  'bad-arp',
  'bad-tcp-option',
  'bad-icmp',
];

export const EtherType = { ipv4: 0x0800, arp: 0x0806, vlan: 0x8100, ipv6: 0x86dd } as const;
export const IpProto = { icmp: 1, tcp: 6, udp: 17, ipv6Frag: 44, icmpv6: 58 } as const;
export const TcpFlag = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ece: 0x40,
  cwr: 0x80,
} as const;

/**
 * TCP option kinds as they appear in `optSignature`, one nibble each, first option in the lowest
 * nibble, at most 8 options (later ones are counted in optCount but not in the signature).
 * Linux's SYN is MSS, SACK_PERM, TS, NOP, WS → 0x31542 read from the low nibble up:
 * 2 (MSS), 4 (SACK_PERM), 5 (TS), 1 (NOP), 3 (WS).
 */
export const TcpOptNibble = {
  eol: 0,
  nop: 1,
  mss: 2,
  wscale: 3,
  sackPerm: 4,
  timestamp: 5,
  sack: 6,
  other: 15,
} as const;

export class FrameInfo {
  // Deliberately unrolled: one flat field per value (an address is four int32 fields, not an
  // array), each with its initializer, so V8 lays every field out in-object from the start and
  // each read is one load at a fixed offset.
  // --- layer 2 ---
  l2Offset = 0;
  /** 802.1Q VLAN id, or -1 when the frame carries no tag. */
  vlanId = -1;
  /** EtherType after any VLAN tag. */
  etherType = 0;
  // --- layer 3 ---
  l3Offset = -1;
  /** 0 when there is no IP header (ARP), else 4 or 6. */
  ipVersion = 0;
  /** IPv4: IHL*4. IPv6: 40 plus every extension header walked. */
  ipHeaderLen = 0;
  /** Length of the IP packet as its header claims (IPv4 total length; IPv6 40 + payload length). */
  ipTotalLen = 0;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl = 0;
  /** The upper-layer protocol after IPv6 extension headers. */
  ipProto = 0;
  /** 1 when this is a fragment (offset > 0 or more-fragments set), else 0. */
  isFragment = 0;
  /** Fragment offset in bytes; > 0 means there is no layer-4 header in this frame. */
  fragOffset = 0;
  moreFragments = 0;
  fragId = 0;
  /** Addresses as four big-endian 32-bit words (int32); IPv4 is stored v4-mapped (0, 0, 0xffff, addr). */
  src0 = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst0 = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  // --- layer 4 ---
  /** -1 when there is no layer-4 header (non-first fragment, ARP). */
  l4Offset = -1;
  l4Len = 0;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  tcpWindow = 0;
  /** TCP header length in bytes (data offset * 4). */
  tcpHeaderLen = 0;
  payloadOffset = -1;
  payloadLen = 0;
  // --- TCP options (the SYN's shape is an input to scoring) ---
  optCount = 0;
  optSignature = 0;
  /** -1 when absent. */
  optMss = -1;
  /** -1 when absent. */
  optWscale = -1;
  optSackPerm = 0;
  optTimestamp = 0;
  tsVal = 0;
  tsEcr = 0;
  // --- ICMP / ICMPv6 ---
  icmpType = -1;
  icmpCode = -1;
  /** Next-hop MTU of an IPv4 fragmentation-needed or the MTU of an ICMPv6 packet-too-big, else 0. */
  icmpMtu = 0;
  /** 1 when an ICMP(v6) error carries an embedded IP header + 8 bytes that parsed. */
  innerValid = 0;
  innerProto = 0;
  innerSrc0 = 0;
  innerSrc1 = 0;
  innerSrc2 = 0;
  innerSrc3 = 0;
  innerDst0 = 0;
  innerDst1 = 0;
  innerDst2 = 0;
  innerDst3 = 0;
  innerSrcPort = 0;
  innerDstPort = 0;
  // --- ARP (IPv4 over Ethernet only) ---
  arpOp = 0;
  arpSenderIp = 0;
  arpTargetIp = 0;
  // --- IPv6 neighbour discovery ---
  /** Target address offset of a neighbour solicitation/advertisement, else -1. */
  ndTargetOffset = -1;
  /** Offset of the source/target link-layer address option's 6 MAC bytes, else -1. */
  ndLinkAddrOffset = -1;

  /**
   * Resets every field to its initial value; the parser calls it first, per frame. Deliberately
   * unrolled: one store per field, the initializers' values again (a walk over the keys or an
   * Object.assign from a template would cost per frame what these stores do not); codec.test.ts
   * checks that the two lists agree.
   */
  reset(): void {
    this.l2Offset = 0;
    this.vlanId = -1;
    this.etherType = 0;
    this.l3Offset = -1;
    this.ipVersion = 0;
    this.ipHeaderLen = 0;
    this.ipTotalLen = 0;
    this.ttl = 0;
    this.ipProto = 0;
    this.isFragment = 0;
    this.fragOffset = 0;
    this.moreFragments = 0;
    this.fragId = 0;
    this.src0 = this.src1 = this.src2 = this.src3 = 0;
    this.dst0 = this.dst1 = this.dst2 = this.dst3 = 0;
    this.l4Offset = -1;
    this.l4Len = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.tcpSeq = 0;
    this.tcpAck = 0;
    this.tcpWindow = 0;
    this.tcpHeaderLen = 0;
    this.payloadOffset = -1;
    this.payloadLen = 0;
    this.optCount = 0;
    this.optSignature = 0;
    this.optMss = -1;
    this.optWscale = -1;
    this.optSackPerm = 0;
    this.optTimestamp = 0;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.icmpMtu = 0;
    this.innerValid = 0;
    this.innerProto = 0;
    this.innerSrc0 = this.innerSrc1 = this.innerSrc2 = this.innerSrc3 = 0;
    this.innerDst0 = this.innerDst1 = this.innerDst2 = this.innerDst3 = 0;
    this.innerSrcPort = 0;
    this.innerDstPort = 0;
    this.arpOp = 0;
    this.arpSenderIp = 0;
    this.arpTargetIp = 0;
    this.ndTargetOffset = -1;
    this.ndLinkAddrOffset = -1;
  }
}
