// SourceTable: bounded per-source history for scoring, one 64-byte record per source, keyed by
// the IPv4 /32 or the IPv6 /64 (one host or one subscriber's prefix). It holds what HAProxy's
// stick tables hold (conn_cur, conn_rate) plus what the defense needs: handshakes completed and
// when the director last probed the source (@sluice/defense; the verified sources themselves live
// in VerifiedSourceTable, which only hosts that answered a challenge can enter).
// The SYN rate uses HAProxy's two-period estimate (freq_ctr): the current one-second period's
// count plus the previous period's count weighted by the part of it still inside the window.
// When both buckets are full a new source takes the slot of the least recently seen source that
// holds no connection; if every candidate holds connections the source goes untracked (counted).

import { elapsed } from './clock.ts';
import {
  claimLocked,
  Header,
  InsertStart,
  lockBucketsForInsert,
  lockKey,
  Rec,
  SLOTS_PER_BUCKET,
  type TableLayout,
  TableView,
} from './shared-table.ts';

export const Src = {
  version: Rec.version,
  tag: Rec.tag,
  /** 4 or 6 */
  family: 2,
  /** IPv4: 0; IPv6: the first word of the /64 */
  hi: 3,
  /** IPv4: the address; IPv6: the second word of the /64 */
  lo: 4,
  concurrent: 5,
  synCurrent: 6,
  synPrevious: 7,
  periodStart: 8,
  handshakes: 9,
  connectionsTotal: 10,
  /**
   * connections of this source its real servers held (not closed), and its verified half-open
   * ones past their provisional time, at the re-scorer's last pass while any service was under
   * pressure, 0 otherwise: what the fair share is compared with (@sluice/defense rescorer.ts)
   */
  heldLastPass: 11,
  lastSeen: 12,
  /** sum of the priorities of its live connections (the re-scorer keeps it) */
  prioritySum: 13,
  /**
   * when the re-scorer last saw one of this source's connections misbehave (a request head that
   * never ends, a handshake and then silence, forged acknowledgements; ms clock, 0: never)
   */
  misbehavedAt: 14,
  /** when the director last probed this source (ms clock; 0: never): one probe per interval */
  probedAt: 15,
  words: 16,
} as const;

export const SRC_KEY_WORDS = 3;
const RATE_PERIOD_MS = 1000;

export class SourceTable extends TableView {
  static override readonly layout: TableLayout = {
    name: 'source table',
    recordWords: Src.words,
    keyWords: SRC_KEY_WORDS,
  };

  /** 1 when the last `acquire()` created the record. */
  created = 0;
  private held = -1;

  // Per class on purpose, like the other tables' (TableView says why): recordBase runs per packet
  // and stays monomorphic only where each table has its own.
  recordBase(slot: number): number {
    return this.core.recordBase(slot);
  }

  /** Sets the key from a client address (four words; IPv4 is v4-mapped 0, 0, 0xffff, addr). */
  private setKey(a0: number, a1: number, a2: number, a3: number): void {
    const key = this.core.key;
    if (a0 === 0 && a1 === 0 && a2 === 0xffff) {
      key[0] = 4;
      key[1] = 0;
      key[2] = a3;
    } else {
      key[0] = 6;
      key[1] = a0;
      key[2] = a1;
    }
    this.core.hashKey();
  }

  /**
   * Finds (or, with `create`, makes) the record for a client address and locks it. Returns the
   * slot, to be released with `release()`, or -1 (not found, untracked because full, or contention).
   */
  acquire(a0: number, a1: number, a2: number, a3: number, create: boolean, now: number): number {
    this.created = 0;
    this.setKey(a0, a1, a2, a3);
    const core = this.core;
    const found = lockKey(core, 4);
    if (found >= 0) {
      this.held = found;
      return core.lockedSlot;
    }
    if (!create) return -1;
    const existing = lockBucketsForInsert(core);
    if (existing >= 0) {
      this.held = existing;
      return core.lockedSlot;
    }
    if (existing !== InsertStart.absent) return -1;
    let slot = core.findEmpty();
    let v = -1;
    if (slot >= 0) {
      v = core.lockRecord(slot);
    } else {
      slot = this.idlestWithoutConnections(now);
      if (slot >= 0) {
        v = core.lockRecord(slot);
        if (v >= 0) {
          if (this.i32[core.recordBase(slot) + Src.concurrent] !== 0) {
            core.unlockRecord(slot, v);
            v = -1;
          } else {
            core.clear(slot);
          }
        }
      } else {
        core.bumpHeader(Header.refusedFull);
      }
    }
    if (!claimLocked(core, slot, v)) return -1;
    const base = core.recordBase(slot);
    this.i32[base + Src.lastSeen] = now;
    this.i32[base + Src.periodStart] = now;
    this.held = v;
    this.created = 1;
    return slot;
  }

