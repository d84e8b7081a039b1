// Building the RST that ends a connection on its real server: from the client's address and
// port to the VIP, with the client's next sequence number as the director tracked it (the real
// server's kernel accepts an RST whose sequence number is the one it expects next), sent inside
// VXLAN to the real server's MAC. Used by the workers for displaced connections and by the main
// thread's shedder and REST resets; one RstSpec per caller, no allocation per reset beyond the
// datagram the socket keeps until it is sent.
import { Conn } from '@sluice/conntrack';
import { buildTcpRst, type RstSpec, VXLAN_HEADER_LEN, writeVxlan } from '@sluice/wire';
import { ResetWord } from './accounting.ts';
import type { CompiledConfig } from './compile.ts';

/** Room for the largest RST datagram: VXLAN + Ethernet + IPv6 + TCP. */
export const RST_DATAGRAM_MAX = VXLAN_HEADER_LEN + 14 + 4 + 40 + 20;

/**
 * Writes the VXLAN datagram of an RST into `out` at 0; returns its length, or 0 when the real
 * server or the service is gone from `cfg` (nothing to send).
 */
export function writeResetDatagram(
  cfg: CompiledConfig,
  spec: RstSpec,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  clientPort: number,
  svc: number,
  real: number,
  seq: number,
  out: Uint8Array,
): number {
  if (cfg.realPresent[real] === 0 || cfg.realService[real] !== svc) return 0;
  const m = real * 6;
  for (let i = 0; i < 6; i++) {
    spec.dstMac[i] = cfg.realMac[m + i];
    spec.srcMac[i] = cfg.directorMac[i];
  }
  spec.ipVersion = a0 === 0 && a1 === 0 && a2 === 0xffff ? 4 : 6;
  spec.src[0] = a0;
  spec.src[1] = a1;
  spec.src[2] = a2;
  spec.src[3] = a3;
  const v = svc * 4;
  spec.dst[0] = cfg.serviceVip[v];
  spec.dst[1] = cfg.serviceVip[v + 1];
  spec.dst[2] = cfg.serviceVip[v + 2];
  spec.dst[3] = cfg.serviceVip[v + 3];
  spec.srcPort = clientPort;
  spec.dstPort = cfg.servicePort[svc];
  spec.seq = seq;
  writeVxlan(out, 0, cfg.vni);
  return VXLAN_HEADER_LEN + buildTcpRst(spec, out, VXLAN_HEADER_LEN);
}

/**
 * The RST datagram for the connection whose record (Conn offsets, e.g. as removeIfStill copied it)
 * is `rec`: writeResetDatagram with the record's fields. Returns its length, or 0.
 */
export function writeResetForRecord(
  cfg: CompiledConfig,
  spec: RstSpec,
  rec: Int32Array,
  out: Uint8Array,
): number {
  return writeResetDatagram(
    cfg,
    spec,
    rec[Conn.addr0],
    rec[Conn.addr1],
    rec[Conn.addr2],
    rec[Conn.addr3],
    rec[Conn.portService] >>> 16,
    rec[Conn.portService] & 0xffff,
    rec[Conn.real],
    rec[Conn.nextSeq],
    out,
  );
}

/** writeResetDatagram for the i-th RST a Pipeline queued (its `resetQueue`, ResetWord layout). */
export function writeQueuedReset(
  cfg: CompiledConfig,
  spec: RstSpec,
  queue: Int32Array,
  i: number,
  out: Uint8Array,
): number {
  const o = i * ResetWord.words;
  return writeResetDatagram(
    cfg,
    spec,
    queue[o],
    queue[o + 1],
    queue[o + 2],
    queue[o + 3],
    queue[o + ResetWord.port],
    queue[o + ResetWord.service],
    queue[o + ResetWord.real],
    queue[o + ResetWord.seq],
    out,
  );
}
