// QUIC packet headers as a load balancer reads them: the version-independent fields of RFC 8999
// (header form, version, connection IDs) plus the long packet type of the versions Sluice knows
// (QUIC v1, RFC 9000 §17.2; QUIC v2, RFC 9369 §3.2). Nothing is decrypted: a load balancer has no
// keys, and needs none to route. The parser is an integer state machine over the UDP payload
// that checks the remaining length before every read, writes into a caller's QuicHeader and
// returns a QuicStatus; it allocates nothing and throws nothing, whatever the bytes say.
//
//  Long header (RFC 8999 §5.1)                 Short header (RFC 8999 §5.2)
//  +-+-+-+-+-+-+-+-+                           +-+-+-+-+-+-+-+-+
//  |1|X X X X X X X|                           |0|X X X X X X X|
//  +-+-+-+-+-+-+-+-+---------------------+     +-+-+-+-+-+-+-+-+----------------+
//  |               Version (32)          |     | Destination Connection ID (*) |
//  +-+-+-+-+-+-+-+-+---------------------+     +-------------------------------+
//  | DCID Len (8)  | Destination Connection ID (0..2040)                       ...
//  | SCID Len (8)  | Source Connection ID (0..2040)  | version-specific ...
//
// A short header does not say how long its connection ID is: the endpoint that chose it knows,
// and so must the load balancer's configuration (the `shortDcidLength` argument).

import { be32, put32 } from './bytes.ts';

/** Why a QUIC header could not be read. 0 is success. */
export const QuicStatus = {
  ok: 0,
  /** The datagram ends inside the header (or is empty). */
  truncated: 1,
  /** A QUIC v1 or v2 long header with a connection ID longer than 20 bytes (RFC 9000 §17.2: drop). */
  cidTooLong: 2,
  /** `shortDcidLength` outside 0..20: a caller's mistake, reported rather than thrown. */
  badArgument: 3,
} as const;
export type QuicStatus = (typeof QuicStatus)[keyof typeof QuicStatus];

export const QUIC_STATUS_NAMES: readonly string[] = ['ok', 'truncated', 'cid-too-long', 'bad-argument'];

export const QuicForm = { short: 0, long: 1 } as const;

/** The packet types of the long header, independent of how a version numbers them. */
export const QuicPacketType = {
  /** A version this parser does not know: its long packet type bits mean nothing here. */
  unknown: -1,
  initial: 0,
  zeroRtt: 1,
  handshake: 2,
  retry: 3,
  /** Version 0 (RFC 8999 §6). */
  versionNegotiation: 4,
  /** A short header: QUIC v1/v2's 1-RTT packet. */
  oneRtt: 5,
} as const;

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;
/** RFC 9000 §17.2: QUIC v1 connection IDs are at most 20 bytes (and so are v2's). */
export const QUIC_MAX_CID_V1 = 20;
/** The bits that name the long packet type: 0x30 of the first byte. */
const LONG_TYPE_SHIFT = 4;
// RFC 9369 §3.2 renumbered the long packet types: v2's 0b01 is Initial, 0b00 is Retry.
const V1_TYPES = [
  QuicPacketType.initial,
  QuicPacketType.zeroRtt,
  QuicPacketType.handshake,
  QuicPacketType.retry,
];
const V2_TYPES = [
  QuicPacketType.retry,
  QuicPacketType.initial,
  QuicPacketType.zeroRtt,
  QuicPacketType.handshake,
];

export class QuicHeader {
  /** QuicForm. */
  form = 0;
  /** The first byte as it is on the wire (its low bits are header-protected: not meaningful). */
  firstByte = 0;
  /** Long header: the version, as an int32 bit pattern (print with `>>> 0`); 0 for short headers. */
  version = 0;
  /** QuicPacketType. */
  packetType = QuicPacketType.unknown as number;
  dcidOffset = -1;
  dcidLength = 0;
  /** Long header only; -1 and 0 for short headers. */
  scidOffset = -1;
  scidLength = 0;

