// AnsweredPortTable: the client ports that answered the director's challenge lately, keyed by the
// whole address and the port. A source asked connection by connection (a stealth NAT, a firewall
// that passes only what its own connections explain: VerifiedSourceTable's `perConnection`) is let
// through for a SYN only when that SYN's own port answered its challenge; the SYN comes again a
// round trip after the answer on Linux, at the stack's retransmission timeout (1 s, or 3 s)
// elsewhere. The verified-source record remembers the last PORT_SLOTS answers' ports, which is
// enough for one host; a carrier NAT's public address answers for all of its users, and once more
// answers than that come within one retransmission timeout, its users' ports were pushed out
// before their SYNs came again, each of those SYNs was challenged again and answered again, which
// pushed out more: in the simulator, twenty new connections a second from one such address with
// retransmission-timeout stacks were all refused. Here every answer has its own entry for as long
// as a retransmission can take (PORT_ANSWER_MS), so the line is the table's size, not an address's.
//
// Only an answer (the RST carrying a cookie only the challenge's receiver saw) writes here: a
// spoofer who never sees the challenge cannot. The answer's sequence number is kept too: it is the
// challenge's acknowledgement number, which lies less than CHALLENGE_ACK_SPAN behind the challenged
// SYN's sequence number, and a stack sends its SYN again with the same one; so a SYN counts only if
// it is that SYN again, and a spoofer who guessed a port that answered must also guess the sequence
// number to within 2^15 (once in 2^17). Reads are lock-free (tag, key, deadline), as in the
// verified-source table; a read racing a writer can miss (the SYN is challenged once more), never
// invent an answer. When both buckets are full the entry closest to expiry makes room: an expired
// one first, so the table needs no sweep.
//
// A NAT may give the SYN sent again another port: the client's reset (its answer) closes the
// router's entry for the connection, the SYN opens a new one, and a Linux router keeps the
// client's port only if no other connection of the same public address to the same server holds
// it (a carrier NAT's public address, whose many users' closed entries linger: in the lab, 4 to 7%
// of the connections from 64 hosts behind each of 4 addresses never got through, every challenge
// answered from one port and the SYN sent again from another). Each answer is therefore kept a
// second time, keyed by the address and its sequence number's upper bits, and lets through one
// SYN from any port of the address whose sequence number is the answered one's (`takeBySeq`):
// one SYN per answer, which a spoofer must hit to within 2^15 of a sequence number it never saw.

import { timeReached } from './clock.ts';
import { lockKey, lockOrClaimSoonestToExpire, Rec, type TableLayout, TableView } from './shared-table.ts';

/**
 * A challenge's acknowledgement number lies this little behind the challenged SYN's sequence
 * number (at most CHALLENGE_ACK_SPAN - 1; @sluice/defense's Challenger places it there), so the
 * answer's sequence number says which SYN was answered.
 */
export const CHALLENGE_ACK_SPAN = 0x8000;

export const AnsweredPort = {
  version: Rec.version,
  tag: Rec.tag,
  addr0: 2,
  addr1: 3,
  addr2: 4,
  addr3: 5,
  /** the port (low 16 bits); or, for the same answer kept by its sequence number, SEQ_KEY and its upper bits */
  port: 6,
  /** the answer's sequence number: the challenge's acknowledgement number */
  seq: 7,
  words: 8,
  /** snapshot only: when the answer stops counting (ms clock; it answered `ttlMs` before) */
  expires: 8,
  snapshotWords: 9,
} as const;

const KEY_WORDS = 5;
/** The last key word of an entry keyed by sequence number: this bit, and the number's upper 17 bits. */
const SEQ_KEY = 0x40000000;
const SEQ_SHIFT = 15;

export class AnsweredPortTable extends TableView {
  static override readonly layout: TableLayout = {
    name: 'answered-port table',
    recordWords: AnsweredPort.words,
    keyWords: KEY_WORDS,
    deadlineWord: AnsweredPort.expires,
  };

