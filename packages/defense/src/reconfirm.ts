// Reconfirmation: whether a verified source's provisional connection leaves its provisional time
// in the verified band (weights.provisionalMs, weights.reconfirmAfterMs). Its source must have
// answered the director recently around the connection's SYN. If it was asked and stayed silent,
// its owner is gone, never sent the SYN, or sits behind a network that drops probes: out of the
// verified band, and asked connection by connection from its next answer on. If it was not asked
// (the probe budget was spent), nothing is decided yet: the entry stays provisional, not counted,
// so an attacker who spends the budget gains nothing by it. Used by the packet path and the
// re-scorer; allocation-free.

import { ConnBit, ConnFlag, type VerifiedSourceTable } from '@sluice/conntrack';
import { SYN_SCORE_MAX } from './scorer.ts';

/**
 * The points a demoted connection keeps instead of its SYN's: the last of the unverified band.
 * Its source was asked and stayed silent, so it is a spoof (the owner gone, or never its SYN) or
 * a connection of a client behind a stealth NAT opened while nothing was challenged; under a
 * spoofer of gone owners the demoted spoofs tied with valid clients' unverified connections (both
 * kernel-shaped) and the shedder took both (simulator, every client behind a stealth NAT:
 * 2-3% of valid connections reset).
 */
export const DEMOTED_POINTS = SYN_SCORE_MAX;

/**
 * What a provisional entry must have when its provisional time ends to start holding a slot on
 * its real server: a completed handshake, or a UDP flow. A half-open one holds no worker there (its
 * SYN-ACK waits in the server's SYN queue, or nowhere with syncookies) and starts holding when its
 * ACK arrives, as a half-open entry released past its grace does. Held at the end of
 * its provisional time, a real-address flooder's half-open entries whose resets the director read
 * late (its socket queue hundreds of milliseconds deep) or never (frames dropped at its ingest
 * ceiling) filled the real servers' counts at the flood's onset, at the verified base where the
 * shedder cannot take them, and it shed valid clients in their place (lab, `syn-flood-real`
 * --quick: 3 of 6 runs reset 0.8-1.7% of valid connections, 2026-12-07).
 */
export const HOLDS_AFTER_PROVISIONAL = ConnFlag.handshake | ConnFlag.udp;

export const Reconfirm = {
  /** answered around the SYN: verified, counted */
  keep: 1,
  /** asked and silent: unverified, counted, and the source's verification ends */
  demote: 0,
  /** not asked yet (or the answer may still be on its way): stays provisional */
  wait: -1,
  /**
   * its source's owner is farther away than the provisional time: its reset to a spoofer's entry
   * may still be on its way, so it stays provisional, with nothing to ask
   */
  roundTrip: -2,
} as const;

/**
 * How long the provisional time of a connection from a source whose probe answered in `rttMs`
 * lasts: `provisionalMs`, or one and a half round trips when that is longer (the owner's reset to
 * a spoofer's SYN comes a round trip after it, and its answer to a probe as long), at most `maxMs`.
 */
export function provisionalFor(rttMs: number, provisionalMs: number, maxMs: number): number {
  const need = rttMs + (rttMs >>> 1);
  return Math.max(provisionalMs, Math.min(need, maxMs));
}

/**
 * The round trip a connection `age` ms old (its provisional time just ended, undisowned) shows its
 * source to be within, when that is well inside the source's measured `rttMs`; else 0. A host
 * sends its first payload a round trip after its SYN at the soonest (it waits for the server's
 * SYN-ACK), and acknowledges the server's data two round trips after it. A real client's trips
 * vary, and the measured one is the longest seen: so a first payload counts only under half the
 * trip, and the trip it leaves is twice its time; data acknowledged within the provisional time
 * (one and a half trips) leaves half the age. `spokeAfter` is how long after the SYN the wait
 * under way began (Conn.awaitingSince − firstSeen), read only while a request, and nothing the
 * server sent, is waited on.
 */
export function nearerThan(rttMs: number, age: number, flagsSyn: number, spokeAfter: number): number {
  if ((flagsSyn & ConnFlag.progress) !== 0) return age < 2 * rttMs ? Math.max(1, age >>> 1) : 0;
  const request = ConnFlag.awaiting | ConnFlag.data;
  if ((flagsSyn & request) !== request || (flagsSyn & ConnBit.windowShut) !== 0) return 0;
  if (spokeAfter < 0 || 2 * spokeAfter >= rttMs) return 0;
  return Math.max(1, 2 * spokeAfter);
}

/**
 * The verdict for the provisional connection of source a0..a3 whose SYN came at `firstSeen`:
 * `reconfirmMs` how recent an answer must be (before the SYN), `waitMs` how long a probe's answer
 * may take (weights.provisionalMs), `maxMs` the longest a far source's provisional time may last
 * (weights.provisionalMaxMs: provisionalFor its measured round trip; before it ends, `roundTrip`).
 * On `demote` the source's verification ends here (VerifiedSourceTable.revoke). The silence is
 * timed from the first probe it left unanswered, not the latest: a spoofer sending from the
 * address draws a probe every reconfirmMs, and timing from the latest, the verdict waited for as
 * long as it kept sending (simulator, spoof-verified behind stealth NATs at 20k pps: thousands of
 * its entries provisional, uncounted, for seconds). No verified-source table: `keep`.
 */
export function reconfirmVerdict(
  verified: VerifiedSourceTable | null,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  firstSeen: number,
  now: number,
  reconfirmMs: number,
  waitMs: number,
  maxMs: number,
  flagsSyn: number,
  awaitingSince: number,
): number {
  if (verified === null) return Reconfirm.keep;
  const rtt = verified.roundTrip(a0, a1, a2, a3);
  const provisional = rtt === 0 ? waitMs : provisionalFor(rtt, waitMs, maxMs);
  const age = (now - firstSeen) | 0;
  if (age < provisional) return Reconfirm.roundTrip;
  if (provisional > waitMs) {
    const nearer = nearerThan(rtt, age, flagsSyn, (awaitingSince - firstSeen) | 0);
    if (nearer !== 0) verified.refuteRoundTrip(a0, a1, a2, a3, nearer);
  }
  const since = (firstSeen - reconfirmMs) | 0;
  if (verified.answeredSince(a0, a1, a2, a3, since, now) === 1) return Reconfirm.keep;
  if (verified.askedSilent(a0, a1, a2, a3, now) < provisional) return Reconfirm.wait;
  verified.revoke(a0, a1, a2, a3, since);
  return Reconfirm.demote;
}
