// VerifiedSourceTable: the client addresses that proved they receive packets sent to them, by
// answering the director's challenge (a SYN-ACK with a wrong acknowledgement number draws an RST
// carrying that number: @sluice/defense). One 32-byte record per address (the whole address, IPv6
// included: a /64 is not proven by one of its hosts), with an expiry. Only the answer to a
// challenge creates an entry, so a spoofer, who never sees the challenge, cannot write here; a
// flood of spoofed SYNs cannot push verified clients out.
//
// Reads are lock-free (the SYN path asks "is this source verified?" once per SYN under pressure):
// a tag match, the key compared word by word, the deadline from the compact deadline array. A read
// racing a writer can miss (the address is challenged once more), never invent a verification for
// an address nobody verified: claim() writes the key before the tag. When both buckets are full,
// the entry closest to expiry makes room (the least recently verified).
//
// An address asked again and silent (reconfirm.ts) is revoked, not removed: it is verified no more
// until it answers, and from then on it is asked connection by connection (`perConnection`). Its
// owner answers the challenge to its own SYN but not probes to other ports (a stealth NAT, a
// firewall that drops what no connection of its own explains), or has gone; either way a SYN
// from it passes only when its port answered lately (the last PORT_SLOTS answers' ports), which
// a spoofer, who never sees the challenge, must guess. A spoofer can push those ports out when
// the owner answers the spoofer's challenges too (a plain host resets what it never opened):
// verify() says so (VERIFY_CROWDED), and the director then probes the address, whose answer
// ends the asking.

import { elapsed, timeReached } from './clock.ts';
import {
  lockNextExpired,
  lockOrClaimSoonestToExpire,
  Rec,
  type TableLayout,
  TableView,
} from './shared-table.ts';

export const Verified = {
  version: Rec.version,
  tag: Rec.tag,
  addr0: 2,
  addr1: 3,
  addr2: 4,
  addr3: 5,
  /** when the address answered (ms clock) */
  verifiedAt: 6,
  /** challenges answered since the entry was made */
  answers: 7,
  /**
   * VerifiedMark bits; bits 8-15: the next `ports` word to write; bits 16-31: the longest round
   * trip (ms) a probe's answer showed while the record lives (0: none measured; roundTripOf)
   */
  marks: 8,
  /** when it was asked again (a probe) and has not answered since (ms clock; 0: none pending) */
  askedAt: 9,
  /** PORT_SLOTS words: an answer's port (low 16 bits) and its time (high 16 bits: ms clock >> 6) */
  ports: 10,
  words: 16,
  /** snapshot only: when the verification expires (ms clock) */
  expires: 16,
  snapshotWords: 17,
} as const;

export const VerifiedMark = {
  /** asked again and silent since its last answer: not verified until it answers */
  revoked: 1,
  /** asked connection by connection: probes to other ports tell nothing about it */
  perConnection: 2,
  /**
   * its round trip was refuted (refuteRoundTrip): one of its connections spoke or was served
   * sooner than the trip allows, and nobody disowned it; the trip is now a ceiling that answers to
   * probes never raise while the record lives
   */
  nearer: 4,
} as const;

/** How isVerifiedFor sees a source for a SYN from one of its ports. */
export const Verification = {
  none: 0,
  verified: 1,
  /** verified, asked connection by connection, and this port has not answered lately */
  askThisConnection: 2,
  /** verified, and this port answered within PORT_ANSWER_MS: this connection's own proof */
  thisConnectionAnswered: 3,
} as const;

/**
 * What an answer answered: the challenge to a SYN (on the SYN's own port), or a probe (a SYN-ACK
 * to another port, which only hosts that reset any unsolicited SYN-ACK answer).
 */
export const AnswerKind = { challenge: 0, probe: 1 } as const;

/** Answers' ports a record remembers: six connections of one client challenged at once. */
export const PORT_SLOTS = 6;
/** VerifiedSourceTable.verify: recorded, pushing out a port's answer still young enough to count. */
export const VERIFY_CROWDED = 2;
/**
 * How long a port's answer lets its SYN through: the retransmission after an answer comes within
 * a round trip on Linux and at the stack's first SYN timeout elsewhere (1 s, RFC 6298; 3 s on
 * stacks that keep RFC 1122's), with a round trip on top.
 */
export const PORT_ANSWER_MS = 4000;
const STAMP_SHIFT = 6;
const ROUND_TRIP_SHIFT = 16;
/** The round trip (ms; 0: none measured) a record's Verified.marks word holds. */
export function roundTripOf(marks: number): number {
  return marks >>> ROUND_TRIP_SHIFT;
}

