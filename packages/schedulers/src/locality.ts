// lblc and lblcr: locality-based least-connection, for clusters of caches, where the point is to
// keep sending one destination address to the same server(s). The table (locality-table.ts) maps a
// flow's destination address to a server (lblc) or a set of servers (lblcr). A Sluice service has
// one VIP, so its table holds one entry, and the scheduler keeps a service on one server (lblc) or
// a few (lblcr) until the kernel's overload rule moves it; the table is keyed by address anyway,
// as the kernel's is, and stays correct for services that receive many destinations.
//
// Both tables live per worker (each serving worker builds its own scheduler for every service,
// where the kernel keeps one table per service): see locality-table.ts.
import type { RealServerCounters } from './counters.ts';
import { leastWeightedOverhead } from './least-connection.ts';
import { LocalityTable, localitySettings, type SlotOwner } from './locality-table.ts';
import type { FlowView, Members, Scheduler, SchedulerOptions, SchedulingSpec } from './spec.ts';
import { MemberScheduler } from './spec.ts';

/**
 * is_overloaded() of ip_vs_lblc.c and ip_vs_lblcr.c: the member has more active connections than
 * its weight AND some member of the service has fewer than half its weight. Every member counts
 * in the second test, threshold-overloaded ones included, as in the kernel; a down member counts
 * as weight 0 (what keepalived makes of it in IPVS).
 */
function isOverloaded(m: Members, i: number): boolean {
  if (m.activeOf(i) <= m.weightOf(i)) return false;
  for (let d = 0; d < m.n; d++) if (m.activeOf(d) * 2 < m.weightOf(d)) return true;
  return false;
}

/** Member position (in `m`) of every global real-server index, for copying a previous table. */
function positionsOf(m: Members): Map<number, number> {
  const at = new Map<number, number>();
  for (let i = 0; i < m.n; i++) at.set(m.members[i], i);
  return at;
}

/**
 * What lblc and lblcr are built on: the members, the destination table and the clock it runs on.
 * The table tells the scheduler of every slot it frees (releaseSlot), so lblcr can free its set.
 */
abstract class LocalityScheduler extends MemberScheduler implements SlotOwner {
  protected readonly table: LocalityTable;
  protected readonly clock: () => number;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions) {
    super(spec, counters);
    const settings = localitySettings(opts);
    this.clock = settings.clock;
    this.table = new LocalityTable(settings, this, this.clock());
  }

  /** Destinations in the table (for tests). */
  get entries(): number {
    return this.table.entries;
  }

  abstract releaseSlot(slot: number): void;
}

/**
 * ip_vs_lblc.c ip_vs_lblc_schedule(). A destination's cached server is used while it is available
 * and not is_overloaded(); otherwise (or with no entry) wlc over the whole service picks one and
 * the entry points to it.
 *
 * Departures, both deliberate:
 * - the kernel checks the cached server's weight and is_overloaded() but not its
 *   IP_VS_DEST_F_OVERLOAD flag, so a server past its upper threshold keeps receiving its cached
 *   destinations. Sluice applies the availability rule to every scheduler (thresholds are what
 *   the defense counts on): a cached server that is overloaded or down is replaced as the kernel
 *   replaces one of weight 0.
 * - ip_vs_lblc_new() re-points an entry by deleting it and hashing a new one, which counts it in
 *   tbl->entries a second time without uncounting the first (ip_vs_lblc_del() leaves the count to
 *   its callers), so in the kernel the count creeps up by one per re-point. Here the count is the
 *   number of entries (as in ip_vs_lblcr_new(), and in earlier ip_vs_lblc.c, which re-pointed
 *   the entry in place).
 */
