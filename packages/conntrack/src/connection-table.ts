// ConnectionTable: the director's connection entries in shared memory, one 64-byte record per
// connection (a cache line; IPVS's entry is about 128 bytes), so 4 M entries take 256 MiB. Every
// worker thread, the background re-scorer and the control plane attach to the same buffer.
//
// The key is the client's address (four words, IPv4 v4-mapped), the client's port and the
// service index. The service stands for (VIP, port, protocol), so the key needs no VIP address.
//
// Use on the packet path: `acquire()` returns a slot whose record lock the caller holds, having
// found or created the entry; the caller reads and writes fields by the `Conn` offsets and then
// calls `release()`. Nothing allocates and nothing throws: failures come back as -1 with a reason.

import { timeReached } from './clock.ts';
import { hash5 } from './hash.ts';
import {
  claimLocked,
  Header,
  InsertStart,
  lockBucketsForInsert,
  lockKey,
  lockNextExpired,
  Rec,
  SLOTS_PER_BUCKET,
  type TableLayout,
  TableView,
} from './shared-table.ts';

/**
 * Word offsets inside a connection record (words 0..15, one 64-byte cache line) and, past
 * `words`, the fields only a snapshot (`readRecord`) carries. The only place these indices are
 * written down.
 */
export const Conn = {
  version: Rec.version,
  tag: Rec.tag,
  addr0: 2,
  addr1: 3,
  addr2: 4,
  addr3: 5,
  /** client port << 16 | service index */
  portService: 6,
  /** global real-server index */
  real: 7,
  /** state | priority << 8 | initial priority << 16 | the SYN's score reasons << 24 (defense's StoredReason) */
  statePrio: 8,
  /** ConnFlag bits in the low 16 bits | SYN count << 16 | ConnBit bits in the top byte */
  flagsSyn: 9,
  packets: 10,
  /**
   * The clock (ms) of the client's first payload, or first zero window, since the server last
   * made progress (valid while ConnFlag.awaiting is set): how long the client has been waiting
   * for an answer, or keeping the server from sending one.
   */
  awaitingSince: 11,
  firstSeen: 12,
  lastSeen: 13,
  /**
   * The highest acknowledgement number the client sent in an in-window segment (valid once
   * ConnBit.ackSeen is set): it advances only as the server sends, so progress past the first
   * ACK's value is bytes the real server delivered.
   */
  ackMax: 14,
  /** the client's next expected sequence number: what an RST must carry to be accepted */
  nextSeq: 15,
  words: 16,
  /** snapshot only: the slot's expiry deadline (the table keeps it in its compact deadline array) */
  expires: 16,
  /** words a snapshot buffer for readRecord needs */
  snapshotWords: 17,
} as const;

export const CONN_KEY_WORDS = 5;
export const CONN_RECORD_BYTES = Conn.words * 4;

export const ConnFlag = {
  /** the ACK completing the handshake was seen */
  handshake: 0x0001,
  /** a segment carrying payload was seen */
  data: 0x0002,
  fin: 0x0004,
  rst: 0x0008,
  ipv6: 0x0010,
  /** counted in its real server's ActiveConn (else in InActConn), as IPVS's !IP_VS_CONN_F_INACTIVE */
  active: 0x0020,
  /** counted in the per-source table */
  sourceCounted: 0x0040,
  /** created through a persistence template */
  persistent: 0x0080,
  udp: 0x0100,
  /** priority set by an operator rule (or the bogon 'lowest' action): the scorer leaves it alone (@sluice/defense) */
  priorityFixed: 0x0200,
  /** its client's address answered the director's challenge (a host that receives packets there) */
  verified: 0x0400,
  /** counted in its real server's held connections (RealServerCounters.held): what the server really holds */
  held: 0x0800,
  /** a verified source's new entry not yet counted in Held (weights.provisionalMs); never with `held` */
  provisional: 0x1000,
  /** the client's acknowledgement number advanced past its first ACK's: the server sent data */
  progress: 0x2000,
  /** the client's acknowledgement number went backward: the progress it showed was not the server's */
  ackForged: 0x4000,
  /**
   * the client sent payload, or shut its receive window, since the server last made progress
   * into an open window (Conn.awaitingSince is valid): it waits for the server, or holds it up
   */
  awaiting: 0x8000,
} as const;

/** The SYN count in Conn.flagsSyn: bits 16..20, stopping at 31 (`(flagsSyn >>> 16) & SYN_COUNT_MAX`). */
export const SYN_COUNT_MAX = 31;

