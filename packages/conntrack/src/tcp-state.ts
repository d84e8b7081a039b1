// The director-side TCP state machine of IPVS, followed table for table from Linux
// net/netfilter/ipvs/ip_vs_proto_tcp.c (tcp_states, tcp_states_dos, tcp_timeouts).
// Sluice forwards by direct routing over VXLAN: replies go from the real server straight to the
// client, so the director sees the client's packets only. IPVS marks such connections
// IP_VS_CONN_F_NOOUTPUT and uses the INPUT-ONLY rows; so does Sluice, always.

/** IPVS's TCP states, numbered as in the kernel (IP_VS_TCP_S_*). */
export const TcpState = {
  none: 0,
  established: 1,
  synSent: 2,
  synRecv: 3,
  finWait: 4,
  timeWait: 5,
  close: 6,
  closeWait: 7,
  lastAck: 8,
  listen: 9,
  synAck: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_COUNT = 11;

/** Names as ipvsadm -L -c prints them. */
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'SYNACK',
];

/** Default timeouts in milliseconds (tcp_timeouts, HZ = 1 s). */
export const DEFAULT_TCP_TIMEOUTS_MS: readonly number[] = [
  2_000, // NONE
  900_000, // ESTABLISHED
  120_000, // SYN_SENT
  60_000, // SYN_RECV
  120_000, // FIN_WAIT
  120_000, // TIME_WAIT
  10_000, // CLOSE
  60_000, // CLOSE_WAIT
  30_000, // LAST_ACK
  120_000, // LISTEN
  120_000, // SYNACK
];

/** UDP entries have one state and IPVS's 300 s timeout. */
export const DEFAULT_UDP_TIMEOUT_MS = 300_000;

/** Event rows in the kernel's order, chosen by tcp_state_idx(): RST, then SYN, then FIN, then ACK. */
export const TcpEvent = { syn: 0, fin: 1, ack: 2, rst: 3, none: -1 } as const;

const ES = TcpState.established;
const SS = TcpState.synSent;
const SR = TcpState.synRecv;
const FW = TcpState.finWait;
const TW = TcpState.timeWait;
const CL = TcpState.close;
const CW = TcpState.closeWait;
const LA = TcpState.lastAck;
const LI = TcpState.listen;
const SA = TcpState.synAck;

// INPUT-ONLY rows; columns are the current state sNO..sSA.
// biome-ignore format: the table mirrors the kernel's layout
const NORMAL = new Uint8Array([
  /*syn*/ SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR,
  /*fin*/ CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW,
  /*ack*/ CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES,
  /*rst*/ CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL,
]);

// secure_tcp (tcp_states_dos) INPUT-ONLY rows. A SYN from NONE goes to SYNACK, not SYN_RECV.
// biome-ignore format: the table mirrors the kernel's layout
const SECURE = new Uint8Array([
  /*syn*/ SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA,
  /*fin*/ CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW,
  /*ack*/ CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES,
  /*rst*/ CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL,
]);

/** The kernel's tcp_state_idx(): which row a segment's flags select, or -1 for none. */
export function tcpEventOf(flags: number): number {
  if ((flags & 0x04) !== 0) return TcpEvent.rst;
  if ((flags & 0x02) !== 0) return TcpEvent.syn;
  if ((flags & 0x01) !== 0) return TcpEvent.fin;
  if ((flags & 0x10) !== 0) return TcpEvent.ack;
  return TcpEvent.none;
}

/**
 * Next state for a client segment. As in set_tcp_state(), a segment with no usable flag moves
 * the entry to CLOSE. `secure` selects the secure_tcp table.
 */
export function nextTcpState(state: number, flags: number, secure: boolean): number {
  const ev = tcpEventOf(flags);
  if (ev < 0) return TcpState.close;
  return (secure ? SECURE : NORMAL)[ev * TCP_STATE_COUNT + state];
}