export class LocalityBasedLeastConnection extends LocalityScheduler implements Scheduler {
  readonly name = 'lblc' as const;
  /** Member position per slot. */
  private readonly dest: Int32Array;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions = {}) {
    super(spec, counters, opts);
    this.dest = new Int32Array(this.table.capacity);
    if (opts.previous instanceof LocalityBasedLeastConnection) this.copyFrom(opts.previous);
  }

  override releaseSlot(_slot: number): void {}

  pick(flow: FlowView): number {
    const m = this.m;
    const now = this.clock();
    let slot = this.table.lookup(flow, now);
    if (slot >= 0) {
      const cached = this.dest[slot];
      if (m.available(cached) && !isOverloaded(m, cached)) return m.members[cached];
    }
    const least = leastWeightedOverhead(m);
    if (least < 0) return -1;
    if (slot < 0) slot = this.table.insertLookedUp(now);
    this.dest[slot] = least;
    return m.members[least];
  }

  /** The cached server (global index) for a destination, or -1 (for tests). */
  cachedFor(flow: FlowView): number {
    const slot = this.table.peek(flow);
    return slot < 0 ? -1 : this.m.members[this.dest[slot]];
  }

  private copyFrom(prev: LocalityBasedLeastConnection): void {
    const at = positionsOf(this.m);
    for (const s of prev.table.slotsOldestFirst()) {
      const i = at.get(prev.m.members[prev.dest[s]]);
      // A server that left the service is the kernel's dest in the trash: not IP_VS_DEST_F_AVAILABLE,
      // so the next pick would re-point the entry anyway (lastuse is renewed on that pick either way).
      if (i === undefined) continue;
      this.dest[this.table.insertCopyOf(prev.table, s)] = i;
    }
    this.table.adoptTimer(prev.table);
  }
}

/**
 * The server sets of lblcr (struct ip_vs_dest_set): per table slot a list of member positions,
 * newest first (list_add_rcu), its size and lastmod. The elements come from one preallocated pool
 * of 2 * capacity + members, enough for every entry to hold two servers and one to hold all.
 */
class ServerSets {
  readonly head: Int32Array;
  readonly size: Int32Array;
  readonly lastmod: Float64Array;
  readonly member: Int32Array;
  readonly next: Int32Array;
  private freeHead = 0;

  constructor(slots: number, pool: number) {
    this.head = new Int32Array(slots).fill(-1);
    this.size = new Int32Array(slots);
    this.lastmod = new Float64Array(slots);
    this.member = new Int32Array(pool);
    this.next = new Int32Array(pool);
    for (let e = 0; e < pool; e++) this.next[e] = e + 1 < pool ? e + 1 : -1;
  }

  has(slot: number, i: number): boolean {
    for (let e = this.head[slot]; e >= 0; e = this.next[e]) if (this.member[e] === i) return true;
    return false;
  }

  /** ip_vs_dest_set_insert() without the check; false when the pool is empty (the kernel's failed kmalloc). */
  add(slot: number, i: number, now: number): boolean {
    const e = this.freeHead;
    if (e < 0) return false;
    this.freeHead = this.next[e];
    this.member[e] = i;
    this.next[e] = this.head[slot];
    this.head[slot] = e;
    this.size[slot]++;
    this.lastmod[slot] = now;
    return true;
  }

  /** ip_vs_dest_set_erase(). */
  erase(slot: number, i: number, now: number): void {
    let prev = -1;
    for (let e = this.head[slot]; e >= 0; e = this.next[e]) {
      if (this.member[e] === i) {
        if (prev < 0) this.head[slot] = this.next[e];
        else this.next[prev] = this.next[e];
        this.next[e] = this.freeHead;
        this.freeHead = e;
        this.size[slot]--;
        this.lastmod[slot] = now;
        return;
      }
      prev = e;
    }
  }

  /** ip_vs_dest_set_eraseall(). */
  clear(slot: number): void {
    let e = this.head[slot];
    while (e >= 0) {
      const n = this.next[e];
      this.next[e] = this.freeHead;
      this.freeHead = e;
      e = n;
    }
    this.head[slot] = -1;
    this.size[slot] = 0;
  }

  /** The members of a slot's set in list order (for copying; not on the packet path). */
  list(slot: number): number[] {
    const out: number[] = [];
    for (let e = this.head[slot]; e >= 0; e = this.next[e]) out.push(this.member[e]);
    return out;
  }
}

/**
 * ip_vs_lblcr.c ip_vs_lblcr_schedule(): locality-based least-connection with replication. Each
 * destination has a set of servers. A pick takes the set's least loaded available member
 * (ip_vs_dest_set_min: overhead / weight, the first of equals in list order, newest first); when
 * the set has more than one member and has not changed for the expiration, its most loaded member
 * (ip_vs_dest_set_max: weight > 0 members only) is dropped from it — after the least loaded was
 * chosen, so that choice may be the member just dropped, as in the kernel. If there is no such
 * member, or it is_overloaded(), wlc over the whole service picks one and it joins the set.
 * A down member counts as weight 0 in set_max (as keepalived's weight 0 would).
 */
