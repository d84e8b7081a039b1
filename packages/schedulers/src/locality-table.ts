// The table lblc and lblcr keep: destination address → a server (lblc) or a server set (lblcr),
// with the kernel's expiry (ip_vs_lblc.c / ip_vs_lblcr.c: ip_vs_lblc_check_expire(),
// ip_vs_lblc_full_check(); the lblcr functions of the same names are the same code):
// - entries hash into 2^bits buckets by hash_32(addr_fold(destination), bits); each is touched
//   (lastuse = now) whenever a new connection looks it up;
// - a periodic timer, every CHECK_EXPIRE_INTERVAL (60 s) from the table's creation: every 30th run
//   (COUNT_FOR_FULL_EXPIRATION: a "full check", about every half hour) removes every entry unused for
//   the expiration (sysctl lblc_expiration / lblcr_expiration, default 24 h); the other runs do
//   nothing while the table holds at most max_size = 16 entries per bucket, and above it remove
//   entries unused for ENTRY_TIMEOUT (6 min), bucket after bucket from a rover, until
//   (entries - max_size) * 4 / 3 (at most max_size / 2) are gone. While the table stays above
//   max_size the count of runs stands still, so no full check comes — as in the kernel.
//
// Where it lives: the kernel keeps one table per service. Sluice builds one scheduler per service
// in every serving worker, so each worker keeps its own table for its share of the flows (SO_REUSEPORT
// spreads flows over workers): a destination may map to a different server in each worker.
//
// How it is stored: preallocated typed arrays, no object per entry, nothing allocated by a pick.
// Bucket chains and a free list are slot indices; a doubly linked list orders entries by lastuse
// (least recently used last). The timer has no thread of its own: the first pick at or after a due
// run performs it, and every run that fell due since, each at its own time, so the result is the
// kernel's. Runs that cannot change anything are skipped in O(1): the least recently used entry
// tells whether any entry is old enough to go.
//
// Departure: the kernel's table has no bound; this one holds `capacity` entries, and a new
// destination beyond it takes the slot of the least recently used entry.

import { foldAddress, hash32 } from './hash.ts';
import { type FlowView, SchedulerError, SchedulerErrorCode, type SchedulerOptions } from './spec.ts';

/** CHECK_EXPIRE_INTERVAL: the period of the collection timer. */
export const CHECK_EXPIRE_INTERVAL_MS = 60_000;
/** ENTRY_TIMEOUT: how long an entry must be unused before the over-size collection takes it. */
export const ENTRY_TIMEOUT_MS = 6 * 60_000;
/** COUNT_FOR_FULL_EXPIRATION: every this many timer runs, a full expiration check. */
export const COUNT_FOR_FULL_EXPIRATION = 30;
/** DEFAULT_EXPIRATION, the sysctls' default: a day. */
export const DEFAULT_LOCALITY_EXPIRATION_MS = 24 * 60 * 60_000;
/** CONFIG_IP_VS_LBLC_TAB_BITS / CONFIG_IP_VS_LBLCR_TAB_BITS default (Kconfig range 1..20). */
export const DEFAULT_LOCALITY_TABLE_BITS = 10;
export const DEFAULT_LOCALITY_CAPACITY = 1024;
export const MAX_LOCALITY_CAPACITY = 1 << 20;

export interface LocalitySettings {
  expirationMs: number;
  bits: number;
  capacity: number;
  clock: () => number;
}

/** The options lblc and lblcr read, checked, with the kernel's defaults. */
export function localitySettings(opts: SchedulerOptions): LocalitySettings {
  const bad = (what: string) => new SchedulerError(SchedulerErrorCode.option, what);
  const expirationMs = opts.localityExpirationMs ?? DEFAULT_LOCALITY_EXPIRATION_MS;
  if (!Number.isFinite(expirationMs) || expirationMs < 0) {
    throw bad(
      `localityExpirationMs must be a finite number of milliseconds, 0 or more (got ${expirationMs})`,
    );
  }
  const bits = opts.localityTableBits ?? DEFAULT_LOCALITY_TABLE_BITS;
  if (!Number.isInteger(bits) || bits < 1 || bits > 20) {
    throw bad(`localityTableBits must be an integer 1..20 (got ${bits})`);
  }
  const capacity = opts.localityCapacity ?? DEFAULT_LOCALITY_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_LOCALITY_CAPACITY) {
    throw bad(`localityCapacity must be an integer 1..${MAX_LOCALITY_CAPACITY} (got ${capacity})`);
  }
  const clock = opts.clock ?? (() => performance.now());
  return { expirationMs, bits, capacity, clock };
}

/** Called with a slot the table is about to free (lblcr frees the slot's server set). */
export interface SlotOwner {
  releaseSlot(slot: number): void;
}

