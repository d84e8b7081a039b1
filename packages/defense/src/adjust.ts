// The priority of a connection as a function of its record and the time: which band it is in
// (verified or not, weights.ts), the score its SYN earned inside the unverified band (the record's
// initial-priority byte), what the client's packets showed that a spoofer could not have forged
// for a verified source (the server's progress in its acknowledgement numbers), and time: idle
// seconds, a handshake or a request still missing after a grace period; plus `extra` points from
// the re-scorer (its source holding more than its share).
//
// Why a function of the record and not a running total: the packet path (idle = 0) and the
// background re-scorer (real idle time) compute the same thing, so neither undoes the other, an
// idle connection that wakes up climbs back at once, and nothing accumulates. The result stays in
// its band: nothing a client sends moves an unverified entry above a verified one. Priority 0
// belongs to operator rules; a scored connection never reaches it.

import { ConnBit, ConnFlag } from '@sluice/conntrack';
import { PRIORITY_LOWEST } from './priority-rules.ts';
import { PRIORITY_UNVERIFIED_WORST, type PriorityWeights } from './weights.ts';

/** Best priority a scored (non-rule) connection can reach; 0 belongs to operator rules. */
export const PRIORITY_BEST_SCORED = 1;

/** ConnFlag bits of a connection the client closed or reset: nothing left to keep. */
const GONE = ConnFlag.fin | ConnFlag.rst;

const KEEP_ALIVE_MASK = ConnFlag.progress | ConnFlag.awaiting | ConnFlag.ackForged | GONE | ConnFlag.udp;

/**
 * A keep-alive connection: open TCP, answered (its client acknowledged server data, none of it
 * forged), and nothing asked since. Idle `weights.servedIdleMs`, it takes `weights.servedIdle`
 * instead of its progress credit; taken at capacity, it marks no source and counts in
 * sluice_keepalive_connections_closed_total.
 */
export function isKeepAlive(flagsSyn: number): boolean {
  return (flagsSyn & KEEP_ALIVE_MASK) === ConnFlag.progress;
}

/**
 * A keep-alive connection idle `servedIdleMs` (weights.servedIdleMs; 0: the rule is off): it ranks
 * below a new client (PriorityAdjuster.priority) and takes no share of its source (rescorer.ts).
 */
export function isIdleKeepAlive(flagsSyn: number, idleMs: number, servedIdleMs: number): boolean {
  return servedIdleMs > 0 && idleMs >= servedIdleMs && isKeepAlive(flagsSyn);
}

/**
 * Whether a record at priority `prio` with flag word `flagsSyn` keeps it without re-scoring: a
 * rule's priority 0 is for the live connection, not its record. Once closed, the record is the
 * lowest like any closed one, anyone's to reuse (an attacker spoofing a verified partner's address
 * at 20k connections a second filled the table with records its resets closed, for their 10 s).
 */
export function keepsPriorityZero(prio: number, flagsSyn: number): boolean {
  return prio === 0 && (flagsSyn & GONE) === 0;
}

/**
 * How long after its SYN an entry without a completed handshake takes weights.halfOpen. Unverified:
 * halfOpenGraceMs (a slow round trip and the first SYN retransmission). Verified: halfOpenHoldMs,
 * the round trip within which a client's ACK follows the server's SYN-ACK, when shorter. A
 * verified client's handshake completes within it (not always within provisionalMs: with every
 * host 400-700 ms away, sinking them at 500 ms let spoof-verified at 100k pps shed valid clients,
 * 0.773 on the tuning seed against 0.888 at 1 s); past it the entry is a live host's that will not
 * complete (a SYN flood from the host's own
 * address, whose resets the director read late or never), or a client whose SYN-ACK was lost. It
 * holds no slot on its server (reconfirm.ts HOLDS_AFTER_PROVISIONAL), and at the verified base it
 * tied with every new verified connection: the flood's entries filled the connection table and
 * returning clients were refused `table-full` (simulator, `--param floodIgnoresSynAck=1`:
 * 0.79-0.93 while they were not held and not penalised).
 */
export function halfOpenGraceMs(w: PriorityWeights, verified: boolean): number {
  return verified && w.halfOpenHoldMs < w.halfOpenGraceMs ? w.halfOpenHoldMs : w.halfOpenGraceMs;
}

export class PriorityAdjuster {
  readonly verifiedBase: number;
  readonly unverifiedBase: number;
  private readonly progressCredit: number;
  private readonly ackForged: number;
  private readonly stall: number;
  private readonly stallGraceMs: number;
  private readonly creditHoldMs: number;
  private readonly servedIdle: number;
  private readonly servedIdleMs: number;
  private readonly halfOpen: number;
  private readonly halfOpenGraceMs: number;
  private readonly verifiedHalfOpenGraceMs: number;
  private readonly silent: number;
  private readonly silentGraceMs: number;
  private readonly idlePerMs: number;
  private readonly idleMax: number;
  readonly serverKeepAliveMs: number;

