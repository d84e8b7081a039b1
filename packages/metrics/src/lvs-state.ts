// The LVS defense modes for `sluice_lvs_defense_mode{sysctl}` and `sluice_lvs_drop_rate`, as
// `sysctl net.ipv4.vs.{drop_entry,drop_packet,secure_tcp}` would show them: 0 off, 1 automatic
// and off, 2 automatic and on, 3 always on.
//
// Where they live decides how they are read. drop_entry runs on the director's main thread (one
// LvsDefense, ticked once a second), so its mode is read from that instance as it is.
// drop_packet and secure_tcp act per packet, so each packet worker keeps its own LvsDefense,
// which the main thread cannot see; the main thread's instance is configured with those two
// off. But the workers' modes are a function of what they all read: the configured mode, and
// whether the shared connection table has fewer than amemthresh free entries — which the main
// thread's instance measures once a second from the same table with the same threshold. So the
// workers' state is recomputed here from that measurement with LvsDefense's own
// update_defense_level(), not a copy of its rules: what the metric shows is what the workers
// compute, up to the one second by which their updates and the main thread's may differ.
import { LvsDefense, type LvsDefenseConfig } from '@sluice/defense';

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

/**
 * The LVS state in force on the packet workers. `configured` is the running config's LVS settings
 * (null when the strategy is not an LVS one: all off); `observer` the main thread's instance,
 * which runs drop_entry and measures the table once a second.
 */
export function lvsDefenseState(configured: LvsDefenseConfig | null, observer: LvsDefense): LvsDefenseState {
  if (configured === null) return { ...LVS_OFF, dropEntry: observer.dropEntryMode };
  const workers = new LvsDefense(observer.capacity, {
    dropPacket: configured.dropPacket,
    secureTcp: configured.secureTcp,
    // The observer holds the threshold in force (the config's, or the default for a 0).
    amemthresh: observer.amemthresh,
    amDroprate: configured.amDroprate,
  });
  workers.updateAvailable(observer.lastUpdate, observer.available);
  return {
    dropEntry: observer.dropEntryMode,
    dropPacket: workers.dropPacketMode,
    secureTcp: workers.secureTcpMode,
    dropRate: workers.dropRate,
  };
}
