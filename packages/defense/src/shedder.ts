// Shedder: the seed's mechanism. Each real server has a capacity (its upper threshold); when what
// it holds reaches the high watermark (default 98%), the lowest-priority held connections are reset
// on the real server (an RST from the client's address with the tracked sequence number) and
// removed, until the low watermark (95%) is reached. The same for a whole service (its servers'
// capacities summed) and for the director's own table against its capacity. What counts is
// RealServerCounters.load(): the connections the server holds (or IPVS's count, with
// countInactive). Priority 0 is never shed; a connection its client already closed is never sent an
// RST (it frees nothing: only held entries are listed per real server, and the removal re-checks
// under the record lock); at the table's watermark such entries go first, silently.
//
// It never takes a connection at weights.shedFloor or better (a verified client, new or being
// served): freeing that slot would only hand it to the next SYN, perhaps the attacker's.
//
// A half-open entry is not reset but released: it stops holding a slot (as the re-scorer releases
// it after weights.halfOpenHoldMs anyway) and stays in the table. A real server keeps no worker for
// it (with syncookies, nothing at all), so an RST frees nothing there; and if it is a real client
// that sent its SYN just before verification switched on, indistinguishable from the spoofs around
// it, its ACK finds the entry, holds the slot again, and its source's probe answer lifts it into
// the verified band. Reset, it would have been lost (simulator, spoof-partner at the attack's onset).
// With countInactive the thresholds do not count Held, so releasing would free nothing: reset.
//
// A list holds the worst of what its real server held as the re-scorer's pass began. A half-open
// entry bound since may not be in it, and may rank below everything in it: at a flood's onset, a
// list built a pass earlier holds only valid clients, and the shedder reset one of them for the
// flood's unverified SYNs it did not know of (the likeliest reading of a CI run that reset one
// connection in 113 under hping3 --flood from a live address: the instrumented lab showed the
// servers at their threshold in the onset's first second). So once a half-open entry was bound
// after its list's pass began (RealServerCounters.halfOpenBound against the list's mark), the
// shedder only releases from that list, and resets wait for the next, a pass later. Under pressure
// verification is on and hardly any such entry is bound, so resets wait at an onset only.
//
// Runs on one thread (the defense loop's), a step every few tens of milliseconds; the victims come
// from the re-scorer's VictimIndex, so choosing one costs a few loads. Removal goes through the
// table's removal listener, which keeps the real-server, source and persistence counts exact and
// counts the shed by priority.
import { Conn, type ConnectionTable, ConnFlag, type RecordEditor, RemoveReason } from '@sluice/conntrack';
import type { RealServerCounters } from '@sluice/schedulers';
import { VICTIM_GLOBAL, type VictimIndex } from './victim-index.ts';

/** Listed entries one shed may pass over (gone, improved or closed since listed) before giving up. */
const SHED_TRIES = 16;

/**
 * Sends the RST that ends on its real server the connection whose record (Conn offsets, as it was
 * when removed) is given; returns true when one was sent (the real server may be gone).
 */
export type ResetSender = (rec: Int32Array) => boolean;

/** ConnFlag bits that must all be clear for a held entry to be released rather than reset. */
const NOT_HALF_OPEN = ConnFlag.handshake | ConnFlag.udp | ConnFlag.provisional | ConnFlag.fin | ConnFlag.rst;

/**
 * Releases a held half-open entry of a real server from Held instead of resetting it.
 * The shedder and a displacing SYN ask it first (`tryRelease`); an entry it leaves alone is reset.
 */
export class HalfOpenRelease implements RecordEditor {
  private real = 0;
  private readonly table: ConnectionTable;
  private readonly reals: RealServerCounters;
  constructor(table: ConnectionTable, reals: RealServerCounters) {
    this.table = table;
    this.reals = reals;
  }

  /**
   * True when the entry in `slot` (connection `tag`, listed for real server `real`) was an
   * half-open one and no longer holds a slot there. Never with countInactive: the
   * thresholds count IPVS's way, which Held does not change, so only a reset frees anything.
   */
  tryRelease(slot: number, tag: number, real: number): boolean {
    if (this.reals.countsInactive(real)) return false;
    this.real = real;
    return this.table.editIfStill(slot, tag, this) === 1;
  }

  /** RecordEditor, under the record lock: 1 when released, 0 when left alone. */
  edit(i32: Int32Array, base: number): number {
    const fs = i32[base + Conn.flagsSyn];
    if ((fs & ConnFlag.held) === 0 || (fs & NOT_HALF_OPEN) !== 0) return 0;
    if (i32[base + Conn.real] !== this.real) return 0;
    i32[base + Conn.flagsSyn] = fs & ~ConnFlag.held;
    this.reals.addHeld(this.real, -1);
    return 1;
  }
}