  private idlestWithoutConnections(now: number): number {
    const core = this.core;
    let best = -1;
    let bestIdle = -1;
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1 && core.bucket2 === core.bucket1) break;
      let slot = (pass === 0 ? core.bucket1 : core.bucket2) * SLOTS_PER_BUCKET;
      for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
        const base = core.recordBase(slot);
        if (this.i32[base + Src.concurrent] !== 0) continue;
        const idle = elapsed(this.i32[base + Src.lastSeen], now);
        if (idle > bestIdle) {
          best = slot;
          bestIdle = idle;
        }
      }
    }
    return best;
  }

  release(slot: number): void {
    this.core.unlockRecord(slot, this.held);
    this.held = -1;
  }

  /** With the record held: counts a SYN in the rate estimate and returns the estimate (SYNs/s). */
  countSyn(base: number, now: number): number {
    const i32 = this.i32;
    this.rollPeriod(base, now);
    i32[base + Src.synCurrent]++;
    i32[base + Src.lastSeen] = now;
    return this.synRateAt(base, now);
  }

  /** With the record held: HAProxy's freq_ctr estimate of SYNs over the last second. */
  synRateAt(base: number, now: number): number {
    const i32 = this.i32;
    const into = elapsed(i32[base + Src.periodStart], now);
    if (into >= 2 * RATE_PERIOD_MS) return 0;
    if (into >= RATE_PERIOD_MS) {
      return i32[base + Src.synCurrent] * ((2 * RATE_PERIOD_MS - into) / RATE_PERIOD_MS);
    }
    return (
      i32[base + Src.synCurrent] + i32[base + Src.synPrevious] * ((RATE_PERIOD_MS - into) / RATE_PERIOD_MS)
    );
  }

  private rollPeriod(base: number, now: number): void {
    const i32 = this.i32;
    const into = elapsed(i32[base + Src.periodStart], now);
    if (into < RATE_PERIOD_MS) return;
    if (into < 2 * RATE_PERIOD_MS) {
      i32[base + Src.synPrevious] = i32[base + Src.synCurrent];
      i32[base + Src.periodStart] = (i32[base + Src.periodStart] + RATE_PERIOD_MS) | 0;
    } else {
      i32[base + Src.synPrevious] = 0;
      i32[base + Src.periodStart] = now;
    }
    i32[base + Src.synCurrent] = 0;
  }

  /**
   * Incremental expiry: removes sources that hold no connection and have been quiet for
   * `idleMs`, from the next `budget` slots of a shared cursor. Returns the number removed.
   */
  expireStep(now: number, budget: number, idleMs: number): number {
    const core = this.core;
    const i32 = this.i32;
    core.beginSweep(budget);
    let removed = 0;
    for (let slot = core.nextSweepSlot(); slot >= 0; slot = core.nextSweepSlot()) {
      const base = core.recordBase(slot);
      if (i32[base + Src.tag] === 0 || i32[base + Src.concurrent] !== 0) continue;
      if (elapsed(i32[base + Src.lastSeen], now) < idleMs) continue;
      const v = core.lockRecord(slot);
      if (v < 0) continue;
      if (
        i32[base + Src.tag] !== 0 &&
        i32[base + Src.concurrent] === 0 &&
        elapsed(i32[base + Src.lastSeen], now) >= idleMs
      ) {
        core.clear(slot);
        removed++;
      }
      core.unlockRecord(slot, v);
    }
    return removed;
  }

  readRecord(slot: number, out: Int32Array): boolean {
    return this.core.readRecord(slot, out);
  }
}