export class LocalityTable {
  readonly bits: number;
  readonly buckets: number;
  /** The kernel's max_size: IP_VS_LBLC_TAB_SIZE * 16. */
  readonly maxSize: number;
  readonly capacity: number;
  readonly expirationMs: number;
  /** Destination address per slot, four words (IPv4 v4-mapped) as int32: callers pass `word | 0`. */
  readonly keys: Int32Array;
  readonly lastuse: Float64Array;
  private readonly heads: Int32Array;
  /** Next slot in the bucket chain, or in the free list for a free slot; -1 ends both. */
  private readonly chain: Int32Array;
  private readonly bucketOfSlot: Int32Array;
  /** Recency list: `older` points towards the least recently used entry. */
  private readonly older: Int32Array;
  private readonly newer: Int32Array;
  private newest = -1;
  private oldest = -1;
  private freeHead = 0;
  private count = 0;
  private readonly owner: SlotOwner | null;
  // The periodic timer: when it runs next, the kernel's tbl->counter and tbl->rover.
  private nextRun: number;
  private counter = 1;
  private rover = 0;
  // The destination of the last lookup(), for insertLookedUp().
  private lookedBucket = 0;
  private looked0 = 0;
  private looked1 = 0;
  private looked2 = 0;
  private looked3 = 0;

  constructor(settings: LocalitySettings, owner: SlotOwner | null, createdAt: number) {
    const { bits, capacity } = settings;
    this.bits = bits;
    this.buckets = 1 << bits;
    this.maxSize = this.buckets * 16;
    this.capacity = capacity;
    this.expirationMs = settings.expirationMs;
    this.keys = new Int32Array(capacity * 4);
    this.lastuse = new Float64Array(capacity);
    this.heads = new Int32Array(this.buckets).fill(-1);
    this.chain = new Int32Array(capacity);
    for (let s = 0; s < capacity; s++) this.chain[s] = s + 1 < capacity ? s + 1 : -1;
    this.bucketOfSlot = new Int32Array(capacity);
    this.older = new Int32Array(capacity).fill(-1);
    this.newer = new Int32Array(capacity).fill(-1);
    this.owner = owner;
    this.nextRun = createdAt + CHECK_EXPIRE_INTERVAL_MS;
  }

  /** The kernel's atomic tbl->entries (kept exact here; see LocalityBasedLeastConnection). */
  get entries(): number {
    return this.count;
  }

  /** ip_vs_lblc_hashkey(): hash_32(addr_fold(addr), bits). */
  bucketOf(a0: number, a1: number, a2: number, a3: number): number {
    return hash32(foldAddress(a0, a1, a2, a3), this.bits);
  }

  /** ip_vs_lblc_get(): the slot holding this destination, or -1. */
  find(bucket: number, a0: number, a1: number, a2: number, a3: number): number {
    const keys = this.keys;
    for (let s = this.heads[bucket]; s >= 0; s = this.chain[s]) {
      const k = s * 4;
      if (keys[k + 3] === a3 && keys[k + 2] === a2 && keys[k + 1] === a1 && keys[k] === a0) return s;
    }
    return -1;
  }

  /**
   * A new connection's look at the table at `now`: the timer runs that fell due, then
   * ip_vs_lblc_get() of the flow's destination address; a hit is touched (en->lastuse = jiffies).
   * The slot, or -1; insertLookedUp() then adds the destination.
   */
  lookup(flow: FlowView, now: number): number {
    this.advance(now);
    const a0 = flow.dst0 | 0;
    const a1 = flow.dst1 | 0;
    const a2 = flow.dst2 | 0;
    const a3 = flow.dst3 | 0;
    const bucket = this.bucketOf(a0, a1, a2, a3);
    this.lookedBucket = bucket;
    this.looked0 = a0;
    this.looked1 = a1;
    this.looked2 = a2;
    this.looked3 = a3;
    const s = this.find(bucket, a0, a1, a2, a3);
    if (s >= 0) this.touch(s, now);
    return s;
  }

  /** An entry for the destination of the last lookup(), which missed it. */
  insertLookedUp(now: number): number {
    return this.insert(this.lookedBucket, this.looked0, this.looked1, this.looked2, this.looked3, now);
  }

  /** The slot of a flow's destination without touching it, or -1 (for tests' views). */
  peek(flow: FlowView): number {
    const a0 = flow.dst0 | 0;
    const a1 = flow.dst1 | 0;
    const a2 = flow.dst2 | 0;
    const a3 = flow.dst3 | 0;
    return this.find(this.bucketOf(a0, a1, a2, a3), a0, a1, a2, a3);
  }

  /** A new entry for a destination not in the table (the caller checked), used at `now`. */
  insert(bucket: number, a0: number, a1: number, a2: number, a3: number, now: number): number {
    if (this.freeHead < 0) this.remove(this.oldest);
    const s = this.freeHead;
    this.freeHead = this.chain[s];
    const k = s * 4;
    this.keys[k] = a0;
    this.keys[k + 1] = a1;
    this.keys[k + 2] = a2;
    this.keys[k + 3] = a3;
    this.bucketOfSlot[s] = bucket;
    this.chain[s] = this.heads[bucket];
    this.heads[bucket] = s;
    this.lastuse[s] = now;
    this.linkNewest(s);
    this.count++;
    return s;
  }

