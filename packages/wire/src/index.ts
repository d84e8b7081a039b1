export { AddressError, formatAddress, formatMac, isV4Mapped, parseAddress, parseMac } from './address.ts';
export {
  buildArpReply,
  buildNeighborAdvert,
  buildTcpRst,
  buildTcpSegment,
  fillL4Checksum,
  RstSpec,
  writeArp,
  writeEthernet,
  writeIcmp,
  writeIpv4,
  writeIpv6,
  writeTcp,
  writeUdp,
} from './build.ts';
export {
  checksumAdjust16,
  checksumAdjust32,
  finishChecksum,
  internetChecksum,
  onesSum,
  pseudoHeaderSum,
  pseudoHeaderSumWords,
} from './checksum.ts';
export {
  EtherType,
  FrameInfo,
  IpProto,
  PARSE_STATUS_NAMES,
  ParseStatus,
  TcpFlag,
  TcpOptNibble,
} from './frame.ts';
export { parseFrame } from './parse.ts';
export { LINKTYPE_ETHERNET, PcapError, type PcapPacket, readPcap } from './pcap.ts';
export {
  longTypeBits,
  parseQuicHeader,
  QUIC_MAX_CID_V1,
  QUIC_STATUS_NAMES,
  QUIC_V1,
  QUIC_V2,
  QuicForm,
  QuicHeader,
  type QuicLongHeaderSpec,
  QuicPacketType,
  QuicStatus,
  writeQuicLongHeader,
  writeQuicShortHeader,
} from './quic.ts';
export { SipHashOut, sipHash24 } from './siphash.ts';
export { parseVxlan, VXLAN_HEADER_LEN, VXLAN_PORT, VxlanInfo, writeVxlan } from './vxlan.ts';