/**
 * Bits in the top byte of Conn.flagsSyn (above the ConnFlag word and the SYN count), and
 * `windowShut`, `shutBefore` and `serverQuiet`, the top three bits of the SYN count's byte.
 */
export const ConnBit = {
  /**
   * the wait under way (ConnFlag.awaiting, since Conn.awaitingSince) was started by the client's
   * window shutting, not by its payload: the window reopening ends it; payload makes it a
   * request's wait (cleared, the clock running on)
   */
  windowShut: 1 << 23,
  /**
   * no wait is under way, and Conn.awaitingSince holds how long (ms) the client's window has been
   * shut since its last payload: the next shut's clock starts that far back
   */
  shutBefore: 1 << 22,
  /**
   * the real server's load agent last reported that the server has sent no data on this
   * connection for `servedIdleMs` or more (its kernel's tcpi_last_data_sent): whatever the
   * client's acknowledgement numbers claim, nothing is being served. Set and cleared only by the
   * agent's reports (server-quiet.ts in @sluice/defense); the packet path keeps it
   */
  serverQuiet: 1 << 21,
  /** Conn.ackMax holds an acknowledgement number */
  ackSeen: 1 << 24,
  /** a priority rule that requires a verified source matched: its priority applies once verified */
  ruleNeedsVerify: 1 << 25,
  /** bits 26..28: penalty points for its source now (holding more than its share), 0..7 */
  sourcePenaltyShift: 26,
  sourcePenaltyMask: 7 << 26,
  /**
   * a client segment started ahead of the tracked next sequence number (a gap: a lost segment, or
   * a blind spoofer skipping ahead to push its address owner's reset out of the window)
   */
  leapt: 1 << 29,
  /**
   * the client holds its server up on purpose (set while ConnFlag.awaiting, cleared with it): it
   * sent more payload while its earlier payload had waited for an answer, a request head that
   * keeps growing with the server silent (slow-header, trickle), where a client waiting for a busy
   * server sends nothing more; or its receive window stayed shut that long, a response parked in
   * a buffer it does not read (slow read), where a client that reads reopens it at once
   */
  holdsUp: 1 << 30,
  /**
   * its SYN came again from a port that had just answered the director's challenge: the
   * connection's own proof, so its provisional time ends in the verified band without asking
   */
  answered: 1 << 31,
} as const;

/** Why an entry left the table; passed to the removal listener and counted. */
export const RemoveReason = {
  expired: 1,
  evicted: 2,
  /** reset at a real server's high watermark (the priority defense) */
  shed: 3,
  /** reset by an operator (REST) */
  reset: 4,
  control: 5,
  /** LVS drop_entry */
  dropEntry: 6,
  /** reset to make room for a new SYN that outranked it on a full real server */
  displaced: 7,
} as const;
export const REMOVE_REASON_NAMES: readonly string[] = [
  '',
  'expired',
  'evicted',
  'shed',
  'reset',
  'control',
  'drop-entry',
  'displaced',
];

/** Why `acquire()` returned -1. */
export const AcquireFail = { none: 0, notFound: 1, full: 2, contention: 3 } as const;

/** The record's statePrio word: TCP state, priority, the SYN's points and its score reasons, a byte each. */
export function packStatePrio(state: number, prio: number, initialPrio: number, reasons: number): number {
  return (state & 0xff) | ((prio & 0xff) << 8) | ((initialPrio & 0xff) << 16) | ((reasons & 0xff) << 24);
}
/** The TCP state (TcpState) in a statePrio word. */
export function statePrioState(sp: number): number {
  return sp & 0xff;
}
/** The priority (0 highest .. 15) in a statePrio word. */
export function statePrioPriority(sp: number): number {
  return (sp >>> 8) & 0xff;
}
/** The points the SYN earned (or a rule's fixed priority) in a statePrio word. */
export function statePrioInitial(sp: number): number {
  return (sp >>> 16) & 0xff;
}
/** The SYN's stored score reasons in a statePrio word. */
export function statePrioReasons(sp: number): number {
  return (sp >>> 24) & 0xff;
}
/** `sp` with its priority byte replaced by `prio`; the state, points and reasons kept. */
export function statePrioWithPriority(sp: number, prio: number): number {
  return (sp & ~0xff00) | ((prio & 0xff) << 8);
}

/** Told about every entry that leaves the table, with its record lock held, before it is cleared. */
export interface ConnectionRemovalListener {
  onConnectionRemoved(table: ConnectionTable, base: number, reason: number): void;
}