  /** A new entry for the destination in slot `s` of `from`, with its lastuse (copying a table). */
  insertCopyOf(from: LocalityTable, s: number): number {
    const keys = from.keys;
    const k = s * 4;
    const a0 = keys[k];
    const a1 = keys[k + 1];
    const a2 = keys[k + 2];
    const a3 = keys[k + 3];
    return this.insert(this.bucketOf(a0, a1, a2, a3), a0, a1, a2, a3, from.lastuse[s]);
  }

  /** en->lastuse = jiffies. */
  touch(s: number, now: number): void {
    this.lastuse[s] = now;
    if (this.newest === s) return;
    this.unlinkRecency(s);
    this.linkNewest(s);
  }

  /** Frees the least recently used entry other than `keep`; false if there is none. */
  evictOldestExcept(keep: number): boolean {
    const victim = this.oldest === keep ? this.newer[keep] : this.oldest;
    if (victim < 0) return false;
    this.remove(victim);
    return true;
  }

  /** Slots from the least to the most recently used (for copying a table; not on the packet path). */
  slotsOldestFirst(): number[] {
    const out: number[] = [];
    for (let s = this.oldest; s >= 0; s = this.newer[s]) out.push(s);
    return out;
  }

  /** Takes over the timer's phase from the table this one replaces (its entries are copied apart). */
  adoptTimer(from: LocalityTable): void {
    this.nextRun = from.nextRun;
    this.counter = from.counter;
    this.rover = from.rover & (this.buckets - 1);
  }

  /** Performs every timer run due at or before `now`, each at its own time. */
  advance(now: number): void {
    while (this.nextRun <= now) {
      const at = this.nextRun;
      if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
        this.fullCheck(at);
        this.counter = 1;
        this.nextRun = at + CHECK_EXPIRE_INTERVAL_MS;
      } else if (this.count <= this.maxSize) {
        // Runs that only count: jump to the next full check, or past `now`.
        const due = Math.floor((now - at) / CHECK_EXPIRE_INTERVAL_MS) + 1;
        const k = Math.min(COUNT_FOR_FULL_EXPIRATION - (this.counter % COUNT_FOR_FULL_EXPIRATION), due);
        this.counter += k;
        this.nextRun = at + k * CHECK_EXPIRE_INTERVAL_MS;
      } else {
        this.partialCheck(at);
        this.nextRun = at + CHECK_EXPIRE_INTERVAL_MS;
      }
    }
  }

  /** When the timer runs next (for tests). */
  get nextRunAt(): number {
    return this.nextRun;
  }

  /**
   * ip_vs_lblc_full_check(): every entry with now >= lastuse + expiration goes. The kernel walks
   * all buckets from the rover and leaves the rover where it was; removing from the least
   * recently used end removes the same entries.
   */
  private fullCheck(now: number): void {
    const exp = this.expirationMs;
    while (this.oldest >= 0 && !(now < this.lastuse[this.oldest] + exp)) this.remove(this.oldest);
  }

  /** The over-size collection of ip_vs_lblc_check_expire(). */
  private partialCheck(now: number): void {
    // Nothing unused for ENTRY_TIMEOUT: the kernel's walk would visit every bucket, remove nothing
    // and leave the rover where it was.
    if (this.oldest < 0 || now < this.lastuse[this.oldest] + ENTRY_TIMEOUT_MS) return;
    let goal = Math.trunc(((this.count - this.maxSize) * 4) / 3);
    const half = this.maxSize >> 1;
    if (goal > half) goal = half;
    const mask = this.buckets - 1;
    let j = this.rover;
    for (let i = 0; i < this.buckets; i++) {
      j = (j + 1) & mask;
      let prev = -1;
      let s = this.heads[j];
      while (s >= 0) {
        const next = this.chain[s];
        if (now < this.lastuse[s] + ENTRY_TIMEOUT_MS) {
          prev = s;
        } else {
          this.release(s, prev);
          goal--;
        }
        s = next;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  private remove(s: number): void {
    let prev = -1;
    for (let p = this.heads[this.bucketOfSlot[s]]; p !== s; p = this.chain[p]) prev = p;
    this.release(s, prev);
  }

  /** Unlinks slot `s` (whose chain predecessor is `prev`, -1 at the head) and frees it. */
  private release(s: number, prev: number): void {
    if (prev < 0) this.heads[this.bucketOfSlot[s]] = this.chain[s];
    else this.chain[prev] = this.chain[s];
    this.unlinkRecency(s);
    this.owner?.releaseSlot(s);
    this.chain[s] = this.freeHead;
    this.freeHead = s;
    this.count--;
  }

  private linkNewest(s: number): void {
    this.older[s] = this.newest;
    this.newer[s] = -1;
    if (this.newest >= 0) this.newer[this.newest] = s;
    else this.oldest = s;
    this.newest = s;
  }

  private unlinkRecency(s: number): void {
    const o = this.older[s];
    const n = this.newer[s];
    if (o >= 0) this.newer[o] = n;
    else this.oldest = n;
    if (n >= 0) this.older[n] = o;
    else this.newest = o;
  }
}