/** A probe's answer later than this is a lost probe's successor, or a host gone and back: no trip. */
const ROUND_TRIP_TRUSTED_MS = 3000;
const PORT_ANSWER_STAMPS = PORT_ANSWER_MS >> STAMP_SHIFT;
const KEY_WORDS = 4;

export class VerifiedSourceTable extends TableView {
  static override readonly layout: TableLayout = {
    name: 'verified-source table',
    recordWords: Verified.words,
    keyWords: KEY_WORDS,
    deadlineWord: Verified.expires,
  };
  /** The slot lockRecordOf locked. */
  private lockedSlot = -1;

  private setKey(a0: number, a1: number, a2: number, a3: number): void {
    const key = this.core.key;
    key[0] = a0;
    key[1] = a1;
    key[2] = a2;
    key[3] = a3;
    this.core.hashKey();
  }

  /**
   * 1 when the address answered a challenge, was not revoked since, and its verification has not
   * expired at `now`.
   */
  isVerified(a0: number, a1: number, a2: number, a3: number, now: number): number {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return 0;
    if ((this.i32[this.core.recordBase(slot) + Verified.marks] & VerifiedMark.revoked) !== 0) return 0;
    return timeReached(this.i32[this.core.deadlineIndex(slot)], now) ? 0 : 1;
  }

  /**
   * A Verification for a SYN from the address's `port`: none, verified, this port answered within
   * PORT_ANSWER_MS (the SYN retransmitted after its challenge), or not (one asked connection by
   * connection).
   */
  isVerifiedFor(a0: number, a1: number, a2: number, a3: number, port: number, now: number): number {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return Verification.none;
    const i32 = this.i32;
    const base = this.core.recordBase(slot);
    const marks = i32[base + Verified.marks];
    if ((marks & VerifiedMark.revoked) !== 0 || timeReached(i32[this.core.deadlineIndex(slot)], now)) {
      return Verification.none;
    }
    if (this.portAnsweredAt(base, port, now)) return Verification.thisConnectionAnswered;
    return (marks & VerifiedMark.perConnection) === 0
      ? Verification.verified
      : Verification.askThisConnection;
  }

  private portAnsweredAt(base: number, port: number, now: number): boolean {
    const i32 = this.i32;
    // Every port answered at or before the latest answer: an old latest answer clears them all.
    if (elapsed(i32[base + Verified.verifiedAt], now) > PORT_ANSWER_MS) return false;
    const stamp = now >>> STAMP_SHIFT;
    for (let i = 0; i < PORT_SLOTS; i++) {
      const w = i32[base + Verified.ports + i];
      if ((w & 0xffff) === port && w !== 0 && ((stamp - (w >>> 16)) & 0xffff) <= PORT_ANSWER_STAMPS)
        return true;
    }
    return false;
  }

  /**
   * The longest round trip (ms) the address's answers to the director's probes showed (verify),
   * or 0 when none was measured (or the address is not in the table). Lock-free, as isVerified. A
   * spoofer cannot shorten it: only the address's owner answers a probe; the owner can lengthen
   * its own (DEFENSE.md §6).
   */
  roundTrip(a0: number, a1: number, a2: number, a3: number): number {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return 0;
    return roundTripOf(this.i32[this.core.recordBase(slot) + Verified.marks]);
  }

  /**
   * Cuts the address's measured round trip to `atMostMs`, which answers to probes no longer raise
   * while its record lives: one of its connections sent its request, or acknowledged the server's
   * data, sooner than a host as far as measured can (one round trip after its SYN, two: reconfirm.ts
   * nearerThan), and outlived its provisional time undisowned. So the probes' answers were held
   * back (a real-address bot stretching the time its connections go uncounted) or timed long (an
   * answer timed from an earlier, lost probe). A spoofer cannot bring it about for a live owner:
   * the owner resets the spoof inside that time. Returns 1 when it cut it, 0 otherwise (not there,
   * no longer trip, or lock contention: the next entry will do).
   */
  refuteRoundTrip(a0: number, a1: number, a2: number, a3: number, atMostMs: number): number {
    const v = this.lockRecordOf(a0, a1, a2, a3);
    if (v < 0) return 0;
    const core = this.core;
    const slot = this.lockedSlot;
    const base = core.recordBase(slot);
    const marks = this.i32[base + Verified.marks];
    let done = 0;
    const cut = Math.max(1, atMostMs);
    if (roundTripOf(marks) > cut) {
      this.i32[base + Verified.marks] = (marks & 0xffff) | VerifiedMark.nearer | (cut << ROUND_TRIP_SHIFT);
      done = 1;
    }
    core.unlockRecord(slot, v);
    return done;
  }