/**
 * Decides what happens to a new flow when both of its buckets are full: return a slot of the 16
 * candidates to evict (its entry is removed with reason `evicted`), or -1 to refuse the flow.
 * It runs with both bucket locks held and must not lock records itself.
 */
export interface FullTablePolicy {
  chooseVictim(
    table: ConnectionTable,
    bucket1: number,
    bucket2: number,
    priority: number,
    now: number,
  ): number;
}

/** Refuses new flows when their buckets are full: the table never evicts on its own. */
export class RefuseWhenFull implements FullTablePolicy {
  chooseVictim(): number {
    return -1;
  }
}

/**
 * Evicts the lowest-priority entry (highest number) of the candidates when the newcomer outranks
 * it; ties go to the entry seen least recently. Priority 0 is never evicted. The first entry at
 * the lowest priority there is (15: closed) is taken at once: under a flood into a full table
 * each candidate read is a cache miss, and any closed entry is as good as another.
 */
export class EvictLowestPriority implements FullTablePolicy {
  chooseVictim(
    table: ConnectionTable,
    bucket1: number,
    bucket2: number,
    priority: number,
    now: number,
  ): number {
    let best = -1;
    let bestPrio = priority;
    let bestIdle = -1;
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1 && bucket2 === bucket1) break;
      let slot = (pass === 0 ? bucket1 : bucket2) * SLOTS_PER_BUCKET;
      for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
        const base = table.core.recordBase(slot);
        const prio = statePrioPriority(table.i32[base + Conn.statePrio]);
        if (prio === 0) continue;
        const idle = (now - table.i32[base + Conn.lastSeen]) | 0;
        if (prio > bestPrio || (prio === bestPrio && best >= 0 && idle > bestIdle)) {
          best = slot;
          bestPrio = prio;
          bestIdle = idle;
          if (prio >= LOWEST_PRIORITY) return best;
        }
      }
    }
    return best;
  }
}

/** The lowest priority a record holds (closed or reset connections). */
const LOWEST_PRIORITY = 15;

const noListener: ConnectionRemovalListener = { onConnectionRemoved() {} };

/**
 * A rewrite of one record, run by ConnectionTable.editIfStill under the record's lock: conntrack
 * keeps its locks to itself, and a thread that changes a live record (the re-scorer) says what to
 * write, not how to lock. One class implements it, so the call stays monomorphic.
 */
export interface RecordEditor {
  /** Rewrites the record at word `base` of `i32`; returns a result ≥ 0 for the caller. */
  edit(i32: Int32Array, base: number): number;
}

/** What editIfStill returns instead of the editor's result. */
export const EditOutcome = {
  /** The slot no longer holds the connection. */
  gone: -1,
  /** The record lock stayed taken past the bounded spin; nothing was written. */
  busy: -2,
} as const;

export class ConnectionTable extends TableView {
  static override readonly layout: TableLayout = {
    name: 'connection table',
    recordWords: Conn.words,
    keyWords: CONN_KEY_WORDS,
    deadlineWord: Conn.expires,
  };

  listener: ConnectionRemovalListener = noListener;
  fullPolicy: FullTablePolicy = new RefuseWhenFull();
  /** 1 when the last successful `acquire()` created the entry (its fields are zero). */
  created = 0;
  /** Why the last `acquire()` returned -1 (AcquireFail). */
  failReason = 0;
  /** 1 when the last `acquire()` that created an entry had to evict another for it. */
  evictedForInsert = 0;
  /** Record version held by this thread for the slot returned by `acquire()`. */
  private held = -1;

  recordBase(slot: number): number {
    return this.core.recordBase(slot);
  }

  /** Sets the expiry deadline of a slot this thread holds. */
  setExpires(slot: number, deadline: number): void {
    this.i32[this.core.deadlinesBase + slot] = deadline;
  }

  expiresOf(slot: number): number {
    return this.i32[this.core.deadlinesBase + slot];
  }

  private setKey(a0: number, a1: number, a2: number, a3: number, portService: number): void {
    const core = this.core;
    const key = core.key;
    key[0] = a0;
    key[1] = a1;
    key[2] = a2;
    key[3] = a3;
    key[4] = portService;
    // deliberately unrolled: hash5 over the arguments is hashWords over the key without the
    // loop (per packet).
    core.useHash(hash5(a0, a1, a2, a3, portService, core.seed));
  }

