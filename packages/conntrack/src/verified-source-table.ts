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

import { timeReached } from './clock.ts';
import { lockNextExpired, Rec, SLOTS_PER_BUCKET, type TableLayout, TableView } from './shared-table.ts';

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
  words: 8,
  /** snapshot only: when the verification expires (ms clock) */
  expires: 8,
  snapshotWords: 9,
} as const;

const KEY_WORDS = 4;

export class VerifiedSourceTable extends TableView {
  static override readonly layout: TableLayout = {
    name: 'verified-source table',
    recordWords: Verified.words,
    keyWords: KEY_WORDS,
    deadlineWord: Verified.expires,
  };

  private setKey(a0: number, a1: number, a2: number, a3: number): void {
    const key = this.core.key;
    key[0] = a0;
    key[1] = a1;
    key[2] = a2;
    key[3] = a3;
    this.core.hashKey();
  }

  /** 1 when the address answered a challenge and its verification has not expired at `now`. */
  isVerified(a0: number, a1: number, a2: number, a3: number, now: number): number {
    this.setKey(a0, a1, a2, a3);
    const slot = this.core.find();
    if (slot < 0) return 0;
    return timeReached(this.i32[this.core.deadlineIndex(slot)], now) ? 0 : 1;
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
   * Ends the address's verification at `now` unless it answered at or after `since` (an answer
   * racing this one wins). Returns 1 when it ended it, 0 otherwise (not there, answered, or lock
   * contention: the next caller will do).
   */
  revoke(a0: number, a1: number, a2: number, a3: number, since: number, now: number): number {
    this.setKey(a0, a1, a2, a3);
    const core = this.core;
    if (!core.lockBuckets()) return 0;
    const slot = core.find();
    const v = slot >= 0 ? core.lockIfKey(slot) : -1;
    core.unlockBuckets();
    if (v < 0) return 0;
    let ended = 0;
    if (((this.i32[core.recordBase(slot) + Verified.verifiedAt] - since) | 0) < 0) {
      this.i32[core.deadlineIndex(slot)] = now;
      ended = 1;
    }
    core.unlockRecord(slot, v);
    return ended;
  }

  /**
   * Records that the address answered a challenge at `now`; valid until `now + ttlMs`. Returns 1
   * when it is recorded (or refreshed), 0 on lock contention (the next answer will do).
   */
  verify(a0: number, a1: number, a2: number, a3: number, now: number, ttlMs: number): number {
    this.setKey(a0, a1, a2, a3);
    const core = this.core;
    const i32 = this.i32;
    const deadline = (now + ttlMs) | 0;
    if (!core.lockBuckets()) return 0;
    let slot = core.find();
    let v = -1;
    if (slot >= 0) {
      v = core.lockIfKey(slot);
    } else {
      slot = core.findEmpty();
      if (slot < 0) {
        slot = this.soonestToExpire();
        v = core.lockRecord(slot);
        if (v >= 0) core.clear(slot);
      } else {
        v = core.lockRecord(slot);
      }
      if (v >= 0) core.claim(slot);
    }
    core.unlockBuckets();
    if (v < 0) return 0;
    const base = core.recordBase(slot);
    i32[base + Verified.verifiedAt] = now;
    i32[base + Verified.answers] = (i32[base + Verified.answers] + 1) | 0;
    i32[core.deadlineIndex(slot)] = deadline;
    core.unlockRecord(slot, v);
    return 1;
  }

  /** Of the key's 16 candidate slots (all occupied), the one whose verification ends first. */
  private soonestToExpire(): number {
    const core = this.core;
    const i32 = this.i32;
    let best = core.bucket1 * SLOTS_PER_BUCKET;
    let bestDeadline = i32[core.deadlineIndex(best)];
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1 && core.bucket2 === core.bucket1) break;
      let slot = (pass === 0 ? core.bucket1 : core.bucket2) * SLOTS_PER_BUCKET;
      for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
        const d = i32[core.deadlineIndex(slot)];
        if (((d - bestDeadline) | 0) < 0) {
          best = slot;
          bestDeadline = d;
        }
      }
    }
    return best;
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
