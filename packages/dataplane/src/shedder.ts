// Shedder: the seed's mechanism. Each real server has a capacity (its upper threshold); when its
// connections reach the high watermark (default 98%), the lowest-priority entries are reset on
// the real server — an RST from the client's address with the tracked sequence number — and
// removed, until the low watermark (95%) is reached. The same for a whole service (its servers'
// capacities summed) and for the director's own table against its capacity. Priority 0 is never
// shed (the victim index never offers it and removeVictim re-checks). A client that has sent
// payload is not shed while its server holds enough unproven connections (no payload yet) to make
// the room: a listing is up to one re-scorer pass old, and under a flood the unproven entries that
// arrived since are the ones to go.
//
// Runs on one thread (the director's main thread, or the simulator's), a step every few tens of
// milliseconds; the victims come from the re-scorer's VictimIndex, so choosing one costs a few
// loads. Removal goes through the table's removal listener (the caller's Pipeline), which keeps
// the real-server, source and persistence counts exact and counts the shed by priority.
import { Conn, type ConnectionTable, RemoveReason } from '@sluice/conntrack';
import { removeVictim, VICTIM_GLOBAL, type VictimIndex } from '@sluice/defense';
import type { RealServerCounters } from '@sluice/schedulers';
import { RstSpec } from '@sluice/wire';
import { type CompiledConfig, Strategy } from './compile.ts';
import { RST_DATAGRAM_MAX, writeResetDatagram } from './reset.ts';
import { sparesProven } from './unproven.ts';

/** Listed entries one shed may pass over (gone, improved, or spared clients) before giving up. */
const SHED_TRIES = 16;

export type SendReset = (datagram: Uint8Array, vtep: string) => void;

export interface ShedderParts {
  connections: ConnectionTable;
  reals: RealServerCounters;
  victims: VictimIndex;
}

export class Shedder {
  private readonly table: ConnectionTable;
  private readonly reals: RealServerCounters;
  private readonly victims: VictimIndex;
  private readonly send: SendReset;
  private readonly spec = new RstSpec();
  private readonly rec = new Int32Array(Conn.words);
  /** Resets sent over the shedder's life (the workers count theirs in the counter block). */
  sent = 0;
  /** Steps that wanted to shed but found no victim (the re-scorer had not listed any yet). */
  starved = 0;
  /** Listed clients that had spoken, left alone because unproven entries could make the room. */
  spared = 0;

  constructor(parts: ShedderParts, send: SendReset) {
    this.table = parts.connections;
    this.reals = parts.reals;
    this.victims = parts.victims;
    this.send = send;
  }

  /** One round over every real server, service and the table; returns the resets sent. */
  step(cfg: CompiledConfig, budget = 4096): number {
    if (cfg.strategy !== Strategy.priority) return 0;
    let left = budget;
    const high = cfg.highWatermark;
    const low = cfg.lowWatermark;
    const active = this.reals.active;
    const inactive = this.reals.inactive;
    // Per real server.
    for (let svc = 0; svc < cfg.serviceMembers.length && left > 0; svc++) {
      const members = cfg.serviceMembers[svc];
      let total = 0;
      let capacity = 0;
      let bounded = members.length > 0;
      for (let i = 0; i < members.length && left > 0; i++) {
        const m = members[i];
        const upper = cfg.realUpper[m];
        let n = Atomics.load(active, m) + Atomics.load(inactive, m);
        if (upper <= 0) {
          bounded = false;
          continue;
        }
        if (n >= Math.ceil(high * upper)) {
          const target = Math.floor(low * upper);
          // Clients that spoke are spared while unproven entries alone can make the room.
          const guard = n - target;
          while (n > target && left > 0) {
            if (!this.shedOne(cfg, m, guard)) break;
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
          const m = this.fullest(cfg, members);
          if (m < 0 || !this.shedOne(cfg, m, 1)) break;
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
        if (!this.shedOne(cfg, VICTIM_GLOBAL, -1)) break;
        count--;
        left--;
      }
    }
    return budget - left;
  }

  private fullest(cfg: CompiledConfig, members: Int32Array): number {
    let best = -1;
    let bestFill = -1;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      const upper = cfg.realUpper[m];
      if (upper <= 0) continue;
      const fill = (Atomics.load(this.reals.active, m) + Atomics.load(this.reals.inactive, m)) / upper;
      if (fill > bestFill) {
        bestFill = fill;
        best = m;
      }
    }
    return best;
  }

  /**
   * Resets the lowest-priority entry listed for `list` (a real index or VICTIM_GLOBAL). A listed
   * client that has spoken is passed over while its real server holds at least `provenGuard`
   * unproven connections: a listing is up to a pass old, the unproven entries that arrived since
   * may not be in it, and the next listing will name them. `provenGuard` -1: no such check (the
   * table-wide list).
   */
  private shedOne(cfg: CompiledConfig, list: number, provenGuard: number): boolean {
    const v = this.victims;
    for (let tries = 0; tries < SHED_TRIES; tries++) {
      const slot = v.takeVictim(list);
      if (slot < 0) {
        this.starved++;
        return false;
      }
      const tag = v.outTag;
      const prio = v.outPriority;
      const r = this.rec;
      if (!this.table.readRecord(slot, r) || r[Conn.tag] !== tag) continue;
      if (sparesProven(this.reals, list, r[Conn.flagsSyn], provenGuard)) {
        this.spared++;
        continue;
      }
      if (!removeVictim(this.table, slot, tag, prio, RemoveReason.shed)) continue;
      const out = new Uint8Array(RST_DATAGRAM_MAX);
      const real = r[Conn.real];
      const len = writeResetDatagram(
        cfg,
        this.spec,
        r[Conn.addr0],
        r[Conn.addr1],
        r[Conn.addr2],
        r[Conn.addr3],
        r[Conn.portService] >>> 16,
        r[Conn.portService] & 0xffff,
        real,
        r[Conn.nextSeq],
        out,
      );
      if (len > 0) {
        this.send(out.subarray(0, len), cfg.realVtep[real]);
        this.sent++;
      }
      return true;
    }
    return false;
  }
}