  reset(): void {
    this.form = 0;
    this.firstByte = 0;
    this.version = 0;
    this.packetType = QuicPacketType.unknown;
    this.dcidOffset = -1;
    this.dcidLength = 0;
    this.scidOffset = -1;
    this.scidLength = 0;
  }
}

/**
 * Reads the QUIC header at the start of the UDP payload buf[off, off+len) into `out`; a short
 * header's destination connection ID is taken to be `shortDcidLength` bytes. Returns a QuicStatus.
 */
export function parseQuicHeader(
  buf: Uint8Array,
  off: number,
  len: number,
  shortDcidLength: number,
  out: QuicHeader,
): number {
  out.reset();
  if (off < 0 || len < 1 || off + len > buf.length) return QuicStatus.truncated;
  const end = off + len;
  const first = buf[off];
  out.firstByte = first;
  if ((first & 0x80) === 0) {
    if (!(shortDcidLength >= 0 && shortDcidLength <= QUIC_MAX_CID_V1)) return QuicStatus.badArgument;
    if (off + 1 + shortDcidLength > end) return QuicStatus.truncated;
    out.form = QuicForm.short;
    out.packetType = QuicPacketType.oneRtt;
    out.dcidOffset = off + 1;
    out.dcidLength = shortDcidLength;
    return QuicStatus.ok;
  }
  out.form = QuicForm.long;
  // first byte, version (4), DCID length (1)
  if (off + 6 > end) return QuicStatus.truncated;
  const version = be32(buf, off + 1);
  out.version = version;
  const dcidLen = buf[off + 5];
  let p = off + 6;
  if (p + dcidLen + 1 > end) return QuicStatus.truncated;
  out.dcidOffset = p;
  out.dcidLength = dcidLen;
  p += dcidLen;
  const scidLen = buf[p];
  p += 1;
  if (p + scidLen > end) return QuicStatus.truncated;
  out.scidOffset = p;
  out.scidLength = scidLen;
  const known = version === QUIC_V1 || version === QUIC_V2;
  if (version === 0) out.packetType = QuicPacketType.versionNegotiation;
  else if (known) {
    const bits = (first >> LONG_TYPE_SHIFT) & 3;
    out.packetType = version === QUIC_V1 ? V1_TYPES[bits] : V2_TYPES[bits];
    if (dcidLen > QUIC_MAX_CID_V1 || scidLen > QUIC_MAX_CID_V1) return QuicStatus.cidTooLong;
  }
  return QuicStatus.ok;
}

/** What writeQuicLongHeader puts on the wire (tests and traffic generators; not the packet path). */
export interface QuicLongHeaderSpec {
  /** The whole first byte, form bit included (0xc0 | type << 4 | low bits). */
  firstByte: number;
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
}

/** Writes a long header (first byte through the SCID); returns the bytes written. */
export function writeQuicLongHeader(out: Uint8Array, off: number, h: QuicLongHeaderSpec): number {
  out[off] = h.firstByte | 0x80;
  put32(out, off + 1, h.version);
  out[off + 5] = h.dcid.length;
  out.set(h.dcid, off + 6);
  let p = off + 6 + h.dcid.length;
  out[p] = h.scid.length;
  out.set(h.scid, p + 1);
  p += 1 + h.scid.length;
  return p - off;
}

/** Writes a short header's first byte (form bit cleared) and its DCID; returns the bytes written. */
export function writeQuicShortHeader(
  out: Uint8Array,
  off: number,
  firstByte: number,
  dcid: Uint8Array,
): number {
  out[off] = firstByte & 0x7f;
  out.set(dcid, off + 1);
  return 1 + dcid.length;
}

/** The long packet type bits (0..3) that `type` has in `version` (v1 or v2), for writers. */
export function longTypeBits(version: number, type: number): number {
  const table = version === QUIC_V2 ? V2_TYPES : V1_TYPES;
  const bits = table.indexOf(type as (typeof V1_TYPES)[number]);
  if (bits < 0) throw new RangeError(`packet type ${type} has no long-header bits in version ${version}`);
  return bits;
}