  /**
   * Finds the entry for (client address, port << 16 | service) and locks it. When it is missing
   * (or expired, which removes it) and `create` is true, inserts it, evicting per `fullPolicy`
   * when both buckets are full; `priority` is the newcomer's, for that policy. Returns the slot
   * with its lock held (release it with `release()`), or -1 with `failReason` set.
   */
  acquire(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    portService: number,
    create: boolean,
    priority: number,
    now: number,
  ): number {
    this.created = 0;
    this.evictedForInsert = 0;
    this.failReason = AcquireFail.none;
    this.setKey(a0, a1, a2, a3, portService);
    const core = this.core;
    const v = lockKey(core, 4);
    if (v >= 0) {
      const slot = core.lockedSlot;
      if (!timeReached(this.i32[core.deadlinesBase + slot], now)) {
        this.held = v;
        return slot;
      }
      // Expired: remove it and insert the key anew.
      this.removeLocked(slot, v, RemoveReason.expired);
    }
    if (!create) {
      this.failReason = AcquireFail.notFound;
      return -1;
    }
    return this.insert(priority, now);
  }

  private insert(priority: number, now: number): number {
    const core = this.core;
    const existing = lockBucketsForInsert(core);
    if (existing >= 0) {
      this.held = existing;
      return core.lockedSlot;
    }
    if (existing === InsertStart.contention) {
      this.failReason = AcquireFail.contention;
      return -1;
    }
    let slot = core.findEmpty();
    let v = -1;
    if (slot >= 0) {
      v = core.lockRecord(slot);
    } else {
      slot = this.reclaimExpired(now);
      if (slot >= 0) {
        v = this.held;
      } else {
        slot = this.fullPolicy.chooseVictim(this, core.bucket1, core.bucket2, priority, now);
        if (slot >= 0) {
          v = core.lockRecord(slot);
          if (v >= 0) {
            this.listener.onConnectionRemoved(this, core.recordBase(slot), RemoveReason.evicted);
            core.clear(slot);
            this.evictedForInsert = 1;
          }
        } else {
          core.unlockBuckets();
          core.bumpHeader(Header.refusedFull);
          this.failReason = AcquireFail.full;
          return -1;
        }
      }
    }
    if (!claimLocked(core, slot, v)) {
      this.failReason = AcquireFail.contention;
      return -1;
    }
    this.held = v;
    this.created = 1;
    return slot;
  }

