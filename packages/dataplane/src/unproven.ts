// Unproven connections: TCP entries whose client has sent no payload yet. Under direct routing a
// blind ACK makes a spoofed connection look established at the director while it sits in the real
// server's SYN backlog, so the defense counts these per real server (RealServerCounters.unproven,
// kept by the pipeline), bounds them (defense.unprovenShare) and takes them before clients that
// spoke. The rules, in one place for the pipeline (displacement) and the shedder.
import { ConnFlag } from '@sluice/conntrack';
import type { RealServerCounters } from '@sluice/schedulers';

/** An entry with these ConnFlag bits is counted in its real server's Unproven count. */
export function countsUnproven(connFlags: number): boolean {
  return (connFlags & (ConnFlag.data | ConnFlag.udp)) === 0;
}

/**
 * A connection whose client has sent payload and not closed: the kind shedding spares while
 * unproven ones can make the room. A closed one costs nobody anything.
 */
export function isProven(connFlags: number): boolean {
  return !countsUnproven(connFlags) && (connFlags & (ConnFlag.fin | ConnFlag.rst)) === 0;
}

/**
 * True when a listed victim with `connFlags` on real server `real` is to be passed over: it has
 * spoken, and the server holds at least `guard` unproven connections (the room needed), which go
 * first; a victim listing is up to one re-scorer pass old and may not name them yet. `guard` 0:
 * never take a proven one; -1: no such rule.
 */
export function sparesProven(
  reals: RealServerCounters,
  real: number,
  connFlags: number,
  guard: number,
): boolean {
  return guard >= 0 && isProven(connFlags) && Atomics.load(reals.unproven, real) >= guard;
}
