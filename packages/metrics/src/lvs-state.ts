// The LVS defense modes for `sluice_lvs_defense_mode{sysctl}` and `sluice_lvs_drop_rate`, as
// `sysctl net.ipv4.vs.{drop_entry,drop_packet,secure_tcp}` would show them: 0 off, 1 automatic
// and off, 2 automatic and on, 3 always on.
//
// Every LvsDefense of a director is configured from the same settings (lvsSettings in
// @sluice/defense) and updated once a second from the same shared table with the same threshold,
// so the main thread's instance, which runs drop_entry, shows the modes the packet workers apply
// (up to the second by which their updates may differ).
import type { LvsDefense } from '@sluice/defense';

export interface LvsDefenseState {
  /** drop_entry's sysctl value, 0..3. */
  dropEntry: number;
  /** drop_packet's sysctl value, 0..3. */
  dropPacket: number;
  /** secure_tcp's sysctl value, 0..3. */
  secureTcp: number;
  /** The kernel's drop_rate: drop_packet refuses 1 in this many new connections; 0 = none. */
  dropRate: number;
}

export const LVS_OFF: LvsDefenseState = { dropEntry: 0, dropPacket: 0, secureTcp: 0, dropRate: 0 };

/** The LVS state in force, read from an instance configured with lvsSettings (the main thread's). */
export function lvsDefenseState(lvs: LvsDefense): LvsDefenseState {
  return {
    dropEntry: lvs.dropEntryMode,
    dropPacket: lvs.dropPacketMode,
    secureTcp: lvs.secureTcpMode,
    dropRate: lvs.dropRate,
  };
}