  constructor(w: PriorityWeights) {
    this.verifiedBase = w.verifiedBase;
    this.unverifiedBase = w.unverifiedBase;
    this.progressCredit = w.progress;
    this.ackForged = w.ackForged;
    this.stall = w.stall;
    this.stallGraceMs = w.stallGraceMs;
    this.creditHoldMs = w.progressHoldMs;
    this.servedIdle = w.servedIdle;
    this.servedIdleMs = w.servedIdleMs;
    this.halfOpen = w.halfOpen;
    this.halfOpenGraceMs = halfOpenGraceMs(w, false);
    this.verifiedHalfOpenGraceMs = halfOpenGraceMs(w, true);
    this.silent = w.silent;
    this.silentGraceMs = w.silentGraceMs;
    this.idlePerMs = w.idlePenaltyPerSecond / 1000;
    this.idleMax = w.idlePenaltyMax;
    this.serverKeepAliveMs = w.serverKeepAliveMs;
  }

  /**
   * The server has closed this connection by its keep-alive timeout: it answered (progress), the
   * client sent nothing since the answer, and it has been idle that long (serverKeepAliveMs set).
   */
  closedByServer(flagsSyn: number, idleMs: number): boolean {
    return (
      this.serverKeepAliveMs > 0 &&
      idleMs >= this.serverKeepAliveMs &&
      (flagsSyn & (ConnFlag.progress | ConnFlag.awaiting | ConnFlag.udp)) === ConnFlag.progress
    );
  }

  /**
   * Priority of a connection whose record holds `initial` (the rule's priority for rule-fixed
   * entries, else the points its SYN earned: its shape and rate inside the unverified band, its
   * source's record in either band), flag word `flagsSyn` (ConnFlag in the low 16 bits, ConnBit in
   * the top byte, with its source's current penalty), `ageMs` since its SYN, `idleMs` since its
   * last packet, `awaitingMs` since the client's first unanswered payload (read when
   * ConnFlag.awaiting is set). Pure and allocation-free.
   */
  priority(initial: number, flagsSyn: number, ageMs: number, idleMs: number, awaitingMs: number): number {
    // Closed (or reset) by the client, or by the server's keep-alive timeout: the real server has
    // freed or is freeing the slot, so losing it costs nobody anything.
    if ((flagsSyn & GONE) !== 0 || this.closedByServer(flagsSyn, idleMs)) return PRIORITY_LOWEST;
    const verified = (flagsSyn & ConnFlag.verified) !== 0;
    if (
      (flagsSyn & ConnFlag.priorityFixed) !== 0 &&
      (verified || (flagsSyn & ConnBit.ruleNeedsVerify) === 0)
    ) {
      return initial;
    }
    // A rule waiting for its source to be verified is scored like anyone (its SYN's score was not
    // kept, so it counts as a kernel-shaped one).
    const fixedPending = (flagsSyn & ConnFlag.priorityFixed) !== 0;
    let p = (verified ? this.verifiedBase : this.unverifiedBase) + (fixedPending ? 0 : initial);
    if ((flagsSyn & ConnFlag.udp) === 0) {
      if ((flagsSyn & ConnFlag.handshake) === 0) {
        if (ageMs >= (verified ? this.verifiedHalfOpenGraceMs : this.halfOpenGraceMs)) p += this.halfOpen;
      } else if ((flagsSyn & ConnFlag.data) === 0 && ageMs >= this.silentGraceMs) {
        p += this.silent;
      }
      const awaiting = (flagsSyn & ConnFlag.awaiting) !== 0;
      // Its server's word (the load agent saw it send no data for servedIdleMs): nothing is being
      // served, whatever the client's acknowledgements say (a forged ACK of unsent data is
      // dropped by the server, RFC 9293 §3.10.7.4, and costs the bot nothing).
      const quiet = (flagsSyn & ConnBit.serverQuiet) !== 0;
      if ((flagsSyn & ConnFlag.ackForged) !== 0) p += this.ackForged;
      else if ((flagsSyn & ConnFlag.progress) !== 0) {
        if (awaiting) {
          // Served, and not waiting long for its next answer: a request the server has not
          // answered for a second has nothing being served right now (a trickled next request
          // that never ends), so the credit waits for the next answer; so does one its server
          // says it has not answered.
          if (awaitingMs < this.creditHoldMs && !quiet) p -= this.progressCredit;
        } else if (this.servedIdleMs > 0 && idleMs >= this.servedIdleMs) {
          // Answered, nothing asked since, idle: a keep-alive connection, below a new client.
          p += this.servedIdle;
        } else if (quiet) {
          // Active by its client's packets, idle by its server's: acknowledgements of data the
          // server never sent, forged like those that go backward.
          p += this.ackForged;
        } else {
          p -= this.progressCredit;
        }
      }
      if (awaiting && (awaitingMs >= this.stallGraceMs || (flagsSyn & ConnBit.holdsUp) !== 0))
        p += this.stall;
    }
    if (idleMs > 0) {
      const idle = Math.floor(idleMs * this.idlePerMs);
      p += idle > this.idleMax ? this.idleMax : idle;
    }
    p += (flagsSyn & ConnBit.sourcePenaltyMask) >>> ConnBit.sourcePenaltyShift;
    // Stay in the band.
    if (verified) {
      const worst = this.unverifiedBase - 1;
      return p < PRIORITY_BEST_SCORED ? PRIORITY_BEST_SCORED : p > worst ? worst : p;
    }
    const best = this.unverifiedBase;
    return p < best ? best : p > PRIORITY_UNVERIFIED_WORST ? PRIORITY_UNVERIFIED_WORST : p;
  }
}
