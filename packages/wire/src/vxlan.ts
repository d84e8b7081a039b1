// VXLAN (RFC 7348): the 8-byte header in front of the inner Ethernet frame, the UDP payload the
// director receives on port 4789.
//
//  0                   1                   2                   3
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
import { ParseStatus } from './frame.ts';

export const VXLAN_HEADER_LEN = 8;
export const VXLAN_PORT = 4789;
const FLAG_I = 0x08;

export class VxlanInfo {
  vni = 0;
  flags = 0;
  /** Offset of the inner Ethernet frame. */
  innerOffset = 0;
}

/** Reads a VXLAN header; the I flag must be set (a valid VNI). Allocation-free, never throws. */
export function parseVxlan(buf: Uint8Array, off: number, len: number, out: VxlanInfo): number {
  if (off < 0 || len < VXLAN_HEADER_LEN || off + len > buf.length) return ParseStatus.truncated;
  const flags = buf[off];
  if ((flags & FLAG_I) === 0) return ParseStatus.badVxlan;
  out.flags = flags;
  out.vni = (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
  out.innerOffset = off + VXLAN_HEADER_LEN;
  return ParseStatus.ok;
}

/** Writes a VXLAN header with the I flag and `vni`; returns 8. */
export function writeVxlan(out: Uint8Array, off: number, vni: number): number {
  out[off] = FLAG_I;
  out[off + 1] = 0;
  out[off + 2] = 0;
  out[off + 3] = 0;
  out[off + 4] = (vni >>> 16) & 0xff;
  out[off + 5] = (vni >>> 8) & 0xff;
  out[off + 6] = vni & 0xff;
  out[off + 7] = 0;
  return VXLAN_HEADER_LEN;
}