/** What the shedder needs of the configuration; the dataplane's CompiledConfig has it. */
export interface ShedTopology {
  /** Per service: the global indices of its real servers. */
  readonly serviceMembers: readonly Int32Array[];
  /** Per real server: its upper threshold (0: no limit). */
  readonly realUpper: Int32Array;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  /** Entries at this priority or better are never shed (weights.shedFloor). */
  readonly shedFloor: number;
}

export interface ShedderParts {
  connections: ConnectionTable;
  reals: RealServerCounters;
  victims: VictimIndex;
}

export class Shedder {
  private readonly table: ConnectionTable;
  private readonly reals: RealServerCounters;
  private readonly victims: VictimIndex;
  private readonly sendReset: ResetSender;
  private readonly rec = new Int32Array(Conn.snapshotWords);
  /** Resets sent over the shedder's life (the workers count theirs in the counter block). */
  sent = 0;
  /** Steps that wanted to shed but found no victim (the re-scorer had not listed any yet). */
  starved = 0;
  /** Half-open entries released from Held instead of reset. */
  released = 0;
  private readonly release: HalfOpenRelease;

  constructor(parts: ShedderParts, sendReset: ResetSender) {
    this.table = parts.connections;
    this.reals = parts.reals;
    this.victims = parts.victims;
    this.sendReset = sendReset;
    this.release = new HalfOpenRelease(parts.connections, parts.reals);
  }

  /** One round over every real server, service and the table; returns the resets sent. */
  step(topo: ShedTopology, budget = 4096): number {
    const sentBefore = this.sent;
    let left = budget;
    const high = topo.highWatermark;
    const low = topo.lowWatermark;
    const reals = this.reals;
    // Per real server.
    for (let svc = 0; svc < topo.serviceMembers.length && left > 0; svc++) {
      const members = topo.serviceMembers[svc];
      let total = 0;
      let capacity = 0;
      let bounded = members.length > 0;
      for (let i = 0; i < members.length && left > 0; i++) {
        const m = members[i];
        const upper = topo.realUpper[m];
        let n = reals.load(m);
        if (upper <= 0) {
          bounded = false;
          continue;
        }
        if (n >= Math.ceil(high * upper)) {
          const target = Math.floor(low * upper);
          while (n > target && left > 0) {
            if (!this.shedOne(m, topo.shedFloor)) break;
            n--;
            left--;
          }
        }
        total += n;
        capacity += upper;
      }
      // Per service: the servers' capacities summed; shed from the fullest server first.
      if (bounded && capacity > 0 && total >= Math.ceil(high * capacity)) {
        const target = Math.floor(low * capacity);
        while (total > target && left > 0) {
          const m = this.fullest(topo, members);
          if (m < 0 || !this.shedOne(m, topo.shedFloor)) break;
          total--;
          left--;
        }
      }
    }
    // The director's own table, against its capacity.
    const cap = this.table.capacity;
    let count = this.table.count();
    if (count >= Math.ceil(high * cap)) {
      const target = Math.floor(low * cap);
      while (count > target && left > 0) {
        if (!this.shedOne(VICTIM_GLOBAL, 0)) break;
        count--;
        left--;
      }
    }
    return this.sent - sentBefore;
  }

  private fullest(topo: ShedTopology, members: Int32Array): number {
    let best = -1;
    let bestFill = -1;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      const upper = topo.realUpper[m];
      if (upper <= 0) continue;
      const fill = this.reals.load(m) / upper;
      if (fill > bestFill) {
        bestFill = fill;
        best = m;
      }
    }
    return best;
  }

  /**
   * Removes the lowest-priority entry listed for `list` (a real index, whose entries must still
   * be held, or VICTIM_GLOBAL, any entry), if it is worse than `floor`; a held one is reset on its
   * real server. Returns true when one went.
   */
  private shedOne(list: number, floor: number): boolean {
    const v = this.victims;
    const required = list === VICTIM_GLOBAL ? 0 : ConnFlag.held;
    for (let tries = 0; tries < SHED_TRIES; tries++) {
      // Worst first: once the next is no worse than the floor, there is nothing left to shed.
      const next = v.peekPriority(list);
      if (next >= 0 && next <= floor) return false;
      const slot = v.takeVictim(list);
      if (slot < 0) {
        this.starved++;
        return false;
      }
      if (list !== VICTIM_GLOBAL && this.release.tryRelease(slot, v.outTag, list)) {
        this.released++;
        return true;
      }
      // A half-open entry bound after this list's pass began: resets wait for the next list.
      if (list !== VICTIM_GLOBAL && this.reals.halfOpenBoundCount(list) !== v.outListMark) return false;
      const r = this.rec;
      if (!this.table.removeIfStill(slot, v.outTag, v.outPriority, required, RemoveReason.shed, r)) continue;
      if ((r[Conn.flagsSyn] & ConnFlag.held) !== 0 && this.sendReset(r)) this.sent++;
      return true;
    }
    return false;
  }
}