  /**
   * 1 when the address is verified at `now` and answered at or after `since` (wrap-safe): still
   * there, as far as the director knows, around the time `since` names.
   */
  answeredSince(a0: number, a1: number, a2: number, a3: number, since: number, now: number): number {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return 0;
    if (timeReached(this.i32[this.core.deadlineIndex(slot)], now)) return 0;
    return ((this.i32[this.core.recordBase(slot) + Verified.verifiedAt] - since) | 0) >= 0 ? 1 : 0;
  }

  /**
   * Notes that the address was asked again at `now` (a probe is on its way), unless an earlier ask
   * is still unanswered: askedSilent measures the silence from the first. Lock-free: one word, and
   * a lost race only leaves the older ask.
   */
  noteAsked(a0: number, a1: number, a2: number, a3: number, now: number): void {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return;
    const i32 = this.i32;
    const base = this.core.recordBase(slot);
    const asked = i32[base + Verified.askedAt];
    if (asked !== 0 && ((i32[base + Verified.verifiedAt] - asked) | 0) <= 0) return;
    i32[base + Verified.askedAt] = now === 0 ? 1 : now;
  }

  /**
   * How long the address has been silent since it was first asked again without answering (ms),
   * or -1 when no ask is pending (never asked, or it answered since).
   */
  askedSilent(a0: number, a1: number, a2: number, a3: number, now: number): number {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return -1;
    const base = this.core.recordBase(slot);
    const asked = this.i32[base + Verified.askedAt];
    if (asked === 0 || ((this.i32[base + Verified.verifiedAt] - asked) | 0) > 0) return -1;
    return elapsed(asked, now);
  }

  /**
   * Locks the record of address a0..a3 for an edit (the bucket lock to find it, then its own):
   * its version for unlockRecord, with the slot in `lockedSlot`; -1 when it is not there or a
   * lock is busy (the caller's next chance will do).
   */
  private lockRecordOf(a0: number, a1: number, a2: number, a3: number): number {
    this.setKey(a0, a1, a2, a3);
    const core = this.core;
    if (!core.lockBuckets()) return -1;
    const slot = core.find();
    const v = slot >= 0 ? core.lockIfKey(slot) : -1;
    core.unlockBuckets();
    this.lockedSlot = slot;
    return v;
  }

  /**
   * Ends the address's verification unless it answered at or after `since` (an answer racing this
   * one wins), and asks it connection by connection from its next answer on (the entry stays, so
   * its expiry is unchanged). Returns 1 when it ended it, 0 otherwise (not there, answered, or lock
   * contention: the next caller will do).
   */
  revoke(a0: number, a1: number, a2: number, a3: number, since: number): number {
    const v = this.lockRecordOf(a0, a1, a2, a3);
    if (v < 0) return 0;
    const core = this.core;
    const slot = this.lockedSlot;
    let ended = 0;
    const base = core.recordBase(slot);
    if (((this.i32[base + Verified.verifiedAt] - since) | 0) < 0) {
      this.i32[base + Verified.marks] |= VerifiedMark.revoked | VerifiedMark.perConnection;
      ended = 1;
    }
    core.unlockRecord(slot, v);
    return ended;
  }