export class LocalityBasedLeastConnectionReplication extends LocalityScheduler implements Scheduler {
  readonly name = 'lblcr' as const;
  private readonly sets: ServerSets;
  private readonly expirationMs: number;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions = {}) {
    super(spec, counters, opts);
    const capacity = this.table.capacity;
    this.sets = new ServerSets(capacity, 2 * capacity + this.m.n);
    this.expirationMs = this.table.expirationMs;
    if (opts.previous instanceof LocalityBasedLeastConnectionReplication) this.copyFrom(opts.previous);
  }

  override releaseSlot(slot: number): void {
    this.sets.clear(slot);
  }

  pick(flow: FlowView): number {
    const m = this.m;
    const sets = this.sets;
    const now = this.clock();
    const slot = this.table.lookup(flow, now);
    if (slot >= 0) {
      let dest = this.setMin(slot);
      // More than one member and unchanged for the expiration: shed the most loaded.
      if (sets.size[slot] > 1 && now > sets.lastmod[slot] + this.expirationMs) {
        const most = this.setMax(slot);
        if (most >= 0) sets.erase(slot, most, now);
      }
      if (dest >= 0 && !isOverloaded(m, dest)) return m.members[dest];
      dest = leastWeightedOverhead(m);
      if (dest < 0) return -1;
      this.join(slot, dest, now);
      return m.members[dest];
    }
    const dest = leastWeightedOverhead(m);
    if (dest < 0) return -1;
    this.join(this.table.insertLookedUp(now), dest, now);
    return m.members[dest];
  }

  /** The set (global indices, list order) for a destination; empty without an entry (for tests). */
  setFor(flow: FlowView): number[] {
    const slot = this.table.peek(flow);
    return slot < 0 ? [] : this.sets.list(slot).map((i) => this.m.members[i]);
  }

  /** ip_vs_dest_set_insert(set, dest, true), making room in the pool from other entries if needed. */
  private join(slot: number, i: number, now: number): void {
    const sets = this.sets;
    if (sets.has(slot, i)) return;
    while (!sets.add(slot, i, now)) {
      if (!this.table.evictOldestExcept(slot)) return;
    }
  }

  /** ip_vs_dest_set_min(): unavailable members (overloaded, weight 0, down) never qualify. */
  private setMin(slot: number): number {
    const m = this.m;
    const sets = this.sets;
    let least = -1;
    let loh = 0;
    for (let e = sets.head[slot]; e >= 0; e = sets.next[e]) {
      const d = sets.member[e];
      if (!m.available(d)) continue;
      const doh = m.overhead(d);
      if (least < 0 || loh * m.weights[d] > doh * m.weights[least]) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }

  /** ip_vs_dest_set_max(): the first weight > 0 member, then any with a strictly higher load. */
  private setMax(slot: number): number {
    const m = this.m;
    const sets = this.sets;
    let most = -1;
    let moh = 0;
    for (let e = sets.head[slot]; e >= 0; e = sets.next[e]) {
      const d = sets.member[e];
      const dw = m.weightOf(d);
      if (dw <= 0) continue;
      const doh = m.overhead(d);
      if (most < 0 || moh * dw < doh * m.weightOf(most)) {
        most = d;
        moh = doh;
      }
    }
    return most;
  }

  private copyFrom(prev: LocalityBasedLeastConnectionReplication): void {
    const at = positionsOf(this.m);
    for (const s of prev.table.slotsOldestFirst()) {
      // Servers that left the service leave the set (the kernel keeps them, unavailable, until
      // set_max drops them or the entry expires); a set left empty drops its entry.
      const kept: number[] = [];
      for (const i of prev.sets.list(s)) {
        const pos = at.get(prev.m.members[i]);
        if (pos !== undefined) kept.push(pos);
      }
      if (kept.length === 0) continue;
      const slot = this.table.insertCopyOf(prev.table, s);
      for (let j = kept.length - 1; j >= 0; j--) this.join(slot, kept[j], prev.sets.lastmod[s]);
      this.sets.lastmod[slot] = prev.sets.lastmod[s];
    }
    this.table.adoptTimer(prev.table);
  }
}
