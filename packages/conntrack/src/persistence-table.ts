// PersistenceTable: IPVS's persistence templates (ipvsadm -p timeout -M netmask) in shared
// memory. A template maps (service, client address under the netmask) to the real server that
// first served it. As in IPVS a template lives while connections it placed are alive (n_control)
// and for `timeout` after the last one was placed or ended; the sweeper removes it after that.

import { timeReached } from './clock.ts';
import {
  claimLocked,
  InsertStart,
  lockBucketsForInsert,
  lockKey,
  Rec,
  type TableLayout,
  TableView,
} from './shared-table.ts';

export const Persist = {
  version: Rec.version,
  tag: Rec.tag,
  service: 2,
  addr0: 3,
  addr1: 4,
  addr2: 5,
  addr3: 6,
  real: 7,
  expires: 8,
  /** connections placed through this template that are still in the table */
  controlled: 9,
  created: 10,
  words: 16,
} as const;
export const PERSIST_KEY_WORDS = 5;

/** The word mask for word `w` (0..3) of a 128-bit address under a prefix length (v4-mapped: +96). */
export function prefixWordMask(prefixLen: number, w: number): number {
  const bits = prefixLen - w * 32;
  if (bits >= 32) return -1;
  if (bits <= 0) return 0;
  return (0xffffffff << (32 - bits)) | 0;
}

export class PersistenceTable extends TableView {
  static override readonly layout: TableLayout = {
    name: 'persistence table',
    recordWords: Persist.words,
    keyWords: PERSIST_KEY_WORDS,
  };

  created = 0;
  private held = -1;

  // Per class on purpose, like the other tables' (TableView says why): recordBase runs per packet
  // and stays monomorphic only where each table has its own.
  recordBase(slot: number): number {
    return this.core.recordBase(slot);
  }

  /** Key = service + the client address masked to `prefixLen` bits of the 128-bit (v4-mapped) form. */
  private setKey(service: number, a0: number, a1: number, a2: number, a3: number, prefixLen: number): void {
    const key = this.core.key;
    key[0] = service;
    key[1] = a0 & prefixWordMask(prefixLen, 0);
    key[2] = a1 & prefixWordMask(prefixLen, 1);
    key[3] = a2 & prefixWordMask(prefixLen, 2);
    key[4] = a3 & prefixWordMask(prefixLen, 3);
    this.core.hashKey();
  }

  /**
   * Finds or creates the live template for a client and locks it; an expired one holding no
   * connection is dropped and made anew. Returns the slot (release with `release()`) or -1 when
   * the table is full or contended; `created` says whether the caller must fill in the real server.
   */
  acquire(
    service: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    prefixLen: number,
    create: boolean,
    now: number,
  ): number {
    this.created = 0;
    this.setKey(service, a0, a1, a2, a3, prefixLen);
    const core = this.core;
    // One lookup, not a few: a lost race goes on to the insert, which looks again under the bucket locks.
    const found = lockKey(core, 1);
    if (found >= 0) {
      const slot = core.lockedSlot;
      const base = core.recordBase(slot);
      if (this.i32[base + Persist.controlled] > 0 || !timeReached(this.i32[base + Persist.expires], now)) {
        this.held = found;
        return slot;
      }
      core.clear(slot);
      core.unlockRecord(slot, found);
    }
    if (!create) return -1;
    const again = lockBucketsForInsert(core);
    if (again >= 0) {
      this.held = again;
      return core.lockedSlot;
    }
    if (again !== InsertStart.absent) return -1;
    const free = core.findEmpty();
    const v = free >= 0 ? core.lockRecord(free) : -1;
    if (!claimLocked(core, free, v)) return -1;
    this.i32[core.recordBase(free) + Persist.created] = now;
    this.held = v;
    this.created = 1;
    return free;
  }

  release(slot: number): void {
    this.core.unlockRecord(slot, this.held);
    this.held = -1;
  }

  /** A connection placed by a template ended: one fewer controlled, and the timeout restarts. */
  connectionEnded(
    service: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    prefixLen: number,
    timeoutMs: number,
    now: number,
  ): void {
    const slot = this.acquire(service, a0, a1, a2, a3, prefixLen, false, now);
    if (slot < 0) return;
    const base = this.core.recordBase(slot);
    if (this.i32[base + Persist.controlled] > 0) this.i32[base + Persist.controlled]--;
    this.i32[base + Persist.expires] = (now + timeoutMs) | 0;
    this.release(slot);
  }

  /** Removes templates past their timeout that control no connection, over `budget` slots. */
  expireStep(now: number, budget: number): number {
    const core = this.core;
    const i32 = this.i32;
    core.beginSweep(budget);
    let removed = 0;
    for (let slot = core.nextSweepSlot(); slot >= 0; slot = core.nextSweepSlot()) {
      const base = core.recordBase(slot);
      if (i32[base + Persist.tag] === 0 || i32[base + Persist.controlled] > 0) continue;
      if (!timeReached(i32[base + Persist.expires], now)) continue;
      const v = core.lockRecord(slot);
      if (v < 0) continue;
      if (
        i32[base + Persist.tag] !== 0 &&
        i32[base + Persist.controlled] === 0 &&
        timeReached(i32[base + Persist.expires], now)
      ) {
        core.clear(slot);
        removed++;
      }
      core.unlockRecord(slot, v);
    }
    return removed;
  }
}