  /**
   * Records that the address answered at `now` from `port` (an AnswerKind); valid until
   * `now + ttlMs`. An answer to a probe clears `perConnection`; a challenge's answer from an
   * address not verified until now sets it: whoever sits there answers for its own connections,
   * and until it answers a probe nothing says it would reset a spoofer's (a stealth NAT drops
   * the server's SYN-ACK for a connection it never opened). Returns 1 when it is recorded (or
   * refreshed), VERIFY_CROWDED when it is, and the address is asked connection by connection,
   * and its port pushed out one that had answered within PORT_ANSWER_MS (more answers than the
   * record remembers: a spoofer using the address draws a challenge answer from its owner for
   * each SYN, and the owner's own port is lost unless a probe's answer ends the asking), once
   * in PORT_SLOTS answers; 0 on lock contention (the next answer will do). A probe's answer also
   * records its round trip (the longest while the record lives), from the first ask still
   * unanswered or else `probedAt` (when the director last sent the source a probe, from the source
   * table; 0: unknown).
   */
  verify(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
    kind: number,
    now: number,
    ttlMs: number,
    probedAt = 0,
  ): number {
    this.setKey(a0, a1, a2, a3);
    const core = this.core;
    const i32 = this.i32;
    const deadline = (now + ttlMs) | 0;
    const v = lockOrClaimSoonestToExpire(core);
    if (v < 0) return 0;
    const slot = core.lockedSlot;
    const base = core.recordBase(slot);
    let marks = i32[base + Verified.marks];
    const expired = timeReached(i32[core.deadlineIndex(slot)], now);
    const inForce = i32[base + Verified.verifiedAt] !== 0 && !expired;
    let roundTrip = inForce ? roundTripOf(marks) : 0;
    if (!inForce) marks &= ~VerifiedMark.nearer;
    if (kind === AnswerKind.probe) {
      marks &= ~VerifiedMark.perConnection;
      // Timed from the first ask still unanswered (noteAsked), else from the latest probe. The
      // director asks a verified source again every reconfirmAfterMs while SYNs come in its name
      // (a spoofer's too), so several probes fly at once and an answer may be an earlier probe's:
      // timed from a later one, hosts 400-700 ms away measured 0-199 ms (simulator,
      // spoof-verified). Too short is the harmful error (the owner's reset comes after the
      // provisional time), too long only keeps the source's entries uncounted longer: so the
      // record keeps the longest trip measured while it lives.
      const asked = i32[base + Verified.askedAt];
      const pending = inForce && asked !== 0 && ((i32[base + Verified.verifiedAt] - asked) | 0) <= 0;
      const sent = pending ? asked : probedAt;
      // Within the millisecond it is 1: measured, and as near as the clock tells.
      const rtt = sent === 0 ? -1 : elapsed(sent, now) || 1;
      if (rtt > roundTrip && rtt <= ROUND_TRIP_TRUSTED_MS && (marks & VerifiedMark.nearer) === 0) {
        roundTrip = rtt;
      }
    } else if ((marks & VerifiedMark.revoked) !== 0 || expired) {
      marks |= VerifiedMark.perConnection;
    }
    marks &= ~VerifiedMark.revoked;
    if (elapsed(i32[base + Verified.verifiedAt], now) > PORT_ANSWER_MS) {
      // Its ports' stamps are 16 bits: an old burst's must not look fresh after they wrap.
      for (let i = 0; i < PORT_SLOTS; i++) i32[base + Verified.ports + i] = 0;
    }
    const next = (marks >>> 8) & 0xff;
    const old = i32[base + Verified.ports + next];
    const crowded =
      (marks & VerifiedMark.perConnection) !== 0 &&
      old !== 0 &&
      (((now >>> STAMP_SHIFT) - (old >>> 16)) & 0xffff) <= PORT_ANSWER_STAMPS;
    i32[base + Verified.ports + next] = (port & 0xffff) | ((now >>> STAMP_SHIFT) << 16);
    marks =
      (marks & 0xff) | ((next + 1 === PORT_SLOTS ? 0 : next + 1) << 8) | (roundTrip << ROUND_TRIP_SHIFT);
    i32[base + Verified.marks] = marks;
    i32[base + Verified.verifiedAt] = now;
    const answers = (i32[base + Verified.answers] + 1) | 0;
    i32[base + Verified.answers] = answers;
    i32[core.deadlineIndex(slot)] = deadline;
    core.unlockRecord(slot, v);
    return crowded && answers % PORT_SLOTS === 0 ? VERIFY_CROWDED : 1;
  }

  /** The slot holding the address, or -1 (lock-free, as isVerified). */
  find(a0: number, a1: number, a2: number, a3: number): number {
    this.setKey(a0, a1, a2, a3);
    return this.core.find();
  }

  /** The expiry deadline (ms clock) of an occupied slot. */
  deadlineOf(slot: number): number {
    return this.i32[this.core.deadlineIndex(slot)];
  }

  /** Removes expired entries among the next `budget` slots of a shared cursor; returns how many. */
  expireStep(now: number, budget: number): number {
    const core = this.core;
    core.beginSweep(budget);
    let removed = 0;
    for (let v = lockNextExpired(core, now); v >= 0; v = lockNextExpired(core, now)) {
      const slot = core.lockedSlot;
      core.clear(slot);
      core.unlockRecord(slot, v);
      removed++;
    }
    return removed;
  }

  /** A consistent copy of a slot's record (Verified offsets, snapshotWords long); false if busy. */
  readRecord(slot: number, out: Int32Array): boolean {
    return this.core.readRecord(slot, out);
  }
}