  /** `last`: the port (0..0xffff), or SEQ_KEY | a sequence number's upper bits. */
  private setKey(a0: number, a1: number, a2: number, a3: number, last: number): void {
    const key = this.core.key;
    key[0] = a0;
    key[1] = a1;
    key[2] = a2;
    key[3] = a3;
    key[4] = last;
    this.core.hashKey();
  }

  /**
   * 1 when `port` of the address answered, within the `ttlMs` it was recorded with, the challenge
   * to a SYN whose sequence number was `synSeq` (this SYN, sent again).
   */
  answered(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
    synSeq: number,
    now: number,
  ): number {
    this.setKey(a0, a1, a2, a3, port & 0xffff);
    const core = this.core;
    const slot = core.find();
    if (slot < 0) return 0;
    if (timeReached(this.i32[core.deadlineIndex(slot)], now)) return 0;
    return (synSeq - this.i32[core.recordBase(slot) + AnsweredPort.seq]) >>> 0 < CHALLENGE_ACK_SPAN ? 1 : 0;
  }

  /**
   * 1 when the address answered, within its time, the challenge to a SYN whose sequence number
   * was `synSeq`, from whatever port (a NAT that gave the SYN sent again another one); the answer
   * is used up, so it lets through one SYN. The answer's sequence number lies less than
   * CHALLENGE_ACK_SPAN behind `synSeq`, so in its bucket of 2^15 or the one before.
   */
  takeBySeq(a0: number, a1: number, a2: number, a3: number, synSeq: number, now: number): number {
    const core = this.core;
    const i32 = this.i32;
    const bucket = synSeq >>> SEQ_SHIFT;
    for (let back = 0; back < 2; back++) {
      this.setKey(a0, a1, a2, a3, SEQ_KEY | ((bucket - back) & (0xffffffff >>> SEQ_SHIFT)));
      if (core.find() < 0) continue;
      const v = lockKey(core, 4);
      if (v < 0) continue;
      const slot = core.lockedSlot;
      const fits =
        !timeReached(i32[core.deadlineIndex(slot)], now) &&
        (synSeq - i32[core.recordBase(slot) + AnsweredPort.seq]) >>> 0 < CHALLENGE_ACK_SPAN;
      if (fits) core.clear(slot);
      core.unlockRecord(slot, v);
      if (fits) return 1;
    }
    return 0;
  }

  /**
   * Records that `port` of the address answered at `now` with sequence number `seq` (the
   * challenge's acknowledgement number), counting until `now + ttlMs`. Returns 1 when recorded (or
   * refreshed), 0 on lock contention (the SYN is then challenged once more).
   */
  record(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
    seq: number,
    now: number,
    ttlMs: number,
  ): number {
    const byPort = this.put(a0, a1, a2, a3, port & 0xffff, seq, now, ttlMs);
    this.put(a0, a1, a2, a3, SEQ_KEY | (seq >>> SEQ_SHIFT), seq, now, ttlMs);
    return byPort;
  }

  private put(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    last: number,
    seq: number,
    now: number,
    ttlMs: number,
  ): number {
    this.setKey(a0, a1, a2, a3, last);
    const core = this.core;
    const v = lockOrClaimSoonestToExpire(core);
    if (v < 0) return 0;
    const slot = core.lockedSlot;
    this.i32[core.recordBase(slot) + AnsweredPort.seq] = seq;
    this.i32[core.deadlineIndex(slot)] = (now + ttlMs) | 0;
    core.unlockRecord(slot, v);
    return 1;
  }

  /** The slot holding the address's port, or -1 (lock-free). */
  find(a0: number, a1: number, a2: number, a3: number, port: number): number {
    this.setKey(a0, a1, a2, a3, port & 0xffff);
    return this.core.find();
  }

  /** A consistent copy of a slot's record (AnsweredPort offsets, snapshotWords long); false if busy. */
  readRecord(slot: number, out: Int32Array): boolean {
    return this.core.readRecord(slot, out);
  }
}