  /** With the bucket locks held: frees the first expired entry among the candidates, keeping its lock. */
  private reclaimExpired(now: number): number {
    const core = this.core;
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1 && core.bucket2 === core.bucket1) break;
      let slot = (pass === 0 ? core.bucket1 : core.bucket2) * SLOTS_PER_BUCKET;
      for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
        const deadline = core.deadlinesBase + slot;
        if (!timeReached(this.i32[deadline], now)) continue;
        const v = core.lockRecord(slot);
        if (v < 0) continue;
        const tag = core.tagOfSlot(slot);
        if (tag !== 0 && timeReached(this.i32[deadline], now)) {
          this.listener.onConnectionRemoved(this, core.recordBase(slot), RemoveReason.expired);
          core.clear(slot);
          this.held = v;
          return slot;
        }
        if (tag === 0) {
          this.held = v;
          return slot;
        }
        core.unlockRecord(slot, v);
      }
    }
    return -1;
  }

  /** Releases the lock `acquire()` returned, publishing the caller's writes. */
  release(slot: number): void {
    this.core.unlockRecord(slot, this.held);
    this.held = -1;
  }

  /** Removes the entry in a slot this thread holds from `acquire()`, then releases it. */
  removeHeld(slot: number, reason: number): void {
    this.removeLocked(slot, this.held, reason);
    this.held = -1;
  }

  /**
   * How an entry leaves the table, from a slot locked at version `v`: the listener sees it while
   * the lock is still held, then it is cleared and unlocked.
   */
  private removeLocked(slot: number, v: number, reason: number): void {
    this.listener.onConnectionRemoved(this, this.core.recordBase(slot), reason);
    this.core.clear(slot);
    this.core.unlockRecord(slot, v);
  }

  /**
   * Drops an entry this thread just created and still holds, without telling the listener:
   * for a flow that could not be placed (no real server), which was never bound or counted.
   */
  abandonHeld(slot: number): void {
    this.core.clear(slot);
    this.release(slot);
  }

  /**
   * Removes the entry in `slot` if it is still the one whose tag is `tag` (a caller that found it
   * earlier, e.g. in a listing or a victim index). Returns false when it is gone or changed.
   */
  removeSlot(slot: number, tag: number, reason: number): boolean {
    return this.removeIfStill(slot, tag, 0, 0, reason, null);
  }

  /**
   * Runs `editor` on the record in `slot` under its lock, if the slot still holds connection
   * `tag`. Returns the editor's result, or EditOutcome.gone / EditOutcome.busy.
   */
  editIfStill(slot: number, tag: number, editor: RecordEditor): number {
    if (slot < 0 || slot >= this.capacity) return EditOutcome.gone;
    const core = this.core;
    const v = core.lockRecord(slot);
    if (v < 0) return EditOutcome.busy;
    if (core.tagOfSlot(slot) !== tag || tag === 0) {
      core.unlockRecord(slot, v);
      return EditOutcome.gone;
    }
    const result = editor.edit(this.i32, core.recordBase(slot));
    core.unlockRecord(slot, v);
    return result;
  }

  /**
   * Removes the entry in `slot` only if nothing touched it since `snapshot` was read
   * (readRecord): the same connection at the same record version. A thread that chose it on the
   * snapshot's facts (LVS drop_entry) must not remove it on stale ones. Returns true when removed.
   */
  removeIfUnchanged(slot: number, snapshot: Int32Array, reason: number): boolean {
    if (slot < 0 || slot >= this.capacity) return false;
    const core = this.core;
    const v = core.lockRecord(slot);
    if (v < 0) return false;
    const tag = snapshot[Conn.tag];
    if (v !== snapshot[Conn.version] || tag === 0 || core.tagOfSlot(slot) !== tag) {
      core.unlockRecord(slot, v);
      return false;
    }
    this.removeLocked(slot, v, reason);
    return true;
  }

  /**
   * Removes the entry in `slot`, under its record lock, only if it is still the connection `tag`,
   * and, when `minPriority` > 0, its priority is not 0 and at least `minPriority` (a victim taken
   * from a listing must not have improved since), and its flag word has every bit of
   * `requiredFlags` (e.g. ConnFlag.held: a connection the client already closed gets no RST). The
   * record as it was at removal goes to `out` (Conn offsets; the RST needs its exact next
   * sequence number). Returns true when removed.
   */
  removeIfStill(
    slot: number,
    tag: number,
    minPriority: number,
    requiredFlags: number,
    reason: number,
    out: Int32Array | null,
  ): boolean {
    if (slot < 0 || slot >= this.capacity) return false;
    const core = this.core;
    const i32 = this.i32;
    const v = core.lockRecord(slot);
    if (v < 0) return false;
    const base = core.recordBase(slot);
    const prio = statePrioPriority(i32[base + Conn.statePrio]);
    if (
      core.tagOfSlot(slot) === 0 ||
      core.tagOfSlot(slot) !== tag ||
      (minPriority > 0 && (prio === 0 || prio < minPriority)) ||
      (i32[base + Conn.flagsSyn] & requiredFlags) !== requiredFlags
    ) {
      core.unlockRecord(slot, v);
      return false;
    }
    if (out !== null) {
      for (let i = 0; i < Conn.words; i++) out[i] = i32[base + i];
      out[Conn.tag] = tag;
    }
    this.removeLocked(slot, v, reason);
    return true;
  }

  /**
   * Incremental expiry: examines the next `budget` slots of a shared cursor and removes entries
   * whose deadline has passed. Any thread may call it; each call does bounded work, so expiry
   * never stops the world. Returns the number removed.
   */
  expireStep(now: number, budget: number): number {
    const core = this.core;
    core.beginSweep(budget);
    let removed = 0;
    for (let v = lockNextExpired(core, now); v >= 0; v = lockNextExpired(core, now)) {
      this.removeLocked(core.lockedSlot, v, RemoveReason.expired);
      removed++;
    }
    return removed;
  }

  /** Consistent copy of a record for readers that hold no lock (control plane, re-scorer). */
  readRecord(slot: number, out: Int32Array): boolean {
    return this.core.readRecord(slot, out);
  }

  /** Header statistics for metrics: inserted, removed, refused because full, lock timeouts. */
  stats(): {
    count: number;
    capacity: number;
    inserted: number;
    removed: number;
    refusedFull: number;
    lockTimeouts: number;
  } {
    const c = this.core;
    return {
      count: c.count(),
      capacity: this.capacity,
      inserted: c.headerValue(Header.inserted) >>> 0,
      removed: c.headerValue(Header.removed) >>> 0,
      refusedFull: c.headerValue(Header.refusedFull) >>> 0,
      lockTimeouts: c.headerValue(Header.lockTimeouts) >>> 0,
    };
  }
}
